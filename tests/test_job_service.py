"""The job service against real PostgreSQL and Redis: enqueue timing and races."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.helpers import race
from trainhub.errors import InvalidTransition, JobNotFound
from trainhub.jobs import service
from trainhub.jobs.estimate import estimate_duration_seconds
from trainhub.jobs.lifecycle import claim_job
from trainhub.jobs.model import JobPriority
from trainhub.queue import REDIS_PRIORITY

CONFIG = {
    "start_date": datetime(2025, 1, 1, tzinfo=timezone.utc),
    "end_date": datetime(2025, 10, 1, tzinfo=timezone.utc),
    "feature_set": "forecast_basic",
    "target_variable": "load_kw",
    "horizon": 24,
    "enable_hpo": False,
    "n_trials": 50,
    "hyperparameters": {},
    "validation_split": 0.2,
    "test_split": 0.1,
    "early_stopping_rounds": 10,
    "n_workers": 1,
    "schedule": None,
}


def _queued_messages(redis_client, queue: str) -> list[dict]:
    found = []
    for key in redis_client.scan_iter(match=f"{queue}*"):
        if redis_client.type(key) == b"list":
            for raw in redis_client.lrange(key, 0, -1):
                found.append({"key": key.decode(), **json.loads(raw)})
    return found


def test_job_is_enqueued_only_after_commit(db, tenants, redis_client, training_queue):
    tenant_id, _ = tenants()
    job = service.create_job(db, tenant_id=tenant_id, model_type="forecast",
                             model_name="m", config=CONFIG, priority=JobPriority.URGENT)
    db.flush()
    assert _queued_messages(redis_client, training_queue) == []
    db.commit()
    messages = _queued_messages(redis_client, training_queue)
    assert len(messages) == 1
    assert messages[0]["headers"]["task"] == "trainhub.run_job"
    assert messages[0]["headers"]["argsrepr"] == repr([str(job.job_id)])
    assert messages[0]["properties"]["priority"] == REDIS_PRIORITY[JobPriority.URGENT] == 0


def test_released_savepoint_does_not_send_before_the_real_commit(db, tenants, redis_client, training_queue):
    tenant_id, _ = tenants()
    service.create_job(db, tenant_id=tenant_id, model_type="forecast", model_name="m", config=CONFIG)
    with db.begin_nested():
        db.execute(sa.text("SELECT 1"))
    assert _queued_messages(redis_client, training_queue) == []
    db.commit()
    assert len(_queued_messages(redis_client, training_queue)) == 1


def test_rolled_back_job_sends_nothing(db, tenants, redis_client, training_queue):
    tenant_id, _ = tenants()
    service.create_job(db, tenant_id=tenant_id, model_type="forecast", model_name="m", config=CONFIG)
    db.rollback()
    assert _queued_messages(redis_client, training_queue) == []


@pytest.mark.parametrize("n_workers,hpo,n_trials,days,expected", [
    (1, False, 0, 273, 180),
    (2, False, 0, 273, 90),
    (1, True, 10, 273, 480),
    (2, True, 10, 273, 240),
    (1, False, 0, 400, 360),
    (4, True, 20, 800, 2 * (45 + 150)),
])
def test_duration_estimate_follows_the_seed_formula(n_workers, hpo, n_trials, days, expected):
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    config = {**CONFIG, "n_workers": n_workers, "enable_hpo": hpo, "n_trials": n_trials,
              "start_date": start, "end_date": start + __import__("datetime").timedelta(days=days)}
    assert estimate_duration_seconds(config) == expected


def test_cancel_and_retry_raise_domain_errors(db, tenants):
    tenant_id, _ = tenants()
    job = service.create_job(db, tenant_id=tenant_id, model_type="forecast", model_name="m", config=CONFIG)
    with pytest.raises(InvalidTransition):
        service.retry_job(db, job_id=job.job_id, tenant_scope=tenant_id)
    service.cancel_job(db, job_id=job.job_id, tenant_scope=tenant_id)
    with pytest.raises(InvalidTransition):
        service.cancel_job(db, job_id=job.job_id, tenant_scope=tenant_id)
    with pytest.raises(JobNotFound):
        service.get_job(db, job_id=job.job_id, tenant_scope="someone-else")


def test_cancel_of_running_job_only_requests_it(db, tenants):
    tenant_id, _ = tenants()
    job = service.create_job(db, tenant_id=tenant_id, model_type="forecast", model_name="m", config=CONFIG)
    assert claim_job(db, job_id=job.job_id, worker_id="w1") is not None
    cancelled = service.cancel_job(db, job_id=job.job_id, tenant_scope=tenant_id)
    assert cancelled.status == "running" and cancelled.cancel_requested


def test_database_functions_and_views(db, tenants):
    tenant_id, _ = tenants()
    jobs = [service.create_job(db, tenant_id=tenant_id, model_type="forecast", model_name="m",
                               config=CONFIG, priority=p) for p in (JobPriority.LOW, JobPriority.URGENT)]
    active = db.execute(sa.text(
        "SELECT job_id, queue_position FROM active_training_jobs WHERE tenant_id = :t ORDER BY queue_position"),
        {"t": tenant_id}).all()
    assert [r.job_id for r in active] == [jobs[1].job_id, jobs[0].job_id]
    exp_id = db.execute(sa.text(
        "INSERT INTO ai_experiments (tenant_id, job_id, name, model_type, model_name) "
        "VALUES (:t, :j, 'e', 'forecast', 'm') RETURNING experiment_id"),
        {"t": tenant_id, "j": jobs[0].job_id}).scalar_one()
    db.execute(sa.text(
        "INSERT INTO ai_experiment_metrics (experiment_id, metric_name, value, step) VALUES "
        "(:e, 'validation_loss', 3.0, 0), (:e, 'validation_loss', 2.0, 1), (:e, 'mae', 9.5, 0)"),
        {"e": exp_id})
    db.execute(sa.text(
        "INSERT INTO ai_experiment_params (experiment_id, param_name, param_value, param_type) VALUES "
        "(:e, 'num_leaves', '31', 'int'), (:e, 'learning_rate', '0.1', 'float'), "
        "(:e, 'enable_hpo', 'false', 'bool'), (:e, 'feature_set', 'forecast_basic', 'str'), "
        "(:e, 'search', '{\"a\": [1, 2]}', 'json')"), {"e": exp_id})
    latest = dict(db.execute(sa.text(
        "SELECT metric_name, value FROM get_latest_experiment_metrics(:e)"), {"e": exp_id}).all())
    assert latest == {"validation_loss": 2.0, "mae": 9.5}
    params = db.execute(sa.text("SELECT get_experiment_params_json(:e)"), {"e": exp_id}).scalar_one()
    assert params == {"num_leaves": 31, "learning_rate": 0.1, "enable_hpo": False,
                      "feature_set": "forecast_basic", "search": {"a": [1, 2]}}
    summary = db.execute(sa.text("SELECT * FROM experiment_summary WHERE experiment_id = :e"),
                         {"e": exp_id}).one()
    assert summary.param_count == 5 and summary.metric_points == 3
    assert summary.metric_names == ["mae", "validation_loss"]
    assert db.execute(sa.text("SELECT cancel_queued_jobs(:t)"), {"t": tenant_id}).scalar_one() == 2
    assert db.execute(sa.text("SELECT count(*) FROM active_training_jobs WHERE tenant_id = :t"),
                      {"t": tenant_id}).scalar_one() == 0


def test_cleanup_old_training_data_applies_retention(db, tenants):
    tenant_id, _ = tenants()

    def backdated(status: str, days: int):
        job = service.create_job(db, tenant_id=tenant_id, model_type="forecast", model_name="m", config=CONFIG)
        db.execute(sa.text(
            "UPDATE ai_training_jobs SET status = :s, model_id = CASE WHEN :s = 'completed' THEN 'x:m:20250101.000000' END, "
            "started_at = now() - make_interval(days => :d), "
            "completed_at = now() - make_interval(days => :d) WHERE job_id = :j"),
            {"s": status, "d": days, "j": job.job_id})
        return job.job_id

    old_done, new_done = backdated("completed", 91), backdated("completed", 89)
    old_failed, new_failed = backdated("failed", 31), backdated("failed", 29)
    old_cancelled = backdated("cancelled", 31)
    db.execute(sa.text(
        "INSERT INTO ai_training_logs (job_id, level, message, created_at) VALUES "
        "(:j, 'INFO', 'old', now() - interval '8 days'), (:j, 'INFO', 'new', now() - interval '6 days')"),
        {"j": new_done})
    exp = db.execute(sa.text(
        "INSERT INTO ai_experiments (tenant_id, job_id, name, model_type, model_name) "
        "VALUES (:t, :j, 'e', 'forecast', 'm') RETURNING experiment_id"),
        {"t": tenant_id, "j": old_done}).scalar_one()
    db.execute(sa.text("INSERT INTO ai_experiment_metrics (experiment_id, metric_name, value) VALUES (:e, 'mae', 1)"),
               {"e": exp})
    row = db.execute(sa.text("SELECT * FROM cleanup_old_training_data()")).one()
    assert (row.completed_jobs_deleted, row.failed_jobs_deleted, row.logs_deleted) == (1, 2, 1)
    left = set(db.execute(sa.text("SELECT job_id FROM ai_training_jobs WHERE tenant_id = :t"),
                          {"t": tenant_id}).scalars())
    assert left == {new_done, new_failed}
    assert old_failed not in left and old_cancelled not in left
    assert db.execute(sa.text("SELECT count(*) FROM ai_experiment_metrics WHERE experiment_id = :e"),
                      {"e": exp}).scalar_one() == 1


@pytest.fixture
def committed_job(engine, database_url):
    """A committed queued job, visible to other connections; removed afterwards."""
    from trainhub.tenants import ensure_tenant
    with Session(engine) as session:
        ensure_tenant(session, tenant_id="race-tenant")
        job = service.create_job(session, tenant_id="race-tenant", model_type="forecast",
                                 model_name="m", config=CONFIG)
        session.info.clear()  # no run message: nothing consumes it in this test
        session.commit()
    yield job
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tenants WHERE tenant_id = 'race-tenant'"))


@pytest.mark.parametrize("round_", range(5))
def test_two_workers_claiming_one_job_exactly_one_wins(engine, committed_job, round_):
    if round_:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE ai_training_jobs SET status = 'queued', started_at = NULL, "
                                 "worker_id = NULL WHERE job_id = :j"), {"j": committed_job.job_id})
    results = race(engine,
                    lambda s: claim_job(s, job_id=committed_job.job_id, worker_id="w1"),
                    lambda s: claim_job(s, job_id=committed_job.job_id, worker_id="w2"))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1


def test_cancel_racing_a_claim_exactly_one_wins(engine, committed_job):
    results = race(engine,
                    lambda s: claim_job(s, job_id=committed_job.job_id, worker_id="w1"),
                    lambda s: service.cancel_job(s, job_id=committed_job.job_id, tenant_scope=None))
    claimed, cancelled = results
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status, cancel_requested_at IS NOT NULL FROM ai_training_jobs "
                                      "WHERE job_id = :j"), {"j": committed_job.job_id}).one()
    if claimed is None:
        # cancel won while queued: cancelled at once, the claim found nothing to take
        assert status == ("cancelled", True)
    else:
        # claim won: the job runs, and the cancel became a request the worker honours
        assert status == ("running", True) and cancelled.cancel_requested
