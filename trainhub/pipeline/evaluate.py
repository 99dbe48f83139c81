"""Test-set metrics, as plain Python numbers ready to be stored as JSON."""

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import f1_score, precision_score, r2_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline

from trainhub.pipeline.features import frequency_step, horizon_in_steps, regular_series, season_of

# A bare forest, or the Pipeline train_anomaly_detector builds around one.
AnomalyModel = IsolationForest | Pipeline


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """mae, rmse, r2 and mape in percent; mape skips zero actuals and is None if all are zero."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    error = y_pred - y_true
    nonzero = y_true != 0
    mape = float(np.mean(np.abs(error[nonzero] / y_true[nonzero])) * 100) if nonzero.any() else None
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": mape,
        "r2": float(r2_score(y_true, y_pred)),
    }


def anomaly_scores(model: AnomalyModel, X: np.ndarray) -> np.ndarray:
    """Higher means more anomalous (scikit-learn's score_samples is the other way round)."""
    return -model.score_samples(X)


def anomaly_metrics(model: AnomalyModel, X_test: np.ndarray, y_test: np.ndarray | None) -> dict[str, float | None]:
    """anomaly_rate and mean_score; with 0/1 labels also precision, recall, f1 and roc_auc.

    roc_auc is None when the test window holds only one class, where it is undefined.
    """
    scores = anomaly_scores(model, X_test)
    flagged = model.predict(X_test) == -1
    metrics = {"anomaly_rate": float(flagged.mean()), "mean_score": float(scores.mean())}
    if y_test is None:
        return metrics
    labels = np.asarray(y_test).astype(bool)
    metrics |= {
        "precision": float(precision_score(labels, flagged, zero_division=0)),
        "recall": float(recall_score(labels, flagged, zero_division=0)),
        "f1": float(f1_score(labels, flagged, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else None,
    }
    return metrics


def seasonal_naive_forecast(
    raw: pd.DataFrame, *, target: str, horizon: int, frequency: str, ts: np.ndarray
) -> np.ndarray:
    """The seasonal-naive forecast of the target `horizon` hours after each of `ts`.

    It is the value one season (a day for hourly data, a week for daily data, see
    season_of) before the predicted time, or as many whole seasons back as it takes to
    reach a value known at t: the forecast made at t never looks past t. NaN where the
    series has no value there.
    """
    step = frequency_step(frequency)
    season_steps = int(season_of(frequency) // step)
    horizon_steps = horizon_in_steps(horizon, step)
    seasons_back = (horizon_steps - 1) // season_steps + 1
    offset = (horizon_steps - seasons_back * season_steps) * step
    series = regular_series(raw, target, frequency)[target]
    when = pd.DatetimeIndex(ts)
    when = when.tz_localize("UTC") if when.tz is None else when.tz_convert("UTC")
    return series.reindex(when + offset).to_numpy(dtype=float)


def baseline_metrics(y_true: np.ndarray, y_pred: np.ndarray, baseline: np.ndarray, *,
                     season: pd.Timedelta) -> dict[str, float | None]:
    """The seasonal-naive baseline scored on the same test rows as the model.

    mae_improvement is 1 - mae / baseline_mae: 0.3 means the model's error is 30 % lower
    than the baseline's, 0 or less means the model is worth nothing over it. Rows
    where the baseline has no value (a gap one season back) are left out of both.
    """
    known = ~np.isnan(baseline)
    if not known.any():
        return {"baseline_mae": None, "baseline_rmse": None, "baseline_mape": None, "mae_improvement": None,
                "baseline_season_hours": season / pd.Timedelta(hours=1), "baseline_rows": 0}
    model = regression_metrics(y_true[known], y_pred[known])
    naive = regression_metrics(y_true[known], baseline[known])
    improvement = None if naive["mae"] == 0 else 1.0 - model["mae"] / naive["mae"]
    return {
        "baseline_mae": naive["mae"],
        "baseline_rmse": naive["rmse"],
        "baseline_mape": naive["mape"],
        "mae_improvement": improvement,
        "baseline_season_hours": season / pd.Timedelta(hours=1),
        "baseline_rows": int(known.sum()),
    }
