"""The seed's job endpoints through the Flask test client, on a real PostgreSQL."""
from __future__ import annotations

import copy
import json
import uuid

import pytest

from tests.conftest import SEED_JOB_REQUEST

START = "/ai/training/jobs/start"


@pytest.fixture
def seed_tenant(tenants):
    return tenants("tenant-123")


def start(client, headers, **overrides):
    body = copy.deepcopy(SEED_JOB_REQUEST)
    body.update(overrides)
    return client.post(START, json=body, headers=headers)


def test_seed_start_example_returns_queued_job(client, seed_tenant, training_queue):
    _, headers = seed_tenant
    resp = client.post(START, json=SEED_JOB_REQUEST, headers=headers)
    assert resp.status_code == 201, resp.json
    body = resp.json
    uuid.UUID(body["job_id"])
    assert body["status"] == "queued"
    assert body["message"] == "Training job queued successfully"
    assert body["estimated_duration_seconds"] == 180
    assert body["created_at"]
    assert body["tenant_id"] == "tenant-123"
    assert body["priority"] == 0 and body["priority_name"] == "normal"
    assert body["feature_set"] == "forecast_basic"


def test_get_job_returns_seed_fields(client, seed_tenant):
    _, headers = seed_tenant
    job_id = start(client, headers).json["job_id"]
    body = client.get(f"/ai/training/jobs/{job_id}", headers=headers).json
    for field in ("job_id", "tenant_id", "model_type", "model_name", "feature_set", "status",
                  "priority", "progress", "metrics", "model_id", "experiment_id",
                  "error_message", "retry_of", "created_at", "started_at", "updated_at",
                  "completed_at", "duration_seconds"):
        assert field in body, field
    assert body["progress"] == 0.0 and body["metrics"] == {} and body["duration_seconds"] is None
    assert body["config"]["horizon"] == 24


def test_list_filters_paginates_and_orders_newest_first(client, seed_tenant):
    _, headers = seed_tenant
    ids = [start(client, headers, model_name=f"m{i % 2}").json["job_id"] for i in range(5)]
    resp = client.get("/ai/training/jobs?tenant_id=tenant-123&page=1&page_size=2", headers=headers)
    assert resp.status_code == 200
    assert resp.json["total"] == 5 and resp.json["page_size"] == 2
    assert [j["job_id"] for j in resp.json["jobs"]] == ids[::-1][:2]
    page3 = client.get("/ai/training/jobs?page=3&page_size=2", headers=headers).json
    assert [j["job_id"] for j in page3["jobs"]] == [ids[0]]
    only_m1 = client.get("/ai/training/jobs?model_name=m1", headers=headers).json
    assert only_m1["total"] == 2
    assert client.get("/ai/training/jobs?status=completed", headers=headers).json["total"] == 0
    assert client.get("/ai/training/jobs?model_type=anomaly", headers=headers).json["total"] == 0


def test_list_rejects_page_size_over_100(client, seed_tenant):
    _, headers = seed_tenant
    resp = client.get("/ai/training/jobs?page_size=101", headers=headers)
    assert resp.status_code == 422
    assert "page_size" in resp.json["errors"]["query"]


def test_cancel_queued_job_cancels_at_once_and_again_is_400(client, seed_tenant):
    _, headers = seed_tenant
    job_id = start(client, headers).json["job_id"]
    resp = client.delete(f"/ai/training/jobs/{job_id}", headers=headers)
    assert resp.status_code == 200
    assert resp.json["status"] == "cancelled"
    again = client.delete(f"/ai/training/jobs/{job_id}", headers=headers)
    assert again.status_code == 400
    assert "cancelled" in again.json["message"]


def test_retry_only_failed_or_cancelled_and_tags_retry_of(client, seed_tenant):
    _, headers = seed_tenant
    job_id = start(client, headers, tags={"team": "grid"}).json["job_id"]
    assert client.post(f"/ai/training/jobs/{job_id}/retry", headers=headers).status_code == 400
    client.delete(f"/ai/training/jobs/{job_id}", headers=headers)
    resp = client.post(f"/ai/training/jobs/{job_id}/retry", headers=headers)
    assert resp.status_code == 201
    assert resp.json["retry_of"] == job_id
    assert resp.json["tags"] == {"team": "grid", "retry_of": job_id}
    assert resp.json["status"] == "queued"
    original = client.get(f"/ai/training/jobs/{job_id}", headers=headers).json
    assert resp.json["config"] == original["config"]


def test_unknown_job_is_404(client, seed_tenant):
    _, headers = seed_tenant
    missing = uuid.uuid4()
    for method, path in (("get", ""), ("delete", ""), ("post", "/retry"), ("get", "/logs")):
        resp = getattr(client, method)(f"/ai/training/jobs/{missing}{path}", headers=headers)
        assert resp.status_code == 404, (method, path)


def test_other_tenants_job_answers_exactly_like_a_missing_one(client, tenants):
    _, owner = tenants("tenant-a")
    _, other = tenants("tenant-b")
    job_id = start(client, owner, tenant_id="tenant-a").json["job_id"]
    missing = str(uuid.uuid4())
    for method, suffix in (("get", ""), ("delete", ""), ("post", "/retry"), ("get", "/logs")):
        theirs = getattr(client, method)(f"/ai/training/jobs/{job_id}{suffix}", headers=other)
        absent = getattr(client, method)(f"/ai/training/jobs/{missing}{suffix}", headers=other)
        assert theirs.status_code == absent.status_code == 404
        assert theirs.json["message"].replace(job_id, "X") == absent.json["message"].replace(missing, "X")
    assert client.get("/ai/training/jobs", headers=other).json["total"] == 0
    assert client.get("/ai/training/jobs?tenant_id=tenant-a", headers=other).json["jobs"] == []
    assert client.get(f"/ai/training/jobs/{job_id}", headers=owner).status_code == 200


