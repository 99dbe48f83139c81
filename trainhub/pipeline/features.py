"""Turn one regular time series into a supervised table: features at t, target at t + horizon.

What is engineered is declared per feature set, in its definition (see
resolve_definition): calendar features, lags and rolling statistics of the target,
exogenous columns. Every feature at t is computed from rows at or before t only, so
a model never sees any part of the future it is asked to predict.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from trainhub.feature_definition import (  # noqa: F401 - resolve_definition and friends re-exported
    PROFILE_DAYS, ROLLING_STATS, FeatureSpec, duration_label, frequency_step, horizon_in_steps,
    resolve_definition, season_of, steps_in,
)

# Labels describe the answer (a marked anomaly), so they are never inputs.
LABEL_COLUMNS = frozenset({"is_anomaly", "label"})

MIN_USABLE_ROWS = 200

_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(days=1)


def build_features(
    raw: pd.DataFrame,
    *,
    target: str,
    definition: Mapping[str, Any] | FeatureSpec | None = None,
    frequency: str = "h",
    exogenous: list[str] | None = None,
) -> pd.DataFrame:
    """Features for every time step of `raw`, indexed by ts on the regular grid.

    A row uses rows at or before its own ts only; rows too early for their lags or
    windows, or next to a gap, hold NaN. `raw` is one series with a `ts` column.
    """
    spec = resolve_definition(definition, frequency=frequency)
    series = _regular_series(raw, target, spec.step)
    inputs = _exogenous_columns(series, target, spec, exogenous)
    return _features(series, target, spec, inputs)


def prediction_features(
    raw: pd.DataFrame,
    *,
    target: str,
    definition: Mapping[str, Any] | FeatureSpec | None = None,
    frequency: str = "h",
    exogenous: list[str] | None = None,
    at: Any = None,
) -> pd.DataFrame:
    """The one feature row for time `at` (default: the last row of `raw`), from rows up to `at`.

    A model trained with the same definition predicts the target at `at` + its horizon
    from it. Rows after `at` are dropped before anything is computed, so they cannot
    leak in. Raises ValueError if the history before `at` is too short or has gaps.
    """
    spec = resolve_definition(definition, frequency=frequency)
    timestamps = pd.to_datetime(raw["ts"], utc=True)
    at = timestamps.max() if at is None else pd.Timestamp(at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    features = build_features(raw[(timestamps <= at).to_numpy()], target=target, definition=spec,
                              exogenous=exogenous)
    if at not in features.index:
        raise ValueError(f"no row at {at}: the data ends at {features.index[-1]}")
    row = features.loc[[at]].astype(float)
    incomplete = [column for column in row.columns if row[column].isna().any()]
    if incomplete:
        raise ValueError(
            f"features {incomplete} at {at} need {spec.history_steps} steps of complete history "
            "before it; the data is shorter or has gaps there"
        )
    return row


def engineer_features(
    raw: pd.DataFrame,
    *,
    target: str,
    horizon: int,
    exogenous: list[str] | None = None,
    definition: Mapping[str, Any] | FeatureSpec | None = None,
    frequency: str = "h",
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return (X, y, ts): X at row t uses rows <= t only; y is the target `horizon` hours after t.

    `raw` is one series with a `ts` column. It is put on the regular grid of `frequency`
    first, so lags count steps even where the source skipped some; a skipped step then
    counts as a missing value. With the definition's missing policy "error" (the default)
    any missing target or input value fails; with "drop" the rows that would need one go.
    """
    spec = resolve_definition(definition, frequency=frequency)
    if horizon < 0:
        raise ValueError(f"horizon must be 0 or more hours, got {horizon}")
    horizon_steps = horizon_in_steps(horizon, spec.step)
    series = _regular_series(raw, target, spec.step)
    inputs = _exogenous_columns(series, target, spec, exogenous)
    if spec.missing == "error":
        _fail_on_missing(series, target, inputs, spec.step)

    features = _features(series, target, spec, inputs)
    future_target = series[target].shift(-horizon_steps)

    # Rows without the full look-back, or without a value `horizon` later, go.
    history = spec.history_steps
    usable = np.zeros(len(series), dtype=bool)
    usable[history:len(series) - horizon_steps] = True
    if spec.missing == "drop":
        usable &= features.notna().all(axis=1).to_numpy() & future_target.notna().to_numpy()
    n_usable = int(usable.sum())
    if n_usable < MIN_USABLE_ROWS:
        raise ValueError(
            f"too little data: {len(series)} {_rows_word(spec.step)} rows leave {n_usable} usable rows after "
            f"{_span(history * spec.step)} of lag history and a {horizon}-hour horizon"
            f"{' (rows next to gaps dropped)' if spec.missing == 'drop' else ''}; "
            f"at least {MIN_USABLE_ROWS} are needed"
        )
    X = features[usable].astype(float).reset_index(drop=True)
    y = future_target[usable].rename(target).reset_index(drop=True)
    ts = pd.Series(series.index[usable], name="ts")
    return X, y, ts


def regular_series(raw: pd.DataFrame, target: str, frequency: str) -> pd.DataFrame:
    """`raw` indexed by UTC ts and reindexed onto its frequency grid (skipped steps are NaN)."""
    return _regular_series(raw, target, frequency_step(frequency))


# --- the features ------------------------------------------------------------------

