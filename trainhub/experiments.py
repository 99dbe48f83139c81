"""Experiment tracking: one experiment per job run, its params, metric series, final
metrics and test window; and reading them back (list, detail, series, comparison)."""
from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg2.extras import execute_values
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from trainhub import pg_binary
from trainhub import tables as t
from trainhub.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from trainhub.pipeline import TrainingResult

now = sa.func.clock_timestamp


# Built once: every job runs these (see trainhub.jobs.lifecycle); the inserted
# columns are passed by name at execution.
_START = sa.insert(t.experiments).returning(t.experiments.c.experiment_id)


def start_experiment(session: Session, *, tenant_id: str, job_id: UUID, model_type: str,
                     model_name: str, name: str, params: Mapping[str, Any],
                     lineage: Mapping[str, Any]) -> UUID:
    experiment_id = session.execute(_START, {
        "tenant_id": tenant_id, "job_id": job_id, "name": name, "model_type": model_type,
        "model_name": model_name, "lineage": dict(lineage),
    }).scalar_one()
    record_params(session, experiment_id=experiment_id, params=params)
    return experiment_id


def record_params(session: Session, *, experiment_id: UUID, params: Mapping[str, Any]) -> None:
    _insert_values(session, _UPSERT_PARAMS, [
        (str(experiment_id), name, *_typed(value)) for name, value in params.items()])


_UPSERT_PARAMS = (
    "INSERT INTO ai_experiment_params (experiment_id, param_name, param_value, param_type) VALUES %s "
    "ON CONFLICT (experiment_id, param_name) DO UPDATE "
    "SET param_value = EXCLUDED.param_value, param_type = EXCLUDED.param_type"
)


def _insert_values(session: Session, sql: str, rows: list[tuple]) -> None:
    """Many rows in one statement through psycopg2's execute_values, in the session's
    transaction. Every job writes its params and loss curves this way: building the
    same INSERT through SQLAlchemy cost 3-5 ms a call against 0.6 ms (measured)."""
    if rows:
        with session.connection().connection.cursor() as cursor:
            execute_values(cursor, sql, rows, page_size=1000)


def _typed(value: Any) -> tuple[str, str]:
    """(param_value, param_type) as stored; get_experiment_params_json reads them back."""
    # bool before int: True is an int in Python.
    if isinstance(value, bool):
        return ("true" if value else "false", "bool")
    if isinstance(value, int):
        return (str(value), "int")
    if isinstance(value, float):
        return (repr(value), "float")
    if isinstance(value, str):
        return (value, "str")
    return (json.dumps(value, default=str), "json")


def record_metric_series(session: Session, *, experiment_id: UUID,
                         series: Iterable[tuple[str, list[float], int]]) -> int:
    """Write whole per-iteration series in one binary COPY; NaN/inf are skipped (a
    diverged round is not a point on a curve). Returns rows written.

    Every job writes ~80 points; as one multi-row INSERT they cost the server 1.1 ms
    to parse and plan and the worker the SQL text to build (measured)."""
    experiment = pg_binary.uuid_field(experiment_id)
    rows = []
    for name, values, start in series:
        label = pg_binary.text_field(name)
        rows.extend([experiment, label, pg_binary.float8_field(v), pg_binary.int4_field(start + i)]
                    for i, v in enumerate(map(float, values)) if math.isfinite(v))
    if rows:
        with session.connection().connection.cursor() as cursor:
            cursor.copy_expert(_COPY_METRICS, io.BytesIO(pg_binary.copy_data(rows)))
    return len(rows)


_COPY_METRICS = "COPY ai_experiment_metrics (experiment_id, metric_name, value, step) FROM STDIN WITH (FORMAT binary)"


def final_metrics_as_series(metrics: Mapping[str, Any]) -> list[tuple[str, list[float], int]]:
    """Scalar final metrics as one-point series at step 0, so the SQL functions see them
    too; written together with the per-iteration series in one COPY."""
    return [(name, [value], 0) for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)]


