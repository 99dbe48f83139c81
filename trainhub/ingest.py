"""Load a CSV or Parquet file into a tenant's feature set: parse, validate, COPY.

Nothing is written unless the whole file is valid. Every problem found is reported
at once, in one InvalidInput whose keys name the columns concerned and whose messages
name the first rows (numbered from 1, the header not counted). Gaps and missing
values are not errors: they are stored as they are and shown in the set's summary.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub import features
from trainhub.errors import Conflict, InvalidInput
from trainhub.feature_rows import Rows
from trainhub.feature_definition import frequency_step

FORMATS = ("csv", "parquet")
# Tried in this order when the request does not name the timestamp column.
TIMESTAMP_NAMES = ("ts", "timestamp", "time", "datetime", "date")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MAX_SERIES_ID_LENGTH = 128
ROWS_NAMED = 5

# Overall progress (0..1) at the start of each stage; COPY reports bytes within its share.
_STAGES = {"read": 0.0, "validate": 0.15, "write": 0.25, "summarise": 0.9}
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class LoadReport:
    created: bool
    rows_received: int
    rows_inserted: int
    rows_replaced: int
    series_loaded: list[str]
    seconds: float
    feature_set: features.FeatureSetDetails


@dataclass(frozen=True)
class _Layout:
    timestamp_column: str
    series_column: str | None
    columns: list[str]  # value columns, in the set's order
    target_column: str


def load_file(
    session: Session,
    *,
    tenant_id: str,
    name: str,
    path: Path | str,
    file_format: str | None = None,
    target_column: str | None = None,
    timestamp_column: str | None = None,
    series_column: str | None = None,
    frequency: str | None = None,
    definition: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Append a file's rows to the tenant's set `name`, creating the set on first load.

    A row whose (series, timestamp) the set already has replaces it. The first load
    fixes the set's columns, target, timestamp and series columns and frequency
    (inferred from the timestamps unless given); later files must have exactly those
    columns. Runs in the caller's transaction and flushes; the caller commits.
    """
    started = time.perf_counter()
    report = progress or (lambda stage, fraction: None)
    if not NAME_PATTERN.match(name):
        raise InvalidInput({"name": ["Use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit."]})
    if frequency is not None:
        try:
            frequency_step(frequency)
        except ValueError as exc:
            raise InvalidInput({"frequency": [str(exc)]}) from None
    report("read", _STAGES["read"])
    table, is_csv = read_table(Path(path), file_format)

    report("validate", _STAGES["validate"])
    # One load of a set at a time, whoever creates it: the lock is the set's name.
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"{tenant_id}/{name}", 0))))
    existing = _existing(session, tenant_id, name)
    layout = _layout(table.column_names, existing, target_column=target_column,
                     timestamp_column=timestamp_column, series_column=series_column)
    if existing is not None and frequency is not None \
            and frequency_step(frequency) != frequency_step(existing.frequency):
        raise InvalidInput({"frequency": [f"the set's frequency is {existing.frequency!r}; a load cannot change it"]})
    anchor = _first_timestamp(session, existing)
    rows, frequency = _validate(table, layout, frequency=existing.frequency if existing else frequency,
                                anchor=anchor, is_csv=is_csv)

    if existing is None:
        feature_set = features.create_feature_set(
            session, tenant_id=tenant_id, name=name, columns=layout.columns, target_column=layout.target_column,
            frequency=frequency, definition=definition or {}, timestamp_column=layout.timestamp_column,
            series_column=layout.series_column,
        )
        if feature_set is None:
            # Only a demo set generated at this moment by a job can take the name meanwhile.
            raise Conflict(f"Feature set {name} was created concurrently; load the file again to append")
    else:
        feature_set = existing
        if definition is not None and definition != existing.definition:
            features.update_definition(session, tenant_id=tenant_id, name=name, definition=definition)

    report("write", _STAGES["write"])
    total_bytes = max(1, _encoded_size(rows))
    share = _STAGES["summarise"] - _STAGES["write"]
    written = features.store_rows(
        session, feature_set_id=feature_set.feature_set_id, rows=rows, n_columns=len(layout.columns),
        frequency=frequency,
        progress=lambda sent: report("write", _STAGES["write"] + share * min(1.0, sent / total_bytes)),
        on_summarise=lambda: report("summarise", _STAGES["summarise"]),
    )
    details = features.describe_feature_set(session, tenant_id=tenant_id, name=name)
    report("done", 1.0)
    return LoadReport(
        created=existing is None, rows_received=len(rows), rows_inserted=written.inserted,
        rows_replaced=written.replaced, series_loaded=sorted(rows.series_names),
        seconds=time.perf_counter() - started, feature_set=details,
    )


