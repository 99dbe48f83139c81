import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from trainhub.demo_data import DEMO_FEATURE_SETS, generate_demo_frame

UTC = timezone.utc


def test_values_at_a_timestamp_do_not_depend_on_the_requested_window():
    for name in DEMO_FEATURE_SETS:
        whole_year = generate_demo_frame(name, datetime(2022, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC))
        one_week = generate_demo_frame(name, datetime(2022, 6, 3, 5, tzinfo=UTC), datetime(2022, 6, 10, tzinfo=UTC))

        overlap = whole_year.merge(one_week, on="ts", suffixes=("_year", "_week"))
        assert len(overlap) == len(one_week) == 7 * 24 - 5
        for column in DEMO_FEATURE_SETS[name]["columns"]:
            np.testing.assert_array_equal(overlap[f"{column}_year"], overlap[f"{column}_week"])


def test_window_is_hourly_utc_and_excludes_its_end():
    frame = generate_demo_frame("forecast_basic", datetime(2024, 3, 1, 0, 30), datetime(2024, 3, 2, tzinfo=UTC))

    assert frame["ts"].dtype == "datetime64[ns, UTC]"
    assert frame["ts"].iloc[0] == pd.Timestamp("2024-03-01 01:00", tz="UTC")  # naive start read as UTC
    assert frame["ts"].iloc[-1] == pd.Timestamp("2024-03-01 23:00", tz="UTC")
    assert (frame["ts"].diff().dropna() == pd.Timedelta(hours=1)).all()


def test_forecast_basic_has_realistic_ranges_and_seasonality():
    frame = generate_demo_frame("forecast_basic", datetime(2020, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))

    assert list(frame.columns) == ["ts", *DEMO_FEATURE_SETS["forecast_basic"]["columns"]]
    assert frame["load_kw"].between(100, 1000).all()
    assert frame["humidity"].between(20, 100).all()
    assert frame["temperature"].between(-25, 45).all()
    by_hour = frame.groupby(frame["ts"].dt.hour)["load_kw"].mean()
    assert by_hour.max() > 1.3 * by_hour.min()
    weekend = frame["ts"].dt.day_of_week >= 5
    assert frame.loc[weekend, "load_kw"].mean() < frame.loc[~weekend, "load_kw"].mean()
    by_month = frame.groupby(frame["ts"].dt.month)["temperature"].mean()
    assert by_month[7] > by_month[1] + 15


def test_anomaly_basic_changes_load_in_about_one_percent_of_hours():
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    normal = generate_demo_frame("forecast_basic", start, end)
    with_anomalies = generate_demo_frame("anomaly_basic", start, end)

    marked = with_anomalies["is_anomaly"] == 1
    assert 0.005 < marked.mean() < 0.02
    changed = ~np.isclose(normal["load_kw"], with_anomalies["load_kw"])
    assert not changed[~marked].any()
    assert changed[marked].mean() > 0.95
    np.testing.assert_array_equal(normal["temperature"], with_anomalies["temperature"])


def test_seed_changes_the_series():
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 8, tzinfo=UTC)
    assert not generate_demo_frame("forecast_basic", start, end, seed=1).equals(
        generate_demo_frame("forecast_basic", start, end, seed=2)
    )


def test_eleven_years_generate_well_under_a_second():
    started = time.perf_counter()
    frame = generate_demo_frame("anomaly_basic", datetime(2014, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    elapsed = time.perf_counter() - started

    assert len(frame) == 96_432
    assert elapsed < 0.5


def test_unknown_feature_set_is_rejected_by_name():
    with pytest.raises(ValueError, match="unknown demo feature set 'weather'"):
        generate_demo_frame("weather", datetime(2024, 1, 1), datetime(2024, 1, 2))
