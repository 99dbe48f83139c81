"""The running job's side channel to PostgreSQL.

A background thread heartbeats the job row once a second with the latest progress,
learns whether a cancel was requested or the run lost its claim, and flushes
buffered log lines. The training loop itself only touches memory: checking for a
cancel between boosting rounds costs an Event lookup, not a query.
"""
from __future__ import annotations

import logging
import threading
from uuid import UUID

from trainhub.db import session_scope
from trainhub.jobs import lifecycle
from trainhub.jobs.joblog import JobLogHandler
from trainhub.pipeline.hooks import Cancelled, PipelineHooks

log = logging.getLogger(__name__)


class RunLost(Exception):
    """The job was handed to another run (this worker was presumed dead); stop quietly."""


class JobMonitor(PipelineHooks):
    def __init__(self, job_id: UUID, attempt: int, logs: JobLogHandler, *,
                 interval: float = 1.0) -> None:
        self.job_id, self.attempt, self.logs, self.interval = job_id, attempt, logs, interval
        self.series: list[tuple[str, list[float], int]] = []
        self._progress, self._stage = 0.0, "load_features"
        self._cancel, self._lost = threading.Event(), threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"job-monitor-{job_id}", daemon=True)

    @property
    def stage(self) -> str:
        return self._stage

    # PipelineHooks -----------------------------------------------------------------
    def progress(self, fraction: float, stage: str) -> None:
        # Only memory: the next tick writes it. Waking the thread on every stage change
        # cost 4 extra commits per job, half a short job's database work (measured).
        self._progress, self._stage = max(self._progress, fraction), stage

    def check_cancelled(self) -> None:
        if self._lost.is_set():
            raise RunLost(f"job {self.job_id} attempt {self.attempt} lost its claim")
        if self._cancel.is_set():
            raise Cancelled(f"job {self.job_id} was cancelled")

    def record_series(self, name: str, values: list[float], start_step: int = 0) -> None:
        self.series.append((name, list(values), start_step))

    # thread --------------------------------------------------------------------------
    def __enter__(self) -> "JobMonitor":
        # No beat here: the claim has just written heartbeat_at.
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
                self.logs.flush()
            except Exception:  # noqa: BLE001 - a blip must not end the run; next tick retries
                log.warning("heartbeat of job %s failed; retrying", self.job_id, exc_info=True)

    def _beat(self) -> None:
        with session_scope() as session:
            state = lifecycle.heartbeat(session, job_id=self.job_id, attempt=self.attempt,
                                        progress=self._progress, stage=self._stage)
        if not state.owned:
            self._lost.set()
        elif state.cancel_requested:
            self._cancel.set()
