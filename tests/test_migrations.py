"""The migration runner on scratch databases of the same real PostgreSQL server."""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from trainhub import tables
from trainhub.config import SQL_DIR
from trainhub.migrations import MigrationError, discover, migrate


@pytest.fixture
def scratch_url(database_url):
    url = make_url(database_url)
    name = f"trainhub_scratch_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    scratch = url.set(database=name).render_as_string(hide_password=False)
    yield scratch
    from trainhub.db import _engines
    engine = _engines.pop(scratch, None)
    if engine is not None:
        engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _ledger(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = list(conn.execute(sa.text("SELECT name FROM schema_migrations ORDER BY name")).scalars())
    engine.dispose()
    return names


def test_migrating_twice_applies_each_file_once(scratch_url):
    every = [m.name for m in discover()]
    assert migrate(scratch_url) == every
    assert migrate(scratch_url) == []
    assert _ledger(scratch_url) == every


def test_two_concurrent_migrations_apply_each_file_exactly_once(scratch_url):
    code = "import sys; from trainhub.migrations import migrate; print(len(migrate(sys.argv[1])))"
    procs = [subprocess.Popen([sys.executable, "-c", code, scratch_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    applied = sorted(int(out.strip()) for out, _ in outputs)
    assert applied == [0, len(discover())]
    assert _ledger(scratch_url) == [m.name for m in discover()]


def test_changed_applied_file_is_refused(scratch_url, tmp_path):
    for f in SQL_DIR.glob("*.sql"):
        (tmp_path / f.name).write_text(f.read_text())
    migrate(scratch_url, sql_dir=tmp_path)
    first = sorted(tmp_path.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(scratch_url, sql_dir=tmp_path)


def test_failing_file_leaves_nothing_behind(scratch_url, tmp_path):
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE b (x int); SELECT no_such_function();")
    with pytest.raises(MigrationError, match="002_broken.sql failed"):
        migrate(scratch_url, sql_dir=tmp_path)
    engine = sa.create_engine(scratch_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('b')")).scalar() is None
        assert conn.execute(sa.text("SELECT to_regclass('a')")).scalar() == "a"
    engine.dispose()
    assert _ledger(scratch_url) == ["001_ok.sql"]


def test_badly_named_file_is_refused(tmp_path):
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_name.sql"):
        discover(tmp_path)


def test_code_table_handles_match_the_migrated_schema(engine):
    inspector = sa.inspect(engine)
    for table in tables.metadata.tables.values():
        db_columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert {c.name for c in table.columns} == db_columns, table.name
    views = set(inspector.get_view_names())
    assert {"active_training_jobs", "experiment_summary"} <= views
