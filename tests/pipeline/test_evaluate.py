import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from trainhub.pipeline.evaluate import anomaly_metrics, regression_metrics


def test_regression_metrics_on_a_known_error():
    metrics = regression_metrics(np.array([100.0, 200.0, 0.0, 400.0]), np.array([110.0, 190.0, 5.0, 400.0]))

    assert metrics["mae"] == pytest.approx(25 / 4)
    assert metrics["rmse"] == pytest.approx(np.sqrt(225 / 4))
    assert metrics["mape"] == pytest.approx((10 + 5 + 0) / 3)  # the zero actual is skipped
    assert metrics["r2"] == pytest.approx(1 - 225 / np.sum((np.array([100, 200, 0, 400]) - 175) ** 2))
    assert all(type(value) is float for value in metrics.values())


def test_mape_is_none_when_every_actual_is_zero():
    assert regression_metrics(np.zeros(3), np.ones(3))["mape"] is None


def test_anomaly_metrics_score_obvious_outliers_higher():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(500, 2))
    outliers = rng.normal(loc=8.0, size=(10, 2))
    model = IsolationForest(random_state=0).fit(normal)
    X_test = np.vstack([normal[:100], outliers])
    labels = np.r_[np.zeros(100), np.ones(10)]

    metrics = anomaly_metrics(model, X_test, labels)

    assert metrics["roc_auc"] > 0.99
    assert metrics["recall"] == 1.0
    assert set(metrics) == {"anomaly_rate", "mean_score", "precision", "recall", "f1", "roc_auc"}
    assert set(anomaly_metrics(model, X_test, None)) == {"anomaly_rate", "mean_score"}


def test_roc_auc_is_none_when_the_test_window_has_one_class():
    model = IsolationForest(random_state=0).fit(np.random.default_rng(0).normal(size=(100, 2)))

    assert anomaly_metrics(model, np.zeros((5, 2)), np.zeros(5))["roc_auc"] is None
