"""Loading files into feature sets: parsing, validation, COPY, append and replace, summaries."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trainhub import features
from trainhub.errors import InvalidInput
from trainhub.ingest import load_file

UTC = timezone.utc
WIDE = (datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def csv_file(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text.strip() + "\n")
    return path


def hourly(start: str, hours: int, *, load=None, temperature=None) -> pd.DataFrame:
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    return pd.DataFrame({
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_kw": np.arange(hours, dtype=float) if load is None else load,
        "temperature": np.linspace(0, 10, hours) if temperature is None else temperature,
    })


def write_csv(tmp_path, frame: pd.DataFrame, name: str = "data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def stored(db, tenant_id, name, series_id=""):
    fs = features.get_feature_set(db, tenant_id=tenant_id, name=name)
    return features.load_frame(db, feature_set=fs, start=WIDE[0], end=WIDE[1], series_id=series_id)


def test_first_load_creates_the_set_with_inferred_frequency_and_a_summary(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    path = csv_file(tmp_path, """
time,site,demand,temperature
2024-03-01T00:00:00Z,north,10.5,3.0
2024-03-01T00:30:00Z,north,11.0,
2024-03-01T01:00:00Z,north,12.0,3.5
2024-03-01T02:30:00Z,north,9.0,4.0
2024-03-01T00:00:00Z,south,20.0,8.0
2024-03-01T00:30:00Z,south,,8.5
""")

    report = load_file(db, tenant_id=tenant_id, name="grid", path=path, target_column="demand",
                       series_column="site")

    fs = report.feature_set
    assert report.created and report.rows_received == report.rows_inserted == 6 and report.rows_replaced == 0
    assert (fs.frequency, fs.timestamp_column, fs.series_column) == ("30min", "time", "site")
    assert (fs.columns, fs.target_column) == (["demand", "temperature"], "demand")
    assert (fs.rows, fs.series_count) == (6, 2)
    assert (fs.first_ts, fs.last_ts) == (datetime(2024, 3, 1, 0, 0, tzinfo=UTC), datetime(2024, 3, 1, 2, 30, tzinfo=UTC))
    # Gaps and missing values are reported, never filled in.
    assert fs.missing_values == {"demand": 1, "temperature": 1}
    north = next(s for s in fs.series if s.series_id == "north")
    assert (north.rows, north.missing_timestamps, north.gap_count) == (4, 2, 1)
    assert north.gaps == [{"from": "2024-03-01T01:30:00Z", "to": "2024-03-01T02:00:00Z", "missing": 2}]
    frame = stored(db, tenant_id, "grid", "north")
    assert len(frame) == 4 and np.isnan(frame["temperature"].iloc[1])


def test_later_loads_append_and_a_resent_range_replaces_its_timestamps(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    load_file(db, tenant_id=tenant_id, name="site", path=write_csv(tmp_path, hourly("2024-01-01", 48)),
              target_column="load_kw")

    # Hours 24..71: the second day again (new values), and a third day.
    resent = hourly("2024-01-02", 48, load=np.full(48, 500.0))
    report = load_file(db, tenant_id=tenant_id, name="site", path=write_csv(tmp_path, resent, "b.csv"))

    assert not report.created
    assert (report.rows_received, report.rows_inserted, report.rows_replaced) == (48, 24, 24)
    frame = stored(db, tenant_id, "site")
    assert len(frame) == 72 and frame["ts"].is_unique
    assert (frame["load_kw"].iloc[:24] == np.arange(24)).all()
    assert (frame["load_kw"].iloc[24:] == 500.0).all()
    assert report.feature_set.rows == 72 and report.feature_set.missing_timestamps == 0


def test_values_and_timestamps_survive_the_binary_copy_exactly(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    rng = np.random.default_rng(3)
    frame = hourly("1999-12-31T20:00:00Z", 500, load=rng.normal(0, 1e6, 500), temperature=rng.normal(0, 1e-9, 500))
    path = tmp_path / "exact.parquet"
    pq.write_table(pa.Table.from_pandas(frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))), path)

    load_file(db, tenant_id=tenant_id, name="exact", path=path, target_column="load_kw")

    back = stored(db, tenant_id, "exact")
    assert list(back["ts"]) == list(pd.to_datetime(frame["ts"], utc=True))
    np.testing.assert_array_equal(back["load_kw"].to_numpy(), frame["load_kw"].to_numpy())
    np.testing.assert_array_equal(back["temperature"].to_numpy(), frame["temperature"].to_numpy())


def test_parquet_with_local_time_offsets_is_stored_in_utc(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    ts = pd.date_range("2024-06-01", periods=30, freq="D", tz="Europe/Berlin")
    path = tmp_path / "daily.parquet"
    pq.write_table(pa.table({"date": ts, "sales": np.arange(30.0)}), path)

    report = load_file(db, tenant_id=tenant_id, name="sales", path=path)

    assert report.feature_set.frequency == "D" and report.feature_set.target_column == "sales"
    assert report.feature_set.first_ts == datetime(2024, 5, 31, 22, 0, tzinfo=UTC)


def test_invalid_file_is_rejected_whole_naming_rows_and_columns(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    frame = hourly("2024-01-01", 30)
    frame["ts"] = frame["ts"].astype(object)
    frame.loc[2, "ts"] = "2024-13-01 00:00"
    frame.loc[7, "ts"] = "yesterday"
    frame["temperature"] = frame["temperature"].astype(object)
    frame.loc[4, "temperature"] = "warm"
    frame.loc[9, "temperature"] = "1,5"

    with pytest.raises(InvalidInput) as caught:
        load_file(db, tenant_id=tenant_id, name="broken", path=write_csv(tmp_path, frame), target_column="load_kw")

    errors = caught.value.errors
    assert "2 unparseable or missing timestamps: row 3 ('2024-13-01 00:00'), row 8 ('yesterday')" in errors["ts"][0]
    assert "2 values are not finite numbers: row 5 ('warm'), row 10 ('1,5')" in errors["temperature"][0]
    with pytest.raises(features.FeatureSetNotFound):
        features.get_feature_set(db, tenant_id=tenant_id, name="broken")


def test_duplicate_and_off_grid_timestamps_are_named(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    frame = hourly("2024-01-01", 30)
    frame.loc[5, "ts"] = frame.loc[4, "ts"]
    frame.loc[12, "ts"] = "2024-01-01T12:20:00Z"

    with pytest.raises(InvalidInput) as caught:
        load_file(db, tenant_id=tenant_id, name="dups", path=write_csv(tmp_path, frame), frequency="h",
                  target_column="load_kw")

    messages = " ".join(caught.value.errors["ts"])
    assert "1 duplicate timestamps: row 6 repeats row 5 (2024-01-01T04:00:00Z)" in messages
    assert "1 timestamps are off the set's h grid: row 13 (2024-01-01T12:20:00Z)" in messages


def test_an_invalid_append_leaves_the_set_as_it_was(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    load_file(db, tenant_id=tenant_id, name="site", path=write_csv(tmp_path, hourly("2024-01-01", 24)),
              target_column="load_kw")
    bad = hourly("2024-01-01T12:00:00Z", 24, load=np.full(24, 9.0)).assign(pressure=1013.0)

    with pytest.raises(InvalidInput) as caught:
        load_file(db, tenant_id=tenant_id, name="site", path=write_csv(tmp_path, bad, "bad.csv"))

    assert caught.value.errors["columns"] == [
        "unknown columns ['pressure']: the set 'site' has ['load_kw', 'temperature']"]
    assert (stored(db, tenant_id, "site")["load_kw"] == np.arange(24)).all()


def test_first_load_with_several_value_columns_needs_a_target(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    with pytest.raises(InvalidInput) as caught:
        load_file(db, tenant_id=tenant_id, name="x", path=csv_file(tmp_path, "stamp,a,b\n2024-01-01T00:00:00Z,1,2"))

    assert set(caught.value.errors) == {"timestamp_column"}
    with pytest.raises(InvalidInput) as caught:
        load_file(db, tenant_id=tenant_id, name="x", timestamp_column="stamp",
                  path=csv_file(tmp_path, "stamp,a,b\n2024-01-01T00:00:00Z,1,2\n2024-01-01T01:00:00Z,1,2"))
    assert caught.value.errors == {"target_column": ["name the target column, one of ['a', 'b']"]}


def test_a_definition_naming_unknown_columns_or_bad_lags_is_refused(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    path = write_csv(tmp_path, hourly("2024-01-01", 24))
    for definition, message in [
        ({"exogenous": ["wind"]}, "columns ['wind'] are not in the set"),
        ({"lags": ["90min"]}, "lag 90min is not a whole number of 1h steps"),
        ({"holidays": "XX"}, "no public-holiday calendar for country 'XX'"),
        ({"lagz": [1]}, "unknown definition keys ['lagz']"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            load_file(db, tenant_id=tenant_id, name="defined", path=path, target_column="load_kw",
                      definition=definition)
        assert message in caught.value.errors["definition"][0]


def test_update_definition_is_validated_and_stored(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    load_file(db, tenant_id=tenant_id, name="site", path=write_csv(tmp_path, hourly("2024-01-01", 24)),
              target_column="load_kw")

    details = features.update_definition(db, tenant_id=tenant_id, name="site",
                                         definition={"holidays": "GB", "rolling": [{"window": "6h", "stats": ["std"]}]})

    assert details.definition["holidays"] == "GB"
    with pytest.raises(InvalidInput):
        features.update_definition(db, tenant_id=tenant_id, name="site", definition={"missing": "fill"})


def test_demo_sets_are_ordinary_sets_with_a_summary(db, tenants):
    tenant_id, _ = tenants()

    features.ensure_demo_feature_set(db, tenant_id=tenant_id, name="forecast_basic")

    details = features.describe_feature_set(db, tenant_id=tenant_id, name="forecast_basic")
    hours = int((features.DEMO_END - features.DEMO_START).total_seconds() // 3600)
    assert details.builtin and details.rows == hours and details.series_count == 1
    assert details.missing_timestamps == 0 and details.missing_values == dict.fromkeys(details.columns, 0)
    assert [s.name for s in features.list_feature_sets(db, tenant_scope=tenant_id).feature_sets] == ["forecast_basic"]


def test_a_job_trains_on_the_named_series_or_the_only_one(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    one = hourly("2024-01-01", 3).assign(site="a")
    load_file(db, tenant_id=tenant_id, name="one", series_column="site", target_column="load_kw",
              path=write_csv(tmp_path, one))
    two = pd.concat([one, one.assign(site="b")])
    load_file(db, tenant_id=tenant_id, name="two", series_column="site", target_column="load_kw",
              path=write_csv(tmp_path, two, "two.csv"))

    only = features.get_feature_set(db, tenant_id=tenant_id, name="one")
    both = features.get_feature_set(db, tenant_id=tenant_id, name="two")
    assert features.choose_series(db, feature_set=only, series_id="") == "a"
    assert features.choose_series(db, feature_set=both, series_id="b") == "b"
    with pytest.raises(ValueError, match=r"has 2 series \('a', 'b'\); choose one with config.series_id"):
        features.choose_series(db, feature_set=both, series_id="")
    with pytest.raises(ValueError, match="has no series 'c'"):
        features.choose_series(db, feature_set=both, series_id="c")


def test_delete_removes_the_set_and_its_rows(db, tenants, tmp_path):
    tenant_id, _ = tenants()
    load_file(db, tenant_id=tenant_id, name="gone", path=write_csv(tmp_path, hourly("2024-01-01", 5)),
              target_column="load_kw")

    features.delete_feature_set(db, tenant_id=tenant_id, name="gone")

    with pytest.raises(features.FeatureSetNotFound):
        features.describe_feature_set(db, tenant_id=tenant_id, name="gone")
    with pytest.raises(features.FeatureSetNotFound):
        features.delete_feature_set(db, tenant_id=tenant_id, name="gone")


def test_a_window_read_again_comes_from_the_cache_until_a_load_changes_the_set(db, tenants, tmp_path, monkeypatch):
    tenant_id, _ = tenants()
    load_file(db, tenant_id=tenant_id, name="site", path=write_csv(tmp_path, hourly("2024-01-01", 48)),
              target_column="load_kw")
    copies = []
    real_load = features.feature_rows.load_frame
    monkeypatch.setattr(features.feature_rows, "load_frame", lambda *a, **k: copies.append(1) or real_load(*a, **k))

    first = stored(db, tenant_id, "site")
    first["load_kw"] = -1.0  # a caller's changes never reach the cached frame
    again = stored(db, tenant_id, "site")
    assert len(copies) == 1 and (again["load_kw"] == np.arange(48)).all()

    load_file(db, tenant_id=tenant_id, name="site",
              path=write_csv(tmp_path, hourly("2024-01-02", 24, load=np.full(24, 7.0)), "b.csv"))
    changed = stored(db, tenant_id, "site")
    assert len(copies) == 2 and (changed["load_kw"].iloc[24:] == 7.0).all()
