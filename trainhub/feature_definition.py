"""A feature set's definition: which features are engineered from its series, and how
its frequency is read.

Pure and light (pandas only): the API and the loader validate definitions with it
without importing the training pipeline (LightGBM, scikit-learn), which uses it too.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

CALENDAR_FEATURES = ("hour", "minute", "day_of_week", "day_of_month", "day_of_year", "month", "is_weekend")
DEFAULT_CALENDAR = ("hour", "day_of_week", "month", "is_weekend")
# Rolling statistics and the word each adds to a feature name (rolling_avg_24h, …).
ROLLING_STATS = {"mean": "avg", "std": "std", "min": "min", "max": "max"}
# error: a missing target or input value in the window fails the job, naming how many.
# drop: rows whose features or target would need a missing value are left out, never filled.
MISSING_POLICIES = ("error", "drop")
DEFINITION_KEYS = frozenset({
    "description", "label", "calendar", "holidays", "timezone", "lags", "rolling", "profile",
    "exogenous", "missing",
})

_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(days=1)
_WEEK = pd.Timedelta(days=7)
# The profile features average the same time of day over the previous seven days.
PROFILE_DAYS = 7


@dataclass(frozen=True)
class Rolling:
    window: int  # steps, ending at t inclusive
    stats: tuple[str, ...]
    label: str  # the window as it appears in feature names: 24h, 7d, 30min


@dataclass(frozen=True)
class FeatureSpec:
    """A feature set's definition with every default filled in and durations in steps."""

    frequency: str
    step: pd.Timedelta
    calendar: tuple[str, ...]
    holidays: tuple[str, str | None] | None  # (country, subdivision)
    timezone: str
    lags: tuple[int, ...]
    rolling: tuple[Rolling, ...]
    profile: bool
    exogenous: tuple[str, ...] | None  # None: every numeric column but the target and labels
    label: str | None
    missing: str

    @property
    def history_steps(self) -> int:
        """Rows a feature row needs before it: the longest lag, window or profile look-back."""
        profile = steps_in(PROFILE_DAYS * _DAY, self.step) if self.profile else 0
        return max([0, profile, *self.lags, *(r.window for r in self.rolling)])

    def to_json(self) -> dict[str, Any]:
        """The resolved definition as stored JSON: durations as strings, every key present."""
        holidays = None
        if self.holidays is not None:
            country, subdivision = self.holidays
            holidays = {"country": country, "subdivision": subdivision}
        return {
            "calendar": list(self.calendar),
            "holidays": holidays,
            "timezone": self.timezone,
            "lags": [duration_label(lag * self.step, self.step) for lag in self.lags],
            "rolling": [{"window": r.label, "stats": list(r.stats)} for r in self.rolling],
            "profile": self.profile,
            "exogenous": None if self.exogenous is None else list(self.exogenous),
            "label": self.label,
            "missing": self.missing,
        }


def season_of(frequency: str) -> pd.Timedelta:
    """The season of a series: a day for hourly (and finer) data, a week for daily data."""
    step = frequency_step(frequency)
    if step < _DAY:
        return _DAY
    if step < _WEEK:
        return _WEEK
    return 52 * _WEEK


def frequency_step(frequency: str) -> pd.Timedelta:
    """The fixed length of one step of a pandas frequency alias ('h', '30min', 'D')."""
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(frequency))
    except (ValueError, TypeError):
        raise ValueError(f"frequency {frequency!r} is not a fixed step such as '30min', 'h' or 'D'") from None
    if step <= pd.Timedelta(0):
        raise ValueError(f"frequency {frequency!r} must be a positive step")
    return step


