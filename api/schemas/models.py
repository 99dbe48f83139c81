"""Request and response shapes of /ai/training/models (the registry and predictions).

Model ids (tenant:model_name:YYYYMMDD.HHMMSS) go into URL paths as they are: ':' is
allowed in a path segment, and %3A works too.
"""
from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.schemas.experiments import experiment_links
from api.schemas.jobs import TENANT
from trainhub.jobs.config import StrictSchema
from trainhub.prediction import MAX_ROWS, PREDICTABLE_STAGES
from trainhub.registry import STAGES

REASON = validate.Length(1, 500)


def model_links(model: Any) -> dict[str, Any]:
    return {
        "self": url_for("models.ModelById", model_id=model.model_id),
        "artifact": url_for("models.ModelArtifact", model_id=model.model_id),
        "history": url_for("models.ModelHistory", model_id=model.model_id),
        "predict": url_for("models.Predict", model_ref=model.model_id),
        "job": url_for("jobs.JobById", job_id=model.job_id) if model.job_id else None,
        **experiment_links(model.experiment_id, model_type=model.model_type, completed=True),
    }


class ModelListQuerySchema(Schema):
    tenant_id = fields.String(validate=TENANT, metadata={"description": "Admin keys only narrow by it"})
    model_name = fields.String(validate=validate.Length(1, 128))
    stage = fields.String(validate=validate.OneOf(STAGES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    versions_per_model = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class ModelVersionSummarySchema(Schema):
    model_id = fields.String()
    version = fields.String()
    stage = fields.String(metadata={"enum": list(STAGES)})
    model_type = fields.String()
    metrics = fields.Dict()
    job_id = fields.UUID(allow_none=True)
    experiment_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


class ModelGroupSchema(Schema):
    tenant_id = fields.String()
    model_name = fields.String()
    model_type = fields.String()
    version_count = fields.Integer()
    latest_version = fields.String()
    production_model_id = fields.String(allow_none=True)
    versions = fields.List(fields.Nested(ModelVersionSummarySchema),
                           metadata={"description": "Newest first"})


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelGroupSchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class DecisionSchema(Schema):
    decision_id = fields.Integer()
    decision = fields.String(metadata={"enum": ["promoted", "refused", "skipped", "error"]})
    reason = fields.String()
    metric = fields.String(allow_none=True)
    margin = fields.Float()
    challenger_model_id = fields.String()
    challenger_score = fields.Float(allow_none=True)
    champion_model_id = fields.String(allow_none=True)
    champion_score = fields.Float(allow_none=True)
    holdout_rows = fields.Integer(allow_none=True)
    holdout_start = fields.DateTime(allow_none=True)
    holdout_end = fields.DateTime(allow_none=True)
    job_id = fields.UUID(allow_none=True)
    decided_by = fields.String()
    created_at = fields.DateTime()


class ModelVersionSchema(ModelVersionSummarySchema):
    tenant_id = fields.String()
    model_name = fields.String()
    hyperparameters = fields.Dict()
    feature_names = fields.List(fields.String())
    lineage = fields.Method("_lineage", metadata={
        "description": "job_id, experiment_id, feature_set, data_start, data_end, rows, series_id, code_version"})
    artifact = fields.Method("_artifact")
    promotion = fields.Nested(DecisionSchema, allow_none=True,
                              metadata={"description": "The gate's latest decision on this version"})
    updated_at = fields.DateTime()
    links = fields.Method("_links")

    def _lineage(self, model: Any) -> dict[str, Any]:
        return {"job_id": str(model.job_id) if model.job_id else None,
                "experiment_id": str(model.experiment_id) if model.experiment_id else None,
                **model.lineage}

    def _artifact(self, model: Any) -> dict[str, Any]:
        return {"sha256": model.artifact_sha256, "bytes": model.artifact_bytes}

    def _links(self, model: Any) -> dict[str, Any]:
        return model_links(model)


class StageChangeRequestSchema(StrictSchema):
    stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    reason = fields.String(required=True, validate=REASON)


class RollbackRequestSchema(StrictSchema):
    tenant_id = fields.String(load_default=None, validate=TENANT,
                              metadata={"description": "Required with an admin key"})
    reason = fields.String(required=True, validate=REASON)


class StageChangeSchema(Schema):
    history_id = fields.Integer()
    model_id = fields.String()
    from_stage = fields.String()
    to_stage = fields.String()
    changed_by = fields.String()
    reason = fields.String()
    decision_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class StageChangeResultSchema(Schema):
    model = fields.Nested(ModelVersionSchema)
    changes = fields.List(fields.Nested(StageChangeSchema),
                          metadata={"description": "The stage changes made, in order"})


class HistorySchema(Schema):
    model_id = fields.Function(lambda h: h.model.model_id)
    stage = fields.Function(lambda h: h.model.stage)
    changes = fields.List(fields.Nested(StageChangeSchema), metadata={"description": "Newest first"})
    decisions = fields.List(fields.Nested(DecisionSchema), metadata={"description": "Newest first"})


class PredictRequestSchema(StrictSchema):
    # JSON object keys are strings already; rows_matrix checks them against the features.
    rows = fields.List(fields.Dict(), validate=validate.Length(1, MAX_ROWS),
                       metadata={"description": "Feature rows: exactly the version's feature_names, numbers"})
    horizon = fields.Integer(validate=validate.Range(1, 8760), metadata={
        "description": "Forecast versions: the next N hours after the feature set's latest rows"})
    as_of = fields.AwareDateTime(load_default=None, metadata={
        "description": "With horizon: use rows before this time (default now)"})
    stage = fields.String(load_default=None, validate=validate.OneOf(PREDICTABLE_STAGES), metadata={
        "description": "With a model name: the stage to serve from (default production)"})
    tenant_id = fields.String(load_default=None, validate=TENANT,
                              metadata={"description": "With a model name and an admin key"})

    @validates_schema
    def _rows_or_horizon(self, data: dict[str, Any], **_: Any) -> None:
        if ("rows" in data) == ("horizon" in data):
            raise ValidationError("Send either rows or horizon.", "rows")


class PredictionSchema(Schema):
    model_id = fields.String()
    model_name = fields.String()
    version = fields.String()
    stage = fields.String()
    model_type = fields.String()
    target = fields.String()
    horizon = fields.Integer(metadata={"description": "Hours ahead each forecast is for (0: anomaly scores)"})
    count = fields.Integer()
    predictions = fields.List(fields.Float(), metadata={
        "description": "Forecasts, or anomaly scores (higher is more anomalous)"})
    timestamps = fields.List(fields.DateTime(), allow_none=True,
                             metadata={"description": "With horizon: the time each forecast is for"})
