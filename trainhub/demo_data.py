"""Synthetic hourly data for the built-in demo feature sets.

Every value is a pure function of its epoch hour (and the seed): the noise comes from
a counter-based hash of the hour, not from one random stream started at `start`. So
the value at a timestamp is identical whichever [start, end) window asks for it, and
a job that trains on 2015–2024 sees exactly the hours a job on 2020 saw.
"""

from datetime import datetime, timezone

import numpy as np
import pandas as pd

DEMO_FEATURE_SETS = {
    "forecast_basic": {
        "description": "Hourly building load with weather: daily, weekly and yearly cycles.",
        "columns": ["load_kw", "temperature", "humidity"],
        "target": "load_kw",
        "label": None,
        "frequency": "h",
    },
    "anomaly_basic": {
        "description": "forecast_basic with about 1% of hours spiked, dipped or frozen.",
        "columns": ["load_kw", "temperature", "humidity", "is_anomaly"],
        "target": "load_kw",
        "label": "is_anomaly",
        "frequency": "h",
    },
}

_NS_PER_HOUR = 3_600_000_000_000
_HOURS_PER_DAY = 24
_DAYS_PER_YEAR = 365.2425
# 1970-01-01, day 0 of the epoch, was a Thursday; Monday is 0 as in pandas.
_EPOCH_DAY_OF_WEEK = 3

# Separate hash streams so that, say, temperature noise and spike positions are independent.
_STREAM_TEMPERATURE_WEATHER = 1
_STREAM_TEMPERATURE_NOISE = 2
_STREAM_HUMIDITY_NOISE = 3
_STREAM_LOAD_DAILY = 4
_STREAM_LOAD_NOISE = 5
_STREAM_SPIKE = 6
_STREAM_DIP = 7
_STREAM_FLATLINE = 8
_STREAM_MAGNITUDE = 9

_SPIKE_PROBABILITY = 0.004
_DIP_PROBABILITY = 0.003
# A frozen meter repeats one reading for a few hours; per day, so it spans hours.
_FLATLINE_DAY_PROBABILITY = 0.012
_FLATLINE_HOURS = 6


def generate_demo_frame(name: str, start: datetime, end: datetime, *, seed: int = 7) -> pd.DataFrame:
    """Hourly rows for `name` with timestamps in [start, end); naive datetimes are UTC."""
    if name not in DEMO_FEATURE_SETS:
        raise ValueError(f"unknown demo feature set {name!r}; known: {sorted(DEMO_FEATURE_SETS)}")
    hours = np.arange(_first_hour_at_or_after(start), _first_hour_at_or_after(end), dtype=np.int64)
    weather = _weather(hours, seed)
    columns = {
        "ts": pd.to_datetime(hours * _NS_PER_HOUR, unit="ns", utc=True),
        "load_kw": _load_kw(hours, weather["temperature"], seed),
        **weather,
    }
    if name == "anomaly_basic":
        columns["load_kw"], columns["is_anomaly"] = _inject_anomalies(hours, columns["load_kw"], weather, seed)
    return pd.DataFrame(columns)[["ts", *DEMO_FEATURE_SETS[name]["columns"]]]


