"""First guess of a job's duration, by the seed's formula."""
from __future__ import annotations

from datetime import datetime
from typing import Any


def estimate_duration_seconds(config: dict[str, Any]) -> int:
    """base = 180 / n_workers; with HPO add n_trials * 30 / n_workers; double when the
    date range exceeds 365 days."""
    n_workers = max(1, int(config.get("n_workers", 1)))
    seconds = 180 / n_workers
    if config.get("enable_hpo"):
        seconds += int(config.get("n_trials", 0)) * 30 / n_workers
    start, end = (_as_datetime(config[key]) for key in ("start_date", "end_date"))
    if (end - start).days > 365:
        seconds *= 2
    return int(seconds)


def _as_datetime(value: datetime | str) -> datetime:
    # Stored configs hold ISO strings; freshly validated ones hold datetimes.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
