"""What every command module shares: the one-line error type and the common options.

Its own module so that `cotmill.cli` and the `cmd_*` modules import it, not each other
(any of them can be imported first)."""

from __future__ import annotations

import click

from verifiers.errors import CotmillError


class UserError(CotmillError, click.ClickException):
    """A mistake the user can fix: printed as one line, exit code 1, no traceback. Any
    other CotmillError that reaches the command line is shown as one (cotmill.cli)."""

    def show(self, file=None) -> None:
        # plain echo: rich would wrap long paths at 80 columns in logs and pipes
        click.echo(f"error: {self.message}", err=True)


# --precision of the commands that load a model (train.model.pick_dtype reads it)
PRECISIONS = click.Choice(["auto", "bf16", "fp32"])

WORKSPACE = click.option(
    "--workspace",
    "-w",
    envvar="COTMILL_WORKSPACE",
    default=None,
    help="Workspace directory holding cotmill.duckdb [env COTMILL_WORKSPACE; default ./cotmill-workspace].",
)
