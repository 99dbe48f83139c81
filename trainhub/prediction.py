"""Predictions from registered versions, and the one place features are engineered
outside training.

A version's artifact is loaded once per process and kept in a small LRU cache keyed by
model id, checked against the registry's SHA-256 when it is read from disk. Which
version a stage names is read from PostgreSQL on every request (one indexed query that
also enforces tenancy), so a promotion made by any process takes effect on the next
request in every process; the versions a promotion archives are dropped from this
process's cache at once (registry.on_archive).
"""
from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from trainhub import features, registry
from trainhub.errors import InvalidInput, NotFound
from trainhub.pipeline import load_artifact
from trainhub.pipeline.artifact import predict as artifact_predict
from trainhub.pipeline.evaluate import anomaly_scores
from trainhub.pipeline.features import LABEL_COLUMNS, engineer_features
from trainhub.registry import ModelRecord

MODEL_CACHE_SIZE = 16
MAX_ROWS = 10_000
# Raw history loaded to build features for a horizon request: the default look-back
# (one week) plus the feature engineering's minimum of usable rows, with room to spare;
# the second is tried when a feature set's definition looks back further.
HORIZON_HISTORY = (timedelta(days=35), timedelta(days=400))
PREDICTABLE_STAGES = ("staging", "production")


@dataclass(frozen=True)
class PredictionResult:
    model_id: str
    model_name: str
    version: str
    stage: str
    model_type: str
    target: str
    horizon: int
    # forecast: the target `horizon` hours after each row; anomaly: the row's anomaly
    # score (higher is more anomalous).
    predictions: list[float]
    # For horizon requests: the time each forecast is for.
    timestamps: list[datetime] | None

    @property
    def count(self) -> int:
        return len(self.predictions)


# --- feature engineering, isolated ------------------------------------------------------

def engineer(raw: pd.DataFrame, *, artifact: Mapping[str, Any],
             horizon: int | None = None) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """(X, y, ts) from raw rows exactly as the version's training built them: X holds
    every engineered column (unscaled), y the target `horizon` hours after ts (default:
    the version's own horizon).

    The only call of the pipeline's feature engineering outside training, so a change
    of its signature is absorbed here (the gate and horizon predictions both use it).
    The feature set's definition and frequency are passed when the artifact recorded
    them; artifacts without them were trained on the defaults.
    """
    options = {name: value for name in ("feature_definition", "frequency")
               if (value := artifact.get(name, (artifact.get("metadata") or {}).get(name))) is not None}
    if "feature_definition" in options:
        options["definition"] = options.pop("feature_definition")
    return engineer_features(raw, target=artifact["target"],
                             horizon=artifact["horizon"] if horizon is None else horizon, **options)


def label_column(raw: pd.DataFrame, artifact: Mapping[str, Any]) -> str | None:
    """The 0/1 anomaly label column of `raw`, if it has one (never a model input)."""
    definition = artifact.get("feature_definition") or (artifact.get("metadata") or {}).get("feature_definition") or {}
    names = LABEL_COLUMNS | ({definition["label"]} if definition.get("label") else set())
    return next((column for column in raw.columns if column in names), None)


# --- the per-process model cache --------------------------------------------------------

class ModelCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, model: ModelRecord) -> dict[str, Any]:
        with self._lock:
            hit = self._entries.get(model.model_id)
            if hit is not None and hit[0] == model.artifact_sha256:
                self._entries.move_to_end(model.model_id)
                return hit[1]
        # Read outside the lock: a slow disk must not hold up predictions of cached models.
        artifact = _load_verified(model)
        with self._lock:
            self.loads += 1
            self._entries[model.model_id] = (model.artifact_sha256, artifact)
            self._entries.move_to_end(model.model_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return artifact

    def forget(self, model_ids: Iterable[str]) -> None:
        with self._lock:
            for model_id in model_ids:
                self._entries.pop(model_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._entries


def _load_verified(model: ModelRecord) -> dict[str, Any]:
    path = Path(model.artifact_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"The artifact of model {model.model_id} is missing from the artifact store") from None
    if hashlib.sha256(data).hexdigest() != model.artifact_sha256:
        raise RuntimeError(f"artifact {path} of model {model.model_id} does not match its registered SHA-256")
    # Unpickle the very bytes that were checked, not a second read of the file.
    return load_artifact(io.BytesIO(data))


cache = ModelCache(MODEL_CACHE_SIZE)
registry.on_archive(cache.forget)


def load_model(model: ModelRecord) -> dict[str, Any]:
    """The version's artifact (model, scaler, feature_names, target, horizon…), cached."""
    return cache.get(model)


# --- the service -----------------------------------------------------------------------

def resolve(session: Session, *, tenant_scope: str | None, model_ref: str, tenant_id: str | None = None,
            stage: str | None = None) -> ModelRecord:
    """A model id (tenant:name:version) names one version; a model name names the
    version at `stage` (production unless said otherwise) of the caller's tenant."""
    if ":" in model_ref:
        if stage is not None:
            raise InvalidInput({"stage": ["Only with a model name: a model id already names one version."]})
        return registry.get_model(session, model_id=model_ref, tenant_scope=tenant_scope)
    if tenant_scope is not None and tenant_id not in (None, tenant_scope):
        raise InvalidInput({"tenant_id": ["Does not match the API key's tenant; omit it or use your own."]})
    tenant = tenant_scope or tenant_id
    if tenant is None:
        raise InvalidInput({"tenant_id": ["Required with an admin key when the model is named by name."]})
    stage = stage or "production"
    model = registry.find_at_stage(session, tenant_id=tenant, model_name=model_ref, stage=stage)
    if model is None:
        raise registry.ModelNotFound(model_ref, stage)
    return model


def predict(session: Session, *, tenant_scope: str | None, model_ref: str, tenant_id: str | None = None,
            stage: str | None = None, rows: list[Mapping[str, Any]] | None = None,
            horizon: int | None = None, as_of: datetime | None = None) -> PredictionResult:
    """Predictions for feature rows (columns exactly the version's stored features), or
    for a forecast version, the next `horizon` hours after the latest rows of its
    feature set (before `as_of`, default now), with features built from them."""
    if (rows is None) == (horizon is None):
        raise InvalidInput({"rows": ["Send either rows or horizon."]})
    model = resolve(session, tenant_scope=tenant_scope, model_ref=model_ref, tenant_id=tenant_id, stage=stage)
    artifact = load_model(model)
    timestamps = None
    if rows is not None:
        values = _predict_matrix(artifact, rows_matrix(rows, artifact["feature_names"]))
    else:
        X, timestamps = _latest_features(session, model, artifact, horizon, as_of)
        values = artifact_predict(artifact, X)
    return PredictionResult(
        model_id=model.model_id, model_name=model.model_name, version=model.version, stage=model.stage,
        model_type=model.model_type, target=artifact["target"], horizon=artifact["horizon"],
        predictions=np.asarray(values, dtype=float).tolist(), timestamps=timestamps,
    )


def _predict_matrix(artifact: Mapping[str, Any], matrix: np.ndarray) -> np.ndarray:
    """pipeline.artifact.predict for rows already checked and in the model's column
    order: on a 24-row request, building and re-checking a DataFrame there costs more
    than scaling and the model together."""
    features = artifact["scaler"].transform(matrix)
    if artifact["model_type"] == "anomaly":
        return anomaly_scores(artifact["model"], features)
    return artifact["model"].predict(features)


def rows_matrix(rows: list[Mapping[str, Any]], feature_names: list[str]) -> np.ndarray:
    """Rows as a float matrix in the model's column order; every row must carry exactly
    the model's features, each a finite number."""
    if not 1 <= len(rows) <= MAX_ROWS:
        raise InvalidInput({"rows": [f"Send 1 to {MAX_ROWS} rows."]})
    expected = set(feature_names)
    problems = []
    for i, row in enumerate(rows):
        keys = set(row)
        if keys != expected:
            missing, unexpected = sorted(expected - keys), sorted(keys - expected)
            problems.append(f"row {i}: " + "; ".join(
                part for part in (missing and f"missing {', '.join(missing)}",
                                  unexpected and f"unexpected {', '.join(unexpected)}") if part))
        else:
            bad = [name for name in feature_names
                   if isinstance(row[name], bool) or not isinstance(row[name], (int, float))]
            if bad:
                problems.append(f"row {i}: not a number: {', '.join(bad)}")
        if len(problems) == 5:
            break
    if problems:
        raise InvalidInput({"rows": problems + [f"The model's features are: {', '.join(feature_names)}."]})
    matrix = np.array([[row[name] for name in feature_names] for row in rows], dtype=float)
    if not np.isfinite(matrix).all():
        first = int(np.argwhere(~np.isfinite(matrix))[0][0])
        raise InvalidInput({"rows": [f"row {first}: values must be finite numbers"]})
    return matrix


def _latest_features(session: Session, model: ModelRecord, artifact: dict[str, Any], horizon: int,
                     as_of: datetime | None) -> tuple[pd.DataFrame, list[datetime]]:
    """Feature rows whose forecasts fall in the `horizon` hours after the latest data.

    The version forecasts `h` hours ahead from the features of one time step, so the
    rows of the last `h` hours give the next `h` hours: the row at T - h + k forecasts
    T + k.
    """
    h = artifact["horizon"]
    if model.model_type != "forecast":
        raise InvalidInput({"horizon": ["Anomaly models score the rows you send; send rows."]})
    if not 1 <= horizon <= h:
        raise InvalidInput({"horizon": [f"This version forecasts {h} hours ahead; ask for 1 to {h} hours."]})
    name = model.lineage.get("feature_set")
    try:
        feature_set = features.get_feature_set(session, tenant_id=model.tenant_id, name=name)
    except NotFound:
        raise InvalidInput({"horizon": [f"The version's feature set {name!r} no longer exists; send rows."]}) from None
    end = as_of or datetime.now(timezone.utc)
    for history in HORIZON_HISTORY:
        raw = features.load_frame(session, feature_set=feature_set, start=end - history, end=end,
                                  series_id=model.lineage.get("series_id") or "")
        if raw.empty:
            raise InvalidInput({"horizon": [f"{name} has no rows in the {history.days} days before "
                                            f"{end:%Y-%m-%d %H:%M}."]})
        try:
            X, _, ts = engineer(raw, artifact=artifact, horizon=0)
            break
        except ValueError as exc:
            problem = exc
    else:
        raise InvalidInput({"horizon": [f"Cannot build features from {name} before {end:%Y-%m-%d %H:%M}: "
                                        f"{problem}"]})
    missing = [c for c in artifact["feature_names"] if c not in X.columns]
    if missing:
        raise InvalidInput({"horizon": [f"{name} no longer yields the features {missing}; send rows."]})
    stamps = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    latest = pd.Timestamp(raw["ts"].max()).tz_convert("UTC")
    target_times = stamps + pd.Timedelta(hours=h)
    picked = (target_times > latest) & (target_times <= latest + pd.Timedelta(hours=horizon))
    if not picked.any():
        raise InvalidInput({"horizon": [f"{name} has no usable rows just before {latest:%Y-%m-%d %H:%M}."]})
    return X[picked][artifact["feature_names"]], list(target_times[picked].to_pydatetime())
