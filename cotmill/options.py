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


class RegistryChoice(click.Choice):
    """A Choice over a registry's names (export formats, task domains), read when first
    needed: plugins registered through entry points are choices too, and importing the
    CLI does not load the registries."""

    def __init__(self, names):
        self._names = names  # () -> names
        super().__init__(())

    @property
    def choices(self):
        return tuple(self._names())

    @choices.setter
    def choices(self, value) -> None:
        pass  # click.Choice.__init__ sets it; the names come from the registry


def task_domains() -> list[str]:
    """The domains of the registered tasks (a --domain's choices)."""
    from datagen.tasks import domains

    return domains()
