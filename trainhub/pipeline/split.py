"""Chronological train/validation/test split with scaling learnt from the past only."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler


@dataclass
class Split:
    X_train: np.ndarray
    X_val: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    ts_test: np.ndarray  # datetime64[ns], UTC
    feature_names: list[str]
    scaler: StandardScaler


def time_split(
    X: pd.DataFrame, y: pd.Series, ts: pd.Series, *, validation_split: float, test_split: float
) -> Split:
    """Oldest rows train, the next `validation_split` validate, the newest `test_split` test.

    No shuffling: a shuffled split would let the model learn from hours that come after
    the ones it is scored on. The scaler sees the training rows only for the same reason.
    """
    for name, fraction in (("validation_split", validation_split), ("test_split", test_split)):
        if not 0 < fraction < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {fraction}")
    n_rows = len(X)
    n_test = round(n_rows * test_split)
    n_val = round(n_rows * validation_split)
    n_train = n_rows - n_val - n_test
    if min(n_train, n_val, n_test) <= 0:
        raise ValueError(
            f"{n_rows} rows split {validation_split:g}/{test_split:g} leave {n_train} train, "
            f"{n_val} validation and {n_test} test rows; every part needs at least one"
        )

    features = X.to_numpy(dtype=float)
    target = y.to_numpy(dtype=float)
    val_start, test_start = n_train, n_train + n_val
    scaler = StandardScaler().fit(features[:val_start])
    return Split(
        X_train=scaler.transform(features[:val_start]),
        X_val=scaler.transform(features[val_start:test_start]),
        X_test=scaler.transform(features[test_start:]),
        y_train=target[:val_start],
        y_val=target[val_start:test_start],
        y_test=target[test_start:],
        ts_test=pd.to_datetime(ts.iloc[test_start:], utc=True).dt.tz_convert(None).to_numpy(),
        feature_names=list(X.columns),
        scaler=scaler,
    )
