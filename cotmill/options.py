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


def ray_options(work: str, shard: str, default_rows: int):
    """--executor, --ray-address and --shard-rows, as verify, generate and curate take them:
    `work` says what runs on Ray, `shard` what a shard counts."""

    def decorate(fn):
        for option in reversed((
            click.option("--executor", type=click.Choice(["local", "ray"]),
                         help=f"local: this machine; ray: {work} (pip install 'cotmill[ray]')."),
            click.option("--ray-address", help="With --executor ray: the cluster, auto or HOST:PORT. "
                         "[default: RAY_ADDRESS, else a local Ray for the run]"),
            click.option("--shard-rows", type=int,
                         help=f"With --executor ray: {shard} per shard. [default: {default_rows}]"),
        )):  # fmt: skip
            fn = option(fn)
        return fn

    return decorate


def task_domains() -> list[str]:
    """The domains of the registered tasks (a --domain's choices)."""
    from datagen.tasks import domains

    return domains()


def from_model(
    model,
    *,
    rename: dict[str, str] | None = None,
    not_exposed: tuple[str, ...] = (),
    explained: tuple[str, ...] = (),
):
    """Tie a click command's options to the pydantic `model` whose fields they set, so that
    each default is written once, in the model. Applied above @click.command.

    An option named like a field (or through `rename`: parameter name -> field) gets the
    field's default: as its click default (shown in --help), or, for a command with a
    --config file (whose values the flags must not override), as a "[default: ...]" in its
    help while the flag itself defaults to None. A field without a default is marked
    required: by click, or, where a --config file may give it, by the model's check (as
    "command line: key 'data': Field required"), with "[required]" in its help. A
    hand-written "[default: ...]" is kept only where the model's default is None, whose
    meaning it explains; restating a real default is an error here. `explained`: fields
    whose default the model's value alone does not tell (the help says more).
    `not_exposed`: the fields deliberately left to the YAML file or the API (checked, with
    the rest, by tests/cotmill/test_cli_config.py)."""
    rename = rename or {}

    def decorate(command: click.Command) -> click.Command:
        fields = model.model_fields
        with_file = any(p.name == "config_file" for p in command.params)
        for param in command.params:
            name = rename.get(param.name, param.name)
            if not isinstance(param, click.Option) or name not in fields:
                continue
            field, text = fields[name], param.help or ""
            if field.is_required():
                if with_file:  # a --config file may give it: marked in the help, not enforced by click
                    param.help = text if "[required]" in text else f"{text} [required]".strip()
                else:
                    param.required = True  # click marks it in --help and names it when missing
                continue
            default = field.get_default(call_default_factory=True)
            if "[default:" in text or name in explained:
                if default is not None and name not in explained:
                    raise AssertionError(f"{command.name} {param.opts[0]}: the default is {model.__name__}'s "
                                         f"({default!r}); do not restate it in the help")  # fmt: skip
                continue
            if (
                default is None
                or default == []
                or default == {}
                or (default is False and not param.secondary_opts)
            ):
                continue
            if with_file:
                param.help = f"{text} [default: {_shown(param, default)}]".strip()
            else:
                param.default, param.show_default = default, True
        command.config_model, command.config_rename, command.not_exposed = model, rename, not_exposed
        command.explained = explained
        return command

    return decorate


def _shown(param: click.Option, default) -> str:
    """A default as --help shows it (a flag: on or off)."""
    if isinstance(default, bool):
        return "on" if default else "off"
    return format(default, "g") if isinstance(default, float) else str(default)


def build(command: click.Command, values: dict):
    """The config model of a command tied to it by from_model, built from the command's
    parameters; a bad value is a one-line UserError naming the flag as the user typed it."""
    from pydantic import ValidationError

    model, rename = command.config_model, command.config_rename
    data = {rename.get(k, k): v for k, v in values.items() if v is not None}
    try:
        return model(**data)
    except ValidationError as e:
        flags = {rename.get(p.name, p.name): p.opts[0] for p in command.params if isinstance(p, click.Option)}
        lines = []
        for item in e.errors():
            name = str(item["loc"][0]) if item["loc"] else ""
            flag = flags.get(name, "--" + name.replace("_", "-")) if name else "command line"
            msg = "required" if item["type"] == "missing" else item["msg"].removeprefix("Value error, ")
            lines.append(f"{flag}: {msg}")
        raise UserError("\n".join(lines)) from None
