"""/ai/training/models: the model registry, stage changes, rollback and predictions.

A version is addressed by its model id in one path segment
(/ai/training/models/tenant-123:load_forecast:20251011.120500); rollback and predict
by name take the model name in the same place (names cannot contain ':').
"""
from __future__ import annotations

from flask import request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from api import auth
from api.db import session
from api.schemas.models import (
    HistorySchema, ModelListQuerySchema, ModelListSchema, ModelVersionSchema, PredictionSchema,
    PredictRequestSchema, RollbackRequestSchema, StageChangeRequestSchema, StageChangeResultSchema,
)
from trainhub import prediction, registry
from trainhub.config import get_settings
from trainhub.tenants import resolve_tenant

blp = Blueprint("models", __name__, url_prefix="/ai/training/models",
                description="Model registry: versions, stages, artifacts, rollback, predictions")


def actor() -> str:
    """Who is calling, for the audit history: the key's listed prefix, or 'admin' for
    the bootstrap admin key (which has no row, hence no prefix of its own)."""
    key = request.headers.get("Authorization", "").partition(" ")[2].strip()
    admin_key = get_settings().admin_key
    if admin_key and key == admin_key:
        return "admin"
    return f"key:{key[:10]}"


@blp.route("")
class Models(MethodView):
    @blp.arguments(ModelListQuerySchema(), location="query")
    @blp.response(200, ModelListSchema)
    def get(self, query):
        """List model names with their versions, newest first"""
        return registry.list_models(session(), tenant_scope=auth.tenant_scope(), **query)


@blp.route("/<model_id>")
class ModelById(MethodView):
    @blp.response(200, ModelVersionSchema)
    @blp.alt_response(404, description="No such model version")
    def get(self, model_id: str):
        """A version: metrics, params, lineage, stage, the gate's decision on it"""
        return registry.get_model_detail(session(), model_id=model_id, tenant_scope=auth.tenant_scope())


@blp.route("/<model_id>/artifact")
class ModelArtifact(MethodView):
    @blp.response(200, description="The joblib artifact")
    @blp.doc(responses={"200": {"description": "The joblib artifact", "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    @blp.alt_response(404, description="No such model version")
    def get(self, model_id: str):
        """Download the version's artifact (model, scaler, feature names)"""
        artifact = registry.artifact_file(session(), model_id=model_id, tenant_scope=auth.tenant_scope())
        response = send_file(artifact.path, mimetype="application/octet-stream", as_attachment=True,
                             download_name=artifact.download_name, etag=artifact.sha256)
        response.headers["X-Artifact-SHA256"] = artifact.sha256
        return response


@blp.route("/<model_id>/stage")
class ModelStage(MethodView):
    @blp.arguments(StageChangeRequestSchema())
    @blp.response(200, StageChangeResultSchema)
    @blp.alt_response(400, description="The version cannot move to that stage")
    @blp.alt_response(404, description="No such model version")
    @blp.alt_response(409, description="Another change of this model won the race")
    def post(self, body, model_id: str):
        """Move a version: none → staging → production → archived (archived → staging)"""
        return registry.change_stage(session(), model_id=model_id, tenant_scope=auth.tenant_scope(),
                                     stage=body["stage"], reason=body["reason"], actor=actor())


@blp.route("/<model_id>/history")
class ModelHistory(MethodView):
    @blp.response(200, HistorySchema)
    @blp.alt_response(404, description="No such model version")
    def get(self, model_id: str):
        """Stage changes (who, when, why) and gate decisions of a version"""
        return registry.version_history(session(), model_id=model_id, tenant_scope=auth.tenant_scope())


@blp.route("/<model_name>/rollback")
class Rollback(MethodView):
    @blp.arguments(RollbackRequestSchema())
    @blp.response(200, StageChangeResultSchema)
    @blp.alt_response(400, description="No earlier production version")
    @blp.alt_response(404, description="No such model")
    def post(self, body, model_name: str):
        """Put the previous production version back in production"""
        db = session()
        return registry.rollback(db, tenant_id=resolve_tenant(db, auth.principal(), body["tenant_id"]),
                                 model_name=model_name, reason=body["reason"], actor=actor())


@blp.route("/<model_ref>/predict")
class Predict(MethodView):
    @blp.arguments(PredictRequestSchema())
    @blp.response(200, PredictionSchema)
    @blp.alt_response(404, description="No such model, or none at that stage")
    def post(self, body, model_ref: str):
        """Predict with a version (by model id) or a model name's stage (default production)"""
        return prediction.predict(session(), tenant_scope=auth.tenant_scope(), model_ref=model_ref, **body)