def record_result(session: Session, *, experiment_id: UUID, result: TrainingResult,
                  series: Iterable[tuple[str, list[float], int]], metrics: Mapping[str, Any],
                  model_id: str, lineage: Mapping[str, Any] | None = None) -> None:
    """Everything a finished training run leaves on its experiment: the loss curves
    (`series`) with the final metrics, the hyperparameters it trained with, its test
    window; then the experiment is completed with its registered model."""
    record_metric_series(session, experiment_id=experiment_id,
                         series=[*series, *final_metrics_as_series(metrics)])
    record_params(session, experiment_id=experiment_id,
                  params={f"effective.{k}": v for k, v in result.hyperparameters.items()})
    record_test_window(session, experiment_id=experiment_id, target=result.target, horizon=result.horizon,
                       ts=result.test_ts, actual=result.test_actual, predicted=result.test_predicted)
    finish_experiment(session, experiment_id=experiment_id, status="completed", metrics=metrics,
                      model_id=model_id, lineage=lineage)


_FINISH = (
    sa.update(t.experiments).where(t.experiments.c.experiment_id == sa.bindparam("finished_id"))
    .values(completed_at=now(),
            # NULL keeps what is there; lineage gains keys.
            metrics=sa.func.coalesce(sa.bindparam("final_metrics", type_=JSONB(none_as_null=True)),
                                     t.experiments.c.metrics),
            model_id=sa.func.coalesce(sa.bindparam("registered_model_id", type_=sa.Text), t.experiments.c.model_id),
            lineage=t.experiments.c.lineage.op("||")(sa.bindparam("learnt_lineage", type_=t.experiments.c.lineage.type)))
)


def finish_experiment(session: Session, *, experiment_id: UUID, status: str,
                      metrics: Mapping[str, Any] | None = None, model_id: str | None = None,
                      lineage: Mapping[str, Any] | None = None) -> None:
    """End the experiment; `lineage` adds keys learnt during the run (rows loaded, ...)."""
    session.execute(_FINISH, {"finished_id": experiment_id, "status": status,
                              "final_metrics": None if metrics is None else dict(metrics),
                              "registered_model_id": model_id, "learnt_lineage": dict(lineage or {})})


# --- reading experiments back: list, detail, series, comparison, test window -----------

class ExperimentNotFound(NotFound):
    def __init__(self, experiment_id: object) -> None:
        super().__init__(f"Experiment {experiment_id} not found")


class MetricNotFound(NotFound):
    pass


# Final metrics where a smaller value is better; every other numeric one is taken as
# larger-is-better when a comparison names the best experiment.
LOWER_IS_BETTER = frozenset({"mae", "rmse", "mape", "training_time_seconds",
                             "train_loss", "validation_loss"})
HIGHER_IS_BETTER = frozenset({"r2", "roc_auc", "f1", "precision", "recall"})
MAX_COMPARED = 10


@dataclass(frozen=True)
class ExperimentSummary:
    """One row of the experiment_summary view."""

    experiment_id: UUID
    tenant_id: str
    job_id: UUID | None
    name: str
    model_type: str
    model_name: str
    status: str
    model_id: str | None
    final_metrics: dict[str, Any]
    lineage: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    duration_seconds: float | None
    param_count: int
    metric_points: int
    metric_names: list[str]

    @classmethod
    def from_row(cls, row: Any) -> "ExperimentSummary":
        m = row._mapping
        values = {name: m[name] for name in cls.__dataclass_fields__}
        if values["duration_seconds"] is not None:
            values["duration_seconds"] = float(values["duration_seconds"])
        return cls(**values)


@dataclass(frozen=True)
class ExperimentDetail(ExperimentSummary):
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentPage:
    experiments: list[ExperimentSummary]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class MetricPoint:
    step: int
    value: float


@dataclass(frozen=True)
class MetricSeries:
    experiment_id: UUID
    metric_name: str
    total_points: int
    downsampled: bool
    points: list[MetricPoint]


