"""Train real (small) models and register them as the worker does, without a worker:
the registry, gate, prediction and experiment tests build on these. No tests here."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from trainhub import experiments, registry
from trainhub.demo_data import generate_demo_frame
from trainhub.pipeline import PipelineHooks, TrainingResult, save_artifact, train_model

# Few, shallow trees on a slow learning rate: a clearly worse forecaster than the defaults.
WEAK = {"n_estimators": 4, "learning_rate": 0.05, "max_depth": 2, "num_leaves": 3}


class RecordingHooks(PipelineHooks):
    def __init__(self) -> None:
        self.series: list[tuple[str, list[float], int]] = []

    def record_series(self, name: str, values: list[float], start_step: int = 0) -> None:
        self.series.append((name, list(values), start_step))


@cache
def demo_frame(name: str, start: str, end: str) -> pd.DataFrame:
    return generate_demo_frame(name, datetime.fromisoformat(start).replace(tzinfo=timezone.utc),
                               datetime.fromisoformat(end).replace(tzinfo=timezone.utc))


def train(frame: pd.DataFrame, *, model_type: str = "forecast", hyperparameters: dict | None = None,
          horizon: int = 24, hooks: PipelineHooks | None = None) -> TrainingResult:
    return train_model(frame, model_type=model_type, target="load_kw", horizon=horizon,
                       validation_split=0.2, test_split=0.1, hyperparameters=hyperparameters or {},
                       early_stopping_rounds=10, num_threads=1, hooks=hooks or PipelineHooks())


_clock = [datetime(2025, 6, 1, tzinfo=timezone.utc)]
# Training is deterministic, so one fit per (frame, type, hyperparameters) serves every
# test that registers it; the frame is kept with the result so its id stays unique.
_fits: dict[tuple, tuple[pd.DataFrame, TrainingResult, list]] = {}


def _trained(frame: pd.DataFrame, model_type: str, hyperparameters: dict | None):
    key = (id(frame), model_type, tuple(sorted((hyperparameters or {}).items())))
    if key not in _fits or _fits[key][0] is not frame:
        hooks = RecordingHooks()
        result = train(frame, model_type=model_type, hyperparameters=hyperparameters,
                       horizon=24 if model_type == "forecast" else 0, hooks=hooks)
        _fits[key] = (frame, result, hooks.series)
    return _fits[key][1], _fits[key][2]


def register(db: Session, *, tenant_id: str, model_name: str, frame: pd.DataFrame, artifact_dir: Path,
             model_type: str = "forecast", hyperparameters: dict | None = None,
             feature_set: str = "forecast_basic", params: dict | None = None) -> registry.ModelVersion:
    """Train on `frame` and record experiment, artifact, version and test window, like
    the runner's register stage. Versions get increasing timestamps, newest last."""
    result, series = _trained(frame, model_type, hyperparameters)
    lineage = {"feature_set": feature_set, "data_start": frame["ts"].iloc[0].isoformat(),
               "data_end": frame["ts"].iloc[-1].isoformat(), "rows": len(frame), "series_id": ""}
    experiment_id = experiments.start_experiment(
        db, tenant_id=tenant_id, job_id=None, model_type=model_type, model_name=model_name,
        name=f"{model_name} test", params={"horizon": result.horizon, **(params or {}),
                                           **{f"hp.{k}": v for k, v in (hyperparameters or {}).items()}},
        lineage=lineage)
    path = artifact_dir / tenant_id / model_name / f"{uuid.uuid4()}.joblib"
    save_artifact(result, path, metadata=lineage)
    _clock[0] += timedelta(minutes=1)
    metrics = {k: (None if v is None else float(v)) for k, v in result.metrics.items()}
    version = registry.register_model(
        db, tenant_id=tenant_id, model_name=model_name, model_type=model_type, job_id=None,
        experiment_id=experiment_id, artifact_path=path, metrics=metrics,
        hyperparameters=result.hyperparameters, feature_names=result.feature_names,
        lineage=lineage, at=_clock[0])
    experiments.record_result(db, experiment_id=experiment_id, result=result, series=series, metrics=metrics,
                              model_id=version.model_id)
    db.flush()
    return version


def experiment_of(db: Session, model_id: str) -> uuid.UUID:
    return registry.get_model(db, model_id=model_id, tenant_scope=None).experiment_id
