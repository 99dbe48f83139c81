"""POST /ai/training/models/{model id | model name}/predict on real artifacts."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from tests.test_registry_support import WEAK, demo_frame, register
from trainhub import prediction
from trainhub.features import ensure_demo_feature_set
from trainhub.pipeline import load_artifact
from trainhub.pipeline.artifact import predict as artifact_predict

MODELS = "/ai/training/models"
YEAR_2024 = ("forecast_basic", "2024-01-01", "2025-01-01")


@pytest.fixture
def tenant(tenants):
    return tenants()


@pytest.fixture
def model(db, tenant, tmp_path):
    return register(db, tenant_id=tenant[0], model_name="load_forecast", frame=demo_frame(*YEAR_2024),
                    artifact_dir=tmp_path)


def feature_rows(model_version, n=24):
    """The last n engineered rows of the training data, as the API takes them."""
    artifact = load_artifact(model_version.artifact_path)
    X, _, _ = prediction.engineer(demo_frame(*YEAR_2024), artifact=artifact)
    names = artifact["feature_names"]
    return X[names].tail(n).to_dict(orient="records")


def to_stage(client, headers, model_id, *stages):
    for stage in stages:
        resp = client.post(f"{MODELS}/{model_id}/stage", json={"stage": stage, "reason": "test"}, headers=headers)
        assert resp.status_code == 200, resp.json


def test_predict_by_model_id_returns_the_artifacts_predictions(client, tenant, model):
    _, headers = tenant
    rows = feature_rows(model)
    resp = client.post(f"{MODELS}/{model.model_id}/predict", json={"rows": rows}, headers=headers)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["count"] == 24 and body["model_id"] == model.model_id and body["stage"] == "none"
    assert body["horizon"] == 24 and body["target"] == "load_kw" and body["timestamps"] is None
    import pandas as pd
    expected = artifact_predict(load_artifact(model.artifact_path), pd.DataFrame(rows))
    np.testing.assert_allclose(body["predictions"], expected)


def test_feature_columns_are_checked_against_the_stored_list(client, tenant, model):
    _, headers = tenant
    rows = feature_rows(model, 3)
    del rows[0]["lag_24h"]
    rows[1]["surprise"] = 1.0
    rows[2]["hour"] = "noon"
    resp = client.post(f"{MODELS}/{model.model_id}/predict", json={"rows": rows}, headers=headers)
    assert resp.status_code == 422
    messages = resp.json["errors"]["json"]["rows"]
    assert messages[0] == "row 0: missing lag_24h"
    assert messages[1] == "row 1: unexpected surprise"
    assert messages[2] == "row 2: not a number: hour"
    assert "lag_24h" in messages[3]
    for body in ({}, {"rows": []}, {"rows": rows, "horizon": 3}, {"rows": [{"hour": None}]},
                 {"rows": feature_rows(model, 1), "stage": "production"}):
        assert client.post(f"{MODELS}/{model.model_id}/predict", json=body, headers=headers).status_code == 422, body


def test_predict_by_name_serves_the_production_version_and_follows_promotion(client, tenant, db, tmp_path, model):
    tenant_id, headers = tenant
    by_name = f"{MODELS}/load_forecast/predict"
    rows = feature_rows(model, 24)
    assert client.post(by_name, json={"rows": rows}, headers=headers).status_code == 404
    to_stage(client, headers, model.model_id, "staging", "production")
    first = client.post(by_name, json={"rows": rows}, headers=headers).json
    assert first["model_id"] == model.model_id and first["stage"] == "production"
    assert model.model_id in prediction.cache
    loads = prediction.cache.loads
    client.post(by_name, json={"rows": rows}, headers=headers)
    assert prediction.cache.loads == loads  # loaded once, then served from the cache

    weaker = register(db, tenant_id=tenant_id, model_name="load_forecast", frame=demo_frame(*YEAR_2024),
                      artifact_dir=tmp_path, hyperparameters=WEAK)
    to_stage(client, headers, weaker.model_id, "staging")
    staged = client.post(by_name, json={"rows": rows, "stage": "staging"}, headers=headers).json
    assert staged["model_id"] == weaker.model_id
    to_stage(client, headers, weaker.model_id, "production")
    assert model.model_id not in prediction.cache  # the demoted version was dropped
    after = client.post(by_name, json={"rows": rows}, headers=headers).json
    assert after["model_id"] == weaker.model_id and after["predictions"] != first["predictions"]


def test_horizon_forecasts_the_hours_after_the_latest_rows(client, tenant, db, model):
    tenant_id, headers = tenant
    ensure_demo_feature_set(db, tenant_id=tenant_id, name="forecast_basic")
    as_of = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    resp = client.post(f"{MODELS}/{model.model_id}/predict",
                       json={"horizon": 6, "as_of": as_of.isoformat()}, headers=headers)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["count"] == 6
    stamps = [datetime.fromisoformat(t) for t in body["timestamps"]]
    # Latest row before 12:00 is 11:00, so forecasts are for 12:00 .. 17:00.
    assert stamps == [as_of + timedelta(hours=k) for k in range(6)]
    # Each forecast comes from the features of the hour 24 hours before it.
    artifact = load_artifact(model.artifact_path)
    X, _, ts = prediction.engineer(demo_frame("forecast_basic", "2025-01-01", "2025-03-01 12:00"),
                                   artifact=artifact, horizon=0)
    source = X[ts.isin([s - timedelta(hours=24) for s in stamps]).to_numpy()]
    np.testing.assert_allclose(body["predictions"], artifact_predict(artifact, source[artifact["feature_names"]]))
    too_far = client.post(f"{MODELS}/{model.model_id}/predict", json={"horizon": 25}, headers=headers)
    assert too_far.status_code == 422 and "1 to 24" in too_far.json["errors"]["json"]["horizon"][0]


def test_anomaly_model_scores_rows_but_not_a_horizon(client, tenant, db, tmp_path):
    tenant_id, headers = tenant
    frame = demo_frame("anomaly_basic", "2024-01-01", "2025-01-01")
    detector = register(db, tenant_id=tenant_id, model_name="detector", frame=frame, artifact_dir=tmp_path,
                        model_type="anomaly", feature_set="anomaly_basic")
    artifact = load_artifact(detector.artifact_path)
    X, _, _ = prediction.engineer(frame, artifact=artifact)
    names = artifact["feature_names"]
    resp = client.post(f"{MODELS}/{detector.model_id}/predict",
                       json={"rows": X[names].tail(5).to_dict(orient="records")}, headers=headers)
    assert resp.status_code == 200 and resp.json["count"] == 5 and resp.json["horizon"] == 0
    resp = client.post(f"{MODELS}/{detector.model_id}/predict", json={"horizon": 1}, headers=headers)
    assert resp.status_code == 422 and "send rows" in resp.json["errors"]["json"]["horizon"][0]


def test_admin_names_the_tenant_when_predicting_by_name(client, tenants, tenant, model):
    tenant_id, headers = tenant
    to_stage(client, headers, model.model_id, "staging", "production")
    admin = tenants.admin()
    rows = feature_rows(model, 2)
    assert client.post(f"{MODELS}/load_forecast/predict", json={"rows": rows}, headers=admin).status_code == 422
    resp = client.post(f"{MODELS}/load_forecast/predict", json={"rows": rows, "tenant_id": tenant_id}, headers=admin)
    assert resp.status_code == 200 and resp.json["model_id"] == model.model_id
    wrong = client.post(f"{MODELS}/load_forecast/predict", json={"rows": rows, "tenant_id": "someone-else"},
                        headers=headers)
    assert wrong.status_code == 422
