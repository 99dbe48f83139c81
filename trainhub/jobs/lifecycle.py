"""Worker-side transitions of a job, each one conditional UPDATE … RETURNING.

A run is identified by (job_id, attempt): the claim bumps `attempt`, and every later
write of the run repeats it in its WHERE clause. When a run is presumed dead and its
job handed back to the queue, the old run's writes match no row, so a zombie worker
can never overwrite the job's next run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.jobs.model import Job, JobStatus
from trainhub.jobs.service import JOB_COLUMNS, pending_message
from trainhub.queue import enqueue_after_commit

RUNNING = JobStatus.RUNNING.value
now = sa.func.clock_timestamp


@dataclass(frozen=True)
class RunState:
    """What a heartbeat learned: is the run still ours, and was a cancel requested?"""

    owned: bool
    cancel_requested: bool


# The statements every job runs are built once: building one per call cost ~0.35 ms
# of CPU against ~0.15 ms to execute it (measured), on the cores the jobs train on.
# Columns to SET are passed by their names at execution; WHERE parameters have names
# of their own (a column's name is reserved for its SET value).
_CLAIM = (
    sa.update(t.jobs)
    .where(t.jobs.c.job_id == sa.bindparam("claimed_job_id"), t.jobs.c.status == JobStatus.QUEUED.value)
    .values(status=RUNNING, attempt=t.jobs.c.attempt + 1, started_at=now(), heartbeat_at=now(),
            progress=0.0, stage="load_features", error_message=None)
    .returning(*JOB_COLUMNS)
)


def claim_job(session: Session, *, job_id: UUID, worker_id: str) -> Job | None:
    """queued → running for this worker; None when the job is not queued (a duplicate
    or late message), which the caller acknowledges and drops."""
    row = session.execute(_CLAIM, {"claimed_job_id": job_id, "worker_id": worker_id}).first()
    return None if row is None else Job.from_row(row)


# This run's job: every write after the claim repeats (job_id, attempt) and status.
_THIS_RUN = (t.jobs.c.job_id == sa.bindparam("run_job_id"), t.jobs.c.attempt == sa.bindparam("run_attempt"),
             t.jobs.c.status == RUNNING)


def _run(job_id: UUID, attempt: int, **values: Any) -> dict[str, Any]:
    return {"run_job_id": job_id, "run_attempt": attempt, **values}


_HEARTBEAT = (
    sa.update(t.jobs).where(*_THIS_RUN)
    .values(heartbeat_at=now(),
            progress=sa.func.greatest(t.jobs.c.progress, sa.bindparam("reached", type_=sa.Float)))
    .returning(t.jobs.c.cancel_requested_at)
)


def heartbeat(session: Session, *, job_id: UUID, attempt: int, progress: float,
              stage: str | None) -> RunState:
    """Record liveness and progress (never moving backwards) in one round trip, and
    read back whether a cancel was requested."""
    row = session.execute(_HEARTBEAT, _run(job_id, attempt, stage=stage,
                                           reached=min(max(progress, 0.0), 1.0))).first()
    if row is None:
        return RunState(owned=False, cancel_requested=False)
    return RunState(owned=True, cancel_requested=row.cancel_requested_at is not None)


_SET_EXPERIMENT = sa.update(t.jobs).where(*_THIS_RUN)


def set_experiment(session: Session, *, job_id: UUID, attempt: int, experiment_id: UUID) -> bool:
    result = session.execute(_SET_EXPERIMENT, _run(job_id, attempt, experiment_id=experiment_id))
    return result.rowcount == 1


_COMPLETE = (
    sa.update(t.jobs).where(*_THIS_RUN)
    .values(status=JobStatus.COMPLETED.value, progress=1.0, stage="done", completed_at=now())
)


def complete_job(session: Session, *, job_id: UUID, attempt: int, model_id: str,
                 metrics: dict[str, Any]) -> bool:
    result = session.execute(_COMPLETE, _run(job_id, attempt, model_id=model_id, metrics=metrics))
    return result.rowcount == 1


_FAIL = sa.update(t.jobs).where(*_THIS_RUN).values(status=JobStatus.FAILED.value, completed_at=now())


def fail_job(session: Session, *, job_id: UUID, attempt: int, error_message: str) -> bool:
    result = session.execute(_FAIL, _run(job_id, attempt, error_message=error_message[:4000]))
    return result.rowcount == 1


_CANCEL = (sa.update(t.jobs).where(*_THIS_RUN)
           .values(status=JobStatus.CANCELLED.value, completed_at=now(), error_message="Cancelled while running"))


def cancel_running_job(session: Session, *, job_id: UUID, attempt: int) -> bool:
    result = session.execute(_CANCEL, _run(job_id, attempt))
    return result.rowcount == 1


@dataclass(frozen=True)
class Recovery:
    requeued: list[UUID]
    failed: list[UUID]
    cancelled: list[UUID]


def recover_stale_jobs(session: Session, *, stale_after_seconds: int, max_attempts: int) -> Recovery:
    """Running jobs whose heartbeat went quiet belong to a dead worker. Each is handed
    back to the queue (a fresh message goes out after commit) until it has used
    max_attempts claims, then failed; a stale job whose cancel was requested ends
    cancelled. Any number of workers may run this at once: the UPDATEs decide."""
    stale = (t.jobs.c.status == RUNNING,
             t.jobs.c.heartbeat_at < now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, stale_after_seconds))
    cancelled = session.execute(
        sa.update(t.jobs).where(*stale, t.jobs.c.cancel_requested_at.is_not(None))
        .values(status=JobStatus.CANCELLED.value, completed_at=now(),
                error_message="Cancelled; its worker stopped responding")
        .returning(t.jobs.c.job_id)
    ).scalars().all()
    failed = session.execute(
        sa.update(t.jobs).where(*stale, t.jobs.c.attempt >= max_attempts)
        .values(status=JobStatus.FAILED.value, completed_at=now(),
                error_message=sa.func.format(
                    "Worker %s stopped responding; gave up after %s attempts",
                    t.jobs.c.worker_id, t.jobs.c.attempt))
        .returning(t.jobs.c.job_id)
    ).scalars().all()
    requeued_rows = session.execute(
        sa.update(t.jobs).where(*stale)
        .values(status=JobStatus.QUEUED.value, worker_id=None, started_at=None,
                heartbeat_at=None, progress=0.0, stage=None, enqueued_at=now())
        .returning(*JOB_COLUMNS)
    ).all()
    requeued = [Job.from_row(r) for r in requeued_rows]
    for job in requeued:
        enqueue_after_commit(session, pending_message(job))
    return Recovery(requeued=[j.job_id for j in requeued], failed=list(failed), cancelled=list(cancelled))
