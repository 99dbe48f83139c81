"""/ai/training/schedules: cron-scheduled retraining (create, list, get, update,
pause, resume, delete). Beat fires them; see trainhub.schedules."""
from __future__ import annotations

from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint

from api import auth
from api.db import session
from api.schemas.schedules import (
    ScheduleCreateSchema, ScheduleDetailSchema, ScheduleGetQuerySchema, ScheduleListQuerySchema,
    ScheduleListSchema, ScheduleUpdateSchema,
)
from trainhub import schedules as service
from trainhub.tenants import resolve_tenant

blp = Blueprint("schedules", __name__, url_prefix="/ai/training/schedules",
                description="Scheduled retraining: cron schedules fired by Celery beat")


@blp.route("")
class Schedules(MethodView):
    @blp.arguments(ScheduleCreateSchema())
    @blp.response(201, ScheduleDetailSchema)
    @blp.alt_response(422, description="Invalid request (bad cron, time zone or config)")
    def post(self, body):
        """Create a schedule; its first fire is the first cron tick after now"""
        db = session()
        tenant_id = resolve_tenant(db, auth.principal(), body.pop("tenant_id"))
        return service.create_schedule(db, tenant_id=tenant_id, **body)

    @blp.arguments(ScheduleListQuerySchema(), location="query")
    @blp.response(200, ScheduleListSchema)
    def get(self, query):
        """List schedules, newest first"""
        return service.list_schedules(session(), tenant_scope=auth.tenant_scope(), **query)


@blp.route("/<uuid:schedule_id>")
class ScheduleById(MethodView):
    @blp.arguments(ScheduleGetQuerySchema(), location="query")
    @blp.response(200, ScheduleDetailSchema)
    @blp.alt_response(404, description="No such schedule")
    def get(self, query, schedule_id: UUID):
        """Schedule details, its next fire times and its history of fires"""
        return service.get_schedule(session(), schedule_id=schedule_id, tenant_scope=auth.tenant_scope(),
                                    history=query["history"])

    @blp.arguments(ScheduleUpdateSchema())
    @blp.response(200, ScheduleDetailSchema)
    @blp.alt_response(404, description="No such schedule")
    @blp.alt_response(422, description="Invalid change")
    def patch(self, body, schedule_id: UUID):
        """Change a schedule; a new cron or time zone starts from now"""
        return service.update_schedule(session(), schedule_id=schedule_id, tenant_scope=auth.tenant_scope(),
                                       **body)

    @blp.response(204)
    @blp.alt_response(404, description="No such schedule")
    def delete(self, schedule_id: UUID):
        """Delete a schedule and its history (the jobs it created stay)"""
        service.delete_schedule(session(), schedule_id=schedule_id, tenant_scope=auth.tenant_scope())


@blp.route("/<uuid:schedule_id>/pause")
class PauseSchedule(MethodView):
    @blp.response(200, ScheduleDetailSchema)
    @blp.alt_response(404, description="No such schedule")
    def post(self, schedule_id: UUID):
        """Stop firing until resumed"""
        return service.pause_schedule(session(), schedule_id=schedule_id, tenant_scope=auth.tenant_scope())


@blp.route("/<uuid:schedule_id>/resume")
class ResumeSchedule(MethodView):
    @blp.response(200, ScheduleDetailSchema)
    @blp.alt_response(404, description="No such schedule")
    def post(self, schedule_id: UUID):
        """Fire again from the next tick; ticks that passed while paused do not fire"""
        return service.resume_schedule(session(), schedule_id=schedule_id, tenant_scope=auth.tenant_scope())
