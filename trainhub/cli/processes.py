"""Commands that run TrainHub's processes: up, down, migrate, api, worker, beat, flower."""
from __future__ import annotations

import os
import signal
import sys
import time

import click

from trainhub import stack
from trainhub.cli import main
from trainhub.config import get_settings


def _exec(argv: list[str]) -> None:
    """Replace this process, so signals reach the server directly (Procfile, compose)."""
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@main.command()
def migrate() -> None:
    """Apply pending SQL migrations from sql/."""
    from trainhub.migrations import migrate as run

    applied = run()
    click.echo("applied: " + ", ".join(applied) if applied else "database is up to date")


@main.command()
@click.option("--port", default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--workers", "web_workers", default=2, show_default=True, help="gunicorn worker processes")
def api(port: int, host: str, web_workers: int) -> None:
    """Serve the REST API with gunicorn."""
    _exec([sys.executable, "-m", "gunicorn", "--workers", str(web_workers), "--bind", f"{host}:{port}",
           "--access-logfile", "-",
           # Large feature-set uploads stream for longer than the default 30 s.
           "--timeout", "120",
           # The control socket sits at one path per user, so a second server on the
           # same machine (tests, a second stack) would fight over it; nothing uses it.
           "--no-control-socket",
           "api:create_app()"])


@main.command()
@click.option("--concurrency", "-c", type=int, default=None,
              help="Pool slots (default TRAINHUB_WORKER_CONCURRENCY or the core count)")
@click.option("--hostname", "-n", default="worker@%h", show_default=True)
def worker(concurrency: int | None, hostname: str) -> None:
    """Run a Celery worker on the training and maintenance queues."""
    settings = get_settings()
    _exec([sys.executable, "-m", "celery", "-A", "workers.app", "worker",
           "-Q", f"{settings.training_queue},{settings.maintenance_queue}",
           "--concurrency", str(concurrency or settings.worker_concurrency),
           "--hostname", hostname, "--loglevel", "INFO",
           # Neither is needed (no broadcast coordination between workers) and both
           # add seconds to start-up and chatter on every worker.
           "--without-mingle", "--without-gossip"])


@main.command()
def beat() -> None:
    """Run Celery beat: the one place schedules and daily cleanup fire from."""
    settings = get_settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    _exec([sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO",
           "--schedule", str(settings.state_dir / "celerybeat-schedule"),
           "--pidfile", str(settings.state_dir / "celerybeat.pid")])


@main.command()
@click.option("--port", default=5555, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True)
def flower(port: int, address: str) -> None:
    """Run the Flower dashboard behind basic auth (FLOWER_BASIC_AUTH=user:password)."""
    credentials = stack.flower_credentials(get_settings())
    os.environ["FLOWER_BASIC_AUTH"] = credentials
    _exec([sys.executable, "-m", "celery", "-A", "workers.app", "flower",
           f"--port={port}", f"--address={address}", "--persistent=False",
           "--purge_offline_workers=60"])


@main.command()
@click.option("--port", default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def dashboard(port: int, host: str) -> None:
    """Run optuna-dashboard on the HPO studies in TrainHub's database."""
    from trainhub.hpo.__main__ import main as run_dashboard

    run_dashboard(["--port", str(port), "--host", host])


@main.command()
@click.option("--api-port", default=8000, show_default=True)
@click.option("--flower-port", default=5555, show_default=True)
@click.option("--concurrency", default=2, show_default=True, help="Worker pool slots")
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Load demo data, submit a demo job and print its metrics")
@click.option("--detach", is_flag=True, help="Return once the demo is done; stop later with `trainhub down`")
def up(api_port: int, flower_port: int, concurrency: int, demo: bool, detach: bool) -> None:
    """Start everything: servers (embedded if no URLs are set), migrations, API,
    worker, beat and Flower; then run a demo job."""
    from trainhub.cli.bootstrap import bring_up

    settings = get_settings()
    if stack.running(settings):
        raise click.ClickException("TrainHub is already up here; run `trainhub down` first")
    config = stack.StackConfig(api_port=api_port, flower_port=flower_port, concurrency=concurrency)
    stopping = False

    def shut_down(*_: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            click.echo("\nstopping TrainHub …")
            _down(settings)
            sys.exit(0)

    signal.signal(signal.SIGINT, shut_down)
    signal.signal(signal.SIGTERM, shut_down)
    try:
        pids = bring_up(settings, config, demo=demo)
    except BaseException:
        if not stopping:
            _down(settings)
        raise
    if detach:
        return
    click.echo("TrainHub is up. Ctrl-C stops it (or `trainhub down` from another shell).")
    while not stopping:
        if not stack.recorded(settings):
            click.echo("stopped by `trainhub down`")
            return
        gone = stack.exited(pids)
        if gone:
            click.secho(f"{', '.join(gone)} exited; see {settings.state_dir / 'logs'}", fg="red", err=True)
            shut_down()
        time.sleep(1)


@main.command()
def down() -> None:
    """Stop what `trainhub up` started, embedded servers included."""
    stopped = _down(get_settings())
    click.echo("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


def _down(settings) -> list[str]:
    from trainhub.embedded import stop_embedded

    stopped = stack.stop(settings)
    if not (settings.database_url_env and settings.redis_url_env):
        stopped += stop_embedded(settings.state_dir)
    return stopped
