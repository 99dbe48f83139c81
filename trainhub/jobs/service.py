"""The job service: what users can do with training jobs.

Every function takes the session first and keyword-only arguments after it, flushes
but never commits (the request or task that called it owns the transaction), and
returns plain :class:`Job` records. ``tenant_scope`` is the caller's tenant, or None
for an admin acting across tenants; a job outside the scope is reported exactly as a
missing one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.errors import InvalidTransition, JobNotFound
from trainhub.jobs import config as job_config
from trainhub.jobs.estimate import estimate_duration_seconds
from trainhub.jobs.model import Job, JobPriority, JobStatus
from trainhub.queue import PendingJob, enqueue_after_commit
from trainhub.records import fetch_page

CANCELLABLE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
RETRYABLE = (JobStatus.FAILED.value, JobStatus.CANCELLED.value)
JOB_COLUMNS = [t.jobs.c[name] for name in Job.__dataclass_fields__]


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class JobStats:
    active: int
    queued: int
    capacity: int
    cluster_active: int
    workers: int

    @property
    def utilization(self) -> float:
        """Busy worker slots as a percentage of live ones."""
        if self.capacity == 0:
            return 0.0
        return round(100.0 * min(self.cluster_active, self.capacity) / self.capacity, 1)


# Every POST /jobs/start runs it: built once, the columns passed by name at execution
# (see trainhub.jobs.lifecycle).
_CREATE = sa.insert(t.jobs).values(enqueued_at=sa.func.clock_timestamp()).returning(*JOB_COLUMNS)


def create_job(
    session: Session,
    *,
    tenant_id: str,
    model_type: str,
    model_name: str,
    config: dict[str, Any],
    priority: JobPriority = JobPriority.NORMAL,
    tags: dict[str, Any] | None = None,
    retry_of: UUID | None = None,
) -> Job:
    """Record a queued job; its run message is sent once the transaction commits."""
    row = session.execute(_CREATE, {
        "tenant_id": tenant_id,
        "model_type": model_type,
        "model_name": model_name,
        "feature_set": config["feature_set"],
        "config": job_config.to_json(config),
        "tags": tags or {},
        "priority": int(priority),
        "retry_of": retry_of,
        "schedule": config.get("schedule"),
        "estimated_duration_seconds": estimate_duration_seconds(config),
    }).one()
    job = Job.from_row(row)
    enqueue_after_commit(session, pending_message(job))
    return job


def pending_message(job: Job) -> PendingJob:
    return PendingJob(
        job_id=job.job_id,
        priority=job.priority,
        label=f"{job.tenant_id}/{job.model_name} {job.priority_name}",
    )


def get_job(session: Session, *, job_id: UUID, tenant_scope: str | None) -> Job:
    row = session.execute(
        sa.select(*JOB_COLUMNS).where(t.jobs.c.job_id == job_id, *_scope(tenant_scope))
    ).first()
    if row is None:
        raise JobNotFound(job_id)
    return Job.from_row(row)


def list_jobs(
    session: Session,
    *,
    tenant_scope: str | None,
    tenant_id: str | None = None,
    model_type: str | None = None,
    model_name: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> JobPage:
    """Jobs newest first, filtered; the total counts every match, not just this page."""
    filters = list(_scope(tenant_scope))
    for column, value in (("tenant_id", tenant_id), ("model_type", model_type),
                          ("model_name", model_name), ("status", status)):
        if value is not None:
            filters.append(t.jobs.c[column] == value)
    rows, total = fetch_page(
        session,
        sa.select(*JOB_COLUMNS).where(*filters).order_by(t.jobs.c.created_at.desc(), t.jobs.c.job_id.desc()),
        page=page, page_size=page_size,
    )
    return JobPage([Job.from_row(r) for r in rows], total, page, page_size)


def cancel_job(session: Session, *, job_id: UUID, tenant_scope: str | None) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop, and its
    worker ends it as cancelled at its next check (between stages, boosting rounds
    and trials). One UPDATE decides, so a cancel racing a claim cannot both win."""
    is_queued = t.jobs.c.status == JobStatus.QUEUED.value
    row = session.execute(
        sa.update(t.jobs)
        .where(t.jobs.c.job_id == job_id, t.jobs.c.status.in_(CANCELLABLE), *_scope(tenant_scope))
        .values(
            status=sa.case((is_queued, JobStatus.CANCELLED.value), else_=t.jobs.c.status),
            completed_at=sa.case((is_queued, sa.func.clock_timestamp()), else_=t.jobs.c.completed_at),
            cancel_requested_at=sa.func.coalesce(t.jobs.c.cancel_requested_at, sa.func.clock_timestamp()),
        )
        .returning(*JOB_COLUMNS)
    ).first()
    if row is None:
        job = get_job(session, job_id=job_id, tenant_scope=tenant_scope)
        raise InvalidTransition(f"Job {job_id} is already {job.status} and cannot be cancelled")
    return Job.from_row(row)


def retry_job(session: Session, *, job_id: UUID, tenant_scope: str | None) -> Job:
    """A new queued job with the failed or cancelled job's config, tagged retry_of."""
    original = get_job(session, job_id=job_id, tenant_scope=tenant_scope)
    if original.status not in RETRYABLE:
        raise InvalidTransition(
            f"Job {job_id} is {original.status}; only failed or cancelled jobs can be retried"
        )
    return create_job(
        session,
        tenant_id=original.tenant_id,
        model_type=original.model_type,
        model_name=original.model_name,
        config=job_config.from_json(original.config),
        priority=JobPriority(original.priority),
        tags={**original.tags, "retry_of": str(original.job_id)},
        retry_of=original.job_id,
    )


def job_stats(session: Session, *, tenant_scope: str | None, live_within_seconds: int) -> JobStats:
    """Active and queued jobs of the scope; capacity from the workers heard from lately."""
    counts = dict(session.execute(
        sa.select(t.jobs.c.status, sa.func.count())
        .where(t.jobs.c.status.in_(CANCELLABLE), *_scope(tenant_scope))
        .group_by(t.jobs.c.status)
    ).all())
    cluster_active = session.execute(
        sa.select(sa.func.count()).select_from(t.jobs).where(t.jobs.c.status == JobStatus.RUNNING.value)
    ).scalar_one()
    live = t.workers.c.heartbeat_at > sa.func.clock_timestamp() - sa.func.make_interval(
        0, 0, 0, 0, 0, 0, live_within_seconds)
    capacity, n_workers = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(t.workers.c.concurrency), 0), sa.func.count())
        .where(live)
    ).one()
    return JobStats(
        active=counts.get(JobStatus.RUNNING.value, 0),
        queued=counts.get(JobStatus.QUEUED.value, 0),
        capacity=int(capacity),
        cluster_active=cluster_active,
        workers=n_workers,
    )


def _scope(tenant_scope: str | None) -> tuple[sa.ColumnElement[bool], ...]:
    return () if tenant_scope is None else (t.jobs.c.tenant_id == tenant_scope,)
