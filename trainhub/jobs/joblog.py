"""Persist every log record a job run emits into ai_training_logs, in batches.

The handler is attached to the root logger for the duration of one run and keeps
the records of the run's own thread (plus any it is told to adopt). It buffers them
and writes a batch per flush: one INSERT per second of training, not one per line.
"""
from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from trainhub import tables as t
from trainhub.db import get_engine

# Infrastructure chatter that is not about the job (and our own SQL writes).
_IGNORED_PREFIXES = ("sqlalchemy", "celery", "kombu", "amqp", "urllib3", "billiard")
_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


class JobLogHandler(logging.Handler):
    def __init__(self, job_id: UUID, *, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.job_id = job_id
        self._threads = {threading.get_ident()}
        self._buffer: list[dict[str, Any]] = []
        self._buffer_lock = threading.Lock()
        self.setFormatter(logging.Formatter("%(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread in self._threads and not record.name.startswith(_IGNORED_PREFIXES)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # noqa: BLE001 - a bad format string must not kill the job
            message = str(record.msg)
        metadata: dict[str, Any] = {"module": record.module, "line": record.lineno}
        if record.exc_info and record.exc_info[0] is not None:
            metadata["exception"] = record.exc_info[0].__name__
        with self._buffer_lock:
            self._buffer.append({
                "job_id": self.job_id,
                "level": record.levelname if record.levelname in _LEVELS else "INFO",
                "logger": record.name,
                "message": message,
                "metadata": metadata,
            })

    def flush(self, connection: sa.Connection | None = None) -> None:
        """Write the buffered records: in `connection`'s transaction when given (they
        commit or roll back with it), else in a transaction of their own."""
        with self._buffer_lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        if connection is not None:
            connection.execute(sa.insert(t.training_logs), batch)
            return
        with get_engine().begin() as conn:
            conn.execute(sa.insert(t.training_logs), batch)

    def __enter__(self) -> "JobLogHandler":
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)
        self.flush()
