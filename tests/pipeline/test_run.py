import logging
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from trainhub.demo_data import generate_demo_frame
from trainhub.pipeline import Cancelled, PipelineHooks, TrainingResult, train_model

UTC = timezone.utc
STAGE_BOUNDS = {"preprocess": (0.20, 0.40), "train": (0.40, 0.70), "evaluate": (0.70, 0.85)}


class RecordingHooks(PipelineHooks):
    """Remembers every call; raises Cancelled on the n-th cancel check if asked to."""

    def __init__(self, cancel_on_check: int | None = None):
        self.cancel_on_check = cancel_on_check
        self.checks = 0
        self.progress_calls: list[tuple[float, str]] = []
        self.series: dict[str, list[float]] = {}

    def progress(self, fraction, stage):
        self.progress_calls.append((fraction, stage))

    def check_cancelled(self):
        self.checks += 1
        if self.checks == self.cancel_on_check:
            raise Cancelled

    def record_series(self, name, values, start_step=0):
        self.series[name] = list(values)


@pytest.fixture(scope="module")
def one_year():
    return generate_demo_frame("forecast_basic", datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def one_year_with_anomalies():
    return generate_demo_frame("anomaly_basic", datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))


def train(raw, hooks=None, **overrides) -> TrainingResult:
    arguments = {
        "model_type": "forecast",
        "target": "load_kw",
        "horizon": 24,
        "validation_split": 0.15,
        "test_split": 0.15,
        "hyperparameters": {},
        "early_stopping_rounds": 10,
        "num_threads": 1,
        "hooks": hooks or PipelineHooks(),
    }
    return train_model(raw, **arguments | overrides)


def test_one_year_forecast_beats_the_same_hour_yesterday_baseline(one_year):
    result = train(one_year)

    # For a 24-hour horizon the seasonal naive forecast of t + 24 is the load at t.
    load_at = one_year.set_index("ts")["load_kw"]
    naive = load_at.reindex(pd.DatetimeIndex(result.test_ts).tz_localize(UTC)).to_numpy()
    naive_mae = np.mean(np.abs(naive - result.test_actual))
    assert result.metrics["r2"] > 0.5
    assert result.metrics["mae"] < naive_mae
    assert set(result.metrics) >= {"mae", "rmse", "mape", "r2", "best_iteration", "training_time_seconds"}
    assert all(isinstance(value, (int, float)) for value in result.metrics.values())
    assert result.metrics["n_train"] + result.metrics["n_val"] + result.metrics["n_test"] == 8760 - 168 - 24
    assert len(result.test_ts) == len(result.test_actual) == len(result.test_predicted) == result.n_test


def test_early_stopping_ends_training_soon_after_the_best_round(one_year):
    hooks = RecordingHooks()

    result = train(
        one_year, hooks, hyperparameters={"n_estimators": 2000, "learning_rate": 0.3}, early_stopping_rounds=5
    )

    assert 1 <= result.best_iteration < 2000
    assert len(hooks.series["validation_loss"]) == result.best_iteration + 5
    assert result.metrics["best_iteration"] == result.best_iteration


def test_without_early_stopping_every_round_is_used(one_year):
    result = train(one_year, hyperparameters={"n_estimators": 30}, early_stopping_rounds=0)

    assert result.best_iteration == 30


def test_loss_series_have_one_value_per_round_for_train_and_validation(one_year):
    hooks = RecordingHooks()

    train(one_year, hooks, hyperparameters={"n_estimators": 40}, early_stopping_rounds=0)

    assert len(hooks.series["train_loss"]) == len(hooks.series["validation_loss"]) == 40
    assert hooks.series["train_loss"][-1] < hooks.series["train_loss"][0]


def test_cancel_during_boosting_stops_at_that_round(one_year):
    hooks = RecordingHooks(cancel_on_check=8)

    with pytest.raises(Cancelled):
        train(one_year, hooks, hyperparameters={"n_estimators": 1000}, early_stopping_rounds=0)

    train_rounds = [fraction for fraction, stage in hooks.progress_calls if stage == "train"]
    # Three checks come before boosting; the fifth round's check raised, so four rounds reported.
    assert len(train_rounds) == 1 + 4
    assert "train_loss" not in hooks.series


def test_cancel_before_training_skips_preprocessing(one_year):
    hooks = RecordingHooks(cancel_on_check=1)

    with pytest.raises(Cancelled):
        train(one_year, hooks)

    assert hooks.progress_calls == [(0.20, "preprocess")]


def test_progress_rises_monotonically_within_each_stage(one_year):
    hooks = RecordingHooks()

    train(one_year, hooks, hyperparameters={"n_estimators": 50}, early_stopping_rounds=0)

    fractions = [fraction for fraction, _ in hooks.progress_calls]
    assert fractions == sorted(fractions)
    for fraction, stage in hooks.progress_calls:
        low, high = STAGE_BOUNDS[stage]
        assert low <= fraction <= high + 1e-9
    assert [stage for _, stage in hooks.progress_calls[:1] + hooks.progress_calls[-1:]] == ["preprocess", "evaluate"]
    assert fractions[-1] == 0.85


def test_hyperparameter_overrides_are_applied_on_top_of_the_defaults(one_year):
    result = train(one_year, hyperparameters={"num_leaves": 7, "min_child_samples": 50})

    assert result.hyperparameters["num_leaves"] == 7
    assert result.hyperparameters["min_child_samples"] == 50
    assert result.hyperparameters["max_depth"] == 5
    assert result.hyperparameters["subsample_freq"] == 1
    assert result.model.get_params()["num_leaves"] == 7