def test_body_tenant_must_match_key(client, tenants):
    _, headers = tenants("tenant-a")
    resp = start(client, headers, tenant_id="tenant-b")
    assert resp.status_code == 422
    assert "tenant_id" in resp.json["errors"]["json"]
    omitted = copy.deepcopy(SEED_JOB_REQUEST)
    del omitted["tenant_id"]
    ok = client.post(START, json=omitted, headers=headers)
    assert ok.status_code == 201 and ok.json["tenant_id"] == "tenant-a"


def test_admin_key_acts_for_any_tenant(client, tenants):
    _, owner = tenants("tenant-123")
    admin = tenants.admin()
    job_id = client.post(START, json=SEED_JOB_REQUEST, headers=admin).json["job_id"]
    assert client.get(f"/ai/training/jobs/{job_id}", headers=owner).status_code == 200
    body = copy.deepcopy(SEED_JOB_REQUEST)
    del body["tenant_id"]
    assert client.post(START, json=body, headers=admin).status_code == 422
    assert start(client, admin, tenant_id="nobody-here").status_code == 422


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer th_wrong"}, {"Authorization": "Basic abc"}])
def test_missing_or_bad_key_is_401(client, headers):
    resp = client.get("/ai/training/jobs", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.json["code"] == 401


BAD_BODIES = [
    ({"model_type": "regression"}, ["model_type"]),
    ({"priority": "critical"}, ["priority"]),
    ({"surprise": 1}, ["surprise"]),
    ({"model_name": 42}, ["model_name"]),
    ({"config": {**SEED_JOB_REQUEST["config"], "end_date": "2024-01-01T00:00:00Z"}}, ["config", "end_date"]),
    ({"config": {**SEED_JOB_REQUEST["config"], "validation_split": 0.5, "test_split": 0.5}}, ["config", "test_split"]),
    ({"config": {**SEED_JOB_REQUEST["config"], "horizon": "soon"}}, ["config", "horizon"]),
    ({"config": {**SEED_JOB_REQUEST["config"], "schedule": "every day"}}, ["config", "schedule"]),
    ({"config": {**SEED_JOB_REQUEST["config"], "hyperparameters": {"not_a_param": 1}}}, ["config", "hyperparameters", "not_a_param"]),
    ({"config": {**SEED_JOB_REQUEST["config"], "n_trials": 0}}, ["config", "n_trials"]),
]


@pytest.mark.parametrize("overrides,path", BAD_BODIES)
def test_bad_input_is_422_with_field_messages_and_creates_nothing(client, seed_tenant, overrides, path, training_queue, redis_client):
    _, headers = seed_tenant
    resp = start(client, headers, **overrides)
    assert resp.status_code == 422, resp.json
    node = resp.json["errors"]["json"]
    for key in path:
        node = node[key]
    assert node
    assert client.get("/ai/training/jobs", headers=headers).json["total"] == 0
    assert not list(redis_client.scan_iter(match=f"{training_queue}*"))


def test_unparseable_json_is_400(client, seed_tenant):
    _, headers = seed_tenant
    resp = client.post(START, data="{not json", headers={**headers, "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json["code"] == 400


def test_body_over_one_mebibyte_is_413(client, seed_tenant):
    _, headers = seed_tenant
    body = copy.deepcopy(SEED_JOB_REQUEST)
    body["tags"] = {"blob": "x" * (1024 * 1024)}
    resp = client.post(START, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"})
    assert resp.status_code == 413


def test_logs_tail_bounds(client, seed_tenant):
    _, headers = seed_tenant
    job_id = start(client, headers).json["job_id"]
    assert client.get(f"/ai/training/jobs/{job_id}/logs?tail=0", headers=headers).status_code == 422
    assert client.get(f"/ai/training/jobs/{job_id}/logs?tail=1001", headers=headers).status_code == 422
    resp = client.get(f"/ai/training/jobs/{job_id}/logs?tail=10", headers=headers)
    assert resp.status_code == 200 and resp.json["logs"] == [] and resp.json["count"] == 0


def test_stats_counts_queued_and_live_capacity(client, seed_tenant, db):
    import sqlalchemy as sa
    _, headers = seed_tenant
    start(client, headers)
    start(client, headers)
    db.execute(sa.text("INSERT INTO ai_workers (worker_id, concurrency) VALUES ('w1', 2), ('w2', 2)"))
    db.execute(sa.text("INSERT INTO ai_workers (worker_id, concurrency, heartbeat_at) "
                       "VALUES ('dead', 8, now() - interval '1 hour')"))
    db.commit()
    body = client.get("/ai/training/stats", headers=headers).json
    assert body["queued"] == 2 and body["active"] == 0
    assert body["capacity"] == 4 and body["workers"] == 2
    assert body["utilization"] == 0.0


def test_openapi_document_lists_the_seed_paths(client):
    spec = client.get("/openapi.json").json
    for path in ("/ai/training/jobs/start", "/ai/training/jobs", "/ai/training/jobs/{job_id}",
                 "/ai/training/jobs/{job_id}/retry", "/ai/training/jobs/{job_id}/logs",
                 "/ai/training/stats"):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"database": "ok", "broker": "ok"}
