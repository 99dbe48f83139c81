from datetime import datetime, timezone

import numpy as np
import pytest

from trainhub.demo_data import generate_demo_frame
from trainhub.pipeline import PipelineHooks, load_artifact, save_artifact, train_model
from trainhub.pipeline.artifact import predict
from trainhub.pipeline.features import engineer_features

HORIZON = 24


@pytest.fixture(scope="module")
def raw():
    return generate_demo_frame(
        "anomaly_basic", datetime(2023, 1, 1, tzinfo=timezone.utc), datetime(2023, 7, 1, tzinfo=timezone.utc)
    )


def trained(raw, model_type):
    return train_model(
        raw,
        model_type=model_type,
        target="load_kw",
        horizon=HORIZON,
        validation_split=0.2,
        test_split=0.2,
        hyperparameters={"n_estimators": 30},
        early_stopping_rounds=5,
        num_threads=1,
        hooks=PipelineHooks(),
    )


@pytest.mark.parametrize("model_type", ["forecast", "anomaly"])
def test_loaded_artifact_predicts_what_the_trained_model_predicted(raw, tmp_path, model_type):
    result = trained(raw, model_type)
    path = tmp_path / "models" / "model.joblib"

    size = save_artifact(result, path, {"model_id": "acme:load:20240101.000000"})
    artifact = load_artifact(path)

    assert size == path.stat().st_size > 0
    assert artifact["metadata"] == {"model_id": "acme:load:20240101.000000"}
    assert artifact["feature_names"] == result.feature_names
    assert (artifact["model_type"], artifact["target"], artifact["horizon"]) == (model_type, "load_kw", result.horizon)
    X, _, _ = engineer_features(raw, target="load_kw", horizon=result.horizon)
    np.testing.assert_allclose(predict(artifact, X.tail(result.n_test)), result.test_predicted)


def test_saving_leaves_no_temporary_file_and_replaces_the_old_artifact(raw, tmp_path):
    result = trained(raw, "forecast")
    path = tmp_path / "model.joblib"
    path.write_bytes(b"previous version")

    save_artifact(result, path, {})

    assert [entry.name for entry in tmp_path.iterdir()] == ["model.joblib"]
    assert load_artifact(path)["model_type"] == "forecast"


def test_predict_accepts_the_stored_columns_in_any_order(raw, tmp_path):
    result = trained(raw, "forecast")
    save_artifact(result, tmp_path / "model.joblib", {})
    artifact = load_artifact(tmp_path / "model.joblib")
    X, _, _ = engineer_features(raw, target="load_kw", horizon=HORIZON)

    np.testing.assert_allclose(predict(artifact, X[X.columns[::-1]]), predict(artifact, X))


def test_predict_names_missing_and_unexpected_columns(raw, tmp_path):
    result = trained(raw, "forecast")
    save_artifact(result, tmp_path / "model.joblib", {})
    artifact = load_artifact(tmp_path / "model.joblib")
    X, _, _ = engineer_features(raw, target="load_kw", horizon=HORIZON)

    with pytest.raises(ValueError, match=r"missing \['humidity'\], unexpected \['pressure'\]"):
        predict(artifact, X.drop(columns="humidity").assign(pressure=1013.0))
