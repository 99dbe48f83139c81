from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from trainhub.demo_data import generate_demo_frame
from trainhub.pipeline.features import (
    build_features, engineer_features, prediction_features, resolve_definition,
)


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
    assert X.loc[row, "rolling_avg_168h"] == pytest.approx(load[hours].mean())
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


RICH = {
    "calendar": ["hour", "day_of_week", "month", "is_weekend", "day_of_year"],
    "holidays": {"country": "GB", "subdivision": "ENG"},
    "timezone": "Europe/London",
    "lags": ["30min", "2h", "24h", 96],
    "rolling": [{"window": "3h", "stats": ["mean", "std"]}, {"window": "7D", "stats": ["mean", "std", "min", "max"]}],
    "exogenous": ["temperature"],
}


@pytest.fixture(scope="module")
def half_hourly(raw):
    """Two weeks of half-hourly steps: the hourly demo interpolated, humidity left out."""
    frame = raw.set_index("ts")[["load_kw", "temperature", "humidity"]]
    grid = pd.date_range(frame.index[0], frame.index[-1], freq="30min")
    return frame.reindex(grid).interpolate().rename_axis("ts").reset_index()


def test_no_declared_feature_at_t_moves_when_every_later_value_is_corrupted(half_hourly):
    """The leakage test: lags, windows (std too), calendar, holidays and exogenous inputs
    at t see nothing after t, so wrecking the future leaves them exactly as they were."""
    cutoff = half_hourly["ts"].iloc[1500]
    corrupted = half_hourly.copy()
    after = corrupted["ts"] > cutoff
    corrupted.loc[after, ["load_kw", "temperature", "humidity"]] = corrupted.loc[after, ["load_kw", "temperature", "humidity"]].to_numpy()[::-1] * -3.0

    X, y, ts = engineer_features(half_hourly, target="load_kw", horizon=12, definition=RICH, frequency="30min")
    X_bad, y_bad, _ = engineer_features(corrupted, target="load_kw", horizon=12, definition=RICH, frequency="30min")

    up_to_cutoff = (ts <= cutoff).to_numpy()
    assert up_to_cutoff.sum() > 1000
    pd.testing.assert_frame_equal(X[up_to_cutoff], X_bad[up_to_cutoff])
    assert not X[~up_to_cutoff].equals(X_bad[~up_to_cutoff])
    due = (ts + pd.Timedelta(hours=12) <= cutoff).to_numpy()
    np.testing.assert_array_equal(y[due], y_bad[due])
    assert not np.array_equal(y[~due], y_bad[~due])


def test_declared_features_are_named_by_their_spans_and_computed_from_the_past(half_hourly):
    X, _, ts = engineer_features(half_hourly, target="load_kw", horizon=12, definition=RICH, frequency="30min")
    load = half_hourly.set_index("ts")["load_kw"]
    row = 900
    t = ts.iloc[row]
    window = load[t - pd.Timedelta(hours=2, minutes=30):t]

    assert list(X.columns) == [
        "hour", "day_of_week", "month", "is_weekend", "day_of_year", "is_holiday", "lag_0", "lag_30min", "lag_2h",
        "lag_24h", "lag_48h", "rolling_avg_3h", "rolling_std_3h", "rolling_avg_168h", "rolling_std_168h",
        "rolling_min_168h", "rolling_max_168h", "hourly_avg", "change_1h", "deviation_from_hourly_avg",
        "deviation_from_rolling_24h", "temperature",
    ]
    assert X.loc[row, "lag_48h"] == load[t - pd.Timedelta(hours=48)]
    assert X.loc[row, "rolling_avg_3h"] == pytest.approx(window.mean())
    assert X.loc[row, "rolling_std_3h"] == pytest.approx(window.std())
    assert X.loc[row, "hour"] == t.tz_convert("Europe/London").hour
    assert X.loc[row, "change_1h"] == pytest.approx(load[t] - load[t - pd.Timedelta(hours=1)])