@dataclass(frozen=True)
class Comparison:
    experiments: list[ExperimentDetail]
    # name -> one value per experiment, in the order asked for; None where a run lacks it.
    param_differences: dict[str, list[Any]]
    common_params: dict[str, Any]
    metrics: dict[str, list[Any]]
    # metric -> experiment_id of the best value, for metrics with a known direction.
    best: dict[str, UUID]


@dataclass(frozen=True)
class TestWindow:
    experiment_id: UUID
    target: str
    horizon: int
    ts: list[datetime]
    actual: list[float]
    predicted: list[float]


def _summary_scope(tenant_scope: str | None) -> tuple[sa.ColumnElement[bool], ...]:
    v = t.experiment_summary
    return () if tenant_scope is None else (v.c.tenant_id == tenant_scope,)


def list_experiments(session: Session, *, tenant_scope: str | None, tenant_id: str | None = None,
                     model_name: str | None = None, model_type: str | None = None,
                     status: str | None = None, page: int = 1, page_size: int = 20) -> ExperimentPage:
    """Experiments newest first. The filters test the base table, whose indexes
    (tenant_id, model_name | status, created_at) serve them; the view adds the counts
    for the page's rows only."""
    e = t.experiments
    filters = [] if tenant_scope is None else [e.c.tenant_id == tenant_scope]
    for column, value in (("tenant_id", tenant_id), ("model_name", model_name),
                          ("model_type", model_type), ("status", status)):
        if value is not None:
            filters.append(e.c[column] == value)
    total = session.execute(sa.select(sa.func.count()).select_from(e).where(*filters)).scalar_one()
    page_ids = (sa.select(e.c.experiment_id, e.c.created_at).where(*filters)
                .order_by(e.c.created_at.desc(), e.c.experiment_id.desc())
                .limit(page_size).offset((page - 1) * page_size).subquery())
    v = t.experiment_summary
    rows = session.execute(
        sa.select(v).join(page_ids, page_ids.c.experiment_id == v.c.experiment_id)
        .order_by(page_ids.c.created_at.desc(), page_ids.c.experiment_id.desc())
    ).all()
    return ExperimentPage([ExperimentSummary.from_row(r) for r in rows], total, page, page_size)


def get_experiment(session: Session, *, experiment_id: UUID, tenant_scope: str | None) -> ExperimentDetail:
    v = t.experiment_summary
    row = session.execute(
        sa.select(v, sa.func.get_experiment_params_json(v.c.experiment_id).label("params"))
        .where(v.c.experiment_id == experiment_id, *_summary_scope(tenant_scope))
    ).first()
    if row is None:
        raise ExperimentNotFound(experiment_id)
    summary = ExperimentSummary.from_row(row)
    return ExperimentDetail(**{f: getattr(summary, f) for f in ExperimentSummary.__dataclass_fields__},
                            params=row.params or {})


def _check_visible(session: Session, experiment_id: UUID, tenant_scope: str | None) -> None:
    e = t.experiments
    scope = () if tenant_scope is None else (e.c.tenant_id == tenant_scope,)
    if session.execute(sa.select(e.c.experiment_id).where(e.c.experiment_id == experiment_id, *scope)).first() is None:
        raise ExperimentNotFound(experiment_id)


def metric_series(session: Session, *, experiment_id: UUID, tenant_scope: str | None, name: str,
                  max_points: int | None = None) -> MetricSeries:
    """One metric's (step, value) points by step. With max_points, a longer series is
    thinned to that many evenly spaced points that always keep the first and the last
    (the final value is what people read off a curve); values are never averaged."""
    _check_visible(session, experiment_id, tenant_scope)
    m = t.experiment_metrics
    rows = session.execute(
        sa.select(m.c.step, m.c.value)
        .where(m.c.experiment_id == experiment_id, m.c.metric_name == name)
        .order_by(m.c.step, m.c.metric_id)
    ).all()
    if not rows:
        names = session.execute(
            sa.select(m.c.metric_name).distinct().where(m.c.experiment_id == experiment_id)
            .order_by(m.c.metric_name)
        ).scalars().all()
        raise MetricNotFound(f"Experiment {experiment_id} has no metric {name!r}; "
                             f"it has: {', '.join(names) or 'none yet'}")
    total = len(rows)
    downsampled = max_points is not None and total > max_points
    if downsampled:
        keep = np.unique(np.linspace(0, total - 1, max_points).round().astype(int))
        rows = [rows[i] for i in keep]
    return MetricSeries(experiment_id, name, total, downsampled,
                        [MetricPoint(int(r.step), float(r.value)) for r in rows])


