"""End to end: real Celery beat processes fire a real schedule, a real worker runs the
job; the daily retention task runs on a real worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.e2e.conftest import ROOT
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def start_beat(database_url, tmp_path):
    """Start a real `celery beat` (DispatchingScheduler) that dispatches every second."""
    started = []

    def start(name: str):
        log_path = tmp_path / f"{name}.log"
        env = {**os.environ, "TRAINHUB_SCHEDULE_DISPATCH_SECONDS": "1"}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-l", "DEBUG",
                 "-s", str(tmp_path / f"{name}-schedule"), "--pidfile", str(tmp_path / f"{name}.pid")],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        started.append(proc)
        return proc, log_path

    yield start
    for proc in started:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _dispatches(log_path) -> int:
    return log_path.read_text(errors="replace").count("schedule dispatch at")


def test_two_beats_fire_a_schedule_once_and_the_worker_trains_it(api, worker, e2e_tenant, engine, start_beat):
    tenant_id, headers = e2e_tenant
    created = api.post("/ai/training/schedules", headers=headers, json={
        "model_type": "forecast", "model_name": f"beat-{uuid.uuid4().hex[:6]}", "cron": "* * * * *",
        "window_days": 30, "priority": "high", "config": {"feature_set": "forecast_basic", "horizon": 24},
    })
    assert created.status_code == 201, created.json
    schedule_id = created.json["schedule_id"]
    try:
        # As if beat had been down for three minutes: the first dispatch catches up with
        # one job for the latest tick, so the test need not wait for the next minute.
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE ai_training_schedules SET handled_through = clock_timestamp() - "
                                 "interval '3 minutes' WHERE schedule_id = :s"), {"s": schedule_id})
        beats = [start_beat("beat-a"), start_beat("beat-b")]

        def first_fire():
            history = api.get(f"/ai/training/schedules/{schedule_id}", headers=headers).json["history"]
            return history[-1] if history else None

        fire = wait_for(first_fire, timeout=40, what="a beat to fire the schedule")
        assert fire["status"] == "created" and fire["missed_ticks"] == 2
        fire_time = datetime.fromisoformat(fire["fire_time"])
        assert fire_time <= datetime.now(timezone.utc) < fire_time + timedelta(minutes=2)

        job = wait_for(lambda: (j := api.get(f"/ai/training/jobs/{fire['job_id']}", headers=headers).json)
                       ["status"] in {"completed", "failed", "cancelled"} and j, timeout=60, what="the job to end")
        assert job["status"] == "completed", job["error_message"]
        assert job["schedule_id"] == schedule_id and job["priority_name"] == "high"
        assert (datetime.fromisoformat(job["config"]["start_date"]), datetime.fromisoformat(job["config"]["end_date"])) \
            == (fire_time - timedelta(days=30), fire_time)

        # Both beats kept dispatching after the fire, and neither made a second job of a tick.
        seen = [_dispatches(log) for _, log in beats]
        wait_for(lambda: all(_dispatches(log) >= n + 2 for (_, log), n in zip(beats, seen)), timeout=20,
                 what="both beats to dispatch again")
        for proc, log in beats:
            assert proc.poll() is None, log.read_text()[-3000:]
        with engine.connect() as conn:
            jobs, ticks = conn.execute(sa.text(
                "SELECT count(*), count(DISTINCT tags->>'fire_time') FROM ai_training_jobs "
                "WHERE tags->>'schedule_id' = :s"), {"s": schedule_id}).one()
            fired = conn.execute(sa.text("SELECT count(*) FROM ai_schedule_fires WHERE schedule_id = :s "
                                         "AND status = 'created'"), {"s": schedule_id}).scalar()
        assert jobs == ticks == fired >= 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM ai_training_schedules WHERE schedule_id = :s"), {"s": schedule_id})


def test_retention_task_runs_cleanup_on_a_real_worker(worker, e2e_tenant, engine):
    from trainhub.jobs import service
    from trainhub.queue import celery_client

    tenant_id, _ = e2e_tenant
    config = {"start_date": datetime(2025, 1, 1, tzinfo=timezone.utc),
              "end_date": datetime(2025, 2, 1, tzinfo=timezone.utc), "feature_set": "forecast_basic"}
    with Session(engine) as session:
        old, recent = (service.create_job(session, tenant_id=tenant_id, model_type="forecast",
                                          model_name="retention", config=config).job_id for _ in range(2))
        session.info.clear()  # rows only: no run messages
        session.execute(sa.text(
            "UPDATE ai_training_jobs SET status = 'completed', model_id = 'x:retention:20250101.000000', "
            "started_at = now() - make_interval(days => :d), completed_at = now() - make_interval(days => :d) "
            "WHERE job_id = :j"), [{"d": 91, "j": old}, {"d": 1, "j": recent}])
        session.execute(sa.text(
            "INSERT INTO ai_training_logs (job_id, level, message, created_at) VALUES "
            "(:j, 'INFO', 'stale', now() - interval '8 days'), (:j, 'INFO', 'fresh', now())"), {"j": recent})
        session.commit()

    # The beat entry's task, by its stable name, through the real worker.
    celery_client().send_task("trainhub.cleanup_old_training_data", queue=worker["queue"])

    def swept():
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM ai_training_jobs WHERE job_id = :j"),
                                {"j": old}).scalar() == 0
    wait_for(swept, timeout=30, what="the worker to run the retention task")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ai_training_jobs WHERE job_id = :j"), {"j": recent}).scalar() == 1
        assert conn.execute(sa.text("SELECT array_agg(message) FROM ai_training_logs WHERE job_id = :j"),
                            {"j": recent}).scalar() == ["fresh"]
