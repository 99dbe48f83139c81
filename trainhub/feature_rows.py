"""A feature set's rows in PostgreSQL, moved with COPY both ways, and their summaries.

Rows are written with binary COPY built by numpy in one pass per series: no Python
loop per row and no text parsing in the server. That takes a million rows in a few
seconds where INSERTs, or even text COPY with an upsert, took tens (bench/ingest.py).
A missing value is stored as NaN inside the row's float array (binary arrays are
fixed-width that way); readers and summaries treat NaN and NULL alike as missing.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from trainhub.pg_binary import COPY_HEADER, COPY_TRAILER, FLOAT8_OID, PG_EPOCH_US

# Gap runs listed per series in its summary; the count covers all of them.
GAPS_LISTED = 10

Progress = Callable[[int], None]  # called with bytes sent to PostgreSQL so far


@dataclass(frozen=True)
class Rows:
    """Validated rows, grouped by nothing in particular: parallel arrays of one length."""

    series_codes: np.ndarray  # int, index into series_names
    series_names: list[str]
    ts_ns: np.ndarray  # int64 nanoseconds since the Unix epoch, UTC
    values: np.ndarray  # float64 (rows x columns), NaN where missing

    def __len__(self) -> int:
        return len(self.ts_ns)


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    replaced: int


def write_rows(session: Session, *, feature_set_id: int, rows: Rows, progress: Progress | None = None) -> WriteResult:
    """Store rows; a row whose (series, ts) exists replaces it. Same transaction as the caller.

    The caller holds the set's load lock, so nothing else writes the set meanwhile.
    Existing rows are looked for only in each series' [first, last] range of the new
    rows; where there are some, their keys are COPYed to a temporary table and the
    matching rows deleted first. Then every row is COPYed straight into feature_rows.
    """
    cursor = session.connection().connection.cursor()
    replaced = 0
    overlapping = _series_with_rows_in_range(cursor, feature_set_id, rows)
    if overlapping:
        mask = np.isin(rows.series_codes, [rows.series_names.index(name) for name in overlapping])
        keys = _encode(rows, mask, feature_set_id=None)
        cursor.execute("CREATE TEMPORARY TABLE feature_load_keys (series_id text, ts timestamptz) ON COMMIT DROP")
        cursor.copy_expert("COPY feature_load_keys FROM STDIN WITH (FORMAT binary)", io.BytesIO(keys))
        cursor.execute(
            "DELETE FROM feature_rows f USING feature_load_keys k "
            "WHERE f.feature_set_id = %s AND f.series_id = k.series_id AND f.ts = k.ts",
            (feature_set_id,),
        )
        replaced = cursor.rowcount
        cursor.execute("DROP TABLE feature_load_keys")
    data = _encode(rows, None, feature_set_id=feature_set_id)
    cursor.copy_expert(
        "COPY feature_rows (feature_set_id, series_id, ts, vals) FROM STDIN WITH (FORMAT binary)",
        _CountingReader(data, progress), size=1 << 20,
    )
    return WriteResult(inserted=len(rows) - replaced, replaced=replaced)


def refresh_summaries(session: Session, *, feature_set_id: int, series_ids: Sequence[str], n_columns: int,
                      step: pd.Timedelta) -> None:
    """Recount rows, range, missing timestamps and missing values of the named series."""
    cursor = session.connection().connection.cursor()
    missing_cells = ", ".join(
        f"count(*) FILTER (WHERE vals[{i}] IS NULL OR vals[{i}] = 'NaN')" for i in range(1, n_columns + 1)
    )
    step_us = int(step / pd.Timedelta(microseconds=1))
    # On the grid (ingest checks it), the timestamps missing between first and last are
    # the span in steps plus one, less the rows there are.
    cursor.execute(
        f"""
        INSERT INTO feature_set_series AS s (feature_set_id, series_id, row_count, first_ts, last_ts,
                                             missing_timestamps, missing_values)
        SELECT %(fs)s, series_id, count(*), min(ts), max(ts),
               (extract(epoch FROM max(ts) - min(ts)) * 1000000)::bigint / %(step)s + 1 - count(*),
               ARRAY[{missing_cells}]::bigint[]
        FROM feature_rows WHERE feature_set_id = %(fs)s AND series_id = ANY(%(series)s)
        GROUP BY series_id
        ON CONFLICT (feature_set_id, series_id) DO UPDATE SET
            row_count = EXCLUDED.row_count, first_ts = EXCLUDED.first_ts, last_ts = EXCLUDED.last_ts,
            missing_timestamps = EXCLUDED.missing_timestamps, missing_values = EXCLUDED.missing_values,
            gap_count = 0, gaps = '[]'::jsonb, updated_at = clock_timestamp()
        RETURNING series_id, missing_timestamps
        """,
        {"fs": feature_set_id, "series": list(series_ids), "step": step_us},
    )
    with_gaps = [series_id for series_id, missing in cursor.fetchall() if missing > 0]
    if with_gaps:
        _list_gaps(cursor, feature_set_id, with_gaps, step)


def _list_gaps(cursor, feature_set_id: int, series_ids: list[str], step: pd.Timedelta) -> None:
    """Count the runs of missing timestamps and list the first few, for series that have any."""
    cursor.execute(
        """
        WITH runs AS (
            SELECT series_id, ts + %(step)s AS gap_from, next_ts - %(step)s AS gap_to,
                   row_number() OVER (PARTITION BY series_id ORDER BY ts) AS n
            FROM (SELECT series_id, ts, lead(ts) OVER (PARTITION BY series_id ORDER BY ts) AS next_ts
                  FROM feature_rows WHERE feature_set_id = %(fs)s AND series_id = ANY(%(series)s)) r
            WHERE next_ts - ts > %(step)s
        )
        UPDATE feature_set_series s SET
            gap_count = g.runs,
            gaps = g.listed
        FROM (
            SELECT series_id, count(*) AS runs,
                   jsonb_agg(jsonb_build_object(
                       'from', to_char(gap_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'to', to_char(gap_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'missing', (extract(epoch FROM gap_to - gap_from) / extract(epoch FROM %(step)s))::bigint + 1)
                       ORDER BY gap_from) FILTER (WHERE n <= %(listed)s) AS listed
            FROM runs GROUP BY series_id
        ) g
        WHERE s.feature_set_id = %(fs)s AND s.series_id = g.series_id
        """,
        {"fs": feature_set_id, "series": series_ids, "step": step.to_pytimedelta(), "listed": GAPS_LISTED},
    )


def load_frame(session: Session, *, feature_set_id: int, columns: list[str], start: datetime, end: datetime,
               series_id: str = "") -> pd.DataFrame:
    """Rows with ts in [start, end), oldest first: a `ts` column plus one per set column.

    COPY … TO STDOUT streams the rows as CSV, which pandas parses in C: several
    times faster than fetching array rows through the driver.
    """
    selected = ", ".join(f"vals[{i}] AS c{i}" for i in range(1, len(columns) + 1))
    query = session.connection().connection.cursor().mogrify(
        f"SELECT ts, {selected} FROM feature_rows "
        "WHERE feature_set_id = %s AND series_id = %s AND ts >= %s AND ts < %s ORDER BY ts",
        (feature_set_id, series_id, start, end),
    ).decode()
    buffer = io.StringIO()
    with session.connection().connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
    buffer.seek(0)
    frame = pd.read_csv(buffer)
    frame.columns = ["ts", *columns]
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def _series_with_rows_in_range(cursor, feature_set_id: int, rows: Rows) -> list[str]:
    frame = pd.DataFrame({"code": rows.series_codes, "ts": rows.ts_ns})
    ranges = frame.groupby("code")["ts"].agg(["min", "max"])
    names = [rows.series_names[code] for code in ranges.index]
    cursor.execute(
        """
        SELECT r.series_id FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS r(series_id, lo, hi)
        WHERE EXISTS (SELECT 1 FROM feature_rows f WHERE f.feature_set_id = %s
                      AND f.series_id = r.series_id AND f.ts BETWEEN r.lo AND r.hi)
        """,
        (names, _datetimes(ranges["min"]), _datetimes(ranges["max"]), feature_set_id),
    )
    return [series_id for (series_id,) in cursor.fetchall()]


def _datetimes(ns: pd.Series) -> list[datetime]:
    return list(pd.to_datetime(ns.to_numpy(), utc=True).to_pydatetime())


def _encode(rows: Rows, mask: np.ndarray | None, *, feature_set_id: int | None) -> bytes:
    """Binary COPY data: (feature_set_id, series_id, ts, vals) rows, or (series_id, ts)
    keys when feature_set_id is None; `mask` picks rows (None: all).

    Within one series every row has the same width, so each series is one numpy
    structured array whose bytes are the rows exactly as PostgreSQL reads them.
    """
    codes = rows.series_codes if mask is None else rows.series_codes[mask]
    positions = np.arange(len(rows)) if mask is None else np.flatnonzero(mask)
    # Series by series, oldest first: the primary key index then grows at its end.
    order = np.lexsort((rows.ts_ns[positions], codes))
    codes, positions = codes[order], positions[order]
    cuts = np.flatnonzero(np.diff(codes)) + 1
    n_columns = rows.values.shape[1]
    parts = [COPY_HEADER]
    for chunk in np.split(np.arange(len(codes)), cuts):
        if not len(chunk):
            continue
        name = rows.series_names[codes[chunk[0]]].encode()
        picked = positions[chunk]
        fields: list[tuple[str, str]] = [("n_fields", ">i2")]
        if feature_set_id is not None:
            fields += [("fs_len", ">i4"), ("fs", ">i8")]
        fields += [("sid_len", ">i4")] + ([("sid", f"S{len(name)}")] if name else [])
        fields += [("ts_len", ">i4"), ("ts", ">i8")]
        if feature_set_id is not None:
            fields += [("arr_len", ">i4"), ("ndim", ">i4"), ("has_null", ">i4"), ("oid", ">i4"),
                       ("dim", ">i4"), ("lower", ">i4")]
            for i in range(n_columns):
                fields += [(f"len{i}", ">i4"), (f"v{i}", ">f8")]
        out = np.zeros(len(picked), dtype=np.dtype(fields))
        out["n_fields"] = 4 if feature_set_id is not None else 2
        out["sid_len"] = len(name)
        if name:
            out["sid"] = name
        out["ts_len"] = 8
        out["ts"] = rows.ts_ns[picked] // 1000 - PG_EPOCH_US
        if feature_set_id is not None:
            out["fs_len"], out["fs"] = 8, feature_set_id
            out["arr_len"] = 20 + 12 * n_columns
            out["ndim"], out["oid"], out["dim"], out["lower"] = 1, FLOAT8_OID, n_columns, 1
            for i in range(n_columns):
                out[f"len{i}"] = 8
                out[f"v{i}"] = rows.values[picked, i]
        parts.append(out.tobytes())
    parts.append(COPY_TRAILER)
    return b"".join(parts)


class _CountingReader(io.RawIOBase):
    """Hands `data` to COPY in chunks and reports how much has gone."""

    def __init__(self, data: bytes, progress: Progress | None) -> None:
        self._view = memoryview(data)
        self._sent = 0
        self._progress = progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._sent + size)
        chunk = self._view[self._sent:end].tobytes()
        self._sent = end
        if self._progress is not None:
            self._progress(self._sent)
        return chunk
