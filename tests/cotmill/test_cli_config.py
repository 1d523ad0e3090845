"""The CLI's options and the config models agree: every default --help shows is the model's,
every model field has an option (or is listed as left to YAML and the API), required fields are
marked, and `train sft` and `train grpo` report a missing one the same way."""

from __future__ import annotations

import re
import typing

import click
import pytest
from click.testing import CliRunner

from cotmill.cli import main
from cotmill.options import RegistryChoice

# (command path, what each option of the command that is no field is for)
COMMANDS = {
    ("generate",): {"config_file", "status_every"},
    ("verify",): {"workspace"},
    ("curate",): {"workspace"},
    ("export",): {"workspace"},
    ("eval",): set(),
    ("train", "sft"): {"config_file"},
    ("train", "grpo"): {"config_file"},
}


def _unset(value) -> bool:
    """No default: None, or click 8.2's UNSET sentinel."""
    return value is None or value is getattr(click.core, "UNSET", None) or value == () or value is False


def _command(path) -> click.Command:
    command = main
    for name in path:
        command = command.commands[name]
    return command


def _options(command):
    rename = command.config_rename
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            yield param, rename.get(param.name, param.name)


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_option_default_is_the_models(path):
    command = _command(path)
    model = command.config_model
    with_file = any(p.name == "config_file" for p in command.params)
    for param, name in _options(command):
        if name not in model.model_fields:
            assert name in COMMANDS[path], (
                f"{path} --{param.name}: neither a field of {model.__name__} nor listed"
            )
            continue
        field = model.model_fields[name]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        shown = re.findall(r"\[default: ([^\]]*)\]", param.help or "")
        if field.is_required():
            assert "[required]" in (param.help or "") or param.required, (
                f"{path} --{name} is not marked required"
            )
        elif with_file:
            # flags must not override the --config file: they default to None, the help tells the model's
            assert _unset(param.default), (path, name)
            if (
                default is not None
                and default not in ([], {})
                and not (default is False and not param.secondary_opts)
            ):
                expected = ("on" if default else "off") if isinstance(default, bool) else (
                    format(default, "g") if isinstance(default, float) else str(default))  # fmt: skip
                assert shown == [expected] or name in command.explained, (path, name, shown, default)
        elif (
            default is not None
            and default not in ([], {})
            and not (default is False and not param.secondary_opts)
        ):
            assert param.default == default and param.show_default, (path, name, param.default, default)
        else:
            assert _unset(param.default) or param.default == default, (path, name)
        if default is not None and name not in command.explained:
            assert not shown or shown == [_fmt(default)], f"{path} --{name}: a hand-written default"
        # a choice of values lists exactly the model's
        if isinstance(param.type, RegistryChoice):  # a registry's names: the model checks the same registry
            assert set(param.type.choices) >= {field.get_default()} - {None}, (path, name)
        elif isinstance(param.type, click.Choice):
            args = typing.get_args(field.annotation)
            literal = next((a for a in args if typing.get_origin(a) is typing.Literal), field.annotation)
            assert set(param.type.choices) == set(typing.get_args(literal)), (path, name)


def _fmt(default) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    return format(default, "g") if isinstance(default, float) else str(default)


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_model_field_has_an_option_or_is_listed(path):
    command = _command(path)
    exposed = {name for _, name in _options(command)}
    missing = set(command.config_model.model_fields) - exposed - set(command.not_exposed)
    assert not missing, f"{' '.join(path)}: fields without an option: {sorted(missing)}"
    listed = set(command.not_exposed) & exposed
    assert not listed, f"{' '.join(path)}: listed as not exposed but has an option: {sorted(listed)}"


def test_a_restated_default_is_refused():
    from pydantic import BaseModel

    from cotmill.options import from_model

    class M(BaseModel):
        steps: int = 3

    with pytest.raises(AssertionError, match="do not restate it"):
        from_model(M)(
            click.command()(click.option("--steps", help="Steps. [default: 3]")(lambda steps: None))
        )
    shown = from_model(M)(click.command()(click.option("--steps", help="Steps.")(lambda steps: None)))
    assert shown.params[0].default == 3 and shown.params[0].show_default


def test_help_shows_the_models_defaults_and_required_flags():
    runner = CliRunner()
    for path in (("train", "sft"), ("train", "grpo")):
        text = " ".join(runner.invoke(main, [*path, "--help"]).output.split())
        for flag in ("--model", "--data", "--out"):
            assert re.search(re.escape(flag) + r" \w+ [^-]*\[required\]", text), (path, flag)
    grpo = " ".join(runner.invoke(main, ["train", "grpo", "--help"]).output.split())
    assert "--lr FLOAT Peak learning rate. [default: 1e-05]" in grpo
    assert "--lora / --no-lora" in grpo and "--no-lora/--lora" not in grpo
    assert "zero-std share of the groups" in grpo and "trained completions with a non-zero advantage" in grpo
    sft = " ".join(runner.invoke(main, ["train", "sft", "--help"]).output.split())
    assert "--lr FLOAT Peak learning rate. [default: 0.0002]" in sft
    ev = " ".join(runner.invoke(main, ["eval", "--help"]).output.split())
    for flag in ("--split", "--max-new-tokens", "--seed"):
        assert re.search(re.escape(flag) + r" \S+ [A-Z]\w+", ev), f"eval {flag} has no help"


def test_sft_and_grpo_report_a_missing_flag_alike(tmp_path):
    runner = CliRunner()
    for command in ("sft", "grpo"):
        done = runner.invoke(main, ["train", command, "--model", "m", "--out", str(tmp_path / "o")])
        assert done.exit_code == 1 and isinstance(done.exception, SystemExit)
        assert done.output.strip() == "error: command line: key 'data': Field required", (
            command,
            done.output,
        )


def test_the_export_layouts_are_the_writers():
    # ExportConfig's `as` is a Literal (its --as choices are checked against it above); the
    # writers that lay the files out are mixtures.export_dir.WRITERS: the two must not drift
    from cotmill.config import ExportConfig
    from mixtures.export_dir import WRITERS

    assert set(typing.get_args(ExportConfig.model_fields["as_"].annotation)) == set(WRITERS)


def test_the_shard_defaults_in_help_are_the_executors_own():
    """--shard-rows' default is written in --help by hand (None in the models means "the
    executor's"): it must be the number each Ray executor uses."""
    from click.testing import CliRunner

    from cotmill.cli import main
    from datagen import ray_exec, ray_generate
    from mixtures import ray_curate

    for command, rows in (("verify", ray_exec.SHARD_ROWS), ("generate", ray_generate.SHARD_PROBLEMS),
                          ("curate", ray_curate.SHARD_ROWS)):  # fmt: skip
        text = " ".join(CliRunner().invoke(main, [command, "--help"], terminal_width=200).output.split())
        assert f"per shard. [default: {rows}]" in text, command
