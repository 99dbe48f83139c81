"""Apply the ordered SQL files in ``sql/`` exactly once each.

Each file runs in its own transaction together with the row that records it, so a
failing file leaves nothing behind. A session-level advisory lock serialises
concurrent starts (two API replicas booting at once): the second waits, then finds
everything applied. A file whose text changed after it was applied is refused:
landed migrations are append-only.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import sqlalchemy as sa

from trainhub.config import SQL_DIR
from trainhub.db import get_engine

log = logging.getLogger(__name__)

# Arbitrary, fixed 64-bit key; the same in every TrainHub process.
MIGRATION_LOCK_KEY = 0x7472_6169_6E68_7562 & 0x7FFF_FFFF_FFFF_FFFF
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    files = sorted(p for p in sql_dir.glob("*.sql"))
    bad = [p.name for p in files if not _NAME.match(p.name)]
    if bad:
        raise MigrationError(f"migration files must be named NNN_name.sql: {', '.join(bad)}")
    numbers = [p.name[:3] for p in files]
    if len(set(numbers)) != len(numbers):
        raise MigrationError("two migration files share a number")
    return [Migration(p.name, p.read_text()) for p in files]


def migrate(url: str | None = None, *, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; return the names applied by this call."""
    migrations = discover(sql_dir)
    applied_now: list[str] = []
    engine = get_engine(url)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        try:
            conn.commit()
            _ensure_ledger(conn)
            done = dict(conn.execute(sa.text("SELECT name, checksum FROM schema_migrations")).all())
            conn.commit()
            for migration in migrations:
                if migration.name in done:
                    if done[migration.name] != migration.checksum:
                        raise MigrationError(
                            f"{migration.name} changed after it was applied; "
                            "add a new migration instead of editing a landed one"
                        )
                    continue
                _apply(conn, migration)
                applied_now.append(migration.name)
                log.info("applied migration %s", migration.name)
        finally:
            conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
    return applied_now


def _ensure_ledger(conn: sa.Connection) -> None:
    conn.execute(sa.text(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            name        text PRIMARY KEY,
            checksum    text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    ))
    conn.commit()


def _apply(conn: sa.Connection, migration: Migration) -> None:
    # The DBAPI cursor runs a multi-statement script (functions with $$ bodies included)
    # inside the transaction begun here; the ledger row commits or rolls back with it.
    try:
        with conn.begin():
            with conn.connection.cursor() as cursor:
                cursor.execute(migration.sql)
            conn.execute(
                sa.text("INSERT INTO schema_migrations (name, checksum) VALUES (:n, :c)"),
                {"n": migration.name, "c": migration.checksum},
            )
    except (sa.exc.DBAPIError, psycopg2.Error) as exc:
        raise MigrationError(f"{migration.name} failed: {getattr(exc, 'orig', exc)}") from exc


def status(url: str | None = None) -> list[tuple[str, bool]]:
    """Every known migration and whether it has been applied."""
    engine = get_engine(url)
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass('schema_migrations') IS NOT NULL")).scalar()
        done = set(conn.execute(sa.text("SELECT name FROM schema_migrations")).scalars()) if exists else set()
    return [(m.name, m.name in done) for m in discover()]
