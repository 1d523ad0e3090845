"""What the command line does with an error: a CotmillError (a mistake the user can fix)
is one line on stderr with exit code 1; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.conftest import REPO, run_cli
from verifiers.errors import CotmillError

# the real `cotmill` group, with one more command that raises what it is told to
RAISER = """
import click
from cotmill.cli import main

@main.command()
@click.argument("kind")
def boom(kind):
    from mixtures.spec import SpecError
    if kind == "user":
        raise SpecError("mix.yaml: key 'total': must be positive")
    raise ZeroDivisionError("a bug")

main()
"""


def _raise(kind: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RAISER, "boom", kind],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_a_cotmill_error_is_one_line():
    result = _raise("user")
    assert result.returncode == 1
    assert result.stderr == "error: mix.yaml: key 'total': must be positive\n"


def test_any_other_error_shows_its_traceback():
    result = _raise("bug")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: a bug")


def test_the_projects_errors_share_the_base():
    from cotmill.options import UserError
    from cotmill.sqlcmd import SqlError
    from datagen.config import ConfigError
    from datagen.jobs import JobError
    from datagen.manifest import ManifestError
    from datagen.prompts import TemplateError
    from datagen.sources import RowError, SourceError
    from datagen.store_health import StoreDamaged, WorkspaceError
    from datagen.teachers.base import FatalError
    from datagen.verify_runner import VerifyError
    from mixtures.curate import CurateError
    from mixtures.export_dir import ExportError
    from mixtures.planner import ShortfallError
    from mixtures.spec import SpecError
    from train.data import DataError
    from train.evaluate import EvalError
    from train.gguf_import import GGUFImportError
    from train.grpo import GRPOError
    from train.hf_teacher import HFTeacherError
    from train.model_check import ModelError
    from train.recipe import RecipeError
    from train.sft_config import SFTError
    from verifiers.sandbox import SandboxError

    errors = [UserError, SqlError, ConfigError, JobError, ManifestError, TemplateError, RowError,
              SourceError, StoreDamaged, WorkspaceError, FatalError, VerifyError, CurateError, ExportError,
              ShortfallError, SpecError, DataError, EvalError, GGUFImportError, GRPOError,
              HFTeacherError, ModelError, RecipeError, SFTError, SandboxError]  # fmt: skip
    assert [e.__name__ for e in errors if not issubclass(e, CotmillError)] == []
    # each keeps its builtin base: code that catches ValueError or RuntimeError still does
    assert issubclass(ConfigError, ValueError) and issubclass(WorkspaceError, RuntimeError)


def test_cotmill_run_tells_a_user_error_from_deep_inside_a_stage_in_one_line(tmp_path):
    """A missing API key is found only when the generate stage makes its teacher."""
    path = tmp_path / "p.yaml"
    generate = {
        "job": "j",
        "tasks": "math",
        "count": 2,
        "teacher": "openai:some-model",
        "base_url": "http://models.example/v1",
        "api_key_env": "COTMILL_TEST_UNSET_KEY",
    }
    path.write_text(yaml.safe_dump({"workspace": str(tmp_path / "w"), "generate": generate}))
    env = {k: v for k, v in os.environ.items() if k != "COTMILL_TEST_UNSET_KEY"}
    result = run_cli("run", str(path), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        "error: teacher openai:some-model: environment variable COTMILL_TEST_UNSET_KEY is not set (the API key)\n"
    )


def test_every_command_that_reads_a_workspace_says_when_there_is_none(tmp_path):
    """A missing workspace is a WorkspaceError: one line from every command, none created."""
    from click.testing import CliRunner

    from cotmill.cli import main

    spec = tmp_path / "mix.yaml"
    spec.write_text(yaml.safe_dump({"name": "m", "total": 4, "ratios": {"math": 1.0}}))
    w = str(tmp_path / "nowhere")
    commands = [["verify"], ["curate"], ["mix", "plan", str(spec)], ["mix", "build", str(spec)],
                ["export", "--mixture", "m", "--out", str(tmp_path / "out")], ["sql", "select 1"],
                ["report", "--out", str(tmp_path / "r.html")]]  # fmt: skip
    for args in commands:
        result = CliRunner().invoke(main, [*args, "-w", w])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.exception)
        assert (
            result.output == f"error: no workspace at {w} (no cotmill.duckdb); run `cotmill generate` first\n"
        )
    assert not (tmp_path / "nowhere").exists()
