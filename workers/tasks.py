"""Celery tasks: each a thin shim with a stable name that calls one trainhub service."""
from __future__ import annotations

import logging
from uuid import UUID

from workers.app import app
from workers.process import lightgbm_threads

log = logging.getLogger(__name__)


@app.task(name="trainhub.run_job", bind=True, acks_late=True)
def run_job(self, job_id: str) -> dict:
    """Claim and run one training job; a message for a job that is not queued is dropped."""
    from trainhub.jobs.runner import run_job as run

    try:
        parsed = UUID(job_id)
    except (ValueError, TypeError):
        log.error("dropping run_job message with invalid job id %r", job_id)
        return {"job_id": job_id, "status": "invalid"}
    outcome = run(parsed, worker_id=self.request.hostname or "unknown", num_threads=lightgbm_threads())
    return {"job_id": job_id, "status": outcome.status, "detail": outcome.detail}


@app.task(name="trainhub.cleanup_old_training_data")
def cleanup_old_training_data() -> dict:
    """Daily retention sweep (beat)."""
    from trainhub.db import session_scope
    from trainhub.retention import cleanup_old_training_data as cleanup

    with session_scope() as session:
        deleted = cleanup(session)
    log.info("retention cleanup deleted %s", deleted)
    return deleted


@app.task(name="trainhub.run_trial", bind=True, acks_late=True)
def run_trial(self, job_id: str, attempt: int, participant: int) -> dict:
    """Join an HPO job's study as a helper: take trials until its budget is spent."""
    from trainhub.hpo import run_helper

    outcome = run_helper(UUID(job_id), attempt=int(attempt), participant=int(participant),
                         worker_id=self.request.hostname or "unknown", num_threads=lightgbm_threads())
    return {"job_id": job_id, "participant": participant, "status": outcome.status,
            "detail": outcome.detail}
