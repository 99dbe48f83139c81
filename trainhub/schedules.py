"""Cron-scheduled retraining: schedules, and the dispatcher beat runs every minute.

A schedule is a job's training config without its dates, a cron expression evaluated
in a time zone, a rolling window length and a catch-up policy. Every minute beat calls
:func:`dispatch_due_schedules`; for each enabled schedule it takes the latest cron tick
at or before now that is not handled yet and either creates one job, training on
[tick - window, tick), or records why it skipped the tick.

Exactly one job per schedule and tick, however many beats run or however often a
dispatch is retried: the tick is claimed by inserting its (schedule_id, fire_time) row
with ON CONFLICT DO NOTHING in the same transaction that creates the job. A second
dispatcher computing the same tick waits on the first one's uncommitted row and then
inserts nothing, so it creates nothing; a rolled-back dispatch leaves neither row.

Services follow the job service's habits: session first, keyword-only arguments,
flush but never commit, plain dataclasses out, domain errors raised.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from croniter import CroniterBadDateError, croniter
from marshmallow import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.demo_data import DEMO_FEATURE_SETS
from trainhub.errors import InvalidInput, NotFound
from trainhub.features import DEMO_END, FeatureSetNotFound, choose_series, get_feature_set
from trainhub.jobs import config as job_config
from trainhub.jobs.model import Job, JobPriority, JobStatus
from trainhub.jobs.service import create_job
from trainhub.records import fetch_page, from_row

# A tick first seen later than this after its time counts as missed for catch_up
# 'skip'. Beat dispatches at the start of every minute, so an on-time tick is seen
# within seconds; two minutes leaves room for a slow dispatch or a beat restart.
MISFIRE_GRACE = timedelta(minutes=2)
# Missed ticks are counted for the record, never run; stop counting after this many
# (a year of a per-minute cron would otherwise cost seconds of cron arithmetic).
MAX_MISSED_COUNTED = 1000
# Fields of a job config a schedule owns itself: the dates come from each tick's
# window, the cron and auto_promote are top-level schedule fields.
TEMPLATE_EXCLUDES = ("start_date", "end_date", "schedule", "auto_promote")
CRON_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


class CatchUp:
    RUN_ONCE = "run_once"  # after downtime the latest missed tick fires once, however late
    SKIP = "skip"          # a tick seen later than MISFIRE_GRACE is skipped, not run


class FireStatus:
    CREATED = "created"  # a job was created for the tick
    SKIPPED = "skipped"  # no job; reason and detail say why


class SkipReason:
    NO_NEW_DATA = "no_new_data"                  # nothing newer than the last successful run's data end
    NO_DATA_IN_WINDOW = "no_data_in_window"      # the newest row is older than the tick's window
    FEATURE_SET_NOT_FOUND = "feature_set_not_found"
    MISSED = "missed"                            # seen too late, and catch_up is 'skip'
    INVALID_CONFIG = "invalid_config"            # the template no longer validates


class ScheduleNotFound(NotFound):
    def __init__(self, schedule_id: object) -> None:
        super().__init__(f"Schedule {schedule_id} not found")


@dataclass(frozen=True)
class Schedule:
    schedule_id: UUID
    tenant_id: str
    model_type: str
    model_name: str
    config: dict[str, Any]
    cron: str
    timezone: str
    priority: int
    enabled: bool
    window_seconds: int
    catch_up: str
    auto_promote: bool
    handled_through: datetime
    origin_job_id: UUID | None
    created_at: datetime
    updated_at: datetime

    @property
    def priority_name(self) -> str:
        return JobPriority(self.priority).label

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)

    @property
    def window_days(self) -> float:
        return self.window_seconds / 86400

    @property
    def next_fire_time(self) -> datetime | None:
        upcoming = next_fire_times(self, after=datetime.now(timezone.utc), count=1)
        return upcoming[0] if upcoming else None

    @classmethod
    def from_row(cls, row: Any) -> "Schedule":
        return from_row(cls, row)


@dataclass(frozen=True)
class Fire:
    """One handled tick of a schedule."""

    schedule_id: UUID
    fire_time: datetime
    status: str
    job_id: UUID | None
    reason: str | None
    detail: str | None
    missed_ticks: int
    window_start: datetime
    window_end: datetime
    dispatched_at: datetime | None = None
    job_status: str | None = None  # of the created job, now (None once retention removed it)


@dataclass(frozen=True)
class ScheduleDetail(Schedule):
    next_fire_times: list[datetime] = field(default_factory=list)
    history: list[Fire] = field(default_factory=list)


@dataclass(frozen=True)
class SchedulePage:
    schedules: list[Schedule]
    total: int
    page: int
    page_size: int


SCHEDULE_COLUMNS = [t.schedules.c[name] for name in Schedule.__dataclass_fields__]
FIRE_COLUMNS = [t.schedule_fires.c[name] for name in Fire.__dataclass_fields__ if name != "job_status"]


# --- cron and time zones -------------------------------------------------------------

def cron_errors(expression: str) -> list[str]:
    """Why a cron expression is unusable; empty when it is fine.

    Five fields only: the dispatcher runs once a minute, so a seconds field would
    promise what cannot be kept.
    """
    text = expression.strip()
    if text.startswith("@"):
        if text not in CRON_MACROS:
            return [f"Unknown macro {text}; use one of {', '.join(sorted(CRON_MACROS))}."]
    elif len(text.split()) != 5:
        return ["Use five fields: minute hour day-of-month month day-of-week (e.g. '0 3 * * *')."]
    if not croniter.is_valid(text):
        return ["Not a valid cron expression (e.g. '0 3 * * *')."]
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except CroniterBadDateError:
        return ["The expression never fires (e.g. February 31st)."]
    return []


def timezone_errors(name: str) -> list[str]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [f"Unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'."]
    return []


def latest_tick(cron: str, tz: str, now: datetime) -> datetime:
    """The latest tick at or before `now`, as a UTC instant."""
    # croniter's get_prev is strictly before its start; a microsecond later makes a
    # dispatch that runs exactly on the tick see that tick.
    local = (now + timedelta(microseconds=1)).astimezone(ZoneInfo(tz))
    return croniter(cron, local).get_prev(datetime).astimezone(timezone.utc)


def next_fire_times(schedule: Schedule, *, after: datetime, count: int) -> list[datetime]:
    """The next `count` ticks after `after` (and after handled ones), in the schedule's
    time zone; none while paused."""
    if not schedule.enabled:
        return []
    start = max(after, schedule.handled_through).astimezone(ZoneInfo(schedule.timezone))
    it = croniter(schedule.cron, start)
    return [it.get_next(datetime) for _ in range(count)]


def _ticks_between(cron: str, tz: str, after: datetime, before: datetime) -> int:
    """Ticks strictly between two instants, counted up to MAX_MISSED_COUNTED."""
    it = croniter(cron, before.astimezone(ZoneInfo(tz)))
    count = 0
    while count < MAX_MISSED_COUNTED and it.get_prev(datetime) > after:
        count += 1
    return count


def _check(*, cron: str | None = None, tz: str | None = None, window: timedelta | None = None,
           config: dict[str, Any] | None = None, model_type: str | None = None) -> None:
    """Domain checks shared by the API and the job-start path; the API's schemas run
    the same functions first, so these fire only for callers that bypass them."""
    errors: dict[str, Any] = {}
    if cron is not None and (messages := cron_errors(cron)):
        errors["cron"] = messages
    if tz is not None and (messages := timezone_errors(tz)):
        errors["timezone"] = messages
    if window is not None and window <= timedelta(0):
        errors["window_days"] = ["Must be positive."]
    if config is not None and model_type is not None:
        if config_errors := job_config.check_for_model_type(config, model_type):
            errors["config"] = config_errors
    if errors:
        raise InvalidInput(errors)


# --- the resource ----------------------------------------------------------------------

def create_schedule(
    session: Session,
    *,
    tenant_id: str,
    model_type: str,
    model_name: str,
    config: dict[str, Any],
    cron: str,
    timezone_name: str = "UTC",
    priority: JobPriority = JobPriority.LOW,
    enabled: bool = True,
    window: timedelta = timedelta(days=365),
    catch_up: str = CatchUp.RUN_ONCE,
    auto_promote: bool = False,
    origin_job_id: UUID | None = None,
) -> ScheduleDetail:
    """A schedule whose first tick is the first one after now (no past ticks fire);
    returned with its next fire times."""
    _check(cron=cron, tz=timezone_name, window=window, config=config, model_type=model_type)
    template = {k: v for k, v in job_config.to_json(config).items() if k not in TEMPLATE_EXCLUDES}
    row = session.execute(
        sa.insert(t.schedules).values(
            tenant_id=tenant_id, model_type=model_type, model_name=model_name, config=template,
            cron=cron.strip(), timezone=timezone_name, priority=int(priority), enabled=enabled,
            window_seconds=int(window.total_seconds()), catch_up=catch_up,
            auto_promote=auto_promote, origin_job_id=origin_job_id,
        ).returning(*SCHEDULE_COLUMNS)
    ).one()
    return _detail(Schedule.from_row(row), history=[], now=datetime.now(timezone.utc))


def start_job(
    session: Session,
    *,
    tenant_id: str,
    model_type: str,
    model_name: str,
    config: dict[str, Any],
    priority: JobPriority = JobPriority.NORMAL,
    tags: dict[str, Any] | None = None,
) -> Job:
    """POST /jobs/start: the job, and when its config carries a cron `schedule`, a
    schedule retraining the same model on a rolling window as long as the job's
    [start_date, end_date). The job is tagged with the schedule's id."""
    cron = config.get("schedule")
    if not cron:
        return create_job(session, tenant_id=tenant_id, model_type=model_type, model_name=model_name,
                          config=config, priority=priority, tags=tags)
    if messages := cron_errors(cron):
        raise InvalidInput({"config": {"schedule": messages}})
    schedule = create_schedule(
        session, tenant_id=tenant_id, model_type=model_type, model_name=model_name, config=config,
        cron=cron, priority=priority, window=config["end_date"] - config["start_date"],
        auto_promote=bool(config.get("auto_promote")),
    )
    job = create_job(session, tenant_id=tenant_id, model_type=model_type, model_name=model_name,
                     config=config, priority=priority,
                     tags={**(tags or {}), "schedule_id": str(schedule.schedule_id)})
    session.execute(sa.update(t.schedules).where(t.schedules.c.schedule_id == schedule.schedule_id)
                    .values(origin_job_id=job.job_id))
    return job


