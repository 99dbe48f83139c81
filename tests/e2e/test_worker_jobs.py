"""End to end: the Flask API, a real Celery worker process, Redis and PostgreSQL."""
from __future__ import annotations

import copy
import os
import signal
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from tests.conftest import SEED_JOB_REQUEST
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(120)

TERMINAL = {"completed", "failed", "cancelled"}


def submit(api, headers, tenant_id, **overrides):
    body = copy.deepcopy(SEED_JOB_REQUEST)
    body["tenant_id"] = tenant_id
    config = overrides.pop("config", {})
    body["config"].update(config)
    body.update(overrides)
    resp = api.post("/ai/training/jobs/start", json=body, headers=headers)
    assert resp.status_code == 201, resp.json
    return resp.json["job_id"]


def job(api, headers, job_id):
    return api.get(f"/ai/training/jobs/{job_id}", headers=headers).json


def wait_until_ended(api, headers, job_id, timeout=60):
    return wait_for(lambda: (j := job(api, headers, job_id))["status"] in TERMINAL and j,
                    timeout=timeout, what=f"job {job_id} to end")


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_job_completes_with_metrics_experiment_logs_and_model(api, worker, e2e_tenant, engine):
    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id)
    done = wait_until_ended(api, headers, job_id)
    assert done["status"] == "completed", done["error_message"]
    assert done["progress"] == 1.0
    for name in ("mae", "rmse", "mape", "r2", "best_iteration", "training_time_seconds"):
        assert done["metrics"][name] is not None, name
    assert done["metrics"]["r2"] > 0.5
    assert done["model_id"].startswith(f"{tenant_id}:load_forecast:")
    assert done["duration_seconds"] > 0 and done["started_at"] and done["completed_at"]

    experiment_id = done["experiment_id"]
    series = dict(engine.connect().execute(sa.text(
        "SELECT metric_name, count(*) FROM ai_experiment_metrics WHERE experiment_id = :e GROUP BY 1"),
        {"e": experiment_id}).all())
    assert series["train_loss"] == series["validation_loss"] >= done["metrics"]["best_iteration"]
    params = scalar(engine, "SELECT get_experiment_params_json(:e)", e=experiment_id)
    assert params["feature_set"] == "forecast_basic" and params["horizon"] == 24
    assert params["effective.num_leaves"] == 31 and params["effective.subsample_freq"] == 1
    assert scalar(engine, "SELECT status FROM ai_experiments WHERE experiment_id = :e", e=experiment_id) == "completed"

    artifact = scalar(engine, "SELECT artifact_path FROM ai_models WHERE model_id = :m", m=done["model_id"])
    assert Path(artifact).stat().st_size > 0

    logs = api.get(f"/ai/training/jobs/{job_id}/logs?tail=1000", headers=headers).json["logs"]
    messages = " | ".join(line["message"] for line in logs)
    assert "loaded" in messages and "trained forecast model" in messages and "completed" in messages
    assert api.get(f"/ai/training/jobs/{job_id}/logs?tail=2", headers=headers).json["count"] == 2


def test_anomaly_job_trains_isolation_forest(api, worker, e2e_tenant):
    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id, model_type="anomaly", model_name="load_anomaly",
                    config={"feature_set": "anomaly_basic", "horizon": 0,
                                                    "start_date": "2024-01-01T00:00:00Z",
                                                    "end_date": "2025-01-01T00:00:00Z"})
    done = wait_until_ended(api, headers, job_id)
    assert done["status"] == "completed", done["error_message"]
    assert done["metrics"]["roc_auc"] > 0.7 and 0 < done["metrics"]["anomaly_rate"] < 0.5


