"""Test-set metrics, as plain Python numbers ready to be stored as JSON."""

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import f1_score, precision_score, r2_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline

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
