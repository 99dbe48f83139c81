"""Feature sets: a tenant's named time series, their definition and summary.

A set names its value columns once; each row stores its values as one float array in
that order (trainhub/feature_rows.py moves them with COPY). Files are loaded by
trainhub/ingest.py. The built-in demo sets are ordinary feature sets whose rows are
generated (deterministically) the first time a tenant uses them.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from trainhub import feature_rows
from trainhub import tables as t
from trainhub.demo_data import DEMO_FEATURE_SETS, generate_demo_frame
from trainhub.errors import InvalidInput, NotFound
from trainhub.feature_definition import frequency_step, resolve_definition

log = logging.getLogger(__name__)

# Demo sets cover eleven whole years, enough for ten-year training windows and for
# rolling windows that end today.
DEMO_START = datetime(2016, 1, 1, tzinfo=timezone.utc)
DEMO_END = datetime(2027, 1, 1, tzinfo=timezone.utc)
# Series listed in one set's details; the counts cover all of them.
SERIES_LISTED = 1000


class FeatureSetNotFound(NotFound):
    def __init__(self, name: str) -> None:
        demo = ", ".join(sorted(DEMO_FEATURE_SETS))
        super().__init__(f"Feature set {name} not found (built-in demo sets: {demo})")


@dataclass(frozen=True)
class FeatureSet:
    feature_set_id: int
    tenant_id: str
    name: str
    columns: list[str]
    target_column: str
    frequency: str
    definition: dict[str, Any]
    builtin: bool
    timestamp_column: str = "ts"
    series_column: str | None = None
    # Bumped by every load of rows: the version of the set's data.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class SeriesSummary:
    series_id: str
    rows: int
    first_ts: datetime
    last_ts: datetime
    missing_timestamps: int  # grid steps between first_ts and last_ts without a row
    gap_count: int  # runs of missing timestamps
    gaps: list[dict[str, Any]]  # the first few runs: from, to, missing
    missing_values: dict[str, int]  # per column, cells without a value


@dataclass(frozen=True)
class FeatureSetDetails:
    feature_set_id: int
    tenant_id: str
    name: str
    columns: list[str]
    target_column: str
    frequency: str
    timestamp_column: str
    series_column: str | None
    definition: dict[str, Any]
    builtin: bool
    created_at: datetime
    updated_at: datetime
    rows: int
    series_count: int
    first_ts: datetime | None
    last_ts: datetime | None
    missing_timestamps: int
    gap_count: int
    missing_values: dict[str, int]
    series: list[SeriesSummary] = field(default_factory=list)


@dataclass(frozen=True)
class FeatureSetPage:
    feature_sets: list[FeatureSetDetails]
    total: int
    page: int
    page_size: int


def get_feature_set(session: Session, *, tenant_id: str, name: str, lock: bool = False) -> FeatureSet:
    query = sa.select(t.feature_sets).where(t.feature_sets.c.tenant_id == tenant_id, t.feature_sets.c.name == name)
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise FeatureSetNotFound(name)
    return _feature_set(row._mapping)


def resolve_feature_set(session: Session, *, tenant_id: str, name: str) -> FeatureSet:
    """The tenant's feature set; a built-in demo set is materialised on first use."""
    try:
        return get_feature_set(session, tenant_id=tenant_id, name=name)
    except FeatureSetNotFound:
        if name not in DEMO_FEATURE_SETS:
            raise
    ensure_demo_feature_set(session, tenant_id=tenant_id, name=name)
    return get_feature_set(session, tenant_id=tenant_id, name=name)


def create_feature_set(session: Session, *, tenant_id: str, name: str, columns: list[str], target_column: str,
                       frequency: str, definition: dict[str, Any], timestamp_column: str = "ts",
                       series_column: str | None = None, builtin: bool = False) -> FeatureSet | None:
    """Insert a set; None if the tenant already has one of that name (the unique key decides)."""
    check_definition(definition, columns=columns, target_column=target_column, frequency=frequency)
    row = session.execute(
        pg_insert(t.feature_sets)
        .values(tenant_id=tenant_id, name=name, columns=columns, target_column=target_column,
                frequency=frequency, definition=definition, builtin=builtin,
                timestamp_column=timestamp_column, series_column=series_column)
        .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        .returning(*t.feature_sets.c)
    ).first()
    return None if row is None else _feature_set(row._mapping)


def check_definition(definition: dict[str, Any], *, columns: list[str], target_column: str, frequency: str) -> None:
    """A definition must make sense for the set's frequency and name only its columns."""
    try:
        spec = resolve_definition(definition, frequency=frequency)
    except ValueError as exc:
        raise InvalidInput({"definition": [str(exc)]}) from None
    named = [*(spec.exogenous or []), *([spec.label] if spec.label else [])]
    unknown = [column for column in named if column not in columns]
    if unknown:
        raise InvalidInput({"definition": [f"columns {unknown} are not in the set; its columns: {columns}"]})
    if target_column in (spec.exogenous or []) or target_column == spec.label:
        raise InvalidInput({"definition": [f"the target {target_column!r} cannot be an exogenous input or the label"]})