def test_backlog_runs_urgent_before_high_before_normal_before_low(api, worker, e2e_tenant, engine, paused_worker):
    tenant_id, headers = e2e_tenant
    # Submitted lowest first, so plain FIFO would run them in exactly the wrong order.
    plan = ["low", "low", "normal", "normal", "high", "high", "urgent", "urgent"]
    ids = [submit(api, headers, tenant_id, priority=p, model_name=f"prio-{i}") for i, p in enumerate(plan)]
    paused_worker()
    for job_id in ids:
        assert wait_until_ended(api, headers, job_id)["status"] == "completed"
    with engine.connect() as conn:
        claimed = [str(r.job_id) for r in conn.execute(sa.text(
            "SELECT job_id FROM ai_training_jobs WHERE job_id::text = ANY(:ids) ORDER BY started_at"),
            {"ids": ids})]
    expected = sorted(ids, key=lambda j: (-["low", "normal", "high", "urgent"].index(plan[ids.index(j)]),
                                          ids.index(j)))
    # Two pool slots take two messages at once; within such a pair either may claim first.
    for position, job_id in enumerate(claimed):
        assert abs(expected.index(job_id) - position) <= 1, (claimed, expected)


def test_cancel_queued_job_never_runs(api, worker, e2e_tenant, engine, paused_worker):
    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id)
    assert api.delete(f"/ai/training/jobs/{job_id}", headers=headers).json["status"] == "cancelled"
    follower = submit(api, headers, tenant_id)
    paused_worker()
    assert wait_until_ended(api, headers, follower)["status"] == "completed"
    cancelled = job(api, headers, job_id)
    assert cancelled["status"] == "cancelled" and cancelled["started_at"] is None
    assert scalar(engine, "SELECT attempt FROM ai_training_jobs WHERE job_id = :j", j=job_id) == 0


LONG_TRAINING = {
    # Ten years, tiny learning rate, patient early stopping: a fit of many seconds.
    "start_date": "2016-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z",
    "hyperparameters": {"n_estimators": 50000, "learning_rate": 0.0005},
    "early_stopping_rounds": 10000,
}


def test_cancel_running_job_stops_within_seconds(api, worker, e2e_tenant, engine):
    import time

    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id, config=LONG_TRAINING)
    wait_for(lambda: job(api, headers, job_id)["stage"] == "train", timeout=60, what="training to start")
    asked = time.monotonic()
    resp = api.delete(f"/ai/training/jobs/{job_id}", headers=headers)
    assert resp.status_code == 200 and resp.json["cancel_requested"] is True
    ended = wait_until_ended(api, headers, job_id, timeout=10)
    assert ended["status"] == "cancelled"
    assert time.monotonic() - asked < 5
    assert scalar(engine, "SELECT status FROM ai_experiments WHERE job_id = :j", j=job_id) == "cancelled"
    assert scalar(engine, "SELECT count(*) FROM ai_models WHERE job_id = :j", j=job_id) == 0


def test_failed_job_has_readable_error_and_traceback_and_retry_succeeds(api, worker, e2e_tenant, engine):
    from trainhub.db import session_scope
    from trainhub.demo_data import generate_demo_frame
    from trainhub.features import copy_rows
    from trainhub import tables as t

    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id, config={"feature_set": "site-7"})
    failed = wait_until_ended(api, headers, job_id)
    assert failed["status"] == "failed"
    assert "Feature set site-7 not found" in failed["error_message"]
    logs = api.get(f"/ai/training/jobs/{job_id}/logs", headers=headers).json["logs"]
    assert any(line["level"] == "ERROR" and "Traceback" in line["message"] for line in logs)

    # The data arrives; the retry, with the same config, now trains.
    from datetime import datetime, timezone
    frame = generate_demo_frame("forecast_basic", datetime(2025, 1, 1, tzinfo=timezone.utc),
                                datetime(2025, 10, 1, tzinfo=timezone.utc))
    with session_scope() as session:
        fs_id = session.execute(sa.insert(t.feature_sets).values(
            tenant_id=tenant_id, name="site-7", columns=["load_kw", "temperature", "humidity"],
            target_column="load_kw").returning(t.feature_sets.c.feature_set_id)).scalar_one()
        copy_rows(session, feature_set_id=fs_id, columns=["load_kw", "temperature", "humidity"], frame=frame)
    retry = api.post(f"/ai/training/jobs/{job_id}/retry", headers=headers)
    assert retry.status_code == 201 and retry.json["retry_of"] == job_id
    assert wait_until_ended(api, headers, retry.json["job_id"])["status"] == "completed"


