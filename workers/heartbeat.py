"""A worker bootstep: announce this worker's slots in PostgreSQL and keep jobs alive.

Every few seconds the main worker process upserts its ai_workers row (capacity for
/stats), hands jobs of dead workers back to the queue, and re-sends queued jobs whose
message Redis lost. Any number of workers do this at once; conditional UPDATEs decide.
"""
from __future__ import annotations

import logging
import os
import threading

from celery import bootsteps
from celery.signals import worker_ready

from trainhub.config import get_settings
from trainhub.db import session_scope
from trainhub.cluster import forget_worker, heartbeat_worker
from trainhub.recovery import recover

log = logging.getLogger(__name__)


class WorkerHeartbeat(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        # Handed to the pool children, which inherit the environment when forked
        # (workers.process.lightgbm_threads reads it back); not a user setting.
        cores = os.cpu_count() or 1
        os.environ["TRAINHUB_LIGHTGBM_THREADS"] = str(max(1, cores // max(1, worker.concurrency)))
        self.interval = get_settings().worker_heartbeat_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Announce capacity only once the consumer takes messages, or /stats and
        # `trainhub up` would count slots that cannot run anything yet.
        self._consuming = threading.Event()
        worker_ready.connect(lambda **_: self._consuming.set(), weak=False)

    def start(self, worker):
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(worker,), name="trainhub-heartbeat",
                                        daemon=True)
        self._thread.start()

    def stop(self, worker):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            with session_scope() as session:
                forget_worker(session, worker_id=worker.hostname)
        except Exception:  # noqa: BLE001 - shutting down; the row simply ages out
            log.warning("could not remove worker row for %s", worker.hostname, exc_info=True)

    def _loop(self, worker):
        settings = get_settings()
        while not self._consuming.wait(0.1):
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            try:
                with session_scope() as session:
                    heartbeat_worker(session, worker_id=worker.hostname,
                                     concurrency=worker.concurrency,
                                     queues=[settings.training_queue])
                recover(settings, every_seconds=int(self.interval))
            except Exception:  # noqa: BLE001 - the next beat retries; never kill the worker
                log.warning("worker heartbeat failed", exc_info=True)
            self._stop.wait(self.interval)