def compare_experiments(session: Session, *, experiment_ids: list[UUID],
                        tenant_scope: str | None) -> Comparison:
    """Side by side: parameters that differ (and those shared) and every final metric,
    in the order the ids were given."""
    if not 2 <= len(experiment_ids) <= MAX_COMPARED or len(set(experiment_ids)) != len(experiment_ids):
        raise InvalidInput({"ids": [f"Give 2 to {MAX_COMPARED} distinct experiment ids."]})
    details = [get_experiment(session, experiment_id=i, tenant_scope=tenant_scope) for i in experiment_ids]
    param_names = sorted({name for d in details for name in d.params})
    differences, common = {}, {}
    for name in param_names:
        values = [d.params.get(name) for d in details]
        if all(v == values[0] for v in values) and all(name in d.params for d in details):
            common[name] = values[0]
        else:
            differences[name] = values
    metric_names = sorted({name for d in details for name in d.final_metrics})
    metrics = {name: [d.final_metrics.get(name) for d in details] for name in metric_names}
    best: dict[str, UUID] = {}
    for name, values in metrics.items():
        if name not in LOWER_IS_BETTER and name not in HIGHER_IS_BETTER:
            continue
        scored = [(v, d.experiment_id) for v, d in zip(values, details)
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
        if scored:
            pick = min if name in LOWER_IS_BETTER else max
            best[name] = pick(scored, key=lambda pair: pair[0])[1]
    return Comparison(details, differences, common, metrics, best)


def record_test_window(session: Session, *, experiment_id: UUID, target: str, horizon: int,
                       ts: Any, actual: Any, predicted: Any) -> int:
    """Store the time-ordered test rows a model was scored on (TrainingResult.test_*):
    read back for the forecast-vs-actual plot and for locating the gate's holdout.
    Once per experiment (a run's experiment is its own).

    The three arrays go in by binary COPY: their text literals cost ~5 ms of Python
    formatting and ~2 ms of server parsing per job (measured), binary costs neither.
    """
    stamps = pd.DatetimeIndex(ts)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    epoch_us = stamps.as_unit("us").asi8
    row = [pg_binary.uuid_field(experiment_id), pg_binary.text_field(target), pg_binary.int4_field(horizon),
           pg_binary.timestamptz_array_field(epoch_us), pg_binary.float8_array_field(np.asarray(actual, dtype=float)),
           pg_binary.float8_array_field(np.asarray(predicted, dtype=float))]
    with session.connection().connection.cursor() as cursor:
        cursor.copy_expert(_COPY_TEST_WINDOW, io.BytesIO(pg_binary.copy_data([row])))
    return len(epoch_us)


_COPY_TEST_WINDOW = ("COPY ai_experiment_test_windows (experiment_id, target, horizon, ts, actual, predicted) "
                     "FROM STDIN WITH (FORMAT binary)")


def get_test_window(session: Session, *, experiment_id: UUID, tenant_scope: str | None) -> TestWindow:
    _check_visible(session, experiment_id, tenant_scope)
    w = t.experiment_test_windows
    row = session.execute(sa.select(w).where(w.c.experiment_id == experiment_id)).first()
    if row is None:
        raise NotFound(f"Experiment {experiment_id} has no test window (it did not complete)")
    return TestWindow(experiment_id, row.target, row.horizon, list(row.ts), list(row.actual), list(row.predicted))
