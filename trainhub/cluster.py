"""Live workers as PostgreSQL sees them: rows heartbeated by each worker process."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from trainhub import tables as t


def heartbeat_worker(session: Session, *, worker_id: str, concurrency: int, queues: list[str]) -> None:
    stmt = pg_insert(t.workers).values(worker_id=worker_id, concurrency=concurrency, queues=queues)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["worker_id"],
        set_={"concurrency": stmt.excluded.concurrency, "queues": stmt.excluded.queues,
              "heartbeat_at": sa.func.clock_timestamp()},
    ))


def forget_worker(session: Session, *, worker_id: str) -> None:
    session.execute(sa.delete(t.workers).where(t.workers.c.worker_id == worker_id))
