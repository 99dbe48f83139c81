"""Request and response shapes of /ai/training/experiments, and the links to an
experiment's pages and plots that other responses (jobs, models) carry."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import url_for
from marshmallow import Schema, fields, validate
from webargs.fields import DelimitedList

from api.schemas.jobs import MODEL_TYPES, TENANT
from trainhub.experiments import MAX_COMPARED

EXPERIMENT_STATUSES = ["running", "completed", "failed", "cancelled"]


def experiment_links(experiment_id: UUID | None, *, model_type: str | None, completed: bool) -> dict[str, str | None]:
    """URLs of an experiment and its two plots; a plot's link is None until it can be drawn
    (learning curves exist for boosted, i.e. forecast, models only)."""
    if experiment_id is None:
        return {"experiment": None, "learning_curve": None, "forecast_plot": None}
    return {
        "experiment": url_for("experiments.ExperimentById", experiment_id=experiment_id),
        "learning_curve": url_for("experiments.LearningCurvePlot", experiment_id=experiment_id)
        if completed and model_type == "forecast" else None,
        "forecast_plot": url_for("experiments.ForecastPlot", experiment_id=experiment_id)
        if completed else None,
    }


class ExperimentListQuerySchema(Schema):
    tenant_id = fields.String(validate=TENANT, metadata={"description": "Admin keys only narrow by it"})
    model_name = fields.String(validate=validate.Length(1, 128))
    model_type = fields.String(validate=validate.OneOf(MODEL_TYPES))
    status = fields.String(validate=validate.OneOf(EXPERIMENT_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class ExperimentSummarySchema(Schema):
    """The experiment_summary view's fields."""

    experiment_id = fields.UUID()
    tenant_id = fields.String()
    job_id = fields.UUID(allow_none=True)
    name = fields.String()
    model_type = fields.String()
    model_name = fields.String()
    status = fields.String(metadata={"enum": EXPERIMENT_STATUSES})
    model_id = fields.String(allow_none=True)
    final_metrics = fields.Dict()
    lineage = fields.Dict()
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    param_count = fields.Integer()
    metric_points = fields.Integer()
    metric_names = fields.List(fields.String())
    links = fields.Method("_links")

    def _links(self, experiment: Any) -> dict[str, str | None]:
        return experiment_links(experiment.experiment_id, model_type=experiment.model_type,
                                completed=experiment.status == "completed")


class ExperimentSchema(ExperimentSummarySchema):
    params = fields.Dict(metadata={"description": "Job config and hyperparameters (hp.*), "
                                                  "effective values the model used (effective.*)"})


class ExperimentListSchema(Schema):
    experiments = fields.List(fields.Nested(ExperimentSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class MetricQuerySchema(Schema):
    max_points = fields.Integer(
        load_default=None, validate=validate.Range(2, 100_000),
        metadata={"description": "Thin a longer series to this many evenly spaced points "
                                 "(first and last kept)"})


class MetricPointSchema(Schema):
    step = fields.Integer()
    value = fields.Float()


class MetricSeriesSchema(Schema):
    experiment_id = fields.UUID()
    metric_name = fields.String()
    total_points = fields.Integer()
    downsampled = fields.Boolean()
    points = fields.List(fields.Nested(MetricPointSchema))


class CompareQuerySchema(Schema):
    ids = DelimitedList(fields.UUID(), required=True,
                        validate=validate.Length(2, MAX_COMPARED),
                        metadata={"description": f"2 to {MAX_COMPARED} experiment ids, comma-separated"})


class ComparisonSchema(Schema):
    experiment_ids = fields.Method("_ids")
    experiments = fields.List(fields.Nested(ExperimentSchema))
    param_differences = fields.Dict(
        keys=fields.String(), values=fields.List(fields.Raw(allow_none=True)),
        metadata={"description": "Parameters whose values differ: one value per experiment, in order"})
    common_params = fields.Dict()
    metrics = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw(allow_none=True)),
                          metadata={"description": "Final metrics: one value per experiment, in order"})
    best = fields.Dict(keys=fields.String(), values=fields.UUID(),
                       metadata={"description": "Metric -> experiment with its best value"})

    def _ids(self, comparison: Any) -> list[str]:
        return [str(e.experiment_id) for e in comparison.experiments]
