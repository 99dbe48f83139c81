"""Celery settings, all derived from trainhub.config (the environment).

Read by the worker app, beat, Flower and the enqueueing client alike.
"""
from celery.schedules import crontab

from trainhub.config import get_settings
from trainhub.queue import DEFAULT_REDIS_PRIORITY

_settings = get_settings()

broker_url = _settings.redis_url
result_backend = _settings.redis_url
broker_connection_retry_on_startup = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# A job's message is acknowledged only after the job ends, and a worker that dies
# mid-job puts the message back, so a crash never loses a job. PostgreSQL's
# conditional claim makes the redelivery harmless when the job already ran.
task_acks_late = True
task_reject_on_worker_lost = True
# Jobs are long: a worker reserves one message per free slot, never a backlog that
# another idle worker could have run.
worker_prefetch_multiplier = 1
task_track_started = True
# Results live in PostgreSQL; Redis keeps task results only briefly for Flower.
result_expires = 3600
task_ignore_result = True

task_soft_time_limit = _settings.job_soft_time_limit
task_time_limit = _settings.job_hard_time_limit

# Redis "priority queues": ten steps, each a list served strictly in order, so a
# backlog runs urgent > high > normal > low and FIFO within a level. The visibility
# timeout exceeds the longest allowed job so a running job's message is never
# handed to a second worker while the first is still training.
broker_transport_options = {
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
    "visibility_timeout": _settings.visibility_timeout,
}
result_backend_transport_options = {"visibility_timeout": _settings.visibility_timeout}
task_default_priority = DEFAULT_REDIS_PRIORITY
task_default_queue = _settings.training_queue
task_queue_max_priority = 9

# Publishing to a down broker must fail fast: the job row is already committed and
# the recovery sweep re-sends it.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# Events for Flower. Workers report received/started/succeeded; the client's "sent"
# event is off: it doubled the Redis publishes of every POST /jobs/start (profiled),
# and queued jobs are listed by the API (status queued) rather than by Flower.
worker_send_task_events = True
task_send_sent_event = False
worker_hijack_root_logger = False

# Housekeeping runs on its own queue, so a backlog of training jobs never delays it
# behind hours of work in the same list; every worker consumes both queues.
task_routes = {
    "trainhub.run_job": {"queue": _settings.training_queue},
    # HPO helpers hold training slots like jobs do (trainhub.hpo).
    "trainhub.run_trial": {"queue": _settings.training_queue},
    "trainhub.cleanup_old_training_data": {"queue": _settings.maintenance_queue},
}
beat_schedule = {
    "trainhub.cleanup_old_training_data": {
        "task": "trainhub.cleanup_old_training_data",
        "schedule": crontab(hour=3, minute=17),
    },
}
# Beat also dispatches the cron schedules stored in PostgreSQL, in its own process
# (no worker slot needed; see workers/beat.py for why).
beat_scheduler = "workers.beat:DispatchingScheduler"
