"""/ai/training/jobs: start, inspect, list, cancel, retry, logs."""
from __future__ import annotations

from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint

from api import auth
from api.db import session
from api.schemas.jobs import (
    JobCancelledSchema, JobCreatedSchema, JobCreateSchema, JobListQuerySchema,
    JobListSchema, JobSchema, LogsQuerySchema, LogsSchema,
)
from trainhub import schedules
from trainhub.jobs import service
from trainhub.jobs.logs import tail_logs
from trainhub.jobs.model import JobPriority
from trainhub.tenants import resolve_tenant

blp = Blueprint("jobs", __name__, url_prefix="/ai/training/jobs",
                description="Training jobs: submit, watch, cancel, retry")


@blp.route("/start")
class StartJob(MethodView):
    @blp.arguments(JobCreateSchema())
    @blp.response(201, JobCreatedSchema)
    @blp.alt_response(422, description="Invalid request")
    def post(self, body):
        """Create a training job and queue it; with config.schedule, also a schedule
        retraining the model on a rolling window of the same length (its id: schedule_id)"""
        db = session()
        return schedules.start_job(
            db,
            tenant_id=resolve_tenant(db, auth.principal(), body["tenant_id"]),
            model_type=body["model_type"],
            model_name=body["model_name"],
            config=body["config"],
            priority=JobPriority.from_name(body["priority"]),
            tags=body["tags"],
        )


@blp.route("")
class Jobs(MethodView):
    @blp.arguments(JobListQuerySchema(), location="query")
    @blp.response(200, JobListSchema)
    def get(self, query):
        """List jobs, newest first"""
        return service.list_jobs(session(), tenant_scope=auth.tenant_scope(), **query)


@blp.route("/<uuid:job_id>")
class JobById(MethodView):
    @blp.response(200, JobSchema)
    @blp.alt_response(404, description="No such job")
    def get(self, job_id: UUID):
        """Job details: status, progress, metrics, model"""
        return service.get_job(session(), job_id=job_id, tenant_scope=auth.tenant_scope())

    @blp.response(200, JobCancelledSchema)
    @blp.alt_response(400, description="Job already ended")
    @blp.alt_response(404, description="No such job")
    def delete(self, job_id: UUID):
        """Cancel a queued or running job"""
        return service.cancel_job(session(), job_id=job_id, tenant_scope=auth.tenant_scope())


@blp.route("/<uuid:job_id>/retry")
class RetryJob(MethodView):
    @blp.response(201, JobCreatedSchema)
    @blp.alt_response(400, description="Job is not failed or cancelled")
    @blp.alt_response(404, description="No such job")
    def post(self, job_id: UUID):
        """Start a new job with the config of a failed or cancelled one"""
        return service.retry_job(session(), job_id=job_id, tenant_scope=auth.tenant_scope())


@blp.route("/<uuid:job_id>/logs")
class JobLogs(MethodView):
    @blp.arguments(LogsQuerySchema(), location="query")
    @blp.response(200, LogsSchema)
    @blp.alt_response(404, description="No such job")
    def get(self, query, job_id: UUID):
        """The last N persisted log lines of a job"""
        lines = tail_logs(session(), job_id=job_id, tenant_scope=auth.tenant_scope(), tail=query["tail"])
        return {"job_id": job_id, "logs": lines, "count": len(lines)}