def _features(series: pd.DataFrame, target: str, spec: FeatureSpec, inputs: list[str]) -> pd.DataFrame:
    values = series[target]
    timestamps = series.index
    columns: dict[str, Any] = _calendar(timestamps, spec)
    columns["lag_0"] = values
    for lag in spec.lags:
        columns[f"lag_{duration_label(lag * spec.step, spec.step)}"] = values.shift(lag)
    for rolling in spec.rolling:
        window = values.rolling(rolling.window, min_periods=rolling.window)
        for stat in rolling.stats:
            columns[f"rolling_{ROLLING_STATS[stat]}_{rolling.label}"] = getattr(window, stat)()
    if spec.profile:
        columns.update(_profile(values, spec.step))
    columns.update({column: series[column] for column in inputs})
    return pd.DataFrame(columns, index=timestamps)


def _calendar(timestamps: pd.DatetimeIndex, spec: FeatureSpec) -> dict[str, Any]:
    local = timestamps.tz_convert(spec.timezone)
    values = {
        "hour": local.hour,
        "minute": local.minute,
        "day_of_week": local.day_of_week,
        "day_of_month": local.day,
        "day_of_year": local.day_of_year,
        "month": local.month,
        "is_weekend": (local.day_of_week >= 5).astype(int),
    }
    columns = {name: np.asarray(values[name]) for name in spec.calendar}
    if spec.holidays is not None:
        columns["is_holiday"] = _is_holiday(local, *spec.holidays)
    return columns


def _profile(values: pd.Series, step: pd.Timedelta) -> dict[str, pd.Series]:
    per_hour = steps_in(_HOUR, step)
    per_day = steps_in(_DAY, step)
    same_time = sum(values.shift(day * per_day) for day in range(1, PROFILE_DAYS + 1)) / PROFILE_DAYS
    mean_24h = values.rolling(per_day, min_periods=per_day).mean()
    # Trees split one column at a time and cannot subtract two; these differences say
    # how this step departs from its recent pattern, which is what an anomaly looks
    # like and what the next hours partly inherit.
    return {
        "hourly_avg": same_time,
        "change_1h": values - values.shift(per_hour),
        "deviation_from_hourly_avg": values - same_time,
        "deviation_from_rolling_24h": values - mean_24h,
    }


def _is_holiday(local: pd.DatetimeIndex, country: str, subdivision: str | None) -> np.ndarray:
    import holidays

    years = range(local.year.min(), local.year.max() + 1) if len(local) else []
    dates = np.array(sorted(holidays.country_holidays(country, subdiv=subdivision, years=years)), dtype="datetime64[D]")
    days = local.tz_localize(None).to_numpy().astype("datetime64[D]")
    return np.isin(days, dates).astype(int)


# --- input checks ------------------------------------------------------------------

def _regular_series(raw: pd.DataFrame, target: str, step: pd.Timedelta) -> pd.DataFrame:
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
            "expected one series with one row per time step"
        )
    off_grid = (series.index - series.index[0]) % step != pd.Timedelta(0)
    if off_grid.any():
        raise ValueError(
            f"{off_grid.sum()} timestamps are off the {duration_label(step, step)} grid "
            f"(first {series.index[off_grid][0]})"
        )
    grid = pd.date_range(series.index[0], series.index[-1], freq=step)
    return series.reindex(grid)


def _exogenous_columns(series: pd.DataFrame, target: str, spec: FeatureSpec, override: list[str] | None) -> list[str]:
    labels = LABEL_COLUMNS | ({spec.label} if spec.label else set())
    chosen = override if override is not None else spec.exogenous
    if chosen is None:
        numeric = series.select_dtypes("number").columns
        return [column for column in numeric if column != target and column not in labels]
    chosen = list(chosen)
    missing = [column for column in chosen if column not in series.columns]
    if missing:
        raise ValueError(f"exogenous columns {missing} are missing; columns: {list(series.columns)}")
    not_inputs = sorted({target, *labels} & set(chosen))
    if not_inputs:
        raise ValueError(f"{not_inputs} cannot be exogenous inputs: they are the target or a label")
    not_numeric = [column for column in chosen if not pd.api.types.is_numeric_dtype(series[column])]
    if not_numeric:
        raise ValueError(f"exogenous columns {not_numeric} are not numeric")
    return chosen


def _fail_on_missing(series: pd.DataFrame, target: str, inputs: list[str], step: pd.Timedelta) -> None:
    missing = int(series[target].isna().sum())
    if missing:
        first = series.index[series[target].isna().to_numpy()][0]
        raise ValueError(
            f"target column {target!r} has {missing} missing values among {len(series)} "
            f"{duration_label(step, step)} steps from {series.index[0]} to {series.index[-1]} "
            f"(first at {first}; skipped steps count as missing). "
            "Choose a window without gaps, or set the feature set's definition to missing: drop"
        )
    gaps = {column: int(count) for column, count in series[inputs].isna().sum().items() if count}
    if gaps:
        raise ValueError(f"exogenous columns have missing values: {gaps}")


def _span(duration: pd.Timedelta) -> str:
    hours = duration / _HOUR
    return f"{hours:g} hours" if hours == math.floor(hours) else f"{duration}"


def _rows_word(step: pd.Timedelta) -> str:
    return "hourly" if step == _HOUR else f"{duration_label(step, step)}-step"
