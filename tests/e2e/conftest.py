"""One real Celery worker process shared by the end-to-end tests.

The worker consumes the run's own queue on the real Redis and writes to the run's
database; tests submit through the Flask API with real commits, then wait on the
job rows with deadlines.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
E2E_TENANT = f"e2e-{uuid.uuid4().hex[:6]}"


# Package scope: the worker stops once the e2e tests are done, so it never consumes
# the messages that other tests inspect.
@pytest.fixture(scope="package")
def worker(database_url, tmp_path_factory):
    from trainhub.config import get_settings

    settings = get_settings()
    hostname = f"e2e-{uuid.uuid4().hex[:6]}@localhost"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        # Short liveness windows so dead-worker recovery shows within a test's deadline.
        "TRAINHUB_JOB_STALE_AFTER": "4",
        "TRAINHUB_WORKER_HEARTBEAT_SECONDS": "1",
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", "worker",
             "-Q", settings.training_queue, "-c", "2", "-P", "prefork", "-n", hostname,
             "--without-mingle", "--without-gossip", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    from trainhub.db import get_engine

    def registered():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited: {log_path.read_text()[-3000:]}")
        with get_engine().connect() as conn:
            return conn.execute(sa.text("SELECT 1 FROM ai_workers WHERE worker_id = :w"),
                                {"w": hostname}).scalar()

    wait_for(registered, timeout=60, what="the worker to heartbeat")
    yield {"hostname": hostname, "process": proc, "log": log_path, "queue": settings.training_queue}
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def e2e_tenant(database_url):
    """A committed tenant whose demo feature sets already exist (generated once)."""
    from trainhub.db import session_scope
    from trainhub.features import ensure_demo_feature_set
    from trainhub.tenants import create_tenant

    with session_scope() as session:
        issued = create_tenant(session, tenant_id=E2E_TENANT)
        for name in ("forecast_basic", "anomaly_basic"):
            ensure_demo_feature_set(session, tenant_id=E2E_TENANT, name=name)
    return E2E_TENANT, {"Authorization": f"Bearer {issued.api_key}"}


@pytest.fixture
def api(app):
    """Flask test client whose requests commit for real, so the worker sees them."""
    app.extensions.pop("trainhub.session_factory", None)
    return app.test_client()


@pytest.fixture
def paused_worker(worker):
    """Stop the worker consuming, so tests can build a backlog; resume with the callable."""
    from trainhub.queue import celery_client

    control = celery_client().control
    control.cancel_consumer(worker["queue"], destination=[worker["hostname"]], reply=True, timeout=5)
    resumed = False

    def resume():
        nonlocal resumed
        control.add_consumer(worker["queue"], destination=[worker["hostname"]], reply=True, timeout=5)
        resumed = True

    yield resume
    if not resumed:
        resume()