def update_definition(session: Session, *, tenant_id: str, name: str, definition: dict[str, Any]) -> FeatureSetDetails:
    """Replace a set's feature definition; jobs started afterwards engineer features by it."""
    feature_set = get_feature_set(session, tenant_id=tenant_id, name=name, lock=True)
    check_definition(definition, columns=feature_set.columns, target_column=feature_set.target_column,
                     frequency=feature_set.frequency)
    session.execute(sa.update(t.feature_sets)
                    .where(t.feature_sets.c.feature_set_id == feature_set.feature_set_id)
                    .values(definition=definition))
    return describe_feature_set(session, tenant_id=tenant_id, name=name)


def delete_feature_set(session: Session, *, tenant_id: str, name: str) -> None:
    """Delete a set with its rows. A demo set deleted is generated afresh on next use."""
    deleted = session.execute(
        sa.delete(t.feature_sets).where(t.feature_sets.c.tenant_id == tenant_id, t.feature_sets.c.name == name)
    ).rowcount
    if not deleted:
        raise FeatureSetNotFound(name)


def describe_feature_set(session: Session, *, tenant_id: str, name: str,
                         materialise_demo: bool = False) -> FeatureSetDetails:
    """A set with its summary: rows, series, time range, missing timestamps and values.

    With materialise_demo a built-in demo name the tenant has not used yet is generated
    first, as a job would, so it reads like any other set.
    """
    if materialise_demo and name in DEMO_FEATURE_SETS:
        ensure_demo_feature_set(session, tenant_id=tenant_id, name=name)
    row = session.execute(
        sa.select(t.feature_sets).where(t.feature_sets.c.tenant_id == tenant_id, t.feature_sets.c.name == name)
    ).first()
    if row is None:
        raise FeatureSetNotFound(name)
    return _details(session, [row._mapping], with_series=True)[0]


def list_feature_sets(session: Session, *, tenant_scope: str | None, tenant_id: str | None = None,
                      page: int = 1, page_size: int = 20) -> FeatureSetPage:
    """A tenant's sets by name (every tenant's for an admin scope, or the one asked for)."""
    where = []
    if tenant_scope is not None:
        where.append(t.feature_sets.c.tenant_id == tenant_scope)
    if tenant_id is not None:
        where.append(t.feature_sets.c.tenant_id == tenant_id)
    total = session.execute(sa.select(sa.func.count()).select_from(t.feature_sets).where(*where)).scalar_one()
    rows = session.execute(
        sa.select(t.feature_sets).where(*where)
        .order_by(t.feature_sets.c.tenant_id, t.feature_sets.c.name)
        .limit(page_size).offset((page - 1) * page_size)
    ).all()
    return FeatureSetPage(_details(session, [r._mapping for r in rows], with_series=False), total, page, page_size)


def series_ids(session: Session, *, feature_set_id: int) -> list[str]:
    return list(session.execute(
        sa.select(t.feature_set_series.c.series_id)
        .where(t.feature_set_series.c.feature_set_id == feature_set_id)
        .order_by(t.feature_set_series.c.series_id)
    ).scalars())


def choose_series(session: Session, *, feature_set: FeatureSet, series_id: str) -> str:
    """The series a job trains on: the one named, or the set's only series when none is.

    Raises ValueError (the job's readable failure) when the name does not pick one.
    """
    return pick_series(feature_set, series_ids(session, feature_set_id=feature_set.feature_set_id), series_id)


def pick_series(feature_set: FeatureSet, known: list[str], series_id: str) -> str:
    """choose_series over the set's series ids `known`, already read."""
    if series_id in known or (series_id == "" and not known):
        return series_id
    if series_id == "" and len(known) == 1:
        return known[0]
    listed = ", ".join(repr(s) for s in known[:20]) + (" …" if len(known) > 20 else "")
    if series_id == "":
        raise ValueError(f"feature set {feature_set.name} has {len(known)} series ({listed}); "
                         "choose one with config.series_id")
    raise ValueError(f"feature set {feature_set.name} has no series {series_id!r}; its series: {listed}")


