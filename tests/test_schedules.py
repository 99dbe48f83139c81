"""Schedules: the REST resource, the job-start link, and the dispatcher on a simulated
clock (rolling windows, catch-up, data gate, pause), on a real PostgreSQL."""
from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.conftest import SEED_JOB_REQUEST
from trainhub import schedules
from trainhub.demo_data import DEMO_FEATURE_SETS, generate_demo_frame
from trainhub.features import copy_rows
from trainhub.jobs.model import JobPriority

URL = "/ai/training/schedules"
UTC = timezone.utc
# Simulated ticks lie in 2026, inside the demo sets' data (generated up to 2027-01-01).
T0 = datetime(2026, 6, 1, tzinfo=UTC)
TEMPLATE = {"feature_set": "forecast_basic", "target_variable": "load_kw", "horizon": 24}


def body(**overrides):
    request = {"model_type": "forecast", "model_name": "nightly", "config": dict(TEMPLATE),
               "cron": "0 3 * * *", "timezone": "UTC", "window_days": 30}
    request.update(overrides)
    return request


def make_schedule(db, tenant_id, *, cron="*/5 * * * *", window=timedelta(days=30), since=T0, **kwargs):
    """A schedule whose ticks up to `since` count as handled, so tests pick the clock."""
    created = schedules.create_schedule(db, tenant_id=tenant_id, model_type="forecast", model_name="m",
                                        config=dict(TEMPLATE), cron=cron, window=window, **kwargs)
    db.execute(sa.text("UPDATE ai_training_schedules SET handled_through = :t WHERE schedule_id = :s"),
               {"t": since, "s": created.schedule_id})
    return created.schedule_id


def dispatch(db, now, schedule_id):
    """The fires one dispatch recorded for this schedule."""
    return [f for f in schedules.dispatch_due_schedules(db, now=now) if f.schedule_id == schedule_id]


def fires(db, schedule_id):
    return db.execute(sa.text(
        "SELECT f.*, j.config AS job_config, j.priority AS job_priority, j.tags AS job_tags "
        "FROM ai_schedule_fires f LEFT JOIN ai_training_jobs j USING (job_id) "
        "WHERE f.schedule_id = :s ORDER BY f.fire_time"), {"s": schedule_id}).all()


def complete(db, job_id):
    db.execute(sa.text(
        "UPDATE ai_training_jobs SET status = 'completed', model_id = 'x:m:20260601.000000', "
        "started_at = clock_timestamp(), completed_at = clock_timestamp() WHERE job_id = :j"), {"j": job_id})


def tenant_feature_set(db, tenant_id, name, start, end):
    """A tenant's own feature set with hourly rows in [start, end)."""
    spec = DEMO_FEATURE_SETS["forecast_basic"]
    feature_set_id = db.execute(sa.text(
        "INSERT INTO feature_sets (tenant_id, name, columns, target_column) VALUES (:t, :n, :c, :g) "
        "RETURNING feature_set_id"), {"t": tenant_id, "n": name, "c": spec["columns"], "g": spec["target"]}).scalar()
    copy_rows(db, feature_set_id=feature_set_id, columns=spec["columns"],
              frame=generate_demo_frame("forecast_basic", start, end))


# --- the REST resource ---------------------------------------------------------------

def test_create_returns_schedule_with_next_fire_times_in_its_time_zone(client, tenants):
    tenant_id, headers = tenants()
    resp = client.post(URL, json=body(cron="30 2 * * *", timezone="Europe/Berlin", priority="high",
                                      auto_promote=True, catch_up="skip"), headers=headers)
    assert resp.status_code == 201, resp.json
    created = resp.json
    assert created["tenant_id"] == tenant_id and created["enabled"] is True
    assert (created["cron"], created["timezone"], created["catch_up"]) == ("30 2 * * *", "Europe/Berlin", "skip")
    assert created["priority"] == 1 and created["priority_name"] == "high" and created["auto_promote"] is True
    assert created["window_days"] == 30 and created["history"] == []
    assert "start_date" not in created["config"] and created["config"]["feature_set"] == "forecast_basic"
    upcoming = [datetime.fromisoformat(t) for t in created["next_fire_times"]]
    assert len(upcoming) == 5 and upcoming == sorted(upcoming)
    assert all((t.hour, t.minute) == (2, 30) and t.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
               for t in upcoming)
    assert created["next_fire_time"] == created["next_fire_times"][0]