def get_schedule(session: Session, *, schedule_id: UUID, tenant_scope: str | None,
                 history: int = 20, upcoming: int = 5, now: datetime | None = None) -> ScheduleDetail:
    """The schedule with its next fire times and its last `history` fires, newest first."""
    schedule = _get(session, schedule_id, tenant_scope)
    rows = session.execute(
        sa.select(*FIRE_COLUMNS, t.jobs.c.status.label("job_status"))
        .select_from(t.schedule_fires.outerjoin(t.jobs, t.jobs.c.job_id == t.schedule_fires.c.job_id))
        .where(t.schedule_fires.c.schedule_id == schedule_id)
        .order_by(t.schedule_fires.c.fire_time.desc())
        .limit(history)
    ).all()
    fires = [Fire(**row._mapping) for row in rows]
    return _detail(schedule, history=fires, now=now or datetime.now(timezone.utc), upcoming=upcoming)


def _detail(schedule: Schedule, *, history: list[Fire], now: datetime, upcoming: int = 5) -> ScheduleDetail:
    return ScheduleDetail(
        **{name: getattr(schedule, name) for name in Schedule.__dataclass_fields__},
        next_fire_times=next_fire_times(schedule, after=now, count=upcoming),
        history=history,
    )


def list_schedules(session: Session, *, tenant_scope: str | None, tenant_id: str | None = None,
                   model_name: str | None = None, enabled: bool | None = None,
                   page: int = 1, page_size: int = 20) -> SchedulePage:
    """Schedules newest first; the total counts every match."""
    filters = list(_scope(tenant_scope))
    for column, value in (("tenant_id", tenant_id), ("model_name", model_name), ("enabled", enabled)):
        if value is not None:
            filters.append(t.schedules.c[column] == value)
    rows, total = fetch_page(
        session,
        sa.select(*SCHEDULE_COLUMNS).where(*filters)
        .order_by(t.schedules.c.created_at.desc(), t.schedules.c.schedule_id.desc()),
        page=page, page_size=page_size,
    )
    return SchedulePage([Schedule.from_row(r) for r in rows], total, page, page_size)