def ensure_demo_feature_set(session: Session, *, tenant_id: str, name: str) -> bool:
    """Create and fill a demo set for the tenant unless it exists; True when created.

    The unique (tenant_id, name) key decides who fills it: a concurrent caller's
    INSERT waits for this transaction and then does nothing, so rows are written once.
    """
    spec = DEMO_FEATURE_SETS[name]
    created = create_feature_set(
        session, tenant_id=tenant_id, name=name, columns=spec["columns"], target_column=spec["target"],
        frequency=spec["frequency"], definition={"description": spec["description"], "label": spec["label"]},
        builtin=True,
    )
    if created is None:
        return False
    frame = generate_demo_frame(name, DEMO_START, DEMO_END)
    copy_rows(session, feature_set_id=created.feature_set_id, columns=spec["columns"], frame=frame)
    log.info("generated demo feature set %s for tenant %s: %d rows", name, tenant_id, len(frame))
    return True


def copy_rows(session: Session, *, feature_set_id: int, columns: list[str], frame: pd.DataFrame,
              series_id: str = "") -> int:
    """Bulk-load a frame (a `ts` column plus `columns`) into one series; returns the row count.

    Rows replace those of the same timestamps; the set's summary is brought up to date.
    """
    timestamps = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("ns")
    rows = feature_rows.Rows(
        series_codes=np.zeros(len(frame), dtype=np.int64), series_names=[series_id],
        ts_ns=timestamps.astype("int64").to_numpy(), values=frame[columns].to_numpy(dtype=np.float64),
    )
    frequency = session.execute(
        sa.select(t.feature_sets.c.frequency).where(t.feature_sets.c.feature_set_id == feature_set_id)
    ).scalar_one()
    store_rows(session, feature_set_id=feature_set_id, rows=rows, n_columns=len(columns), frequency=frequency)
    return len(frame)


def store_rows(session: Session, *, feature_set_id: int, rows: feature_rows.Rows, n_columns: int, frequency: str,
               progress: feature_rows.Progress | None = None,
               on_summarise: Callable[[], None] | None = None) -> feature_rows.WriteResult:
    """Write rows and refresh the summaries of the series they touch."""
    result = feature_rows.write_rows(session, feature_set_id=feature_set_id, rows=rows, progress=progress)
    if on_summarise is not None:
        on_summarise()
    touched = [rows.series_names[code] for code in np.unique(rows.series_codes)]
    feature_rows.refresh_summaries(session, feature_set_id=feature_set_id, series_ids=touched,
                                   n_columns=n_columns, step=frequency_step(frequency))
    # A load is a change of the set: its updated_at says when the data last changed.
    session.execute(sa.update(t.feature_sets).where(t.feature_sets.c.feature_set_id == feature_set_id)
                    .values(updated_at=sa.func.clock_timestamp()))
    return result


# Retraining loads the same windows again and again; each process keeps its last few
# frames, keyed by the set's data version (updated_at), so a new load of rows is never
# served stale. Loading was a seventh of a short job's CPU (measured).
_FRAME_CACHE: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
_FRAME_CACHE_ENTRIES = 8
_FRAME_CACHE_MAX_ROWS = 200_000


def _cache_key(feature_set: FeatureSet, series_id: str, start: datetime, end: datetime) -> tuple | None:
    if feature_set.updated_at is None:
        return None
    return (feature_set.feature_set_id, feature_set.updated_at, series_id, start, end)


def _cached_frame(*, feature_set: FeatureSet, start: datetime, end: datetime,
                 series_id: str = "") -> pd.DataFrame | None:
    """What load_frame would return, if this process has it; None otherwise."""
    key = _cache_key(feature_set, series_id, start, end)
    if key is None or key not in _FRAME_CACHE:
        return None
    _FRAME_CACHE.move_to_end(key)
    return _FRAME_CACHE[key].copy()


def load_frame(session: Session, *, feature_set: FeatureSet, start: datetime, end: datetime,
               series_id: str = "") -> pd.DataFrame:
    """Rows of one series with ts in [start, end), oldest first: `ts` plus one column per set column."""
    frame = _cached_frame(feature_set=feature_set, start=start, end=end, series_id=series_id)
    if frame is not None:
        return frame
    frame = feature_rows.load_frame(session, feature_set_id=feature_set.feature_set_id,
                                    columns=feature_set.columns, start=start, end=end, series_id=series_id)
    key = _cache_key(feature_set, series_id, start, end)
    if key is not None and len(frame) <= _FRAME_CACHE_MAX_ROWS:
        _FRAME_CACHE[key] = frame.copy()
        while len(_FRAME_CACHE) > _FRAME_CACHE_ENTRIES:
            _FRAME_CACHE.popitem(last=False)
    return frame