@pytest.mark.parametrize("overrides, field", [
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "* * * *"}, "cron"),
    ({"cron": "*/10 * * * * *"}, "cron"),          # a seconds field: finer than the dispatcher
    ({"cron": "0 0 31 2 *"}, "cron"),               # February 31st never comes
    ({"cron": "@reboot"}, "cron"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../etc/passwd"}, "timezone"),
    ({"window_days": 0}, "window_days"),
    ({"catch_up": "burst"}, "catch_up"),
    ({"config": {**TEMPLATE, "start_date": "2025-01-01T00:00:00Z"}}, "config"),
    ({"config": {**TEMPLATE, "horizon": 0}}, "config"),
])
def test_bad_input_is_422_with_the_field_named(client, tenants, overrides, field):
    _, headers = tenants()
    resp = client.post(URL, json=body(**overrides), headers=headers)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]["json"]
    assert client.get(URL, headers=headers).json["total"] == 0


def test_list_get_update_pause_resume_delete(client, tenants):
    _, headers = tenants()
    ids = [client.post(URL, json=body(model_name=f"m{i}"), headers=headers).json["schedule_id"] for i in range(3)]
    listed = client.get(f"{URL}?page_size=2", headers=headers).json
    assert listed["total"] == 3 and [s["schedule_id"] for s in listed["schedules"]] == ids[::-1][:2]
    assert client.get(f"{URL}?model_name=m1", headers=headers).json["total"] == 1

    sid = ids[0]
    patched = client.patch(f"{URL}/{sid}", json={"cron": "15 * * * *", "priority": "urgent", "window_days": 7,
                                                "config": {**TEMPLATE, "horizon": 48}}, headers=headers)
    assert patched.status_code == 200, patched.json
    assert patched.json["cron"] == "15 * * * *" and patched.json["priority"] == 2
    assert patched.json["window_days"] == 7 and patched.json["config"]["horizon"] == 48
    assert all(datetime.fromisoformat(t).minute == 15 for t in patched.json["next_fire_times"])
    assert client.patch(f"{URL}/{sid}", json={"timezone": "Nowhere/Land"}, headers=headers).status_code == 422
    assert client.patch(f"{URL}/{sid}", json={"model_type": "anomaly"}, headers=headers).status_code == 422

    paused = client.post(f"{URL}/{sid}/pause", headers=headers).json
    assert paused["enabled"] is False and paused["next_fire_times"] == []
    assert client.get(f"{URL}?enabled=false", headers=headers).json["total"] == 1
    resumed = client.post(f"{URL}/{sid}/resume", headers=headers).json
    assert resumed["enabled"] is True and len(resumed["next_fire_times"]) == 5

    assert client.delete(f"{URL}/{sid}", headers=headers).status_code == 204
    assert client.get(f"{URL}/{sid}", headers=headers).status_code == 404
    assert client.delete(f"{URL}/{sid}", headers=headers).status_code == 404


def test_another_tenants_schedule_is_a_404_like_a_missing_one(client, tenants):
    _, owner = tenants()
    _, other = tenants()
    sid = client.post(URL, json=body(), headers=owner).json["schedule_id"]
    missing_id = uuid.uuid4()
    missing = client.get(f"{URL}/{missing_id}", headers=other)
    assert missing.status_code == 404
    for method, path in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/pause"), ("post", "/resume")):
        kwargs = {"json": {"enabled": False}} if method == "patch" else {}
        resp = getattr(client, method)(f"{URL}/{sid}{path}", headers=other, **kwargs)
        assert resp.status_code == 404, (method, path)
        assert resp.json["message"] == missing.json["message"].replace(str(missing_id), sid)
    assert client.get(URL, headers=other).json["total"] == 0
    assert client.get(f"{URL}/{sid}", headers=owner).json["enabled"] is True


def test_job_start_with_config_schedule_creates_a_rolling_schedule(client, tenants, db):
    _, headers = tenants("tenant-123")
    request = copy.deepcopy(SEED_JOB_REQUEST)
    request["config"]["schedule"] = "0 2 * * 1"
    request["config"]["auto_promote"] = True
    resp = client.post("/ai/training/jobs/start", json=request, headers=headers)
    assert resp.status_code == 201, resp.json
    job = resp.json
    assert job["schedule_id"] and job["schedule"] == "0 2 * * 1"
    assert client.get(f"/ai/training/jobs/{job['job_id']}", headers=headers).json["schedule_id"] == job["schedule_id"]

    schedule = client.get(f"{URL}/{job['schedule_id']}", headers=headers).json
    assert schedule["origin_job_id"] == job["job_id"]
    assert (schedule["model_type"], schedule["model_name"], schedule["cron"]) == ("forecast", "load_forecast", "0 2 * * 1")
    assert schedule["window_days"] == (datetime(2025, 10, 1) - datetime(2025, 1, 1)).days == 273
    assert schedule["priority_name"] == "normal" and schedule["auto_promote"] is True
    for key in ("start_date", "end_date", "schedule", "auto_promote"):
        assert key not in schedule["config"]
    assert schedule["config"]["validation_split"] == 0.2

    plain = client.post("/ai/training/jobs/start", json=SEED_JOB_REQUEST, headers=headers).json
    assert plain["schedule_id"] is None
    assert client.get(URL, headers=headers).json["total"] == 1