UPDATABLE = frozenset({"model_name", "config", "cron", "timezone_name", "priority", "enabled",
                       "window", "catch_up", "auto_promote"})


def update_schedule(session: Session, *, schedule_id: UUID, tenant_scope: str | None,
                    now: datetime | None = None, **changes: Any) -> ScheduleDetail:
    """Change some fields. A new cron or time zone, or enabling a paused schedule,
    starts from now: ticks that passed under the old cron or while paused never fire."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"not updatable: {sorted(unknown)}")
    current = _get(session, schedule_id, tenant_scope)
    _check(cron=changes.get("cron"), tz=changes.get("timezone_name"), window=changes.get("window"),
           config=changes.get("config"), model_type=current.model_type)
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "config":
            values["config"] = {k: v for k, v in job_config.to_json(value).items() if k not in TEMPLATE_EXCLUDES}
        elif name == "cron":
            values["cron"] = value.strip()
        elif name == "timezone_name":
            values["timezone"] = value
        elif name == "priority":
            values["priority"] = int(value)
        elif name == "window":
            values["window_seconds"] = int(value.total_seconds())
        else:
            values[name] = value
    # Decided on the row as the UPDATE finds it (SET sees the old values), so a
    # concurrent pause or cron change cannot slip between a read and this write.
    c = t.schedules.c
    restarts = [c.cron != values["cron"] if "cron" in values else None,
                c.timezone != values["timezone"] if "timezone" in values else None,
                sa.not_(c.enabled) if values.get("enabled") is True else None]
    restarts = [condition for condition in restarts if condition is not None]
    if restarts:
        values["handled_through"] = sa.case(
            (sa.or_(*restarts), sa.func.greatest(c.handled_through, now or datetime.now(timezone.utc))),
            else_=c.handled_through,
        )
    if values:
        session.execute(sa.update(t.schedules).where(t.schedules.c.schedule_id == schedule_id).values(**values))
    return get_schedule(session, schedule_id=schedule_id, tenant_scope=tenant_scope, now=now)


def pause_schedule(session: Session, *, schedule_id: UUID, tenant_scope: str | None) -> ScheduleDetail:
    return update_schedule(session, schedule_id=schedule_id, tenant_scope=tenant_scope, enabled=False)


def resume_schedule(session: Session, *, schedule_id: UUID, tenant_scope: str | None,
                    now: datetime | None = None) -> ScheduleDetail:
    return update_schedule(session, schedule_id=schedule_id, tenant_scope=tenant_scope, now=now, enabled=True)


def delete_schedule(session: Session, *, schedule_id: UUID, tenant_scope: str | None) -> None:
    """Delete the schedule and its fire history; the jobs it created stay."""
    deleted = session.execute(
        sa.delete(t.schedules).where(t.schedules.c.schedule_id == schedule_id, *_scope(tenant_scope))
        .returning(t.schedules.c.schedule_id)
    ).first()
    if deleted is None:
        raise ScheduleNotFound(schedule_id)


def _get(session: Session, schedule_id: UUID, tenant_scope: str | None) -> Schedule:
    row = session.execute(
        sa.select(*SCHEDULE_COLUMNS).where(t.schedules.c.schedule_id == schedule_id, *_scope(tenant_scope))
    ).first()
    if row is None:
        raise ScheduleNotFound(schedule_id)
    return Schedule.from_row(row)


def _scope(tenant_scope: str | None) -> tuple[sa.ColumnElement[bool], ...]:
    return () if tenant_scope is None else (t.schedules.c.tenant_id == tenant_scope,)


# --- the dispatcher --------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    status: str
    reason: str | None = None
    detail: str | None = None
    config: dict[str, Any] | None = None


def dispatch_due_schedules(session: Session, *, now: datetime,
                           misfire_grace: timedelta = MISFIRE_GRACE) -> list[Fire]:
    """Handle the latest due tick of every enabled schedule; returns the fires this
    call recorded (a tick another dispatcher already claimed is not among them).

    Schedules are taken in id order so that concurrent dispatchers, whose claims wait
    on each other's uncommitted rows, always wait in the same order and never deadlock.
    """
    rows = session.execute(
        sa.select(*SCHEDULE_COLUMNS).where(t.schedules.c.enabled).order_by(t.schedules.c.schedule_id)
    ).all()
    fires = []
    for row in rows:
        fire = _dispatch_one(session, Schedule.from_row(row), now=now, misfire_grace=misfire_grace)
        if fire is not None:
            fires.append(fire)
    return fires


def _dispatch_one(session: Session, schedule: Schedule, *, now: datetime,
                  misfire_grace: timedelta) -> Fire | None:
    tick = latest_tick(schedule.cron, schedule.timezone, now)
    if tick <= schedule.handled_through:
        return None
    missed = _ticks_between(schedule.cron, schedule.timezone, schedule.handled_through, tick)
    window_start = tick - schedule.window
    late = now - tick
    if schedule.catch_up == CatchUp.SKIP and late > misfire_grace:
        plan = _Plan(FireStatus.SKIPPED, SkipReason.MISSED,
                     f"seen {late.total_seconds():.0f} s after its time (grace "
                     f"{misfire_grace.total_seconds():.0f} s) and catch_up is 'skip'")
    else:
        plan = _plan_job(session, schedule, window_start=window_start, window_end=tick)
    if missed:
        note = f"{missed}{'+' if missed >= MAX_MISSED_COUNTED else ''} earlier tick(s) missed while no dispatcher ran; not run"
        plan = _Plan(plan.status, plan.reason, f"{plan.detail}; {note}" if plan.detail else note, plan.config)
    if not _claim(session, schedule, tick, plan, missed=missed, window_start=window_start):
        return None
    job_id = None
    if plan.status == FireStatus.CREATED:
        job = create_job(
            session, tenant_id=schedule.tenant_id, model_type=schedule.model_type,
            model_name=schedule.model_name, config=plan.config, priority=JobPriority(schedule.priority),
            tags={"schedule_id": str(schedule.schedule_id), "fire_time": tick.isoformat()},
        )
        job_id = job.job_id
        session.execute(
            sa.update(t.schedule_fires)
            .where(t.schedule_fires.c.schedule_id == schedule.schedule_id, t.schedule_fires.c.fire_time == tick)
            .values(job_id=job_id)
        )
    session.execute(
        sa.update(t.schedules).where(t.schedules.c.schedule_id == schedule.schedule_id)
        .values(handled_through=sa.func.greatest(t.schedules.c.handled_through, tick))
    )
    return Fire(schedule.schedule_id, tick, plan.status, job_id, plan.reason, plan.detail, missed,
                window_start, tick)


def _claim(session: Session, schedule: Schedule, tick: datetime, plan: _Plan, *, missed: int,
           window_start: datetime) -> bool:
    """Insert the tick's fire row; True when this transaction owns the tick.

    ON CONFLICT DO NOTHING on (schedule_id, fire_time) is the decision: a concurrent
    claim of the same tick waits for the winner's commit and then inserts nothing.
    The row is only inserted while the schedule still exists, is enabled and has not
    moved past this tick (a pause or a later tick committed since it was read).
    """
    s = t.schedules.c
    source = sa.select(
        s.schedule_id, sa.literal(tick, t.tz), sa.literal(plan.status), sa.literal(plan.reason, sa.Text),
        sa.literal(plan.detail, sa.Text), sa.literal(missed), sa.literal(window_start, t.tz),
        sa.literal(tick, t.tz),
    ).where(s.schedule_id == schedule.schedule_id, s.enabled, s.handled_through < tick)
    insert = (
        pg_insert(t.schedule_fires)
        .from_select(["schedule_id", "fire_time", "status", "reason", "detail", "missed_ticks",
                      "window_start", "window_end"], source)
        .on_conflict_do_nothing(index_elements=["schedule_id", "fire_time"])
        .returning(t.schedule_fires.c.fire_time)
    )
    # No savepoint around this: releasing one fires SQLAlchemy's after_commit, which
    # would send the run messages of jobs created earlier in this dispatch before the
    # real commit. (A schedule deleted between this statement's snapshot and its
    # foreign-key check fails the whole dispatch; the next one retries without it.)
    return session.execute(insert).first() is not None


def _plan_job(session: Session, schedule: Schedule, *, window_start: datetime,
              window_end: datetime) -> _Plan:
    """The job config for the tick's window, or why no job should run (the data gate)."""
    stored = {**schedule.config, "start_date": window_start.isoformat(), "end_date": window_end.isoformat(),
              "schedule": schedule.cron, "auto_promote": schedule.auto_promote}
    try:
        config = job_config.from_json(stored)
    except ValidationError as exc:
        return _Plan(FireStatus.SKIPPED, SkipReason.INVALID_CONFIG, f"config does not validate: {exc.messages}")
    if errors := job_config.check_for_model_type(config, schedule.model_type):
        return _Plan(FireStatus.SKIPPED, SkipReason.INVALID_CONFIG, f"config does not validate: {errors}")

    name = config["feature_set"]
    try:
        newest = _newest_row(session, tenant_id=schedule.tenant_id, name=name, series_id=config["series_id"])
    except FeatureSetNotFound:
        return _Plan(FireStatus.SKIPPED, SkipReason.FEATURE_SET_NOT_FOUND,
                     f"tenant {schedule.tenant_id} has no feature set {name}")
    except ValueError as exc:  # config.series_id picks no single series of the set
        return _Plan(FireStatus.SKIPPED, SkipReason.INVALID_CONFIG, str(exc))
    last_end, last_job = _last_successful_data_end(session, schedule)
    if newest is None:
        return _Plan(FireStatus.SKIPPED, SkipReason.NO_DATA_IN_WINDOW, f"feature set {name} has no rows")
    if last_end is not None and newest < last_end:
        return _Plan(FireStatus.SKIPPED, SkipReason.NO_NEW_DATA,
                     f"feature set {name} has no rows newer than {_iso(last_end)}, the data end "
                     f"of the last successful run (job {last_job}); newest row {_iso(newest)}")
    if newest < window_start:
        return _Plan(FireStatus.SKIPPED, SkipReason.NO_DATA_IN_WINDOW,
                     f"feature set {name} ends at {_iso(newest)}, before the window "
                     f"[{_iso(window_start)}, {_iso(window_end)})")
    return _Plan(FireStatus.CREATED, config=config)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _newest_row(session: Session, *, tenant_id: str, name: str, series_id: str) -> datetime | None:
    """Time of the newest row of the series a job of this config trains on (None when
    it has none); the series is chosen exactly as the runner chooses it."""
    try:
        feature_set = get_feature_set(session, tenant_id=tenant_id, name=name)
    except FeatureSetNotFound:
        if name in DEMO_FEATURE_SETS:
            # A built-in demo set is generated, up to DEMO_END, by the first job that
            # uses it; the dispatcher must not spend seconds generating it inside beat.
            return DEMO_END
        raise
    series = choose_series(session, feature_set=feature_set, series_id=series_id)
    return session.execute(
        sa.select(sa.func.max(t.feature_rows.c.ts))
        .where(t.feature_rows.c.feature_set_id == feature_set.feature_set_id, t.feature_rows.c.series_id == series)
    ).scalar()


def _last_successful_data_end(session: Session, schedule: Schedule) -> tuple[datetime | None, UUID | None]:
    """The end_date of the schedule's completed job with the latest data: its fires'
    jobs and the job whose start created the schedule."""
    j = t.jobs.c
    own_jobs = sa.union_all(
        sa.select(t.schedule_fires.c.job_id).where(t.schedule_fires.c.schedule_id == schedule.schedule_id,
                                                   t.schedule_fires.c.job_id.is_not(None)),
        sa.select(t.schedules.c.origin_job_id).where(t.schedules.c.schedule_id == schedule.schedule_id,
                                                     t.schedules.c.origin_job_id.is_not(None)),
    )
    end = sa.cast(j.config["end_date"].astext, t.tz)
    row = session.execute(
        sa.select(end.label("end"), j.job_id)
        .where(j.job_id.in_(own_jobs), j.status == JobStatus.COMPLETED.value)
        .order_by(end.desc()).limit(1)
    ).first()
    return (row.end, row.job_id) if row else (None, None)
