"""/ai/training/experiments: list, detail, metric series, compare, plots, and job links."""
from __future__ import annotations

import copy
import io
import uuid

import pytest

from tests.conftest import SEED_JOB_REQUEST
from tests.test_registry_support import WEAK, demo_frame, experiment_of, register

EXPERIMENTS = "/ai/training/experiments"
YEAR_2024 = ("forecast_basic", "2024-01-01", "2025-01-01")


@pytest.fixture
def tenant(tenants):
    return tenants()


@pytest.fixture
def runs(db, tenant, tmp_path):
    """Two finished runs of load_forecast (default and weak hyperparameters), one of
    another model, and one still running; experiment ids in that order."""
    tenant_id, _ = tenant
    ids = [experiment_of(db, register(db, tenant_id=tenant_id, model_name="load_forecast",
                                      frame=demo_frame(*YEAR_2024), artifact_dir=tmp_path,
                                      hyperparameters=hp).model_id)
           for hp in (None, WEAK)]
    ids.append(experiment_of(db, register(db, tenant_id=tenant_id, model_name="detector",
                                          frame=demo_frame("anomaly_basic", "2024-01-01", "2025-01-01"),
                                          artifact_dir=tmp_path, model_type="anomaly",
                                          feature_set="anomaly_basic").model_id))
    from trainhub.experiments import start_experiment
    ids.append(start_experiment(db, tenant_id=tenant_id, job_id=None, model_type="forecast",
                                model_name="load_forecast", name="in flight", params={}, lineage={}))
    db.flush()
    return [str(i) for i in ids]


def test_list_filters_by_model_name_and_status_newest_first(client, tenant, runs):
    _, headers = tenant
    body = client.get(EXPERIMENTS, headers=headers).json
    assert body["total"] == 4 and [e["experiment_id"] for e in body["experiments"]] == runs[::-1]
    named = client.get(f"{EXPERIMENTS}?model_name=load_forecast&status=completed", headers=headers).json
    assert [e["experiment_id"] for e in named["experiments"]] == runs[1::-1]
    paged = client.get(f"{EXPERIMENTS}?page=2&page_size=3", headers=headers).json
    assert paged["total"] == 4 and [e["experiment_id"] for e in paged["experiments"]] == [runs[0]]
    assert client.get(f"{EXPERIMENTS}?status=done", headers=headers).status_code == 422


def test_get_returns_params_final_metrics_and_summary_fields(client, tenant, runs):
    _, headers = tenant
    body = client.get(f"{EXPERIMENTS}/{runs[1]}", headers=headers).json
    assert body["status"] == "completed" and body["model_name"] == "load_forecast"
    assert body["params"]["hp.n_estimators"] == 4 and body["params"]["horizon"] == 24
    assert body["final_metrics"]["mae"] > 0 and body["model_id"]
    assert body["param_count"] == len(body["params"])
    assert {"train_loss", "validation_loss", "mae"} <= set(body["metric_names"])
    assert body["metric_points"] > 8 and body["duration_seconds"] >= 0
    assert body["lineage"]["feature_set"] == "forecast_basic"
    links = body["links"]
    assert links["learning_curve"] == f"{EXPERIMENTS}/{runs[1]}/plots/learning_curve.png"
    assert links["forecast_plot"] == f"{EXPERIMENTS}/{runs[1]}/plots/forecast.png"
    running = client.get(f"{EXPERIMENTS}/{runs[3]}", headers=headers).json
    assert running["links"]["forecast_plot"] is None and running["metric_names"] == []


