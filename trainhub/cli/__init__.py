"""The `trainhub` command: run the stack's processes, administer tenants and data,
and talk to the REST API as a client."""
from __future__ import annotations

import logging
import sys

import click

from trainhub.client import ApiError
from trainhub.errors import TrainHubError


class FriendlyGroup(click.Group):
    """User errors end in one line on stderr and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ApiError, TrainHubError) as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)
        except RuntimeError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=FriendlyGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """TrainHub: train, evaluate, register and retrain time-series models."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


from trainhub.cli import admin, client_commands, processes  # noqa: E402,F401 - registers commands
