"""`trainhub up`: from nothing to a trained demo model."""
from __future__ import annotations

import os

import click
import sqlalchemy as sa

from trainhub import stack
from trainhub.config import Settings
from trainhub.examples import job_request

DEMO_TENANT = "demo"


def step(text: str) -> None:
    click.secho(f"• {text}", fg="cyan")


def bring_up(settings: Settings, config: stack.StackConfig, *, demo: bool) -> dict[str, int]:
    from trainhub.migrations import migrate

    embedded = not (settings.database_url_env and settings.redis_url_env)
    step("starting embedded PostgreSQL and Redis" if embedded else "using configured PostgreSQL and Redis")
    env = {**os.environ, "TRAINHUB_DATABASE_URL": settings.database_url,
           "TRAINHUB_REDIS_URL": settings.redis_url, "TRAINHUB_STATE_DIR": str(settings.state_dir),
           "TRAINHUB_ARTIFACT_DIR": str(settings.artifact_dir),
           "FLOWER_BASIC_AUTH": stack.flower_credentials(settings)}
    step("applying migrations")
    migrate()
    api_key = _demo_tenant(settings) if demo else None
    step("starting API, worker, beat and Flower")
    pids = stack.start(settings, config, env)
    api_url = f"http://127.0.0.1:{config.api_port}"
    _wait_ready(settings, api_url, pids)
    if demo:
        from trainhub.cli.client_commands import follow_job, print_metrics
        from trainhub.client import TrainHubClient

        client = TrainHubClient(api_url, api_key)
        step("submitting the demo job (one year of hourly load, 24 h ahead)")
        job = client.start_job(job_request())
        done = follow_job(client, job["job_id"])
        print_metrics(done)
    _tour(settings, config, api_key)
    return pids


def _demo_tenant(settings: Settings) -> str:
    from trainhub.db import session_scope
    from trainhub.features import ensure_demo_feature_set
    from trainhub.tenants import ensure_tenant, issue_key

    step("loading demo data for tenant 'demo'")
    with session_scope() as session:
        ensure_tenant(session, tenant_id=DEMO_TENANT)
        for name in ("forecast_basic", "anomaly_basic"):
            ensure_demo_feature_set(session, tenant_id=DEMO_TENANT, name=name)
        key = issue_key(session, tenant_id=DEMO_TENANT).api_key
    path = settings.state_dir / "demo-api-key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _wait_ready(settings: Settings, api_url: str, pids: dict[str, int]) -> None:
    import time

    import requests

    from trainhub.db import get_engine

    step("waiting for the API and a worker")
    deadline = time.monotonic() + 90
    delay = 0.05
    while True:
        gone = stack.exited(pids)
        if gone:
            raise RuntimeError(f"{', '.join(gone)} exited during start-up; see {settings.state_dir / 'logs'}")
        try:
            api_ok = requests.get(f"{api_url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            api_ok = False
        with get_engine().connect() as conn:
            workers = conn.execute(sa.text(
                "SELECT count(*) FROM ai_workers WHERE heartbeat_at > clock_timestamp() - interval '30 seconds'"
            )).scalar()
        if api_ok and workers:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack did not become ready in 90 s; see {settings.state_dir / 'logs'}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _tour(settings: Settings, config: stack.StackConfig, api_key: str | None) -> None:
    user = stack.flower_credentials(settings).split(":", 1)[0]
    click.echo()
    click.secho("TrainHub is running", bold=True)
    click.echo(f"  API       http://127.0.0.1:{config.api_port}  (docs: /docs, OpenAPI: /openapi.json)")
    click.echo(f"  Flower    http://127.0.0.1:{config.flower_port}  (user {user}, password in "
               f"{settings.state_dir / 'flower-credentials'})")
    click.echo(f"  logs      {settings.state_dir / 'logs'}")
    if api_key:
        click.echo(f"  demo key  export TRAINHUB_API_KEY=$(cat {settings.state_dir / 'demo-api-key'})")