def _first_hour_at_or_after(moment: datetime) -> int:
    timestamp = pd.Timestamp(moment)
    if timestamp.tzinfo is None:
        timestamp = timestamp.tz_localize(timezone.utc)
    nanoseconds = timestamp.as_unit("ns").value
    return -(-nanoseconds // _NS_PER_HOUR)


def _weather(hours: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    yearly = _yearly_cycle(hours)
    daily = np.cos(2 * np.pi * (hours % _HOURS_PER_DAY - 15) / _HOURS_PER_DAY)  # warmest at 15:00
    # Weather fronts last days, so the anomaly is smooth between daily knots.
    front = 3.0 * _smooth_daily_normal(hours, seed, _STREAM_TEMPERATURE_WEATHER)
    temperature = 12.0 - 11.0 * yearly + 4.0 * daily + front + 0.4 * _normal(hours, seed, _STREAM_TEMPERATURE_NOISE)
    # Air is more humid at night, in winter and when a cold front passes.
    humidity = 68.0 - 8.0 * daily + 6.0 * yearly - 1.5 * front + 4.0 * _normal(hours, seed, _STREAM_HUMIDITY_NOISE)
    return {"temperature": temperature, "humidity": np.clip(humidity, 20.0, 100.0)}


def _load_kw(hours: np.ndarray, temperature: np.ndarray, seed: int) -> np.ndarray:
    hour_of_day = hours % _HOURS_PER_DAY
    day_of_week = (hours // _HOURS_PER_DAY + _EPOCH_DAY_OF_WEEK) % 7
    daily_profile = (
        1.0
        + 0.35 * _bump(hour_of_day, peak=10, width=3.0)
        + 0.45 * _bump(hour_of_day, peak=19, width=2.5)
        - 0.25 * _bump(hour_of_day, peak=4, width=3.0)
    )
    weekly_factor = np.where(day_of_week >= 5, 0.82, 1.0)
    yearly_factor = 1.0 + 0.05 * _yearly_cycle(hours)  # more lighting in winter
    heating = 9.0 * np.clip(15.0 - temperature, 0.0, None)
    cooling = 14.0 * np.clip(temperature - 22.0, 0.0, None)
    noise = (
        1.0
        + 0.04 * _smooth_daily_normal(hours, seed, _STREAM_LOAD_DAILY)
        + 0.03 * _normal(hours, seed, _STREAM_LOAD_NOISE)
    )
    load = (420.0 * daily_profile * weekly_factor * yearly_factor + heating + cooling) * noise
    return np.clip(load, 50.0, None)


def _inject_anomalies(
    hours: np.ndarray, load: np.ndarray, weather: dict[str, np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    magnitude = _uniform(hours, seed, _STREAM_MAGNITUDE)
    spike = _uniform(hours, seed, _STREAM_SPIKE) < _SPIKE_PROBABILITY
    dip = ~spike & (_uniform(hours, seed, _STREAM_DIP) < _DIP_PROBABILITY)
    anomalous = np.where(spike, load * (1.5 + 0.7 * magnitude), load)
    anomalous = np.where(dip, load * (0.2 + 0.3 * magnitude), anomalous)

    # The frozen reading is the true load at the hour the meter stuck, which may lie
    # before `start`; it is recomputed from its hour so windows still agree.
    days = hours // _HOURS_PER_DAY
    day_draw = _uniform(days, seed, _STREAM_FLATLINE)
    # Below the threshold the draw is still uniform, so it doubles as the stuck hour (0..16).
    stuck_hour = days * _HOURS_PER_DAY + np.floor(day_draw / _FLATLINE_DAY_PROBABILITY * 17).astype(np.int64)
    frozen = (day_draw < _FLATLINE_DAY_PROBABILITY) & (hours > stuck_hour) & (hours <= stuck_hour + _FLATLINE_HOURS)
    if frozen.any():
        stuck = stuck_hour[frozen]
        stuck_temperature = _weather(stuck, seed)["temperature"]
        anomalous[frozen] = _load_kw(stuck, stuck_temperature, seed)

    is_anomaly = (spike | dip | frozen).astype(np.int8)
    return anomalous, is_anomaly


def _bump(hour_of_day: np.ndarray, *, peak: float, width: float) -> np.ndarray:
    distance = np.abs(hour_of_day - peak)
    distance = np.minimum(distance, _HOURS_PER_DAY - distance)  # midnight wraps around
    return np.exp(-0.5 * (distance / width) ** 2)


def _yearly_cycle(hours: np.ndarray) -> np.ndarray:
    """+1 in mid-January, -1 in mid-July."""
    days = hours / _HOURS_PER_DAY
    return np.cos(2 * np.pi * (days - 15) / _DAYS_PER_YEAR)


def _smooth_daily_normal(hours: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Standard-normal knots at each midnight, linearly interpolated through the day."""
    day = hours // _HOURS_PER_DAY
    fraction = (hours % _HOURS_PER_DAY) / _HOURS_PER_DAY
    return (1 - fraction) * _normal(day, seed, stream) + fraction * _normal(day + 1, seed, stream)


def _normal(keys: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Box–Muller on two hash streams: one standard normal per key."""
    radius = np.sqrt(-2.0 * np.log1p(-_uniform(keys, seed, 2 * stream)))
    angle = 2.0 * np.pi * _uniform(keys, seed, 2 * stream + 1)
    return radius * np.cos(angle)


def _uniform(keys: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Uniform [0, 1) per key: SplitMix64 of the key, salted by seed and stream."""
    salt = _splitmix64(np.array([seed * 1_000_003 + stream], dtype=np.int64).view(np.uint64))
    mixed = _splitmix64(np.asarray(keys, dtype=np.int64).view(np.uint64) ^ salt)
    return (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _splitmix64(values: np.ndarray) -> np.ndarray:
    # uint64 array arithmetic wraps modulo 2**64, which is what the mixer relies on.
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
