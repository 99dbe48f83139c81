"""Administration straight against the database: tenants, keys, demo data."""
from __future__ import annotations

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
