import numpy as np
import pandas as pd
import pytest

from trainhub.pipeline.split import time_split


@pytest.fixture
def trending():
    """A feature that grows with time, so a later part has a different mean."""
    n_rows = 1000
    ts = pd.Series(pd.date_range("2024-01-01", periods=n_rows, freq="h", tz="UTC"), name="ts")
    X = pd.DataFrame({"trend": np.arange(n_rows, dtype=float), "noise": np.random.default_rng(0).normal(size=n_rows)})
    y = pd.Series(np.arange(n_rows, dtype=float) * 2)
    return X, y, ts


def test_parts_follow_each_other_in_time_and_are_sized_by_the_fractions(trending):
    X, y, ts = trending

    split = time_split(X, y, ts, validation_split=0.2, test_split=0.1)

    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (700, 200, 100)
    np.testing.assert_array_equal(np.concatenate([split.y_train, split.y_val, split.y_test]), y.to_numpy())
    assert split.ts_test[0] == np.datetime64("2024-01-01T00:00") + np.timedelta64(900, "h")
    assert split.feature_names == ["trend", "noise"]


def test_scaler_learns_from_training_rows_only(trending):
    X, y, ts = trending

    split = time_split(X, y, ts, validation_split=0.2, test_split=0.1)

    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(split.X_train.std(axis=0), 1)
    np.testing.assert_allclose(split.scaler.mean_, X.iloc[:700].mean())
    assert split.X_val[:, 0].min() > split.X_train[:, 0].max()
    assert split.X_test[:, 0].mean() > 2


def test_a_split_that_leaves_a_part_empty_is_rejected(trending):
    X, y, ts = trending

    with pytest.raises(ValueError, match="0 test rows"):
        time_split(X.iloc[:10], y.iloc[:10], ts.iloc[:10], validation_split=0.3, test_split=0.01)


def test_fractions_outside_zero_and_one_are_rejected(trending):
    with pytest.raises(ValueError, match="test_split must be between 0 and 1"):
        time_split(*trending, validation_split=0.2, test_split=1.5)
