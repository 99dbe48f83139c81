"""End to end through a real worker: two runs compared, a better retrain promoted by the
champion/challenger gate, a worse one refused, predictions from the production
version, plots linked from the job, and a rollback."""
from __future__ import annotations

import io

import pytest

from tests.e2e.test_worker_jobs import submit, wait_until_ended

pytestmark = pytest.mark.timeout(180)

MODEL = "gated_forecast"
# Few shallow trees on a slow learning rate: clearly worse than the defaults.
WEAK = {"n_estimators": 4, "learning_rate": 0.05, "max_depth": 2, "num_leaves": 3}


def run(api, headers, tenant_id, hyperparameters, margin=0.02):
    job_id = submit(api, headers, tenant_id, model_name=MODEL, config={
        "hyperparameters": hyperparameters, "auto_promote": True, "promotion_margin": margin,
        "start_date": "2024-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"})
    job = wait_until_ended(api, headers, job_id)
    assert job["status"] == "completed", job["error_message"]
    return job


def version(api, headers, model_id):
    resp = api.get(f"/ai/training/models/{model_id}", headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_gate_promotes_a_better_retrain_refuses_a_worse_one_and_serves_production(api, worker, e2e_tenant):
    tenant_id, headers = e2e_tenant
    first = run(api, headers, tenant_id, WEAK)
    champion = version(api, headers, first["model_id"])
    assert champion["stage"] == "production"
    assert champion["promotion"]["decision"] == "promoted" and champion["promotion"]["champion_model_id"] is None

    better = run(api, headers, tenant_id, {})
    promoted = version(api, headers, better["model_id"])
    decision = promoted["promotion"]
    assert promoted["stage"] == "production" and decision["decision"] == "promoted", decision
    assert decision["champion_model_id"] == first["model_id"] and decision["metric"] == "mae"
    assert decision["challenger_score"] < decision["champion_score"] * 0.98
    assert decision["holdout_rows"] > 800 and decision["decided_by"] == f"gate (job {better['job_id']})"
    assert version(api, headers, first["model_id"])["stage"] == "archived"

    worse = run(api, headers, tenant_id, WEAK)
    refused = version(api, headers, worse["model_id"])
    assert refused["stage"] == "none" and refused["promotion"]["decision"] == "refused"
    assert refused["promotion"]["champion_model_id"] == better["model_id"]
    assert refused["promotion"]["challenger_score"] > refused["promotion"]["champion_score"]
    logs = api.get(f"/ai/training/jobs/{worse['job_id']}/logs?tail=50", headers=headers).json["logs"]
    assert any("promotion gate: refused" in line["message"] for line in logs)

    # Both decisions are in the audit history of the production version.
    history = api.get(f"/ai/training/models/{better['model_id']}/history", headers=headers).json
    assert [d["decision"] for d in history["decisions"]] == ["refused", "promoted"]
    assert history["changes"][0]["to_stage"] == "production" and history["changes"][0]["decision_id"]

    # Two runs of the same model, side by side.
    compare = api.get(f"/ai/training/experiments/compare?ids={first['experiment_id']},{better['experiment_id']}",
                      headers=headers).json
    assert compare["param_differences"]["hp.n_estimators"] == [4, None]
    assert compare["best"]["mae"] == better["experiment_id"]

    # Predictions by name come from the production version.
    served = api.post(f"/ai/training/models/{MODEL}/predict", json={"horizon": 24}, headers=headers)
    assert served.status_code == 200, served.json
    assert served.json["model_id"] == better["model_id"] and served.json["count"] == 24

    # The job links its plots, and they are PNGs.
    links = api.get(f"/ai/training/jobs/{better['job_id']}", headers=headers).json["links"]
    assert links["model"] == f"/ai/training/models/{better['model_id']}"
    from PIL import Image
    for name in ("learning_curve", "forecast_plot"):
        resp = api.get(links[name], headers=headers)
        assert resp.status_code == 200 and resp.mimetype == "image/png", name
        Image.open(io.BytesIO(resp.data)).load()

    # Rollback restores the previous production version.
    back = api.post(f"/ai/training/models/{MODEL}/rollback", json={"reason": "e2e rollback"}, headers=headers)
    assert back.status_code == 200, back.json
    assert back.json["model"]["model_id"] == first["model_id"]
    served = api.post(f"/ai/training/models/{MODEL}/predict", json={"horizon": 1}, headers=headers).json
    assert served["model_id"] == first["model_id"]
