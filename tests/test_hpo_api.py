"""HPO search spaces through the API: what POST /jobs/start accepts and refuses."""
from __future__ import annotations

import copy

import pytest

from tests.conftest import SEED_JOB_REQUEST

START = "/ai/training/jobs/start"


@pytest.fixture
def headers(tenants):
    return tenants("tenant-123")[1]


def hpo_body(hyperparameters=None, **config):
    body = copy.deepcopy(SEED_JOB_REQUEST)
    body["config"].update({"enable_hpo": True, "n_trials": 30, "n_workers": 2, **config})
    if hyperparameters is not None:
        body["config"]["hyperparameters"] = hyperparameters
    return body


SPACE = {
    "learning_rate": {"type": "log_float", "low": 0.01, "high": 0.3},
    "num_leaves": {"type": "int", "low": 8, "high": 128, "step": 8},
    "subsample": {"type": "float", "low": 0.5, "high": 1.0},
    "boosting_type": {"type": "categorical", "choices": ["gbdt", "dart"]},
    "n_estimators": 300,
}


def test_search_space_with_fixed_values_is_accepted_and_stored(client, headers):
    resp = client.post(START, json=hpo_body(SPACE), headers=headers)
    assert resp.status_code == 201, resp.json
    config = resp.json["config"]
    assert config["enable_hpo"] is True and config["n_trials"] == 30 and config["n_workers"] == 2
    assert config["hyperparameters"] == SPACE
    # The seed's estimate: (180 + 30 trials * 30 s) / 2 workers.
    assert resp.json["estimated_duration_seconds"] == 540


def test_hpo_without_a_search_space_is_accepted(client, headers):
    resp = client.post(START, json=hpo_body(), headers=headers)
    assert resp.status_code == 201, resp.json


def spec(**fields):
    return {"learning_rate": fields}


BAD = [
    # the four
    (spec(type="float", low=0.3, high=0.3), "learning_rate", "low must be less than high"),
    (spec(type="float", low=0.5, high=0.1), "learning_rate", "low must be less than high"),
    ({"boosting_type": {"type": "categorical", "choices": []}}, "boosting_type", "non-empty list"),
    ({"max_leaves": {"type": "int", "low": 2, "high": 64}}, "max_leaves", "Unknown forecast hyperparameter"),
    # shapes
    (spec(type="uniform", low=0.01, high=0.3), "learning_rate", "type must be one of"),
    (spec(type="float", low=0.01, high=0.3, scale="log"), "learning_rate", "Unknown spec fields"),
    (spec(type="float", low="a", high=0.3), "learning_rate", "numeric low and high"),
    (spec(type="log_float", low=0.01, high=0.3, step=0.01), "learning_rate", "takes no step"),
    (spec(type="float", low=0.01, high=0.3, choices=[0.1]), "learning_rate", "choices are for categorical"),
    ({"num_leaves": {"type": "int", "low": 8.5, "high": 64}}, "num_leaves", "(integers)"),
    ({"num_leaves": {"type": "int", "low": 8, "high": 64, "step": 0}}, "num_leaves", "positive"),
    ({"num_leaves": {"type": "int", "low": 8, "high": 64, "step": 100}}, "num_leaves", "must not exceed"),
    ({"num_leaves": {"type": "int", "low": 8, "high": 64, "step": 10}}, "num_leaves", "whole number of steps"),
    ({"boosting_type": {"type": "categorical", "choices": ["gbdt", "gbdt"]}}, "boosting_type", "repeat"),
    # LightGBM's own limits
    (spec(type="log_float", low=0, high=0.3), "learning_rate", "low > 0"),
    (spec(type="float", low=0, high=0.3), "learning_rate", "must be above 0"),
    ({"subsample": {"type": "float", "low": 0.5, "high": 1.5}}, "subsample", "at most 1"),
    ({"num_leaves": {"type": "int", "low": 1, "high": 64}}, "num_leaves", "at least 2"),
    ({"num_leaves": {"type": "float", "low": 8, "high": 64}}, "num_leaves", "search it with type int"),
    ({"boosting_type": {"type": "categorical", "choices": ["gbdt", "xgboost"]}}, "boosting_type", "must be one of"),
    ({"extra_trees": {"type": "int", "low": 0, "high": 1}}, "extra_trees", "categorical"),
    ({"learning_rate": -0.1}, "learning_rate", "must be above 0"),
    ({"n_estimators": 2.5}, "n_estimators", "whole number"),
]


@pytest.mark.parametrize("hyperparameters,name,message", BAD)
def test_bad_search_spec_is_422_naming_the_parameter(client, headers, hyperparameters, name, message):
    resp = client.post(START, json=hpo_body(hyperparameters), headers=headers)
    assert resp.status_code == 422, resp.json
    errors = resp.json["errors"]["json"]["config"]["hyperparameters"][name]
    assert any(message in error for error in errors), errors
    assert client.get("/ai/training/jobs", headers=headers).json["total"] == 0


@pytest.mark.parametrize("n_trials", [0, -1, 501, 10_000])
def test_n_trials_outside_1_to_500_is_422(client, headers, n_trials):
    resp = client.post(START, json=hpo_body(n_trials=n_trials), headers=headers)
    assert resp.status_code == 422
    assert "n_trials" in resp.json["errors"]["json"]["config"]


@pytest.mark.parametrize("n_trials", [1, 500])
def test_n_trials_at_the_bounds_is_accepted(client, headers, n_trials):
    assert client.post(START, json=hpo_body(n_trials=n_trials), headers=headers).status_code == 201


def test_search_spec_without_enable_hpo_is_422(client, headers):
    body = hpo_body(SPACE)
    body["config"]["enable_hpo"] = False
    resp = client.post(START, json=body, headers=headers)
    assert resp.status_code == 422
    assert "enable_hpo: true" in resp.json["errors"]["json"]["config"]["hyperparameters"]["learning_rate"][0]


def test_hpo_on_an_anomaly_model_is_422(client, headers):
    body = hpo_body()
    body.update(model_type="anomaly", model_name="load_anomaly")
    body["config"].update(feature_set="anomaly_basic", horizon=0)
    resp = client.post(START, json=body, headers=headers)
    assert resp.status_code == 422
    assert "forecast models" in resp.json["errors"]["json"]["config"]["enable_hpo"][0]
