"""The pipeline's one entry point: a raw regular time series in, fitted model and metrics out."""

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from trainhub.pipeline.anomaly import train_anomaly_detector
from trainhub.pipeline.evaluate import (
    anomaly_metrics, anomaly_scores, baseline_metrics, regression_metrics, seasonal_naive_forecast,
)
from trainhub.pipeline.features import LABEL_COLUMNS, FeatureSpec, engineer_features, resolve_definition, season_of
from trainhub.pipeline.forecast import train_forecaster
from trainhub.pipeline.hooks import PipelineHooks
from trainhub.pipeline.split import time_split

logger = logging.getLogger("trainhub.pipeline")

# forecast: LightGBM predicts the target `horizon` hours ahead.
# anomaly: IsolationForest scores how unusual the current hour is.
MODEL_TYPES = ("forecast", "anomaly")


@dataclass
class TrainingResult:
    model: Any
    scaler: StandardScaler
    feature_names: list[str]
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any]
    model_type: str
    target: str
    horizon: int  # hours; always 0 for anomaly models: they judge the step they see
    best_iteration: int | None  # boosting rounds the model uses; None for anomaly models
    n_train: int
    n_val: int
    n_test: int
    # Per test row: its time (datetime64[ns], UTC), then for forecasts the target at
    # ts + horizon and its prediction, for anomaly models the target at ts and its
    # anomaly score (higher is more anomalous).
    test_ts: np.ndarray
    test_actual: np.ndarray
    test_predicted: np.ndarray
    # The feature set's frequency and its definition with every default filled in:
    # what prediction_features needs to rebuild the model's inputs.
    frequency: str = "h"
    feature_definition: dict[str, Any] | None = None


def train_model(
    raw: pd.DataFrame,
    *,
    model_type: str,
    target: str,
    horizon: int,
    validation_split: float,
    test_split: float,
    hyperparameters: dict[str, Any],
    early_stopping_rounds: int,
    num_threads: int,
    hooks: PipelineHooks,
    feature_definition: dict[str, Any] | FeatureSpec | None = None,
    frequency: str = "h",
) -> TrainingResult:
    """Preprocess (progress 0.20→0.40), train (0.40→0.70) and evaluate (0.70→0.85).

    `raw` is one series on the grid of `frequency`; `feature_definition` is its feature
    set's definition (see features.resolve_definition). A forecast is also compared with
    the seasonal-naive forecast on the same test rows (baseline_* metrics).
    Loading the data before and registering the model after are the caller's stages.
    Raises ValueError for unusable data or parameters, Cancelled when hooks say so.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    is_forecast = model_type == "forecast"
    if is_forecast and horizon < 1:
        raise ValueError(f"a forecast needs a horizon of at least 1 hour, got {horizon}")
    horizon = horizon if is_forecast else 0

    hooks.progress(0.20, "preprocess")
    hooks.check_cancelled()
    spec = resolve_definition(feature_definition, frequency=frequency)
    X, y, ts = engineer_features(raw, target=target, horizon=horizon, definition=spec)
    # Anomaly models learn without labels; a label column, if any, is only for scoring.
    labels = LABEL_COLUMNS | ({spec.label} if spec.label else set())
    label = None if is_forecast else next((column for column in raw.columns if column in labels), None)
    if label is not None:
        y = _labels_at(raw, label, ts)
    hooks.progress(0.30, "preprocess")
    hooks.check_cancelled()
    split = time_split(X, y, ts, validation_split=validation_split, test_split=test_split)
    n_train, n_val, n_test = len(split.y_train), len(split.y_val), len(split.y_test)
    logger.info(
        "preprocessed %d raw rows into %d rows x %d features: %d train, %d validation, %d test",
        len(raw), len(X), len(split.feature_names), n_train, n_val, n_test,
    )

    hooks.progress(0.40, "train")
    hooks.check_cancelled()
    started = time.perf_counter()
    if is_forecast:
        model, effective = train_forecaster(
            split,
            hyperparameters=hyperparameters,
            early_stopping_rounds=early_stopping_rounds,
            num_threads=num_threads,
            hooks=hooks,
        )
        # Without early stopping LightGBM reports 0 and uses every round.
        best_iteration = model.best_iteration_ or model.n_iter_
    else:
        model, effective = train_anomaly_detector(
            split, hyperparameters=hyperparameters, num_threads=num_threads, hooks=hooks
        )
        best_iteration = None
    training_time = time.perf_counter() - started
    logger.info(
        "trained %s model in %.2f s (best iteration %s) with %s", model_type, training_time, best_iteration, effective
    )

    hooks.progress(0.70, "evaluate")
    hooks.check_cancelled()
    if is_forecast:
        test_actual, test_predicted = split.y_test, model.predict(split.X_test)
        metrics = regression_metrics(test_actual, test_predicted) | {"best_iteration": best_iteration}
        baseline = seasonal_naive_forecast(raw, target=target, horizon=horizon, frequency=frequency,
                                           ts=split.ts_test)
        metrics |= baseline_metrics(test_actual, test_predicted, baseline, season=season_of(frequency))
    else:
        test_actual = X["lag_0"].to_numpy()[-n_test:]
        test_predicted = anomaly_scores(model, split.X_test)
        metrics = anomaly_metrics(model, split.X_test, split.y_test if label is not None else None)
    metrics |= {"training_time_seconds": training_time, "n_train": n_train, "n_val": n_val, "n_test": n_test}
    logger.info("evaluated on %d test rows: %s", n_test, metrics)
    hooks.progress(0.85, "evaluate")

    return TrainingResult(
        model=model,
        scaler=split.scaler,
        feature_names=split.feature_names,
        hyperparameters=effective,
        metrics=metrics,
        model_type=model_type,
        target=target,
        horizon=horizon,
        best_iteration=best_iteration,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        test_ts=split.ts_test,
        test_actual=test_actual,
        test_predicted=test_predicted,
        frequency=frequency,
        feature_definition=spec.to_json(),
    )


def _labels_at(raw: pd.DataFrame, label: str, ts: pd.Series) -> pd.Series:
    by_time = raw.set_index(pd.to_datetime(raw["ts"], utc=True))[label]
    labels = by_time.reindex(pd.DatetimeIndex(ts))
    missing = int(labels.isna().sum())
    if missing:
        raise ValueError(f"label column {label!r} has {missing} missing values in the window")
    return labels.reset_index(drop=True)
