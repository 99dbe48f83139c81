"""Reading a job's persisted log lines."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.jobs.service import get_job


@dataclass(frozen=True)
class LogLine:
    log_id: int
    timestamp: datetime
    level: str
    logger: str
    message: str
    metadata: dict[str, Any]


def tail_logs(session: Session, *, job_id: UUID, tenant_scope: str | None, tail: int,
              after_id: int | None = None) -> list[LogLine]:
    """The last `tail` lines in time order (after `after_id` when following)."""
    get_job(session, job_id=job_id, tenant_scope=tenant_scope)  # 404 before reading logs
    logs = t.training_logs.c
    query = sa.select(logs.log_id, logs.created_at, logs.level, logs.logger, logs.message,
                      logs.metadata).where(logs.job_id == job_id)
    if after_id is not None:
        query = query.where(logs.log_id > after_id)
    rows = session.execute(query.order_by(logs.log_id.desc()).limit(tail)).all()
    return [LogLine(r.log_id, r.created_at, r.level, r.logger, r.message, r.metadata)
            for r in reversed(rows)]