def resolve_definition(definition: Mapping[str, Any] | FeatureSpec | None, *, frequency: str = "h") -> FeatureSpec:
    """Validate a feature-set definition and fill in the defaults for its frequency.

    Keys (all optional): calendar (names from CALENDAR_FEATURES), holidays (a country
    code such as "GB", or {"country": "GB", "subdivision": "ENG"}: adds is_holiday),
    timezone (calendar and holidays are local to it; default UTC), lags (target values
    that many steps, or a duration such as "24h", before t), rolling ([{"window": "24h",
    "stats": ["mean", "std"]}]: statistics over the window ending at t), profile
    (change_1h, hourly_avg and the deviations from it and from the 24-hour mean;
    hourly or finer data only), exogenous (input columns; default every numeric column
    but the target and labels), label (a 0/1 column scored by anomaly models), missing
    ("error" or "drop"), description. Raises ValueError naming what is wrong.
    """
    if isinstance(definition, FeatureSpec):
        return definition
    definition = dict(definition or {})
    unknown = sorted(set(definition) - DEFINITION_KEYS)
    if unknown:
        raise ValueError(f"unknown definition keys {unknown}; allowed: {sorted(DEFINITION_KEYS)}")
    step = frequency_step(frequency)
    fine = step <= _HOUR and _HOUR % step == pd.Timedelta(0)
    sub_daily = step < _DAY

    calendar = definition.get("calendar", DEFAULT_CALENDAR)
    if not isinstance(calendar, (list, tuple)) or not all(isinstance(c, str) for c in calendar):
        raise ValueError(f"calendar must be a list of names from {list(CALENDAR_FEATURES)}")
    wrong = [name for name in calendar if name not in CALENDAR_FEATURES]
    if wrong:
        raise ValueError(f"unknown calendar features {wrong}; allowed: {list(CALENDAR_FEATURES)}")

    default_lags = [step, _DAY] if sub_daily else [step, _WEEK]
    lags = [steps_in(_duration(value, "lags"), step, "lag")
            for value in _as_list(definition.get("lags", default_lags), "lags")]
    if any(lag < 1 for lag in lags):
        raise ValueError("lags must be at least one step; the value at t itself is always the feature lag_0")

    default_windows = [_DAY, _WEEK] if sub_daily else [_WEEK, 4 * _WEEK]
    default_rolling = [{"window": window, "stats": ["mean"]} for window in default_windows]
    rolling = [_rolling(item, step) for item in _as_list(definition.get("rolling", default_rolling), "rolling")]

    profile = definition.get("profile", fine)
    if not isinstance(profile, bool):
        raise ValueError("profile must be true or false")
    if profile and not fine:
        raise ValueError("profile features need hourly or finer data that divides an hour; "
                         f"the step is {duration_label(step, step)}")

    exogenous = definition.get("exogenous")
    if exogenous is not None and (not isinstance(exogenous, (list, tuple))
                                  or not all(isinstance(c, str) for c in exogenous)):
        raise ValueError("exogenous must be a list of column names")
    label = definition.get("label")
    if label is not None and not isinstance(label, str):
        raise ValueError("label must be a column name")
    missing = definition.get("missing", "error")
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {list(MISSING_POLICIES)}, got {missing!r}")
    timezone = definition.get("timezone") or "UTC"
    try:
        pd.Timestamp("2000-01-01", tz="UTC").tz_convert(timezone)
    except Exception:  # noqa: BLE001 - pytz and zoneinfo raise different types
        raise ValueError(f"unknown timezone {timezone!r} (use an IANA name such as 'Europe/London')") from None

    return FeatureSpec(
        frequency=frequency, step=step, calendar=tuple(dict.fromkeys(calendar)),
        holidays=_holiday_calendar(definition.get("holidays")), timezone=timezone,
        lags=tuple(dict.fromkeys(lags)), rolling=tuple(rolling), profile=profile,
        exogenous=None if exogenous is None else tuple(exogenous), label=label, missing=missing,
    )


def horizon_in_steps(horizon_hours: int, step: pd.Timedelta) -> int:
    """A horizon in hours as steps of the series; it must be a whole number of them."""
    span = horizon_hours * _HOUR
    if span % step != pd.Timedelta(0):
        raise ValueError(f"a {horizon_hours}-hour horizon is not a whole number of {duration_label(step, step)} steps")
    return int(span // step)


def _duration(value: Any, key: str) -> pd.Timedelta | int:
    if isinstance(value, bool):
        raise ValueError(f"{key}: {value!r} is neither a number of steps nor a duration such as '24h'")
    if isinstance(value, int | pd.Timedelta):
        return value
    if isinstance(value, str):
        try:
            return pd.Timedelta(value)
        except ValueError:
            pass
    raise ValueError(f"{key}: {value!r} is neither a number of steps nor a duration such as '24h'")


def steps_in(duration: pd.Timedelta | int, step: pd.Timedelta, what: str = "duration") -> int:
    if isinstance(duration, int):
        return duration
    if duration % step != pd.Timedelta(0):
        raise ValueError(f"{what} {duration_label(duration, pd.Timedelta(0))} is not a whole number of "
                         f"{duration_label(step, pd.Timedelta(0))} steps")
    return int(duration // step)


def _rolling(item: Any, step: pd.Timedelta) -> Rolling:
    if not isinstance(item, Mapping) or "window" not in item:
        raise ValueError(f"rolling: each entry is {{'window': '24h', 'stats': ['mean', 'std']}}, got {item!r}")
    extra = sorted(set(item) - {"window", "stats"})
    if extra:
        raise ValueError(f"rolling: unknown keys {extra}")
    window = steps_in(_duration(item["window"], "rolling window"), step, "rolling window")
    if window < 2:
        raise ValueError("rolling: a window needs at least two steps")
    stats = _as_list(item.get("stats", ["mean"]), "rolling stats")
    wrong = [stat for stat in stats if stat not in ROLLING_STATS]
    if wrong or not stats:
        raise ValueError(f"rolling: unknown stats {wrong}; allowed: {list(ROLLING_STATS)}")
    return Rolling(window=window, stats=tuple(dict.fromkeys(stats)), label=duration_label(window * step, step))


def _holiday_calendar(value: Any) -> tuple[str, str | None] | None:
    if value in (None, False, ""):
        return None
    if isinstance(value, str):
        country, subdivision = value, None
    elif isinstance(value, Mapping) and set(value) <= {"country", "subdivision"} and "country" in value:
        country, subdivision = value["country"], value.get("subdivision")
    else:
        raise ValueError("holidays is a country code such as 'GB', or {'country': 'GB', 'subdivision': 'ENG'}")
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        raise ValueError(f"holidays: no public-holiday calendar for country {country!r}") from None
    except Exception as exc:  # noqa: BLE001 - holidays raises several types for a bad subdivision
        raise ValueError(f"holidays: {exc}") from None
    return country, subdivision


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key} must be a list")
    return list(value)


def duration_label(duration: pd.Timedelta, step: pd.Timedelta) -> str:
    """24h, 30min, 7d: days only for daily or coarser data, so hourly names stay lag_24h."""
    seconds = int(duration.total_seconds())
    if step >= _DAY and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"
