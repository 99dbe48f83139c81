"""/ai/training/stats: how busy the training cluster is."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from api import auth
from api.db import session
from api.schemas.stats import StatsSchema
from trainhub.config import get_settings
from trainhub.jobs import service

blp = Blueprint("stats", __name__, url_prefix="/ai/training", description="Cluster statistics")


@blp.route("/stats")
class Stats(MethodView):
    @blp.response(200, StatsSchema)
    def get(self):
        """Active and queued jobs, live capacity and utilization"""
        return service.job_stats(session(), tenant_scope=auth.tenant_scope(),
                                 live_within_seconds=get_settings().job_stale_after)