def test_public_holidays_are_marked_in_local_time():
    ts = pd.date_range("2023-12-24T12:00:00Z", "2023-12-27T12:00:00Z", freq="h")
    raw = pd.DataFrame({"ts": ts, "load_kw": 1.0})

    X = build_features(raw, target="load_kw", definition={"holidays": "GB", "timezone": "Asia/Tokyo"})

    holiday = X["is_holiday"].astype(bool)
    local_days = X.index.tz_convert("Asia/Tokyo").date
    assert {d.isoformat() for d in local_days[holiday]} == {"2023-12-25", "2023-12-26"}


def test_daily_data_gets_daily_defaults_and_a_day_is_one_step():
    ts = pd.date_range("2020-01-01", periods=400, freq="D", tz="UTC")
    raw = pd.DataFrame({"ts": ts, "sales": np.sin(np.arange(400) / 7 * 2 * np.pi) + np.arange(400) * 0.01})

    X, y, out_ts = engineer_features(raw, target="sales", horizon=24, frequency="D")

    assert [c for c in X.columns if c.startswith(("lag", "rolling"))] == ["lag_0", "lag_1d", "lag_7d", "rolling_avg_7d", "rolling_avg_28d"]
    assert "hourly_avg" not in X.columns
    assert out_ts.iloc[0] == ts[28] and y.iloc[0] == raw["sales"].iloc[29]
    with pytest.raises(ValueError, match="12-hour horizon is not a whole number of 1d steps"):
        engineer_features(raw, target="sales", horizon=12, frequency="D")


def test_the_drop_policy_leaves_out_rows_next_to_gaps_and_fills_nothing(raw):
    holes = raw.drop(index=range(400, 410))

    X, y, ts = engineer_features(holes, target="load_kw", horizon=1, definition={"missing": "drop"})

    assert not X.isna().any().any() and not y.isna().any()
    gap = pd.DatetimeIndex(raw["ts"].iloc[400:410])
    assert not set(ts).intersection(gap)
    # A row needs its week of history and the hour after it: the gap removes every row
    # whose lags, windows or target would have to reach into it.
    full, _, full_ts = engineer_features(raw, target="load_kw", horizon=1)
    assert len(full) - len(X) == 10 + 168 + 1


@pytest.mark.parametrize(("definition", "message"), [
    ({"lags": ["45min"]}, "lag 45min is not a whole number of 1h steps"),
    ({"rolling": [{"window": "1h"}]}, "a window needs at least two steps"),
    ({"rolling": [{"window": "6h", "stats": ["median"]}]}, r"unknown stats \['median'\]"),
    ({"calendar": ["week"]}, r"unknown calendar features \['week'\]"),
    ({"timezone": "Mars/Olympus"}, "unknown timezone"),
    ({"missing": "interpolate"}, "missing must be one of"),
    ({"lags": [0]}, "lags must be at least one step"),
])
def test_bad_definitions_are_refused_by_name(definition, message):
    with pytest.raises(ValueError, match=message):
        resolve_definition(definition, frequency="h")


def test_profile_features_need_hourly_or_finer_data():
    with pytest.raises(ValueError, match="profile features need hourly or finer data"):
        resolve_definition({"profile": True}, frequency="D")


def test_the_resolved_definition_round_trips_through_json():
    spec = resolve_definition(RICH, frequency="30min")

    assert resolve_definition(spec.to_json(), frequency="30min") == spec


def test_prediction_features_are_the_training_row_and_ignore_later_rows(half_hourly):
    X, _, ts = engineer_features(half_hourly, target="load_kw", horizon=12, definition=RICH, frequency="30min")
    at = ts.iloc[700]
    later = half_hourly.assign(load_kw=np.where(half_hourly["ts"] > at, -1e9, half_hourly["load_kw"]))

    row = prediction_features(later, target="load_kw", definition=RICH, frequency="30min", at=at)

    assert list(row.columns) == list(X.columns) and list(row.index) == [at]
    np.testing.assert_array_equal(row.to_numpy()[0], X.iloc[700].to_numpy())
    with pytest.raises(ValueError, match="need 336 steps of complete history"):
        prediction_features(half_hourly, target="load_kw", definition=RICH, frequency="30min",
                            at=half_hourly["ts"].iloc[100])
