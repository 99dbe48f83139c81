"""Request and response shapes of /ai/training/jobs, field names as in the seed."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from trainhub.jobs.config import StrictSchema, TrainingConfigSchema, check_for_model_type
from trainhub.jobs.model import JobPriority, JobStatus, ModelType

PRIORITY_NAMES = [p.label for p in JobPriority]
STATUS_NAMES = [s.value for s in JobStatus]
MODEL_TYPES = [m.value for m in ModelType]
NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
                       error="Use 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit.")
TENANT = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", error="Not a valid tenant id.")


class JobCreateSchema(StrictSchema):
    tenant_id = fields.String(load_default=None, validate=TENANT,
                              metadata={"description": "Defaults to the API key's tenant"})
    model_type = fields.String(required=True, validate=validate.OneOf(MODEL_TYPES))
    model_name = fields.String(required=True, validate=NAME)
    config = fields.Nested(TrainingConfigSchema, required=True)
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITY_NAMES))
    tags = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                       values=fields.Raw(), load_default=dict,
                       validate=validate.Length(max=50))

    @validates_schema(skip_on_field_errors=True)
    def _config_fits_model_type(self, data: dict[str, Any], **_: Any) -> None:
        errors = check_for_model_type(data["config"], data["model_type"])
        if errors:
            raise ValidationError({"config": errors})


class JobSchema(Schema):
    job_id = fields.UUID()
    tenant_id = fields.String()
    model_type = fields.String()
    model_name = fields.String()
    feature_set = fields.String()
    status = fields.String(metadata={"enum": STATUS_NAMES})
    priority = fields.Integer(metadata={"description": "low=-1, normal=0, high=1, urgent=2"})
    priority_name = fields.String()
    progress = fields.Float(metadata={"description": "0.0 to 1.0"})
    stage = fields.String(allow_none=True)
    metrics = fields.Dict()
    model_id = fields.String(allow_none=True)
    experiment_id = fields.UUID(allow_none=True)
    error_message = fields.String(allow_none=True)
    retry_of = fields.UUID(allow_none=True)
    tags = fields.Dict()
    config = fields.Dict()
    schedule = fields.String(allow_none=True)
    # Set by TrainHub on jobs a schedule created, and on the job whose start created one.
    schedule_id = fields.Function(lambda job: (job.tags or {}).get("schedule_id"), allow_none=True)
    attempt = fields.Integer()
    cancel_requested = fields.Boolean()
    estimated_duration_seconds = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    links = fields.Method("_links", metadata={
        "description": "URLs of the job's experiment, its plots and its model (null until they exist)"})

    def _links(self, job: Any) -> dict[str, Any]:
        # Imported here: the experiments and models schemas import this module.
        from api.schemas.experiments import experiment_links
        from flask import url_for
        completed = job.status == JobStatus.COMPLETED.value
        return {
            **experiment_links(job.experiment_id, model_type=job.model_type, completed=completed),
            "model": url_for("models.ModelById", model_id=job.model_id) if job.model_id else None,
        }


class JobCreatedSchema(JobSchema):
    message = fields.Constant("Training job queued successfully")


class JobListQuerySchema(Schema):
    tenant_id = fields.String(validate=TENANT)
    model_type = fields.String(validate=validate.OneOf(MODEL_TYPES))
    model_name = fields.String(validate=validate.Length(1, 128))
    status = fields.String(validate=validate.OneOf(STATUS_NAMES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class JobCancelledSchema(Schema):
    job_id = fields.UUID()
    status = fields.String()
    cancel_requested = fields.Boolean()
    message = fields.Method("_message")

    def _message(self, job: Any) -> str:
        if job.status == JobStatus.CANCELLED.value:
            return "Training job cancelled"
        return "Cancellation requested; the worker stops the job within seconds"


class LogsQuerySchema(Schema):
    tail = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class LogLineSchema(Schema):
    log_id = fields.Integer()
    timestamp = fields.DateTime()
    level = fields.String()
    logger = fields.String()
    message = fields.String()
    metadata = fields.Dict()


class LogsSchema(Schema):
    job_id = fields.UUID()
    logs = fields.List(fields.Nested(LogLineSchema))
    count = fields.Integer()
