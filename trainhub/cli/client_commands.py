"""Client commands: talk to the REST API with TRAINHUB_API_URL and TRAINHUB_API_KEY."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from trainhub.cli import main
from trainhub.client import TrainHubClient
from trainhub.config import get_settings

TERMINAL = {"completed", "failed", "cancelled"}


def _client() -> TrainHubClient:
    settings = get_settings()
    return TrainHubClient(settings.api_url, settings.api_key)


def follow_job(client: TrainHubClient, job_id: str, *, poll_seconds: float = 0.25) -> dict[str, Any]:
    """Show a live progress bar until the job ends; return its final state."""
    with tqdm(total=100, unit="%", desc="queued", bar_format="{desc:<16} {bar} {n:3.0f}% [{elapsed}]") as bar:
        while True:
            job = client.get_job(job_id)
            bar.set_description_str(job["status"] if job["status"] != "running" else (job["stage"] or "running"))
            bar.update(round(job["progress"] * 100, 1) - bar.n)
            if job["status"] in TERMINAL:
                return job
            time.sleep(poll_seconds)


def print_metrics(job: dict[str, Any]) -> None:
    colour = {"completed": "green", "failed": "red"}.get(job["status"], "yellow")
    click.secho(f"job {job['job_id']} {job['status']}", fg=colour, bold=True)
    if job.get("error_message"):
        click.echo(f"  error     {job['error_message']}")
    if job.get("model_id"):
        click.echo(f"  model     {job['model_id']}")
    if job.get("duration_seconds") is not None:
        click.echo(f"  duration  {job['duration_seconds']:.2f} s")
    for name, value in (job.get("metrics") or {}).items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        click.echo(f"  {name:<22} {shown}")


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@main.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file with a whole job request; the options below override it.")
@click.option("--model-type", type=click.Choice(["forecast", "anomaly"]))
@click.option("--model-name")
@click.option("--feature-set")
@click.option("--start", "start_date", help="ISO date, e.g. 2025-01-01")
@click.option("--end", "end_date", help="ISO date, exclusive")
@click.option("--target", "target_variable")
@click.option("--horizon", type=int)
@click.option("--priority", type=click.Choice(["low", "normal", "high", "urgent"]))
@click.option("--hp", "hyperparameters", multiple=True, metavar="NAME=VALUE",
              help="A hyperparameter, repeatable: --hp num_leaves=63")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job with a progress bar")
def submit(config_file: Path | None, wait: bool, hyperparameters: tuple[str, ...], **options: Any) -> None:
    """Submit a training job and follow it until it ends."""
    from trainhub.examples import job_request

    body = json.loads(config_file.read_text()) if config_file else job_request()
    for key in ("model_type", "model_name", "priority"):
        if options[key] is not None:
            body[key] = options[key]
    for key in ("feature_set", "start_date", "end_date", "target_variable", "horizon"):
        if options[key] is not None:
            body.setdefault("config", {})[key] = options[key]
    for item in hyperparameters:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--hp")
        body.setdefault("config", {}).setdefault("hyperparameters", {})[name] = _parse_value(value)
    client = _client()
    job = client.start_job(body)
    click.echo(f"job {job['job_id']} queued (estimated {job['estimated_duration_seconds']} s)")
    if wait:
        print_metrics(follow_job(client, job["job_id"]))


@main.command()
@click.option("--status", type=click.Choice(["queued", "running", "completed", "failed", "cancelled"]))
@click.option("--model-name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
def jobs(status: str | None, model_name: str | None, limit: int) -> None:
    """List your jobs, newest first."""
    page = _client().list_jobs(status=status, model_name=model_name, page_size=limit)
    click.echo(f"{'job_id':<36}  {'status':<9}  {'prio':<6}  {'progress':>8}  {'model_name':<20}  created")
    for job in page["jobs"]:
        click.echo(f"{job['job_id']:<36}  {job['status']:<9}  {job['priority_name']:<6}  "
                   f"{job['progress']:>8.0%}  {job['model_name'][:20]:<20}  {job['created_at'][:19]}")
    click.echo(f"{len(page['jobs'])} of {page['total']}")


@main.command()
@click.argument("job_id")
def cancel(job_id: str) -> None:
    """Cancel a queued or running job."""
    click.echo(_client().cancel_job(job_id)["message"])


@main.command()
@click.argument("job_id")
@click.option("--tail", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job ends")
def logs(job_id: str, tail: int, follow: bool) -> None:
    """Print a job's persisted log lines."""
    client = _client()
    last_id = 0

    def print_new(count: int) -> None:
        nonlocal last_id
        for line in client.logs(job_id, tail=count)["logs"]:
            if line["log_id"] > last_id:
                click.echo(f"{line['timestamp'][11:23]} {line['level']:<7} {line['message']}")
                last_id = line["log_id"]

    print_new(tail)
    while follow:
        ended = client.get_job(job_id)["status"] in TERMINAL
        # One more read after the job ended catches lines written just before it did.
        print_new(1000)
        if ended:
            return
        time.sleep(1)
