"""The REST API: a Flask app factory with one flask-smorest blueprint per resource."""
from __future__ import annotations

from flask import Flask

from trainhub.config import get_settings


def create_app(overrides: dict | None = None) -> Flask:
    from api import auth, db, errors, health, jobs, stats
    from api import feature_sets
    from api import schedules
    from api import experiments, models
    from api.extensions import api

    # Resources behind bearer-key auth, one blueprint each.
    tenant_resources = [
        jobs.blp,
        stats.blp,
        schedules.blp,
        experiments.blp,
        models.blp,
        feature_sets.blp,
    ]

    settings = get_settings()
    app = Flask("trainhub")
    app.config.update(
        API_TITLE="TrainHub",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "info": {"description": "Submit, watch and manage training jobs."},
        },
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        # Feature-set uploads only (api/feature_sets.py); everything else keeps the limit above.
        MAX_UPLOAD_BYTES=settings.max_upload_bytes,
    )
    app.config.update(overrides or {})

    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    db.init_app(app)
    errors.init_app(app)
    for blueprint in tenant_resources:
        blueprint.before_request(auth.require_principal)
        api.register_blueprint(blueprint)
    api.register_blueprint(health.blp)
    return app
