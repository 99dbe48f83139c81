"""Request and response shapes of /ai/training/schedules."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.schemas.jobs import MODEL_TYPES, NAME, PRIORITY_NAMES, STATUS_NAMES, TENANT
from trainhub.jobs.config import StrictSchema, TrainingConfigSchema, check_for_model_type
from trainhub.jobs.model import JobPriority
from trainhub.schedules import TEMPLATE_EXCLUDES, CatchUp, cron_errors, timezone_errors

CATCH_UP = [CatchUp.RUN_ONCE, CatchUp.SKIP]
MAX_WINDOW_DAYS = 3660


def _valid_cron(value: str) -> None:
    if messages := cron_errors(value):
        raise ValidationError(messages)


def _valid_timezone(value: str) -> None:
    if messages := timezone_errors(value):
        raise ValidationError(messages)


class ConfigTemplateSchema(TrainingConfigSchema):
    """A job's training config without start_date, end_date, schedule and auto_promote:
    each fire trains on the window ending at its fire time."""

    class Meta:
        exclude = TEMPLATE_EXCLUDES
        unknown = "raise"


class _ScheduleFields(StrictSchema):
    model_name = fields.String(validate=NAME)
    config = fields.Nested(ConfigTemplateSchema)
    cron = fields.String(validate=_valid_cron, metadata={"description": "Five-field cron, e.g. '0 3 * * *'"})
    timezone_name = fields.String(data_key="timezone", validate=_valid_timezone,
                                  metadata={"description": "IANA time zone the cron is read in"})
    priority = fields.String(validate=validate.OneOf(PRIORITY_NAMES))
    enabled = fields.Boolean()
    window_days = fields.Float(
        validate=validate.Range(0, MAX_WINDOW_DAYS, min_inclusive=False),
        metadata={"description": "Rolling window: each fire trains on [fire_time - window, fire_time)"},
    )
    catch_up = fields.String(
        validate=validate.OneOf(CATCH_UP),
        metadata={"description": "After downtime: run_once fires the latest missed tick once; "
                                 "skip drops a tick seen more than two minutes late"},
    )
    auto_promote = fields.Boolean(metadata={"description": "Set auto_promote in each created job"})

    @post_load
    def _to_domain(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "priority" in data:
            data["priority"] = JobPriority.from_name(data["priority"])
        if "window_days" in data:
            data["window"] = timedelta(days=data.pop("window_days"))
        return data


class ScheduleCreateSchema(_ScheduleFields):
    tenant_id = fields.String(load_default=None, validate=TENANT,
                              metadata={"description": "Defaults to the API key's tenant"})
    model_type = fields.String(required=True, validate=validate.OneOf(MODEL_TYPES))
    model_name = fields.String(required=True, validate=NAME)
    config = fields.Nested(ConfigTemplateSchema, required=True)
    cron = fields.String(required=True, validate=_valid_cron,
                         metadata={"description": "Five-field cron, e.g. '0 3 * * *'"})
    timezone_name = fields.String(data_key="timezone", load_default="UTC", validate=_valid_timezone)
    priority = fields.String(load_default="low", validate=validate.OneOf(PRIORITY_NAMES))
    enabled = fields.Boolean(load_default=True)
    window_days = fields.Float(load_default=365.0, validate=validate.Range(0, MAX_WINDOW_DAYS, min_inclusive=False))
    catch_up = fields.String(load_default=CatchUp.RUN_ONCE, validate=validate.OneOf(CATCH_UP))
    auto_promote = fields.Boolean(load_default=False)

    @validates_schema(skip_on_field_errors=True)
    def _config_fits_model_type(self, data: dict[str, Any], **_: Any) -> None:
        if errors := check_for_model_type(data["config"], data["model_type"]):
            raise ValidationError({"config": errors})


class ScheduleUpdateSchema(_ScheduleFields):
    """Any subset of the fields; config replaces the whole template."""


class ScheduleListQuerySchema(Schema):
    tenant_id = fields.String(validate=TENANT)
    model_name = fields.String(validate=validate.Length(1, 128))
    enabled = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class ScheduleGetQuerySchema(Schema):
    history = fields.Integer(load_default=20, validate=validate.Range(1, 500),
                             metadata={"description": "How many past fires to return, newest first"})


class FireSchema(Schema):
    fire_time = fields.DateTime()
    status = fields.String(metadata={"enum": ["created", "skipped"]})
    job_id = fields.UUID(allow_none=True)
    job_status = fields.String(allow_none=True, metadata={"enum": STATUS_NAMES})
    reason = fields.String(allow_none=True, metadata={"description": "Why the tick was skipped"})
    detail = fields.String(allow_none=True)
    missed_ticks = fields.Integer(metadata={"description": "Earlier ticks missed while no dispatcher ran"})
    window_start = fields.DateTime()
    window_end = fields.DateTime()
    dispatched_at = fields.DateTime(allow_none=True)


class ScheduleSchema(Schema):
    schedule_id = fields.UUID()
    tenant_id = fields.String()
    model_type = fields.String()
    model_name = fields.String()
    config = fields.Dict()
    cron = fields.String()
    timezone = fields.String()
    priority = fields.Integer(metadata={"description": "low=-1, normal=0, high=1, urgent=2"})
    priority_name = fields.String()
    enabled = fields.Boolean()
    window_days = fields.Float()
    catch_up = fields.String()
    auto_promote = fields.Boolean()
    origin_job_id = fields.UUID(allow_none=True, metadata={"description": "The job whose start created it"})
    handled_through = fields.DateTime(metadata={"description": "Every tick up to here is handled"})
    next_fire_time = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ScheduleDetailSchema(ScheduleSchema):
    next_fire_times = fields.List(fields.DateTime())
    history = fields.List(fields.Nested(FireSchema))


class ScheduleListSchema(Schema):
    schedules = fields.List(fields.Nested(ScheduleSchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
