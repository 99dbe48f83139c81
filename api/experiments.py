"""/ai/training/experiments: list, inspect, metric series, compare, plots."""
from __future__ import annotations

from uuid import UUID

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api import auth
from api.db import session
from api.schemas.experiments import (
    CompareQuerySchema, ComparisonSchema, ExperimentListQuerySchema, ExperimentListSchema,
    ExperimentSchema, MetricQuerySchema, MetricSeriesSchema,
)
from trainhub import experiments, plots

blp = Blueprint("experiments", __name__, url_prefix="/ai/training/experiments",
                description="Experiments: one per job run, with params, metric series and plots")


PNG_CONTENT = {"image/png": {"schema": {"type": "string", "format": "binary"}}}


def _png(data: bytes) -> Response:
    # A finished experiment never changes, so its plots may be cached by the client.
    return Response(data, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


@blp.route("")
class Experiments(MethodView):
    @blp.arguments(ExperimentListQuerySchema(), location="query")
    @blp.response(200, ExperimentListSchema)
    def get(self, query):
        """List experiments, newest first"""
        return experiments.list_experiments(session(), tenant_scope=auth.tenant_scope(), **query)


@blp.route("/compare")
class CompareExperiments(MethodView):
    @blp.arguments(CompareQuerySchema(), location="query")
    @blp.response(200, ComparisonSchema)
    @blp.alt_response(404, description="An experiment does not exist")
    def get(self, query):
        """Compare 2-10 experiments: differing parameters and final metrics side by side"""
        return experiments.compare_experiments(session(), experiment_ids=query["ids"],
                                               tenant_scope=auth.tenant_scope())


@blp.route("/<uuid:experiment_id>")
class ExperimentById(MethodView):
    @blp.response(200, ExperimentSchema)
    @blp.alt_response(404, description="No such experiment")
    def get(self, experiment_id: UUID):
        """Experiment details: params, final metrics, summary counts, plot links"""
        return experiments.get_experiment(session(), experiment_id=experiment_id,
                                          tenant_scope=auth.tenant_scope())


@blp.route("/<uuid:experiment_id>/metrics/<string:metric_name>")
class ExperimentMetric(MethodView):
    @blp.arguments(MetricQuerySchema(), location="query")
    @blp.response(200, MetricSeriesSchema)
    @blp.alt_response(404, description="No such experiment or metric")
    def get(self, query, experiment_id: UUID, metric_name: str):
        """One metric's series (step, value), optionally thinned to max_points"""
        return experiments.metric_series(session(), experiment_id=experiment_id, name=metric_name,
                                         tenant_scope=auth.tenant_scope(), **query)


@blp.route("/<uuid:experiment_id>/plots/learning_curve.png")
class LearningCurvePlot(MethodView):
    @blp.response(200, description="PNG image")
    @blp.doc(responses={"200": {"description": "PNG image", "content": PNG_CONTENT}})
    @blp.alt_response(404, description="No such experiment, or it has no learning curve")
    def get(self, experiment_id: UUID):
        """Learning curve: train and validation loss per boosting iteration"""
        return _png(plots.learning_curve_png(session(), experiment_id=experiment_id,
                                             tenant_scope=auth.tenant_scope()))


@blp.route("/<uuid:experiment_id>/plots/forecast.png")
class ForecastPlot(MethodView):
    @blp.response(200, description="PNG image")
    @blp.doc(responses={"200": {"description": "PNG image", "content": PNG_CONTENT}})
    @blp.alt_response(404, description="No such experiment, or it has not completed")
    def get(self, experiment_id: UUID):
        """Forecast vs actual on the test window (anomaly models: scores over the series)"""
        return _png(plots.forecast_png(session(), experiment_id=experiment_id,
                                       tenant_scope=auth.tenant_scope()))