def test_metric_series_by_name_and_downsampled(client, tenant, runs):
    _, headers = tenant
    full = client.get(f"{EXPERIMENTS}/{runs[0]}/metrics/train_loss", headers=headers).json
    n = full["total_points"]
    assert n > 20 and not full["downsampled"] and [p["step"] for p in full["points"]] == list(range(n))
    values = [p["value"] for p in full["points"]]
    assert values[-1] < values[0]
    thin = client.get(f"{EXPERIMENTS}/{runs[0]}/metrics/train_loss?max_points=10", headers=headers).json
    assert thin["downsampled"] and thin["total_points"] == n and len(thin["points"]) == 10
    assert thin["points"][0] == full["points"][0] and thin["points"][-1] == full["points"][-1]
    missing = client.get(f"{EXPERIMENTS}/{runs[0]}/metrics/nope", headers=headers)
    assert missing.status_code == 404 and "train_loss" in missing.json["message"]
    assert client.get(f"{EXPERIMENTS}/{runs[0]}/metrics/train_loss?max_points=1", headers=headers).status_code == 422


def test_compare_shows_parameter_differences_and_final_metrics(client, tenant, runs):
    _, headers = tenant
    resp = client.get(f"{EXPERIMENTS}/compare?ids={runs[0]},{runs[1]}", headers=headers)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["experiment_ids"] == runs[:2]
    diff = body["param_differences"]
    assert diff["hp.n_estimators"] == [None, 4] and diff["effective.n_estimators"] == [100, 4]
    assert body["common_params"]["horizon"] == 24 and "horizon" not in diff
    mae = body["metrics"]["mae"]
    assert len(mae) == 2 and mae[0] < mae[1]
    assert body["best"]["mae"] == runs[0] and body["best"]["r2"] == runs[0]


def test_compare_validation_and_tenancy(client, tenants, tenant, runs):
    _, headers = tenant
    compare = f"{EXPERIMENTS}/compare?ids="
    assert client.get(compare + runs[0], headers=headers).status_code == 422
    assert client.get(compare + ",".join([runs[0]] * 2), headers=headers).status_code == 422
    eleven = ",".join(str(uuid.uuid4()) for _ in range(11))
    assert client.get(compare + eleven, headers=headers).status_code == 422
    assert client.get(compare + "a,b", headers=headers).status_code == 422
    assert client.get(f"{compare}{runs[0]},{uuid.uuid4()}", headers=headers).status_code == 404
    _, stranger = tenants()
    assert client.get(f"{compare}{runs[0]},{runs[1]}", headers=stranger).status_code == 404
    for path in (f"{EXPERIMENTS}/{runs[0]}", f"{EXPERIMENTS}/{runs[0]}/metrics/train_loss",
                 f"{EXPERIMENTS}/{runs[0]}/plots/forecast.png"):
        assert client.get(path, headers=stranger).status_code == 404
    assert client.get(EXPERIMENTS, headers=stranger).json["total"] == 0


def _png(resp):
    from PIL import Image
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    image = Image.open(io.BytesIO(resp.data))
    image.load()
    return image


def test_plots_are_pngs(client, tenant, runs):
    _, headers = tenant
    curve = _png(client.get(f"{EXPERIMENTS}/{runs[0]}/plots/learning_curve.png", headers=headers))
    forecast = _png(client.get(f"{EXPERIMENTS}/{runs[0]}/plots/forecast.png", headers=headers))
    assert curve.width >= 1000 and forecast.height > curve.height
    _png(client.get(f"{EXPERIMENTS}/{runs[2]}/plots/forecast.png", headers=headers))  # anomaly scores
    no_curve = client.get(f"{EXPERIMENTS}/{runs[2]}/plots/learning_curve.png", headers=headers)
    assert no_curve.status_code == 404 and "learning curve" in no_curve.json["message"]
    assert client.get(f"{EXPERIMENTS}/{runs[3]}/plots/forecast.png", headers=headers).status_code == 404


def test_job_response_links_its_experiment_plots_and_model(client, tenant, training_queue):
    _, headers = tenant
    body = copy.deepcopy(SEED_JOB_REQUEST)
    body.pop("tenant_id")
    job = client.post("/ai/training/jobs/start", json=body, headers=headers).json
    assert job["links"] == {"experiment": None, "learning_curve": None, "forecast_plot": None, "model": None}
