"""The champion/challenger gate on real models, real artifacts and a real PostgreSQL."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import sqlalchemy as sa

from tests.test_registry_support import WEAK, demo_frame, register
from trainhub import prediction, promotion, registry
from trainhub.pipeline import load_artifact
from trainhub.pipeline.artifact import predict as artifact_predict
from trainhub.pipeline.evaluate import regression_metrics

YEAR_2023 = ("forecast_basic", "2023-01-01", "2024-01-01")
YEAR_2024 = ("forecast_basic", "2024-01-01", "2025-01-01")


@pytest.fixture
def tenant(tenants):
    return tenants()[0]


def _register(db, tenant, tmp_path, frame_spec=YEAR_2024, **kwargs):
    kwargs.setdefault("model_name", "load_forecast")
    return register(db, tenant_id=tenant, frame=demo_frame(*frame_spec), artifact_dir=tmp_path, **kwargs)


def _gate(db, model_id, frame_spec=YEAR_2024, metric=None, margin=0.0):
    return promotion.run_gate(db, challenger_model_id=model_id, raw=demo_frame(*frame_spec),
                              metric=metric, margin=margin, actor="gate (test)")


def _stage(db, model_id):
    return registry.get_model(db, model_id=model_id, tenant_scope=None).stage


def test_first_version_becomes_champion_when_there_is_none(db, tenant, tmp_path):
    first = _register(db, tenant, tmp_path)
    decision = _gate(db, first.model_id)
    assert decision.decision == "promoted" and decision.champion_model_id is None
    assert decision.metric == "mae" and decision.challenger_score > 0
    assert decision.holdout_rows > 800 and decision.holdout_start < decision.holdout_end
    assert _stage(db, first.model_id) == "production"
    change, = registry.version_history(db, model_id=first.model_id, tenant_scope=None).changes
    assert (change.from_stage, change.to_stage, change.changed_by) == ("none", "production", "gate (test)")
    assert change.decision_id == decision.decision_id


def test_better_challenger_is_promoted_and_worse_one_refused_on_rescored_holdout(db, tenant, tmp_path):
    # The champion trained on 2023; the challengers on 2024, so the champion is scored
    # now on 2024's test window, not judged by the numbers of its own window.
    champion = _register(db, tenant, tmp_path, frame_spec=YEAR_2023, hyperparameters=WEAK)
    _gate(db, champion.model_id, frame_spec=YEAR_2023)

    better = _register(db, tenant, tmp_path)
    decision = _gate(db, better.model_id, margin=0.05)
    assert decision.decision == "promoted", decision.reason
    assert decision.champion_model_id == champion.model_id
    assert decision.challenger_score < decision.champion_score * 0.95
    champion_record = registry.get_model(db, model_id=champion.model_id, tenant_scope=None)
    assert not math.isclose(decision.champion_score, champion_record.metrics["mae"])
    # The champion's score is what its own artifact scores on the challenger's holdout.
    holdout = promotion.rebuild_holdout(demo_frame(*YEAR_2024), load_artifact(better.artifact_path),
                                        _window_ts(db, better.model_id))
    artifact = load_artifact(champion.artifact_path)
    expected = regression_metrics(holdout.y, artifact_predict(artifact, holdout.X[artifact["feature_names"]]))["mae"]
    assert decision.champion_score == pytest.approx(expected)
    assert (_stage(db, better.model_id), _stage(db, champion.model_id)) == ("production", "archived")

    worse = _register(db, tenant, tmp_path, hyperparameters=WEAK)
    refused = _gate(db, worse.model_id)
    assert refused.decision == "refused" and "not better" in refused.reason
    assert refused.champion_model_id == better.model_id
    assert refused.challenger_score > refused.champion_score
    assert (_stage(db, worse.model_id), _stage(db, better.model_id)) == ("none", "production")
    history = registry.version_history(db, model_id=worse.model_id, tenant_scope=None)
    assert history.changes == [] and [d.decision for d in history.decisions] == ["refused"]


def test_margin_is_relative_to_the_champion(db, tenant, tmp_path):
    champion = _register(db, tenant, tmp_path, hyperparameters=WEAK)
    _gate(db, champion.model_id)
    challenger = _register(db, tenant, tmp_path)
    decision = _gate(db, challenger.model_id, margin=0.99)
    assert decision.decision == "refused"
    gain = (decision.champion_score - decision.challenger_score) / decision.champion_score
    assert 0 < gain < 0.99 and f"{gain:+.2%}" in decision.reason
    assert _stage(db, champion.model_id) == "production"


def test_higher_is_better_metric_and_unknown_metric(db, tenant, tmp_path):
    champion = _register(db, tenant, tmp_path, hyperparameters=WEAK)
    _gate(db, champion.model_id)
    challenger = _register(db, tenant, tmp_path)
    assert _gate(db, challenger.model_id, metric="no_such_metric").decision == "refused"
    decision = _gate(db, challenger.model_id, metric="r2")
    assert decision.decision == "promoted" and decision.challenger_score > decision.champion_score


def test_champion_with_other_features_is_rescored_on_its_own_features(db, tenant, tmp_path):
    full = demo_frame(*YEAR_2024)
    champion = register(db, tenant_id=tenant, model_name="load_forecast", frame=full.drop(columns="humidity"),
                        artifact_dir=tmp_path, hyperparameters=WEAK)
    _gate(db, champion.model_id)
    challenger = _register(db, tenant, tmp_path)
    assert "humidity" in load_artifact(challenger.artifact_path)["feature_names"]
    assert "humidity" not in load_artifact(champion.artifact_path)["feature_names"]
    decision = _gate(db, challenger.model_id)
    assert decision.decision == "promoted" and decision.champion_score > decision.challenger_score


def test_champion_needing_columns_the_new_data_lacks_is_not_compared(db, tenant, tmp_path):
    champion = _register(db, tenant, tmp_path)
    _gate(db, champion.model_id)
    narrow = demo_frame(*YEAR_2024).drop(columns="humidity")
    challenger = register(db, tenant_id=tenant, model_name="load_forecast", frame=narrow, artifact_dir=tmp_path)
    decision = promotion.run_gate(db, challenger_model_id=challenger.model_id, raw=narrow, metric=None,
                                  margin=0.0, actor="gate (test)")
    assert decision.decision == "refused" and "humidity" in decision.reason
    assert decision.champion_score is None and _stage(db, champion.model_id) == "production"


def test_anomaly_gate_uses_roc_auc_with_labels(db, tenant, tmp_path):
    spec = ("anomaly_basic", "2024-01-01", "2025-01-01")
    first = _register(db, tenant, tmp_path, frame_spec=spec, model_type="anomaly", model_name="detector",
                      feature_set="anomaly_basic")
    decision = _gate(db, first.model_id, frame_spec=spec)
    assert decision.decision == "promoted" and decision.metric == "roc_auc"
    assert 0.5 < decision.challenger_score <= 1


def test_anomaly_gate_without_labels_is_skipped_with_a_reason(db, tenant, tmp_path):
    frame = demo_frame("anomaly_basic", "2024-01-01", "2025-01-01").drop(columns="is_anomaly")
    version = register(db, tenant_id=tenant, model_name="detector", frame=frame, artifact_dir=tmp_path,
                       model_type="anomaly")
    decision = promotion.run_gate(db, challenger_model_id=version.model_id, raw=frame, metric=None,
                                  margin=0.0, actor="gate (test)")
    assert decision.decision == "skipped" and "label" in decision.reason
    assert _stage(db, version.model_id) == "none"


def test_gate_failure_is_recorded_and_leaves_the_new_version_registered(db, tenant, tmp_path):
    champion = _register(db, tenant, tmp_path)
    _gate(db, champion.model_id)
    challenger = _register(db, tenant, tmp_path)
    prediction.cache.clear()
    os.unlink(champion.artifact_path)
    decision = promotion.gate_if_requested(
        db, job_config={"auto_promote": True}, job_id=None, model_id=challenger.model_id,
        raw=demo_frame(*YEAR_2024))
    assert decision.decision == "error" and "missing" in decision.reason
    assert _stage(db, challenger.model_id) == "none" and _stage(db, champion.model_id) == "production"


def test_gate_not_requested_records_nothing(db, tenant, tmp_path):
    version = _register(db, tenant, tmp_path)
    assert promotion.gate_if_requested(db, job_config={"auto_promote": False}, job_id=None,
                                       model_id=version.model_id, raw=demo_frame(*YEAR_2024)) is None
    assert registry.version_history(db, model_id=version.model_id, tenant_scope=None).decisions == []


def test_relative_improvement_points_the_right_way():
    assert promotion.relative_improvement("mae", challenger=9.0, champion=10.0) == pytest.approx(0.1)
    assert promotion.relative_improvement("mae", challenger=11.0, champion=10.0) == pytest.approx(-0.1)
    assert promotion.relative_improvement("r2", challenger=0.9, champion=0.8) == pytest.approx(0.125)
    assert promotion.relative_improvement("r2", challenger=-0.5, champion=-1.0) == pytest.approx(0.5)
    assert promotion.relative_improvement("mae", challenger=1.0, champion=0.0) == -math.inf


def _window_ts(db, model_id):
    from trainhub import experiments
    record = registry.get_model(db, model_id=model_id, tenant_scope=None)
    return experiments.get_test_window(db, experiment_id=record.experiment_id, tenant_scope=None).ts


def test_database_allows_one_production_version_per_model_name(db, tenant, tmp_path):
    a = _register(db, tenant, tmp_path)
    b = _register(db, tenant, tmp_path)
    db.execute(sa.text("UPDATE ai_models SET stage = 'production' WHERE model_id = :m"), {"m": a.model_id})
    with pytest.raises(sa.exc.IntegrityError, match="ai_models_one_production"):
        with db.begin_nested():
            db.execute(sa.text("UPDATE ai_models SET stage = 'production' WHERE model_id = :m"),
                       {"m": b.model_id})
    assert np.sum([_stage(db, m) == "production" for m in (a.model_id, b.model_id)]) == 1
