"""Feature sets in PostgreSQL: named per tenant, rows moved with COPY both ways.

Rows store their values as one float array in the order of the set's `columns`.
The built-in demo sets are ordinary feature sets whose rows are generated
(deterministically) the first time a tenant uses them.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.demo_data import DEMO_FEATURE_SETS, generate_demo_frame
from trainhub.errors import NotFound

log = logging.getLogger(__name__)

# Demo sets cover eleven whole years, enough for ten-year training windows and for
# rolling windows that end today.
DEMO_START = datetime(2016, 1, 1, tzinfo=timezone.utc)
DEMO_END = datetime(2027, 1, 1, tzinfo=timezone.utc)


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


def get_feature_set(session: Session, *, tenant_id: str, name: str) -> FeatureSet:
    row = session.execute(
        sa.select(t.feature_sets).where(t.feature_sets.c.tenant_id == tenant_id,
                                        t.feature_sets.c.name == name)
    ).first()
    if row is None:
        raise FeatureSetNotFound(name)
    m = row._mapping
    return FeatureSet(**{f: m[f] for f in FeatureSet.__dataclass_fields__})


def resolve_feature_set(session: Session, *, tenant_id: str, name: str) -> FeatureSet:
    """The tenant's feature set; a built-in demo set is materialised on first use."""
    if name in DEMO_FEATURE_SETS:
        ensure_demo_feature_set(session, tenant_id=tenant_id, name=name)
    return get_feature_set(session, tenant_id=tenant_id, name=name)


def ensure_demo_feature_set(session: Session, *, tenant_id: str, name: str) -> bool:
    """Create and fill a demo set for the tenant unless it exists; True when created.

    The unique (tenant_id, name) key decides who fills it: a concurrent caller's
    INSERT waits for this transaction and then does nothing, so rows are written once.
    """
    spec = DEMO_FEATURE_SETS[name]
    feature_set_id = session.execute(
        pg_insert(t.feature_sets)
        .values(tenant_id=tenant_id, name=name, columns=spec["columns"],
                target_column=spec["target"], frequency=spec["frequency"],
                definition={"description": spec["description"], "label": spec["label"]},
                builtin=True)
        .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        .returning(t.feature_sets.c.feature_set_id)
    ).scalar()
    if feature_set_id is None:
        return False
    frame = generate_demo_frame(name, DEMO_START, DEMO_END)
    copy_rows(session, feature_set_id=feature_set_id, columns=spec["columns"], frame=frame)
    log.info("generated demo feature set %s for tenant %s: %d rows", name, tenant_id, len(frame))
    return True


def copy_rows(session: Session, *, feature_set_id: int, columns: list[str], frame: pd.DataFrame,
              series_id: str = "") -> int:
    """Bulk-load rows (a `ts` column plus `columns`) with COPY; returns the row count.

    Missing values travel as NULL array elements so they stay visible as gaps.
    """
    values = frame[columns].to_numpy(dtype=np.float64)
    cells = np.where(np.isnan(values), "NULL", values.astype(str))
    arrays = ["{" + ",".join(row) + "}" for row in cells]
    ts = pd.to_datetime(frame["ts"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S+00")
    buffer = io.StringIO()
    pd.DataFrame({"id": feature_set_id, "series": series_id, "ts": ts, "vals": arrays}).to_csv(
        buffer, index=False, header=False)
    buffer.seek(0)
    with session.connection().connection.cursor() as cursor:
        cursor.copy_expert(
            "COPY feature_rows (feature_set_id, series_id, ts, vals) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (series_id))",
            buffer,
        )
    return len(frame)


def load_frame(session: Session, *, feature_set: FeatureSet, start: datetime, end: datetime,
               series_id: str = "") -> pd.DataFrame:
    """Rows with ts in [start, end), oldest first: a `ts` column plus one per set column.

    COPY … TO STDOUT streams the rows as CSV, which pandas parses in C: several
    times faster than fetching array rows through the driver.
    """
    selected = ", ".join(f"vals[{i}] AS c{i}" for i in range(1, len(feature_set.columns) + 1))
    query = session.connection().connection.cursor().mogrify(
        f"SELECT ts, {selected} FROM feature_rows "
        "WHERE feature_set_id = %s AND series_id = %s AND ts >= %s AND ts < %s ORDER BY ts",
        (feature_set.feature_set_id, series_id, start, end),
    ).decode()
    buffer = io.StringIO()
    with session.connection().connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
    buffer.seek(0)
    frame = pd.read_csv(buffer)
    frame.columns = ["ts", *feature_set.columns]
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame
