"""/ai/training/models: versions, lineage, artifacts, stages with audit, rollback, tenancy."""
from __future__ import annotations

import hashlib

import pytest

from tests.test_registry_support import WEAK, demo_frame, register

MODELS = "/ai/training/models"
YEAR_2024 = ("forecast_basic", "2024-01-01", "2025-01-01")


@pytest.fixture
def tenant(tenants):
    return tenants()


@pytest.fixture
def versions(db, tenant, tmp_path):
    """Three versions of load_forecast, oldest first, and one of another model."""
    tenant_id, _ = tenant
    made = [register(db, tenant_id=tenant_id, model_name="load_forecast", frame=demo_frame(*YEAR_2024),
                     artifact_dir=tmp_path, hyperparameters=WEAK if i == 1 else None) for i in range(3)]
    register(db, tenant_id=tenant_id, model_name="other", frame=demo_frame(*YEAR_2024), artifact_dir=tmp_path,
             hyperparameters=WEAK)
    return [v.model_id for v in made]


def stage(client, headers, model_id, to, reason="because"):
    return client.post(f"{MODELS}/{model_id}/stage", json={"stage": to, "reason": reason}, headers=headers)


def test_list_groups_versions_of_each_model_newest_first(client, tenant, versions):
    _, headers = tenant
    body = client.get(MODELS, headers=headers).json
    assert body["total"] == 2
    assert [m["model_name"] for m in body["models"]] == ["other", "load_forecast"]
    forecast = body["models"][1]
    assert forecast["version_count"] == 3 and forecast["production_model_id"] is None
    assert [v["model_id"] for v in forecast["versions"]] == versions[::-1]
    assert forecast["latest_version"] == versions[-1].split(":")[-1]
    only = client.get(f"{MODELS}?model_name=load_forecast&versions_per_model=2", headers=headers).json
    assert only["total"] == 1 and len(only["models"][0]["versions"]) == 2
    assert client.get(f"{MODELS}?stage=bogus", headers=headers).status_code == 422


def test_version_shows_metrics_params_and_lineage(client, tenant, versions):
    _, headers = tenant
    resp = client.get(f"{MODELS}/{versions[0]}", headers=headers)
    assert resp.status_code == 200
    body = resp.json
    assert body["stage"] == "none" and body["model_type"] == "forecast"
    assert body["metrics"]["mae"] > 0 and body["hyperparameters"]["num_leaves"] == 31
    assert "lag_24h" in body["feature_names"]
    lineage = body["lineage"]
    assert lineage["experiment_id"] and lineage["feature_set"] == "forecast_basic"
    assert lineage["data_start"].startswith("2024-01-01") and lineage["code_version"].startswith("0.1.0")
    assert body["artifact"]["bytes"] > 0 and len(body["artifact"]["sha256"]) == 64
    assert body["links"]["artifact"] == f"{MODELS}/{versions[0]}/artifact"
    assert body["links"]["forecast_plot"].endswith("/plots/forecast.png")
    # A percent-encoded id names the same version.
    assert client.get(f"{MODELS}/{versions[0].replace(':', '%3A')}", headers=headers).json["model_id"] == versions[0]


def test_artifact_download_is_the_registered_file(client, tenant, versions):
    _, headers = tenant
    meta = client.get(f"{MODELS}/{versions[0]}", headers=headers).json["artifact"]
    resp = client.get(f"{MODELS}/{versions[0]}/artifact", headers=headers)
    assert resp.status_code == 200 and resp.mimetype == "application/octet-stream"
    assert hashlib.sha256(resp.data).hexdigest() == meta["sha256"] == resp.headers["X-Artifact-SHA256"]
    assert "attachment" in resp.headers["Content-Disposition"]


