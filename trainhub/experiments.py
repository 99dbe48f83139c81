"""Experiment tracking: one experiment per job run, its params, metric series and
final metrics."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub import tables as t

now = sa.func.clock_timestamp


def start_experiment(session: Session, *, tenant_id: str, job_id: UUID, model_type: str,
                     model_name: str, name: str, params: Mapping[str, Any],
                     lineage: Mapping[str, Any]) -> UUID:
    experiment_id = session.execute(
        sa.insert(t.experiments).values(
            tenant_id=tenant_id, job_id=job_id, name=name, model_type=model_type,
            model_name=model_name, lineage=dict(lineage),
        ).returning(t.experiments.c.experiment_id)
    ).scalar_one()
    record_params(session, experiment_id=experiment_id, params=params)
    return experiment_id


def record_params(session: Session, *, experiment_id: UUID, params: Mapping[str, Any]) -> None:
    rows = [{"experiment_id": experiment_id, "param_name": name, **_typed(value)}
            for name, value in params.items()]
    if rows:
        stmt = sa.dialects.postgresql.insert(t.experiment_params).values(rows)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["experiment_id", "param_name"],
            set_={"param_value": stmt.excluded.param_value, "param_type": stmt.excluded.param_type},
        ))


def _typed(value: Any) -> dict[str, str]:
    # bool before int: True is an int in Python.
    if isinstance(value, bool):
        return {"param_value": "true" if value else "false", "param_type": "bool"}
    if isinstance(value, int):
        return {"param_value": str(value), "param_type": "int"}
    if isinstance(value, float):
        return {"param_value": repr(value), "param_type": "float"}
    if isinstance(value, str):
        return {"param_value": value, "param_type": "str"}
    return {"param_value": json.dumps(value, default=str), "param_type": "json"}


def record_metric_series(session: Session, *, experiment_id: UUID,
                         series: Iterable[tuple[str, list[float], int]]) -> int:
    """Write whole per-iteration series in one multi-row INSERT; NaN/inf are skipped
    (a diverged round is not a point on a curve). Returns rows written."""
    rows = [
        {"experiment_id": experiment_id, "metric_name": name, "value": float(v), "step": start + i}
        for name, values, start in series
        for i, v in enumerate(values) if math.isfinite(v)
    ]
    if rows:
        session.execute(sa.insert(t.experiment_metrics), rows)
    return len(rows)


def record_final_metrics(session: Session, *, experiment_id: UUID, metrics: Mapping[str, Any]) -> None:
    """Scalar final metrics as step-0 metric rows, so the SQL functions see them too."""
    record_metric_series(session, experiment_id=experiment_id, series=[
        (name, [value], 0) for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ])


def finish_experiment(session: Session, *, experiment_id: UUID, status: str,
                      metrics: Mapping[str, Any] | None = None, model_id: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "completed_at": now()}
    if metrics is not None:
        values["metrics"] = dict(metrics)
    if model_id is not None:
        values["model_id"] = model_id
    session.execute(sa.update(t.experiments)
                    .where(t.experiments.c.experiment_id == experiment_id).values(**values))


def set_lineage(session: Session, *, experiment_id: UUID, lineage: Mapping[str, Any]) -> None:
    session.execute(sa.update(t.experiments)
                    .where(t.experiments.c.experiment_id == experiment_id)
                    .values(lineage=t.experiments.c.lineage.op("||")(sa.cast(dict(lineage), t.experiments.c.lineage.type))))