@pytest.mark.parametrize("cron", ["*/10 * * * * *", "not a cron"])
def test_job_start_with_a_bad_schedule_is_422_and_creates_nothing(client, tenants, cron):
    _, headers = tenants("tenant-123")
    request = copy.deepcopy(SEED_JOB_REQUEST)
    request["config"]["schedule"] = cron
    resp = client.post("/ai/training/jobs/start", json=request, headers=headers)
    assert resp.status_code == 422, resp.json
    assert "schedule" in resp.json["errors"]["json"]["config"]
    assert client.get("/ai/training/jobs", headers=headers).json["total"] == 0
    assert client.get(URL, headers=headers).json["total"] == 0


# --- the dispatcher on a simulated clock --------------------------------------------------

def test_each_fire_trains_on_the_window_ending_at_its_fire_time(db, tenants):
    tenant_id, _ = tenants()
    sid = make_schedule(db, tenant_id, cron="*/5 * * * *", window=timedelta(days=30),
                        priority=JobPriority.HIGH, auto_promote=True)
    ticks = [T0 + timedelta(minutes=5 * i) for i in range(1, 5)]
    for tick in ticks:
        # A dispatch a few seconds after the tick, then a retried one: one job per tick.
        assert [f.fire_time for f in dispatch(db, tick + timedelta(seconds=3), sid)] == [tick]
        assert dispatch(db, tick + timedelta(seconds=40), sid) == []
    rows = fires(db, sid)
    assert [r.fire_time for r in rows] == ticks
    for row in rows:
        assert row.status == "created" and row.missed_ticks == 0
        start, end = (datetime.fromisoformat(row.job_config[k]) for k in ("start_date", "end_date"))
        assert (start, end) == (row.fire_time - timedelta(days=30), row.fire_time)
        assert (row.window_start, row.window_end) == (start, end)
        assert row.job_config["auto_promote"] is True and row.job_config["schedule"] == "*/5 * * * *"
        assert row.job_priority == 1 and row.job_tags["schedule_id"] == str(sid)
    assert len({r.job_id for r in rows}) == len(ticks)


def test_ticks_are_read_in_the_schedules_time_zone(db, tenants):
    tenant_id, _ = tenants()
    sid = make_schedule(db, tenant_id, cron="0 3 * * *", timezone_name="America/New_York")
    # 03:00 in New York on 2026-06-01 is 07:00 UTC (daylight saving time).
    assert dispatch(db, datetime(2026, 6, 1, 6, 59, tzinfo=UTC), sid) == []
    (fire,) = dispatch(db, datetime(2026, 6, 1, 7, 0, tzinfo=UTC), sid)
    assert fire.fire_time == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def test_catch_up_run_once_fires_only_the_latest_missed_tick(db, tenants):
    tenant_id, _ = tenants()
    sid = make_schedule(db, tenant_id, cron="*/5 * * * *")
    # The dispatcher was down for 52 minutes: ten ticks passed, one job, for the latest.
    now = T0 + timedelta(minutes=52)
    (fire,) = dispatch(db, now, sid)
    assert fire.status == "created" and fire.fire_time == T0 + timedelta(minutes=50)
    assert fire.missed_ticks == 9 and "9 earlier tick(s) missed" in fire.detail
    assert dispatch(db, now, sid) == []
    assert db.execute(sa.text("SELECT count(*) FROM ai_training_jobs WHERE tags->>'schedule_id' = :s"),
                      {"s": str(sid)}).scalar() == 1


def test_catch_up_skip_drops_a_late_tick_and_fires_the_next_on_time(db, tenants):
    tenant_id, _ = tenants()
    sid = make_schedule(db, tenant_id, cron="0 * * * *", catch_up="skip")
    (late,) = dispatch(db, T0 + timedelta(hours=3, minutes=20), sid)
    assert (late.status, late.reason, late.job_id, late.missed_ticks) == ("skipped", "missed", None, 2)
    assert late.fire_time == T0 + timedelta(hours=3)
    (on_time,) = dispatch(db, T0 + timedelta(hours=4, seconds=2), sid)
    assert on_time.status == "created" and on_time.missed_ticks == 0


def test_paused_schedule_fires_nothing_and_resume_does_not_replay_the_pause(db, tenants):
    tenant_id, _ = tenants()
    sid = make_schedule(db, tenant_id, cron="*/5 * * * *")
    schedules.pause_schedule(db, schedule_id=sid, tenant_scope=tenant_id)
    assert dispatch(db, T0 + timedelta(minutes=30), sid) == []
    schedules.resume_schedule(db, schedule_id=sid, tenant_scope=tenant_id, now=T0 + timedelta(minutes=31))
    assert dispatch(db, T0 + timedelta(minutes=34), sid) == []
    (fire,) = dispatch(db, T0 + timedelta(minutes=35), sid)
    assert fire.fire_time == T0 + timedelta(minutes=35) and fire.missed_ticks == 0


def test_data_gate_skips_when_no_rows_are_newer_than_the_last_successful_run(db, client, tenants):
    tenant_id, headers = tenants()
    # The tenant's meter data stops at 2026-06-01 06:00; the schedule retrains every 6 hours.
    tenant_feature_set(db, tenant_id, "site_meter", T0 - timedelta(days=40), T0 + timedelta(hours=6))
    created = schedules.create_schedule(db, tenant_id=tenant_id, model_type="forecast", model_name="site",
                                        config={**TEMPLATE, "feature_set": "site_meter"}, cron="0 */6 * * *",
                                        window=timedelta(days=30))
    sid = created.schedule_id
    db.execute(sa.text("UPDATE ai_training_schedules SET handled_through = :t WHERE schedule_id = :s"),
               {"t": T0 - timedelta(minutes=1), "s": sid})

    (first,) = dispatch(db, T0 + timedelta(seconds=5), sid)     # window ends 00:00, data to 05:00
    assert first.status == "created"
    complete(db, first.job_id)
    (second,) = dispatch(db, T0 + timedelta(hours=6, seconds=5), sid)  # newer rows (00:00-05:00) exist
    assert second.status == "created"
    complete(db, second.job_id)
    (third,) = dispatch(db, T0 + timedelta(hours=12, seconds=5), sid)  # nothing after 06:00
    assert (third.status, third.reason, third.job_id) == ("skipped", "no_new_data", None)
    assert "no rows newer than 2026-06-01T06:00:00+00:00" in third.detail and str(second.job_id) in third.detail

    history = client.get(f"{URL}/{sid}?history=2", headers=headers).json["history"]
    assert [(h["status"], h["reason"]) for h in history] == [("skipped", "no_new_data"), ("created", None)]
    assert history[1]["job_status"] == "completed" and history[0]["job_id"] is None
    assert "last successful run" in history[0]["detail"]


def test_data_gate_skips_a_window_after_the_data_and_a_missing_feature_set(db, tenants):
    tenant_id, _ = tenants()
    tenant_feature_set(db, tenant_id, "old_meter", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    old = schedules.create_schedule(db, tenant_id=tenant_id, model_type="forecast", model_name="old",
                                    config={**TEMPLATE, "feature_set": "old_meter"}, cron="0 * * * *",
                                    window=timedelta(days=30)).schedule_id
    gone = schedules.create_schedule(db, tenant_id=tenant_id, model_type="forecast", model_name="gone",
                                     config={**TEMPLATE, "feature_set": "no_such_set"}, cron="0 * * * *",
                                     window=timedelta(days=30)).schedule_id
    db.execute(sa.text("UPDATE ai_training_schedules SET handled_through = :t WHERE tenant_id = :tenant"),
               {"t": T0, "tenant": tenant_id})
    now = T0 + timedelta(hours=1, seconds=1)
    (fire,) = dispatch(db, now, old)
    assert (fire.status, fire.reason) == ("skipped", "no_data_in_window")
    (fire,) = dispatch(db, now + timedelta(hours=1), gone)
    assert (fire.status, fire.reason) == ("skipped", "feature_set_not_found")


def test_a_new_cron_starts_from_now(db, tenants):
    tenant_id, _ = tenants()
    sid = make_schedule(db, tenant_id, cron="0 3 * * *")
    # At 03:30 the cron changes to every quarter hour: 03:15 and earlier never fire.
    schedules.update_schedule(db, schedule_id=sid, tenant_scope=tenant_id, cron="*/15 * * * *",
                              now=T0 + timedelta(hours=3, minutes=30))
    assert dispatch(db, T0 + timedelta(hours=3, minutes=40), sid) == []
    (fire,) = dispatch(db, T0 + timedelta(hours=3, minutes=45), sid)
    assert fire.missed_ticks == 0


def test_retention_runs_daily_from_beat_on_the_maintenance_queue():
    import celeryconfig

    entry = celeryconfig.beat_schedule["trainhub.cleanup_old_training_data"]
    assert entry["task"] == "trainhub.cleanup_old_training_data"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({3}, {17})
    assert celeryconfig.task_routes["trainhub.cleanup_old_training_data"]["queue"] == "maintenance"
    assert celeryconfig.beat_scheduler == "workers.beat:DispatchingScheduler"