def test_stages_move_none_staging_production_archived_with_audit(client, tenant, versions):
    _, headers = tenant
    first, second, _ = versions
    assert stage(client, headers, first, "production").status_code == 400  # must pass staging
    assert stage(client, headers, first, "staging", "offline eval looks good").json["model"]["stage"] == "staging"
    promoted = stage(client, headers, first, "production", "ship it").json
    assert promoted["model"]["stage"] == "production"
    assert [(c["from_stage"], c["to_stage"]) for c in promoted["changes"]] == [("staging", "production")]

    # Promoting another version archives the current one in the same request.
    stage(client, headers, second, "staging")
    swap = stage(client, headers, second, "production", "retrained").json
    assert [(c["model_id"], c["to_stage"]) for c in swap["changes"]] == [(first, "archived"), (second, "production")]
    listed = client.get(f"{MODELS}?model_name=load_forecast", headers=headers).json["models"][0]
    assert listed["production_model_id"] == second
    assert sorted(v["stage"] for v in listed["versions"]) == ["archived", "none", "production"]

    history = client.get(f"{MODELS}/{first}/history", headers=headers).json
    assert [(c["from_stage"], c["to_stage"]) for c in history["changes"]] == [
        ("production", "archived"), ("staging", "production"), ("none", "staging")]
    newest, _, oldest = history["changes"]
    assert newest["reason"] == f"replaced by {second}: retrained"
    assert oldest["reason"] == "offline eval looks good"
    key_prefix = headers["Authorization"].split()[1][:10]
    assert {c["changed_by"] for c in history["changes"]} == {f"key:{key_prefix}"}
    assert all(c["created_at"] for c in history["changes"])


def test_stage_change_validation(client, tenant, versions):
    _, headers = tenant
    assert stage(client, headers, versions[0], "staging", reason="").status_code == 422
    assert stage(client, headers, versions[0], "live").status_code == 422
    resp = client.post(f"{MODELS}/{versions[0]}/stage", json={"stage": "staging"}, headers=headers)
    assert resp.status_code == 422 and "reason" in resp.json["errors"]["json"]
    assert stage(client, headers, versions[0], "none").status_code == 400
    assert "already none" in stage(client, headers, versions[0], "none").json["message"]


def test_rollback_restores_the_previous_production_version(client, tenant, versions):
    _, headers = tenant
    first, second, _ = versions
    rollback = f"{MODELS}/load_forecast/rollback"
    assert client.post(rollback, json={"reason": "x"}, headers=headers).status_code == 400
    for model_id in (first, second):
        stage(client, headers, model_id, "staging")
        stage(client, headers, model_id, "production")
    resp = client.post(rollback, json={"reason": "second one drifts"}, headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["model"]["model_id"] == first and resp.json["model"]["stage"] == "production"
    assert [(c["model_id"], c["to_stage"]) for c in resp.json["changes"]] == [(second, "archived"), (first, "production")]
    assert resp.json["changes"][1]["reason"] == "rollback: second one drifts"
    assert client.post(f"{MODELS}/no_such_model/rollback", json={"reason": "x"}, headers=headers).status_code == 404


def test_other_tenants_models_answer_like_missing_ones(client, tenants, tenant, versions):
    _, stranger = tenants()
    model_id = versions[0]
    missing = "nobody:load_forecast:20250101.000000"
    for path in (f"{MODELS}/{model_id}", f"{MODELS}/{model_id}/artifact", f"{MODELS}/{model_id}/history"):
        mine, theirs = client.get(path, headers=stranger), client.get(path.replace(model_id, missing), headers=stranger)
        assert mine.status_code == theirs.status_code == 404
        assert mine.json["message"].replace(model_id, missing) == theirs.json["message"]
    assert stage(client, stranger, model_id, "staging").status_code == 404
    assert client.post(f"{MODELS}/{model_id}/predict", json={"horizon": 1}, headers=stranger).status_code == 404
    assert client.get(MODELS, headers=stranger).json["total"] == 0
    assert client.post(f"{MODELS}/load_forecast/rollback", json={"reason": "x"}, headers=stranger).status_code == 404


def test_admin_key_sees_every_tenant_and_names_the_tenant_for_rollback(client, tenants, tenant, versions):
    tenant_id, _ = tenant
    admin = tenants.admin()
    assert client.get(f"{MODELS}/{versions[0]}", headers=admin).status_code == 200
    resp = client.post(f"{MODELS}/load_forecast/rollback", json={"reason": "x"}, headers=admin)
    assert resp.status_code == 422 and "tenant_id" in resp.json["errors"]["json"]
    resp = client.post(f"{MODELS}/load_forecast/rollback", json={"reason": "x", "tenant_id": tenant_id},
                       headers=admin)
    assert resp.status_code == 400  # no earlier production version; the tenant was found