@pytest.mark.parametrize("problem,expected", [
    ("nan_target", "missing"),
    ("empty_range", "no rows"),
    ("missing_target", "load_kw"),
])
def test_bad_data_fails_the_job_cleanly_and_the_worker_lives_on(api, worker, e2e_tenant, problem, expected):
    import numpy as np
    from datetime import datetime, timezone
    from trainhub.db import session_scope
    from trainhub.demo_data import generate_demo_frame
    from trainhub.features import copy_rows
    from trainhub import tables as t

    tenant_id, headers = e2e_tenant
    name = f"bad-{problem.replace('_', '-')}"
    frame = generate_demo_frame("forecast_basic", datetime(2025, 1, 1, tzinfo=timezone.utc),
                                datetime(2025, 4, 1, tzinfo=timezone.utc))
    columns = ["load_kw", "temperature", "humidity"]
    if problem == "nan_target":
        frame.loc[frame.index[500:520], "load_kw"] = np.nan
    if problem == "missing_target":
        columns = ["temperature", "humidity"]
    with session_scope() as session:
        fs_id = session.execute(sa.insert(t.feature_sets).values(
            tenant_id=tenant_id, name=name, columns=columns, target_column=columns[0])
            .returning(t.feature_sets.c.feature_set_id)).scalar_one()
        copy_rows(session, feature_set_id=fs_id, columns=columns, frame=frame)
    config = {"feature_set": name, "start_date": "2025-01-01T00:00:00Z", "end_date": "2025-04-01T00:00:00Z"}
    if problem == "empty_range":
        config.update(start_date="2030-01-01T00:00:00Z", end_date="2030-02-01T00:00:00Z")
    failed = wait_until_ended(api, headers, submit(api, headers, tenant_id, config=config))
    assert failed["status"] == "failed"
    assert expected in failed["error_message"]
    assert worker["process"].poll() is None
    assert wait_until_ended(api, headers, submit(api, headers, tenant_id))["status"] == "completed"


def test_same_message_delivered_twice_runs_the_job_once(api, worker, e2e_tenant, engine, paused_worker):
    from trainhub.jobs.service import get_job, pending_message
    from trainhub.db import session_scope
    from trainhub.queue import send_job

    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id)
    with session_scope() as session:
        send_job(pending_message(get_job(session, job_id=job_id, tenant_scope=None)))
    paused_worker()
    assert wait_until_ended(api, headers, job_id)["status"] == "completed"
    # Both messages were consumed: nothing of this job waits in the queue any more.
    from trainhub.recovery import job_ids_in_broker
    import redis
    from trainhub.config import get_settings
    client = redis.Redis.from_url(get_settings().redis_url)
    wait_for(lambda: job_id not in job_ids_in_broker(client, worker["queue"]), timeout=30,
             what="the duplicate message to be consumed")
    assert scalar(engine, "SELECT attempt FROM ai_training_jobs WHERE job_id = :j", j=job_id) == 1
    assert scalar(engine, "SELECT count(*) FROM ai_experiments WHERE job_id = :j", j=job_id) == 1
    assert scalar(engine, "SELECT count(*) FROM ai_models WHERE job_id = :j", j=job_id) == 1


def test_job_of_a_killed_worker_process_is_requeued_and_completes(api, worker, e2e_tenant, engine):
    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id, config={
        **LONG_TRAINING, "hyperparameters": {"n_estimators": 400, "learning_rate": 0.05},
        "early_stopping_rounds": 400})
    wait_for(lambda: job(api, headers, job_id)["stage"] == "train", timeout=60, what="training to start")
    # SIGKILL every pool child: the one training dies mid-fit without a word.
    for child in psutil.Process(worker["process"].pid).children(recursive=True):
        os.kill(child.pid, signal.SIGKILL)
    done = wait_until_ended(api, headers, job_id, timeout=90)
    assert done["status"] == "completed", done["error_message"]
    assert done["attempt"] == 2
    assert scalar(engine, "SELECT count(*) FROM ai_models WHERE job_id = :j", j=job_id) == 1


def test_stats_report_live_capacity(api, worker, e2e_tenant):
    _, headers = e2e_tenant
    stats = api.get("/ai/training/stats", headers=headers).json
    assert stats["capacity"] >= 2 and stats["workers"] >= 1