def read_table(path: Path, file_format: str | None = None) -> tuple[pa.Table, bool]:
    """The file as an Arrow table, and whether it was CSV. The format is sniffed unless given:
    Parquet files begin with the bytes PAR1."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if file_format is None:
        with open(path, "rb") as file:
            file_format = "parquet" if file.read(4) == b"PAR1" else "csv"
    if file_format not in FORMATS:
        raise InvalidInput({"format": [f"Must be one of {list(FORMATS)}."]})
    try:
        if file_format == "parquet":
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput({"file": [f"not a readable {file_format.upper()} file: {exc}"]}) from None
    names = table.column_names
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        raise InvalidInput({"columns": [f"column names {repeated} appear more than once in the header"]})
    if table.num_rows == 0:
        raise InvalidInput({"file": ["the file has no data rows"]})
    return table, file_format == "csv"


def _existing(session: Session, tenant_id: str, name: str) -> features.FeatureSet | None:
    try:
        return features.get_feature_set(session, tenant_id=tenant_id, name=name, lock=True)
    except features.FeatureSetNotFound:
        return None


def _first_timestamp(session: Session, existing: features.FeatureSet | None) -> pd.Timestamp | None:
    if existing is None:
        return None
    from trainhub import tables as t

    first = session.execute(sa.select(sa.func.min(t.feature_set_series.c.first_ts))
                            .where(t.feature_set_series.c.feature_set_id == existing.feature_set_id)).scalar()
    return None if first is None else pd.Timestamp(first).tz_convert("UTC")


def _layout(names: list[str], existing: features.FeatureSet | None, *, target_column: str | None,
            timestamp_column: str | None, series_column: str | None) -> _Layout:
    errors: dict[str, list[str]] = {}
    if existing is not None:
        for option, given, fixed in (("timestamp_column", timestamp_column, existing.timestamp_column),
                                     ("series_column", series_column, existing.series_column),
                                     ("target_column", target_column, existing.target_column)):
            if given is not None and given != fixed:
                errors[option] = [f"the set's {option} is {fixed!r}; a load cannot change it"]
        timestamp_column, series_column = existing.timestamp_column, existing.series_column
        target_column = existing.target_column
    elif timestamp_column is None:
        lowered = {column.lower(): column for column in names}
        timestamp_column = next((lowered[c] for c in TIMESTAMP_NAMES if c in lowered), None)
        if timestamp_column is None:
            errors["timestamp_column"] = [f"no column is called one of {list(TIMESTAMP_NAMES)}; "
                                          f"name the timestamp column (columns: {names})"]
    for option, column in (("timestamp_column", timestamp_column), ("series_column", series_column)):
        if column is not None and column not in names and option not in errors:
            errors[option] = [f"column {column!r} is not in the file (columns: {names})"]
    if errors:
        raise InvalidInput(errors)

    values = [column for column in names if column not in (timestamp_column, series_column)]
    if existing is not None:
        unknown = [column for column in values if column not in existing.columns]
        missing = [column for column in existing.columns if column not in values]
        if unknown:
            errors["columns"] = [f"unknown columns {unknown}: the set {existing.name!r} has {existing.columns}"]
        if missing:
            errors.setdefault("columns", []).append(f"columns {missing} of the set are missing from the file")
        values = existing.columns
    elif not values:
        errors["columns"] = [f"the file has no value columns besides {timestamp_column!r}"]
    elif target_column is None:
        if len(values) == 1:
            target_column = values[0]
        else:
            errors["target_column"] = [f"name the target column, one of {values}"]
    elif target_column not in values:
        errors["target_column"] = [f"column {target_column!r} is not a value column of the file ({values})"]
    if errors:
        raise InvalidInput(errors)
    return _Layout(timestamp_column=timestamp_column, series_column=series_column, columns=values,
                   target_column=target_column)


def _validate(table: pa.Table, layout: _Layout, *, frequency: str | None, anchor: pd.Timestamp | None,
              is_csv: bool) -> tuple[Rows, str]:
    errors: dict[str, list[str]] = {}
    ts = _timestamps(table.column(layout.timestamp_column), layout.timestamp_column, errors)
    if layout.series_column is None:
        codes, names = np.zeros(table.num_rows, dtype=np.int64), [""]
    else:
        codes, names = _series(table.column(layout.series_column), layout.series_column, errors)
    values = np.empty((table.num_rows, len(layout.columns)), dtype=np.float64)
    for i, column in enumerate(layout.columns):
        values[:, i] = _numbers(table.column(column), column, errors)

    parsed = layout.timestamp_column not in errors
    if parsed and layout.series_column not in errors:
        _duplicates(codes, names, ts, layout.timestamp_column, errors)
    if parsed:
        if frequency is None:
            frequency = _infer_frequency(codes, ts, errors)
        else:
            try:
                frequency_step(frequency)
            except ValueError as exc:
                errors["frequency"] = [str(exc)]
        if "frequency" not in errors:
            _on_grid(ts, frequency, anchor, layout.timestamp_column, errors)
    if errors:
        if is_csv:
            errors.setdefault("file", []).append("rows are numbered from 1, the header line not counted")
        raise InvalidInput(errors)
    return Rows(series_codes=codes, series_names=names, ts_ns=_ns(ts), values=values), frequency


def _timestamps(column: pa.ChunkedArray, name: str, errors: dict[str, list[str]]) -> pd.Series:
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        raw = column.to_pandas()
        parsed = pd.to_datetime(raw, utc=kind.tz is None if pa.types.is_timestamp(kind) else True)
        parsed = parsed.dt.tz_localize("UTC") if parsed.dt.tz is None else parsed.dt.tz_convert("UTC")
        bad = parsed.isna().to_numpy()
        shown = ["no timestamp"] * int(bad.sum())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        raw = pd.Series(column.to_pandas(), dtype=object)
        parsed = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
        bad = parsed.isna().to_numpy()
        shown = [repr(value) if isinstance(value, str) else "no timestamp" for value in raw[bad][:ROWS_NAMED]]
    else:
        errors[name] = [f"holds {kind} values, not timestamps: use ISO 8601 text such as 2024-01-31T13:00:00Z"]
        return pd.Series(pd.NaT, index=range(len(column)), dtype="datetime64[ns, UTC]")
    if bad.any():
        rows = np.flatnonzero(bad)
        listed = ", ".join(f"row {row + 1} ({what})" for row, what in zip(rows[:ROWS_NAMED], shown, strict=False))
        errors[name] = [f"{len(rows)} unparseable or missing timestamps: {listed}{_more(len(rows))}; "
                        "use ISO 8601 such as 2024-01-31T13:00:00Z (no offset means UTC)"]
    return parsed.dt.as_unit("ns")


def _series(column: pa.ChunkedArray, name: str, errors: dict[str, list[str]]) -> tuple[np.ndarray, list[str]]:
    # Arrow's dictionary encoding factorises a million strings in milliseconds.
    text = pc.cast(column, pa.string()).combine_chunks()
    bad = pc.or_kleene(pc.is_null(text), pc.greater(pc.utf8_length(text), MAX_SERIES_ID_LENGTH))
    bad = pc.fill_null(bad, True).to_numpy(zero_copy_only=False)
    if bad.any():
        rows = np.flatnonzero(bad)
        errors[name] = [f"{len(rows)} rows without a series id of 1-{MAX_SERIES_ID_LENGTH} characters: "
                        + ", ".join(f"row {row + 1}" for row in rows[:ROWS_NAMED]) + _more(len(rows))]
        text = pc.fill_null(text, "")
    encoded = text.dictionary_encode()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


def _numbers(column: pa.ChunkedArray, name: str, errors: dict[str, list[str]]) -> np.ndarray:
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) \
            or pa.types.is_boolean(kind) or pa.types.is_null(kind):
        numbers = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        raw = None
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        raw = pd.Series(column.to_pandas(), dtype=object)
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    else:
        errors[name] = [f"holds {kind} values, not numbers"]
        return np.full(len(column), np.nan)
    bad = np.isinf(numbers)
    if raw is not None:
        bad |= np.isnan(numbers) & raw.notna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = [repr(raw.iloc[row]) if raw is not None else repr(float(numbers[row])) for row in rows[:ROWS_NAMED]]
        listed = ", ".join(f"row {row + 1} ({value})" for row, value in zip(rows, shown, strict=False))
        errors[name] = [f"{len(rows)} values are not finite numbers: {listed}{_more(len(rows))}"]
    return numbers


def _duplicates(codes: np.ndarray, names: list[str], ts: pd.Series, column: str,
                errors: dict[str, list[str]]) -> None:
    keys = pd.DataFrame({"series": codes, "ts": _ns(ts)})
    repeated = keys.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return
    first_of = keys.reset_index().groupby(["series", "ts"])["index"].transform("min").to_numpy()
    rows = np.flatnonzero(repeated)
    listed = ", ".join(
        f"row {row + 1} repeats row {first_of[row] + 1} ({_iso(ts.iloc[row])}"
        + (f", series {names[codes[row]]!r})" if names != [""] else ")")
        for row in rows[:ROWS_NAMED]
    )
    errors.setdefault(column, []).append(f"{len(rows)} duplicate timestamps: {listed}{_more(len(rows))}")


def _infer_frequency(codes: np.ndarray, ts: pd.Series, errors: dict[str, list[str]]) -> str | None:
    """The most common step between consecutive timestamps of a series."""
    keys = pd.DataFrame({"series": codes, "ts": _ns(ts)}).sort_values(["series", "ts"])
    same = keys["series"].to_numpy()[1:] == keys["series"].to_numpy()[:-1]
    steps = np.diff(keys["ts"].to_numpy())[same]
    steps = steps[steps > 0]
    if not len(steps):
        errors["frequency"] = ["cannot infer the frequency from fewer than two timestamps per series; give it"]
        return None
    values, counts = np.unique(steps, return_counts=True)
    return _alias(pd.Timedelta(int(values[np.argmax(counts)]), unit="ns"))


def _alias(step: pd.Timedelta) -> str:
    """The pandas alias of a step in the largest whole unit: D, 6h, 30min, 10s."""
    for unit, alias in ((pd.Timedelta(days=1), "D"), (pd.Timedelta(hours=1), "h"),
                        (pd.Timedelta(minutes=1), "min"), (pd.Timedelta(seconds=1), "s")):
        if step % unit == pd.Timedelta(0):
            count = step // unit
            return alias if count == 1 else f"{count}{alias}"
    return f"{step.value}ns"


def _on_grid(ts: pd.Series, frequency: str, anchor: pd.Timestamp | None, column: str,
             errors: dict[str, list[str]]) -> None:
    step = frequency_step(frequency).value
    base = (anchor if anchor is not None else ts.min()).value
    off = (_ns(ts) - base) % step != 0
    if off.any():
        rows = np.flatnonzero(off)
        listed = ", ".join(f"row {row + 1} ({_iso(ts.iloc[row])})" for row in rows[:ROWS_NAMED])
        errors.setdefault(column, []).append(
            f"{len(rows)} timestamps are off the set's {frequency} grid: {listed}{_more(len(rows))}")


def _ns(ts: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds since the Unix epoch."""
    return ts.dt.as_unit("ns").astype("int64").to_numpy()


def _encoded_size(rows: Rows) -> int:
    # What feature_rows._encode produces: per row a fixed part plus 12 bytes per value.
    return len(rows) * (2 + 12 + 4 + 12 + 24 + 12 * rows.values.shape[1]) + sum(map(len, rows.series_names))


def _iso(timestamp: pd.Timestamp) -> str:
    return timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _more(count: int) -> str:
    return f" and {count - ROWS_NAMED} more" if count > ROWS_NAMED else ""
