"""Binary COPY encoding read back by PostgreSQL itself, and the test window stored with it."""
from __future__ import annotations

import io
import math
import uuid
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import sqlalchemy as sa

from trainhub import experiments, pg_binary


def _copy_and_read(db, rows):
    db.execute(sa.text("CREATE TEMPORARY TABLE encoded (id uuid, name text, n int, ts timestamptz[], "
                       "vals float8[]) ON COMMIT DROP"))
    with db.connection().connection.cursor() as cursor:
        cursor.copy_expert("COPY encoded FROM STDIN WITH (FORMAT binary)", io.BytesIO(pg_binary.copy_data(rows)))
    return db.execute(sa.text("SELECT id, name, n, ts, vals, array_ndims(vals) AS dims FROM encoded ORDER BY n")).all()


def test_fields_round_trip_through_postgresql(db):
    first, second = uuid.uuid4(), uuid.uuid4()
    stamps = pd.to_datetime(["1999-12-31T23:59:59.999999Z", "2000-01-01T00:00:00Z", "2026-11-27T09:30:00.000123Z"], format="ISO8601")
    values = np.array([1.5, -0.0, math.nan, math.inf, -1e-300, 12345.678901234567])
    rows = [
        [pg_binary.uuid_field(first), pg_binary.text_field("zähler ✓"), pg_binary.int4_field(-7),
         pg_binary.timestamptz_array_field(stamps.as_unit("us").asi8), pg_binary.float8_array_field(values)],
        [pg_binary.uuid_field(second), pg_binary.text_field(""), pg_binary.int4_field(2**31 - 1),
         pg_binary.timestamptz_array_field(np.array([], dtype=np.int64)), pg_binary.float8_array_field(np.array([]))],
    ]
    full, empty = _copy_and_read(db, rows)

    assert (full.id, full.name, full.n) == (first, "zähler ✓", -7)
    assert full.ts == [s.to_pydatetime() for s in stamps]
    assert full.vals[0] == 1.5 and math.copysign(1, full.vals[1]) == -1 and math.isnan(full.vals[2])
    assert full.vals[3:] == [math.inf, -1e-300, 12345.678901234567] and full.dims == 1
    assert (empty.id, empty.name, empty.n, empty.ts, empty.vals, empty.dims) == (second, "", 2**31 - 1, [], [], None)


def test_a_test_window_reads_back_exactly(db, tenants):
    tenant_id, _ = tenants()
    experiment_id = experiments.start_experiment(db, tenant_id=tenant_id, job_id=None, model_type="forecast",
                                                 model_name="m", name="window", params={}, lineage={})
    # tz-aware input is stored as the same instants; naive datetime64 is read as UTC.
    ts = pd.date_range("2025-12-01T00:00Z", periods=5, freq="h").tz_convert("Europe/Berlin")
    actual, predicted = np.array([1.0, 2.0, np.nan, 4.0, 5.0]), np.array([1.1, 1.9, 3.0, 4.2, 4.8])

    written = experiments.record_test_window(db, experiment_id=experiment_id, target="load_kw", horizon=24,
                                             ts=ts, actual=actual, predicted=predicted)
    window = experiments.get_test_window(db, experiment_id=experiment_id, tenant_scope=tenant_id)

    assert written == 5 and window.horizon == 24 and window.target == "load_kw"
    assert window.ts == [datetime(2025, 12, 1, h, tzinfo=timezone.utc) for h in range(5)]
    assert window.predicted == predicted.tolist()
    assert window.actual[:2] + window.actual[3:] == [1.0, 2.0, 4.0, 5.0] and math.isnan(window.actual[2])

    other = experiments.start_experiment(db, tenant_id=tenant_id, job_id=None, model_type="forecast",
                                         model_name="m", name="naive", params={}, lineage={})
    experiments.record_test_window(db, experiment_id=other, target="load_kw", horizon=1,
                                   ts=ts.tz_convert(None).to_numpy(), actual=actual, predicted=predicted)
    assert experiments.get_test_window(db, experiment_id=other, tenant_scope=None).ts == window.ts


def test_metric_series_are_copied_exactly_and_skip_non_finite_points(db, tenants):
    tenant_id, _ = tenants()
    experiment_id = experiments.start_experiment(db, tenant_id=tenant_id, job_id=None, model_type="forecast",
                                                 model_name="m", name="curves", params={}, lineage={})
    written = experiments.record_metric_series(db, experiment_id=experiment_id, series=[
        ("train_loss", [0.5, np.float64(0.25), math.nan, 0.1 + 0.2], 0),
        ("mae", [33.997113431374466], 0),
        ("validation_loss", [math.inf, 7.0], 40),
    ])
    rows = db.execute(sa.text("SELECT metric_name, step, value FROM ai_experiment_metrics WHERE experiment_id = :e "
                              "ORDER BY metric_name, step"), {"e": experiment_id}).all()
    assert written == 5
    assert [tuple(r) for r in rows] == [("mae", 0, 33.997113431374466), ("train_loss", 0, 0.5),
                                        ("train_loss", 1, 0.25), ("train_loss", 3, 0.1 + 0.2),
                                        ("validation_loss", 41, 7.0)]
