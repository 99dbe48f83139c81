"""Turn one hourly series into a supervised table: features at t, target at t + horizon."""

import pandas as pd

# Labels describe the answer (a marked anomaly), so they are never inputs.
LABEL_COLUMNS = frozenset({"is_anomaly", "label"})

MIN_USABLE_ROWS = 200

_HOURS_PER_WEEK = 168
# hourly_avg averages the same hour on each of the previous seven days.
_SAME_HOUR_LAGS = range(24, _HOURS_PER_WEEK + 1, 24)
# The longest look-back any feature needs (hourly_avg's oldest lag, daily_avg's window).
_HISTORY_HOURS = _HOURS_PER_WEEK


def engineer_features(
    raw: pd.DataFrame, *, target: str, horizon: int, exogenous: list[str] | None = None
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return (X, y, ts): X at row t uses rows <= t only; y is the target at t + horizon.

    `raw` is one series with a `ts` column. It is put on a regular hourly grid first,
    so lags are measured in hours even if the source skipped some; a skipped hour then
    counts as a missing target value.
    """
    if horizon < 0:
        raise ValueError(f"horizon must be 0 or more hours, got {horizon}")
    series = _hourly_series(raw, target)
    exogenous = _exogenous_columns(series, target) if exogenous is None else exogenous
    _check_columns(series, target, exogenous)

    values = series[target]
    hourly_avg = sum(values.shift(lag) for lag in _SAME_HOUR_LAGS) / len(_SAME_HOUR_LAGS)
    rolling_avg_24h = values.rolling(24).mean()
    timestamps = series.index
    features = pd.DataFrame(
        {
            "hour": timestamps.hour,
            "day_of_week": timestamps.day_of_week,
            "month": timestamps.month,
            "is_weekend": (timestamps.day_of_week >= 5).astype(int),
            "lag_0": values,
            "lag_1h": values.shift(1),
            "lag_24h": values.shift(24),
            "hourly_avg": hourly_avg,
            "daily_avg": values.rolling(_HOURS_PER_WEEK).mean(),
            "rolling_avg_24h": rolling_avg_24h,
            # Trees split one column at a time and cannot subtract two; these differences
            # say how this hour departs from its recent pattern, which is what an
            # anomaly looks like and what the next hours partly inherit.
            "change_1h": values.diff(1),
            "deviation_from_hourly_avg": values - hourly_avg,
            "deviation_from_rolling_24h": values - rolling_avg_24h,
            **{column: series[column] for column in exogenous},
        },
        index=timestamps,
    )
    future_target = values.shift(-horizon)

    # Rows before a full week of history, or without a value `horizon` hours later, go.
    usable = slice(_HISTORY_HOURS, len(series) - horizon)
    n_usable = len(range(len(series))[usable])
    if n_usable < MIN_USABLE_ROWS:
        raise ValueError(
            f"too little data: {len(series)} hourly rows leave {n_usable} usable rows after "
            f"{_HISTORY_HOURS} hours of lag history and a {horizon}-hour horizon; "
            f"at least {MIN_USABLE_ROWS} are needed"
        )
    X = features.iloc[usable].astype(float).reset_index(drop=True)
    y = future_target.iloc[usable].rename(target).reset_index(drop=True)
    ts = pd.Series(timestamps[usable], name="ts")
    return X, y, ts


def _hourly_series(raw: pd.DataFrame, target: str) -> pd.DataFrame:
    if raw.empty:
        raise ValueError("no data: the feature frame has no rows for the requested window")
    if "ts" not in raw.columns:
        raise ValueError(f"the feature frame has no 'ts' column; columns: {list(raw.columns)}")
    if target not in raw.columns:
        raise ValueError(f"target column {target!r} is missing; columns: {list(raw.columns)}")
    if not pd.api.types.is_numeric_dtype(raw[target]):
        raise ValueError(f"target column {target!r} is not numeric (dtype {raw[target].dtype})")
    timestamps = pd.to_datetime(raw["ts"], utc=True).dt.as_unit("ns")
    series = raw.assign(ts=timestamps).set_index("ts").sort_index()
    duplicated = series.index.duplicated()
    if duplicated.any():
        raise ValueError(
            f"{duplicated.sum()} duplicate timestamps (first {series.index[duplicated][0]}); "
            "expected one series with one row per hour"
        )
    grid = pd.date_range(series.index[0], series.index[-1], freq="h")
    series = series.reindex(grid)
    missing = int(series[target].isna().sum())
    if missing:
        raise ValueError(
            f"target column {target!r} has {missing} missing values among {len(series)} hours "
            f"from {grid[0]} to {grid[-1]} (skipped hours count as missing)"
        )
    return series


def _exogenous_columns(series: pd.DataFrame, target: str) -> list[str]:
    numeric = series.select_dtypes("number").columns
    return [column for column in numeric if column != target and column not in LABEL_COLUMNS]


def _check_columns(series: pd.DataFrame, target: str, exogenous: list[str]) -> None:
    missing = [column for column in exogenous if column not in series.columns]
    if missing:
        raise ValueError(f"exogenous columns {missing} are missing; columns: {list(series.columns)}")
    not_inputs = sorted({target, *LABEL_COLUMNS} & set(exogenous))
    if not_inputs:
        raise ValueError(f"{not_inputs} cannot be exogenous inputs: they are the target or a label")
    not_numeric = [column for column in exogenous if not pd.api.types.is_numeric_dtype(series[column])]
    if not_numeric:
        raise ValueError(f"exogenous columns {not_numeric} are not numeric")
    gaps = {column: int(count) for column, count in series[exogenous].isna().sum().items() if count}
    if gaps:
        raise ValueError(f"exogenous columns have missing values: {gaps}")
