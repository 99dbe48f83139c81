"""Model artifacts on disk: everything needed to predict, in one joblib file."""

import os
import pathlib
import tempfile
from typing import Any

import joblib
import numpy as np
import pandas as pd

from trainhub.pipeline.evaluate import anomaly_scores
from trainhub.pipeline.run import TrainingResult


def save_artifact(result: TrainingResult, path: pathlib.Path, metadata: dict[str, Any]) -> int:
    """Write the artifact atomically and return its size in bytes.

    The file is written beside `path` and renamed over it, so a reader never sees a
    half-written model, even if the worker dies mid-write.
    """
    payload = {
        "model": result.model,
        "scaler": result.scaler,
        "feature_names": result.feature_names,
        "model_type": result.model_type,
        "target": result.target,
        "horizon": result.horizon,
        "hyperparameters": result.hyperparameters,
        "metadata": metadata,
    }
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            joblib.dump(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path.stat().st_size


def load_artifact(path: pathlib.Path) -> dict[str, Any]:
    return joblib.load(path)


def predict(artifact: dict[str, Any], X: pd.DataFrame) -> np.ndarray:
    """Forecasts for a forecast model, anomaly scores (higher is stranger) for an anomaly model.

    X holds engineered features (see engineer_features) with exactly the stored columns,
    in any order.
    """
    expected = artifact["feature_names"]
    missing = [column for column in expected if column not in X.columns]
    unexpected = [column for column in X.columns if column not in expected]
    if missing or unexpected:
        raise ValueError(f"feature columns do not match the model: missing {missing}, unexpected {unexpected}")
    features = artifact["scaler"].transform(X[expected].to_numpy(dtype=float))
    if artifact["model_type"] == "anomaly":
        return anomaly_scores(artifact["model"], features)
    return artifact["model"].predict(features)
