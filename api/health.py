"""/healthz (the process answers) and /readyz (PostgreSQL and Redis answer)."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from trainhub.health import check_dependencies

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200)
    def get(self):
        """The API process is up"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200)
    @blp.alt_response(503, description="A dependency is unreachable")
    def get(self):
        """PostgreSQL and Redis are reachable"""
        checks = check_dependencies()
        ok = all(c == "ok" for c in checks.values())
        return {"status": "ok" if ok else "unavailable", "checks": checks}, (200 if ok else 503)