def test_unknown_hyperparameter_is_rejected_by_name(one_year):
    with pytest.raises(ValueError, match=r"unknown LightGBM hyperparameters \['leraning_rate'\]"):
        train(one_year, hyperparameters={"leraning_rate": 0.05})


def test_search_space_in_place_of_a_value_is_rejected(one_year):
    with pytest.raises(ValueError, match=r"\['learning_rate'\] must be single values"):
        train(one_year, hyperparameters={"learning_rate": {"low": 0.01, "high": 0.3}})


def test_anomaly_detector_ranks_injected_anomalies_above_normal_hours(one_year_with_anomalies):
    result = train(one_year_with_anomalies, model_type="anomaly", hyperparameters={"learning_rate": 0.05})

    assert result.metrics["roc_auc"] > 0.7
    assert result.metrics["anomaly_rate"] < 0.2
    assert set(result.metrics) >= {"precision", "recall", "f1", "mean_score", "training_time_seconds"}
    assert result.horizon == 0 and result.best_iteration is None
    assert "is_anomaly" not in result.feature_names
    assert "learning_rate" not in result.hyperparameters


def test_anomaly_detector_without_labels_reports_rate_and_score_only(one_year):
    result = train(one_year, model_type="anomaly")

    assert set(result.metrics) >= {"anomaly_rate", "mean_score"}
    assert "roc_auc" not in result.metrics


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.iloc[:0], "no data"),
        (lambda raw: raw.drop(columns="load_kw"), "target column 'load_kw' is missing"),
        (lambda raw: raw.assign(load_kw=raw["load_kw"].where(raw.index % 100 != 0)), "88 missing values"),
        (lambda raw: raw.iloc[:250], "too little data"),
    ],
    ids=["empty", "no-target", "nan-target", "too-short"],
)
def test_unusable_data_raises_a_readable_value_error(one_year, change, message):
    with pytest.raises(ValueError, match=message):
        train(change(one_year))


def test_forecast_needs_a_positive_horizon(one_year):
    with pytest.raises(ValueError, match="horizon of at least 1 hour"):
        train(one_year, horizon=0)


def test_unknown_model_type_is_rejected(one_year):
    with pytest.raises(ValueError, match="model_type must be one of"):
        train(one_year, model_type="classifier")


def test_each_stage_is_logged_to_the_pipeline_logger(one_year, caplog):
    with caplog.at_level(logging.INFO, logger="trainhub.pipeline"):
        train(one_year)

    messages = [record.getMessage() for record in caplog.records if record.name == "trainhub.pipeline"]
    assert [message.split()[0] for message in messages] == ["preprocessed", "trained", "evaluated"]


def test_forecast_metrics_carry_the_seasonal_naive_baseline_on_the_same_test_rows(one_year):
    result = train(one_year)

    # Season one day, horizon one day: the naive forecast of t + 24 h is the value at t.
    load_at = one_year.set_index("ts")["load_kw"]
    naive = load_at.reindex(pd.DatetimeIndex(result.test_ts).tz_localize(UTC)).to_numpy()
    naive_mae = np.mean(np.abs(naive - result.test_actual))
    assert result.metrics["baseline_mae"] == pytest.approx(naive_mae)
    assert result.metrics["baseline_rows"] == result.n_test
    assert result.metrics["baseline_season_hours"] == 24
    assert result.metrics["mae_improvement"] == pytest.approx(1 - result.metrics["mae"] / naive_mae)
    assert result.metrics["mae_improvement"] > 0.2


def test_a_horizon_beyond_one_season_takes_the_naive_value_whole_seasons_back(one_year):
    result = train(one_year, horizon=36, hyperparameters={"n_estimators": 5})

    # 36 h ahead with a 24 h season: two seasons back from t + 36 h is t - 12 h, known at t.
    load_at = one_year.set_index("ts")["load_kw"]
    when = pd.DatetimeIndex(result.test_ts).tz_localize(UTC) - pd.Timedelta(hours=12)
    naive_mae = np.mean(np.abs(load_at.reindex(when).to_numpy() - result.test_actual))
    assert result.metrics["baseline_mae"] == pytest.approx(naive_mae)


def test_daily_data_is_compared_with_the_value_a_week_earlier():
    ts = pd.date_range("2018-01-01", periods=1500, freq="D", tz="UTC")
    weekly = np.array([1.0, 1.1, 1.2, 1.15, 1.3, 0.6, 0.5])
    rng = np.random.default_rng(0)
    raw = pd.DataFrame({"ts": ts, "sales": 100 * weekly[ts.day_of_week] + rng.normal(0, 3, len(ts))})

    result = train(raw, target="sales", frequency="D", hyperparameters={"n_estimators": 50})

    sales_at = raw.set_index("ts")["sales"]
    when = pd.DatetimeIndex(result.test_ts).tz_localize(UTC) + pd.Timedelta(days=1) - pd.Timedelta(days=7)
    naive_mae = np.mean(np.abs(sales_at.reindex(when).to_numpy() - result.test_actual))
    assert result.metrics["baseline_season_hours"] == 168
    assert result.metrics["baseline_mae"] == pytest.approx(naive_mae)
    assert result.frequency == "D" and result.feature_definition["lags"] == ["1d", "7d"]


def test_anomaly_models_have_no_forecast_baseline(one_year_with_anomalies):
    result = train(one_year_with_anomalies, model_type="anomaly")

    assert not any(name.startswith("baseline") for name in result.metrics)
