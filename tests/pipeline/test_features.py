from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from trainhub.demo_data import generate_demo_frame
from trainhub.pipeline.features import engineer_features


@pytest.fixture(scope="module")
def raw():
    return generate_demo_frame(
        "anomaly_basic", datetime(2023, 1, 1, tzinfo=timezone.utc), datetime(2023, 3, 1, tzinfo=timezone.utc)
    )


def test_features_at_t_ignore_every_value_after_t(raw):
    cutoff = raw["ts"].iloc[900]
    corrupted = raw.copy()
    after = corrupted["ts"] > cutoff
    corrupted.loc[after, ["load_kw", "temperature", "humidity"]] *= -7.0

    X, y, ts = engineer_features(raw, target="load_kw", horizon=6)
    X_corrupted, y_corrupted, _ = engineer_features(corrupted, target="load_kw", horizon=6)

    up_to_cutoff = (ts <= cutoff).to_numpy()
    assert up_to_cutoff.sum() > 500
    pd.testing.assert_frame_equal(X[up_to_cutoff], X_corrupted[up_to_cutoff])
    assert not X[~up_to_cutoff].equals(X_corrupted[~up_to_cutoff])
    # y does look ahead, by exactly the horizon: targets due by the cutoff are unchanged.
    due_by_cutoff = (ts + pd.Timedelta(hours=6) <= cutoff).to_numpy()
    np.testing.assert_array_equal(y[due_by_cutoff], y_corrupted[due_by_cutoff])


def test_target_is_the_value_horizon_hours_after_the_row(raw):
    _, y, ts = engineer_features(raw, target="load_kw", horizon=24)

    load_at = raw.set_index("ts")["load_kw"]
    np.testing.assert_array_equal(y.to_numpy(), load_at.reindex(ts + pd.Timedelta(hours=24)).to_numpy())


def test_rows_without_a_week_of_history_or_a_future_target_are_dropped(raw):
    _, _, ts = engineer_features(raw, target="load_kw", horizon=24)

    assert ts.iloc[0] == raw["ts"].iloc[168]
    assert ts.iloc[-1] == raw["ts"].iloc[-1 - 24]


def test_lag_and_average_features_match_their_definitions(raw):
    X, _, ts = engineer_features(raw, target="load_kw", horizon=1)
    load = raw.set_index("ts")["load_kw"]
    row = 400
    t = ts.iloc[row]
    hours = [t - pd.Timedelta(hours=h) for h in range(168)]

    assert X.loc[row, "lag_0"] == load[t]
    assert X.loc[row, "lag_1h"] == load[hours[1]]
    assert X.loc[row, "lag_24h"] == load[hours[24]]
    assert X.loc[row, "hourly_avg"] == pytest.approx(np.mean([load[t - pd.Timedelta(days=d)] for d in range(1, 8)]))
    assert X.loc[row, "daily_avg"] == pytest.approx(load[hours].mean())
    assert X.loc[row, "rolling_avg_24h"] == pytest.approx(load[hours[:24]].mean())
    assert X.loc[row, "deviation_from_hourly_avg"] == pytest.approx(load[t] - X.loc[row, "hourly_avg"])
    assert (X.loc[row, "hour"], X.loc[row, "day_of_week"], X.loc[row, "month"]) == (t.hour, t.day_of_week, t.month)
    assert X.loc[row, "is_weekend"] == float(t.day_of_week >= 5)


def test_default_exogenous_columns_exclude_target_and_labels(raw):
    X, _, _ = engineer_features(raw, target="load_kw", horizon=1)

    assert {"temperature", "humidity"} <= set(X.columns)
    assert "is_anomaly" not in X.columns and "load_kw" not in X.columns


def test_explicit_exogenous_columns_replace_the_default(raw):
    X, _, _ = engineer_features(raw, target="load_kw", horizon=1, exogenous=["temperature"])

    assert "temperature" in X.columns and "humidity" not in X.columns


def test_missing_target_column_is_named(raw):
    with pytest.raises(ValueError, match="target column 'power' is missing"):
        engineer_features(raw, target="power", horizon=1)


def test_missing_target_values_are_counted(raw):
    holes = raw.copy()
    holes.loc[[10, 20, 30], "load_kw"] = np.nan

    with pytest.raises(ValueError, match="'load_kw' has 3 missing values"):
        engineer_features(holes, target="load_kw", horizon=1)


def test_skipped_hours_count_as_missing_target_values(raw):
    with pytest.raises(ValueError, match="has 2 missing values"):
        engineer_features(raw.drop(index=[50, 51]), target="load_kw", horizon=1)


def test_too_few_rows_says_how_many_are_needed(raw):
    with pytest.raises(ValueError, match="too little data: 300 hourly rows leave 108 usable rows.*at least 200"):
        engineer_features(raw.iloc[:300], target="load_kw", horizon=24)


def test_empty_frame_is_reported_as_no_data(raw):
    with pytest.raises(ValueError, match="no data"):
        engineer_features(raw.iloc[:0], target="load_kw", horizon=1)
