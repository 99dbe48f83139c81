"""Keep PostgreSQL and Redis in agreement, so no job is lost or stuck.

PostgreSQL is the source of truth; Redis only carries messages. Two things can
diverge: a running job whose worker died (its heartbeat goes quiet), and a queued
job with no message left in Redis (Redis restarted empty, or the send after commit
failed). Both are repaired here; workers call :func:`recover` from their heartbeat.
"""
from __future__ import annotations

import base64
import json
import logging
from uuid import UUID

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.config import Settings
from trainhub.db import session_scope
from trainhub.jobs.lifecycle import recover_stale_jobs
from trainhub.jobs.model import Job, JobStatus
from trainhub.jobs.service import JOB_COLUMNS, pending_message
from trainhub.queue import RUN_JOB_TASK, enqueue_after_commit

log = logging.getLogger(__name__)

# kombu's Redis transport keeps delivered-but-unacknowledged messages in this hash.
UNACKED_HASH = "unacked"
# A just-committed job may not have its message in Redis yet; leave it this long.
SEND_GRACE_SECONDS = 30
_LOCK_KEY = "trainhub:recovery-lock"


def recover(settings: Settings, *, every_seconds: int = 5) -> None:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        # One sweep per interval across all workers is enough; the rest skip.
        if not client.set(f"{_LOCK_KEY}:{settings.training_queue}", "1", nx=True, ex=max(1, every_seconds)):
            return
        with session_scope() as session:
            result = recover_stale_jobs(session, stale_after_seconds=settings.job_stale_after,
                                        max_attempts=settings.job_max_attempts)
        for label, ids in (("requeued", result.requeued), ("failed", result.failed),
                           ("cancelled", result.cancelled)):
            if ids:
                log.warning("jobs of unresponsive workers %s: %s", label, ", ".join(map(str, ids)))
        in_broker = job_ids_in_broker(client, settings.training_queue)
        with session_scope() as session:
            resent = resend_lost_messages(session, in_broker=in_broker)
        if resent:
            log.warning("re-sent run messages Redis had lost for jobs %s", ", ".join(map(str, resent)))
    finally:
        client.close()


def job_ids_in_broker(client: redis.Redis, queue: str) -> set[str]:
    """Job ids of every run_job message waiting in the queue's priority lists or
    delivered to a worker and not yet acknowledged."""
    found: set[str] = set()
    for key in client.scan_iter(match=f"{queue}*", count=1000):
        if client.type(key) == b"list":
            for raw in client.lrange(key, 0, -1):
                _add_job_id(found, raw)
    for raw in client.hvals(UNACKED_HASH):
        try:
            _add_job_id(found, json.dumps(json.loads(raw)[0]).encode())
        except (ValueError, IndexError, TypeError):
            continue
    return found


def _add_job_id(found: set[str], raw: bytes) -> None:
    try:
        message = json.loads(raw)
        if message.get("headers", {}).get("task") != RUN_JOB_TASK:
            return
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.add(str(args[0]))
    except (ValueError, KeyError, IndexError, TypeError):
        return


def resend_lost_messages(session: Session, *, in_broker: set[str],
                         grace_seconds: int = SEND_GRACE_SECONDS) -> list[UUID]:
    """Queued jobs older than the grace period with no message in Redis get a new one.
    Re-sending is idempotent in effect: a duplicate message finds the job claimed."""
    cutoff = sa.func.clock_timestamp() - sa.func.make_interval(0, 0, 0, 0, 0, 0, grace_seconds)
    candidates = session.execute(
        sa.select(t.jobs.c.job_id).where(t.jobs.c.status == JobStatus.QUEUED.value,
                                         t.jobs.c.enqueued_at < cutoff)
    ).scalars().all()
    lost = [job_id for job_id in candidates if str(job_id) not in in_broker]
    if not lost:
        return []
    rows = session.execute(
        sa.update(t.jobs)
        .where(t.jobs.c.job_id.in_(lost), t.jobs.c.status == JobStatus.QUEUED.value)
        .values(enqueued_at=sa.func.clock_timestamp())
        .returning(*JOB_COLUMNS)
    ).all()
    for row in rows:
        enqueue_after_commit(session, pending_message(Job.from_row(row)))
    return [row.job_id for row in rows]
