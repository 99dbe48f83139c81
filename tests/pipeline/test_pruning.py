"""The pruning callback on real LightGBM fits: which rounds report, and what a "prune"
answer does to the fit."""
from datetime import datetime, timezone

import pytest

from trainhub.demo_data import generate_demo_frame
from trainhub.pipeline.features import engineer_features
from trainhub.pipeline.forecast import train_forecaster
from trainhub.pipeline.hooks import PipelineHooks
from trainhub.pipeline.pruning import Pruned, is_report_round, pruning_callback
from trainhub.pipeline.split import time_split

UTC = timezone.utc


@pytest.fixture(scope="module")
def split():
    frame = generate_demo_frame("forecast_basic", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))
    X, y, ts = engineer_features(frame, target="load_kw", horizon=24)
    return time_split(X, y, ts, validation_split=0.2, test_split=0.1)


def test_report_rounds_double_from_the_first():
    assert [r for r in range(1, 700) if is_report_round(r)] == [20, 40, 80, 160, 320, 640]
    assert [r for r in range(1, 50) if is_report_round(r, first=5)] == [5, 10, 20, 40]


def test_fit_reports_validation_rmse_on_the_doubling_rounds_only(split):
    reports = []
    model, _ = train_forecaster(
        split, hyperparameters={"n_estimators": 100, "learning_rate": 0.05}, early_stopping_rounds=0,
        num_threads=1, hooks=PipelineHooks(),
        extra_callbacks=[pruning_callback(lambda step, value: reports.append((step, value)) or False)],
    )
    assert [step for step, _ in reports] == [20, 40, 80]
    values = [value for _, value in reports]
    assert values == sorted(values, reverse=True)  # a slow learning rate keeps improving
    # The reported value is the validation RMSE of that round (sqrt of LightGBM's l2).
    assert model.n_iter_ == 100


def test_prune_answer_stops_the_fit_at_that_round(split):
    with pytest.raises(Pruned) as pruned:
        train_forecaster(
            split, hyperparameters={"n_estimators": 500}, early_stopping_rounds=0, num_threads=1,
            hooks=PipelineHooks(), extra_callbacks=[pruning_callback(lambda step, value: step >= 40)],
        )
    assert pruned.value.step == 40 and pruned.value.value > 0


def test_callback_refuses_a_fit_without_the_metric():
    class Env:
        iteration = 19
        evaluation_result_list = [("train", "l2", 1.0, False)]

    with pytest.raises(ValueError, match="no l2 on 'validation'"):
        pruning_callback(lambda step, value: False)(Env())
