"""Administration straight against the database: tenants, keys, demo data."""
from __future__ import annotations

import json
from pathlib import Path

import click

from trainhub.cli import main
from trainhub.db import session_scope


@main.group()
def tenants() -> None:
    """Create tenants and API keys."""


@tenants.command("create")
@click.argument("name")
def create_tenant(name: str) -> None:
    """Create tenant NAME (e.g. tenant-123) and print its API key, shown only once."""
    from trainhub.tenants import create_tenant as create

    with session_scope() as session:
        issued = create(session, tenant_id=name)
    click.echo(f"tenant {name} created; API key (store it now, it is not shown again):")
    click.echo(issued.api_key)


@tenants.command("key")
@click.argument("name")
def new_key(name: str) -> None:
    """Issue another API key for an existing tenant."""
    from trainhub.tenants import issue_key

    with session_scope() as session:
        issued = issue_key(session, tenant_id=name)
    click.echo(issued.api_key)


@tenants.command("admin-key")
def admin_key() -> None:
    """Issue an admin API key that may act for any tenant."""
    from trainhub.tenants import issue_key

    with session_scope() as session:
        issued = issue_key(session, tenant_id=None, is_admin=True)
    click.echo(issued.api_key)


@main.command("demo-data")
@click.option("--tenant", "tenant_id", default="demo", show_default=True)
def demo_data(tenant_id: str) -> None:
    """Generate the built-in demo feature sets (forecast_basic, anomaly_basic) for a tenant."""
    from trainhub.demo_data import DEMO_FEATURE_SETS
    from trainhub.features import ensure_demo_feature_set
    from trainhub.tenants import ensure_tenant

    with session_scope() as session:
        ensure_tenant(session, tenant_id=tenant_id)
    for name in DEMO_FEATURE_SETS:
        with session_scope() as session:
            created = ensure_demo_feature_set(session, tenant_id=tenant_id, name=name)
        click.echo(f"{name}: {'generated' if created else 'already present'} for {tenant_id}")


@main.group()
def features() -> None:
    """Load and inspect feature sets (straight against the database)."""


@features.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Feature set to create or append to.")
@click.option("--tenant", "tenant_id", default="demo", show_default=True)
@click.option("--target", "target_column", help="First load: the column to forecast.")
@click.option("--timestamp-column", help="First load: default ts, timestamp, time, datetime or date.")
@click.option("--series-column", help="First load: the column naming each row's series.")
@click.option("--frequency", help="First load: e.g. 30min, h, D; inferred when omitted.")
@click.option("--definition", help="Feature definition: JSON text, or @file.json.")
@click.option("--format", "file_format", type=click.Choice(["csv", "parquet"]), help="Sniffed when omitted.")
def load_features(file: Path, name: str, tenant_id: str, definition: str | None, **options) -> None:
    """Load a CSV or Parquet FILE into feature set NAME of a tenant, with a progress bar.

    Later loads append; rows at timestamps the set already has replace them. Nothing
    is written unless the whole file is valid.
    """
    from tqdm import tqdm

    from trainhub.ingest import load_file
    from trainhub.tenants import ensure_tenant

    parsed = None
    if definition is not None:
        text = Path(definition[1:]).read_text() if definition.startswith("@") else definition
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--definition") from None
    with session_scope() as session:
        ensure_tenant(session, tenant_id=tenant_id)
    with tqdm(total=100, unit="%", bar_format="{desc:<10} {bar} {n:3.0f}% [{elapsed}]") as bar:
        def progress(stage: str, fraction: float) -> None:
            bar.set_description_str(stage)
            bar.update(round(fraction * 100, 1) - bar.n)

        with session_scope() as session:
            report = load_file(session, tenant_id=tenant_id, name=name, path=file, definition=parsed,
                               progress=progress, **options)
    summary = report.feature_set
    click.echo(f"{name}: {'created' if report.created else 'appended'}; {report.rows_received} rows read, "
               f"{report.rows_inserted} new, {report.rows_replaced} replaced in {report.seconds:.1f} s")
    click.echo(f"  {summary.rows} rows in {summary.series_count} series, {summary.frequency} steps, "
               f"{summary.first_ts:%Y-%m-%d %H:%M} to {summary.last_ts:%Y-%m-%d %H:%M}")
    click.echo(f"  {summary.missing_timestamps} missing timestamps in {summary.gap_count} gaps; "
               f"missing values {summary.missing_values}")


@features.command("list")
@click.option("--tenant", "tenant_id", default="demo", show_default=True)
def list_features(tenant_id: str) -> None:
    """List a tenant's feature sets."""
    from trainhub.features import list_feature_sets

    with session_scope() as session:
        page = list_feature_sets(session, tenant_scope=tenant_id, page_size=100)
    click.echo(f"{'name':<24} {'rows':>10} {'series':>6} {'freq':>6}  {'from':<16}  {'to':<16}  missing ts")
    for fs in page.feature_sets:
        span = (f"{fs.first_ts:%Y-%m-%d %H:%M}  {fs.last_ts:%Y-%m-%d %H:%M}" if fs.first_ts else f"{'':16}  {'':16}")
        click.echo(f"{fs.name[:24]:<24} {fs.rows:>10} {fs.series_count:>6} {fs.frequency:>6}  {span}  "
                   f"{fs.missing_timestamps}")