@dataclass(frozen=True)
class TrainingSource:
    """Where a job's rows come from and how their features are engineered: the same
    for a job's run and for its HPO helpers, so trials and the final model see
    identical data."""

    feature_set: FeatureSet
    series_id: str
    definition: dict[str, Any]  # the set's definition with defaults filled in

    def lineage(self) -> dict[str, Any]:
        return {"feature_set": self.feature_set.name, "feature_set_id": self.feature_set.feature_set_id,
                "series_id": self.series_id, "frequency": self.feature_set.frequency,
                "feature_definition": self.definition}

    def check_rows(self, frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
        """The frame, or ValueError (the job's readable failure) when the window is empty."""
        if frame.empty:
            series = f" for series {self.series_id!r}" if self.series_id else ""
            raise ValueError(f"feature set {self.feature_set.name} has no rows{series} in "
                             f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})")
        return frame


def resolve_training_source(session: Session, *, tenant_id: str, name: str, series_id: str) -> TrainingSource:
    """The feature set and series a job names (a built-in demo set is materialised on
    first use); ValueError when the series is ambiguous or unknown."""
    found = _feature_set_and_series(session, tenant_id=tenant_id, name=name)
    if found is None:
        if name not in DEMO_FEATURE_SETS:
            raise FeatureSetNotFound(name)
        ensure_demo_feature_set(session, tenant_id=tenant_id, name=name)
        found = _feature_set_and_series(session, tenant_id=tenant_id, name=name)
    feature_set, known = found
    series = pick_series(feature_set, known, series_id)
    definition = resolve_definition(feature_set.definition, frequency=feature_set.frequency).to_json()
    return TrainingSource(feature_set=feature_set, series_id=series, definition=definition)


def _feature_set_and_series(session: Session, *, tenant_id: str, name: str) -> tuple[FeatureSet, list[str]] | None:
    """The set and its series ids in one query: every job reads them."""
    row = session.execute(_SET_AND_SERIES, {"tenant_id": tenant_id, "name": name}).first()
    if row is None:
        return None
    return _feature_set(row._mapping), list(row.series_ids or [])


def _set_and_series_query() -> sa.Select:
    fs, s = t.feature_sets, t.feature_set_series
    series = (sa.select(sa.func.array_agg(aggregate_order_by(s.c.series_id, s.c.series_id)))
              .where(s.c.feature_set_id == fs.c.feature_set_id).scalar_subquery())
    return (sa.select(fs, series.label("series_ids"))
            .where(fs.c.tenant_id == sa.bindparam("tenant_id"), fs.c.name == sa.bindparam("name")))


# Built once with bind parameters (see trainhub.jobs.lifecycle).
_SET_AND_SERIES = _set_and_series_query()


def load_training_rows(session: Session, source: TrainingSource, *, start: datetime, end: datetime) -> pd.DataFrame:
    """The source's rows over [start, end); ValueError when there are none."""
    frame = load_frame(session, feature_set=source.feature_set, start=start, end=end, series_id=source.series_id)
    return source.check_rows(frame, start, end)


def _feature_set(m) -> FeatureSet:
    return FeatureSet(**{f: m[f] for f in FeatureSet.__dataclass_fields__})


def _details(session: Session, sets: list, *, with_series: bool) -> list[FeatureSetDetails]:
    ids = [m["feature_set_id"] for m in sets]
    summaries: dict[int, list] = {i: [] for i in ids}
    if ids:
        for row in session.execute(
            sa.select(t.feature_set_series).where(t.feature_set_series.c.feature_set_id.in_(ids))
            .order_by(t.feature_set_series.c.feature_set_id, t.feature_set_series.c.series_id)
        ):
            summaries[row.feature_set_id].append(row)
    out = []
    for m in sets:
        rows = summaries[m["feature_set_id"]]
        columns = list(m["columns"])
        missing_values = dict.fromkeys(columns, 0)
        for row in rows:
            for column, count in zip(columns, row.missing_values, strict=False):
                missing_values[column] += count
        series = [
            SeriesSummary(
                series_id=row.series_id, rows=row.row_count, first_ts=row.first_ts, last_ts=row.last_ts,
                missing_timestamps=row.missing_timestamps, gap_count=row.gap_count, gaps=list(row.gaps),
                missing_values=dict(zip(columns, row.missing_values, strict=False)),
            )
            for row in rows[:SERIES_LISTED]
        ] if with_series else []
        out.append(FeatureSetDetails(
            feature_set_id=m["feature_set_id"], tenant_id=m["tenant_id"], name=m["name"], columns=columns,
            target_column=m["target_column"], frequency=m["frequency"], timestamp_column=m["timestamp_column"],
            series_column=m["series_column"], definition=m["definition"], builtin=m["builtin"],
            created_at=m["created_at"], updated_at=m["updated_at"],
            rows=sum(row.row_count for row in rows), series_count=len(rows),
            first_ts=min((row.first_ts for row in rows), default=None),
            last_ts=max((row.last_ts for row in rows), default=None),
            missing_timestamps=sum(row.missing_timestamps for row in rows),
            gap_count=sum(row.gap_count for row in rows),
            missing_values=missing_values, series=series,
        ))
    return out
