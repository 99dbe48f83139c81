"""Readiness: can this process reach PostgreSQL and Redis right now?"""
from __future__ import annotations

import redis
import sqlalchemy as sa

from trainhub.config import get_settings
from trainhub.db import get_engine


def check_dependencies(timeout_seconds: float = 2.0) -> dict[str, str]:
    return {"database": _check_database(), "broker": _check_redis(timeout_seconds)}


def _check_database() -> str:
    try:
        with get_engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        return f"error: {type(exc).__name__}"


def _check_redis(timeout_seconds: float) -> str:
    try:
        client = redis.Redis.from_url(get_settings().redis_url, socket_timeout=timeout_seconds,
                                      socket_connect_timeout=timeout_seconds)
        client.ping()
        client.close()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        return f"error: {type(exc).__name__}"
