"""Sending work to the workers, by task name, only after the job row is committed.

trainhub never imports the worker package: it builds a Celery *client* from the same
celeryconfig and sends tasks by their stable names. A message sent before the commit
could reach a worker before the row is visible, so sends are queued on the session
and go out from its after_commit hook; a rollback discards them.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub.config import get_settings
from trainhub.jobs.model import JobPriority

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

RUN_JOB_TASK = "trainhub.run_job"

# On Redis a *lower* number is served first and 0 is the top, so urgent maps to 0.
# Levels sit three steps apart inside Celery's 0-9 range (priority_steps 0..9), which
# keeps room for finer levels later without renumbering queued messages.
REDIS_PRIORITY = {
    JobPriority.URGENT: 0,
    JobPriority.HIGH: 3,
    JobPriority.NORMAL: 6,
    JobPriority.LOW: 9,
}
# A message sent without a priority would land on top (0); make it normal instead.
DEFAULT_REDIS_PRIORITY = REDIS_PRIORITY[JobPriority.NORMAL]

_PENDING_KEY = "trainhub.pending_sends"


@dataclass(frozen=True)
class PendingJob:
    job_id: UUID
    priority: int
    label: str


@functools.cache
def celery_client() -> "Celery":
    from celery import Celery

    client = Celery("trainhub-client")
    client.config_from_object("celeryconfig")
    return client


def send_job(job: PendingJob) -> None:
    """Publish the run message for one job now."""
    celery_client().send_task(
        RUN_JOB_TASK,
        args=[str(job.job_id)],
        queue=get_settings().training_queue,
        priority=REDIS_PRIORITY[JobPriority(job.priority)],
        # Flower lists the shadow name, so people see what the job is, not just its id.
        shadow=f"{RUN_JOB_TASK}[{job.label}]",
        # Results live in PostgreSQL; without this the Redis result backend subscribes
        # to a reply channel per message that nothing ever answers.
        ignore_result=True,
    )


def send_after_commit(session: Session, send: Callable[[], None], *, what: str,
                      if_lost: str) -> None:
    """Call `send` once the session's transaction commits; never if it rolls back.
    `what` and `if_lost` name the message and what happens when sending fails."""
    session.info.setdefault(_PENDING_KEY, []).append((send, what, if_lost))


def enqueue_after_commit(session: Session, job: PendingJob) -> None:
    # The job row is safe in PostgreSQL; the recovery sweep finds queued jobs without a
    # live message and sends them again, so an outage of Redis delays a job, never loses it.
    send_after_commit(session, functools.partial(send_job, job), what=f"the run message of job {job.job_id}",
                      if_lost="recovery will re-send it")


@sa.event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    # Releasing a SAVEPOINT fires after_commit too, but only the outermost commit makes
    # the rows visible to workers: wait for it.
    if session.in_nested_transaction():
        return
    for send, what, if_lost in session.info.pop(_PENDING_KEY, []):
        try:
            send()
        except Exception:  # noqa: BLE001 - the rows are committed; say what happens next
            log.exception("could not send %s; %s", what, if_lost)


@sa.event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING_KEY, None)


# --- HPO trial helpers --------------------------------------------------------------

RUN_TRIAL_TASK = "trainhub.run_trial"


@dataclass(frozen=True)
class PendingTrials:
    """Helper messages for one HPO job run: participant 1..n-1 of its study (the run
    itself is participant 0). They travel at the job's priority, so a study's helpers
    wait behind more urgent jobs like the job itself would."""

    job_id: UUID
    attempt: int
    priority: int
    participants: tuple[int, ...]
    label: str


def send_trials(trials: PendingTrials) -> None:
    for participant in trials.participants:
        celery_client().send_task(
            RUN_TRIAL_TASK,
            args=[str(trials.job_id), trials.attempt, participant],
            queue=get_settings().training_queue,
            priority=REDIS_PRIORITY[JobPriority(trials.priority)],
            shadow=f"{RUN_TRIAL_TASK}[{trials.label} #{participant}]",
            ignore_result=True,
        )


def enqueue_trials_after_commit(session: Session, trials: PendingTrials) -> None:
    # Nothing to recover when this fails: the job's own run keeps taking trials until the
    # budget is spent, so a lost helper message makes the study slower, not stuck.
    send_after_commit(session, functools.partial(send_trials, trials),
                      what=f"the HPO helpers of job {trials.job_id}", if_lost="its run works alone")
