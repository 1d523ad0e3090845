"""The README's walkthrough works as written: its command blocks run in order, in a fresh
directory holding a copy of `examples/` (as a clone's root does), against the installed
`cotmill` (this Python's bin directory first on PATH), and each exits 0.

Which blocks: a ```bash block right after the comment `<!-- walkthrough: ... -->`; the
ones after `<!-- walkthrough, train: ... -->` need the training extra and run where torch
is installed. Which lines are left out: installation (`python3 -m venv`, `pip install`,
`.venv/bin/pip`, `. .venv/bin/activate`, `make`), since the test runs in the environment
that is already installed. Everything else runs as a user would type it."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- walkthrough(, train)?:[^>]*-->\n```(?:bash|sh)\n(.*?)```", re.S)
INSTALL = re.compile(r"^\s*(python3? -m venv|pip3? install|\.venv/bin/pip|\. \.venv/bin/activate|make)\b")

pytestmark = pytest.mark.slow


def walkthrough_blocks(readme: str) -> list[tuple[bool, str]]:
    """(needs torch, the block's script without its install lines), in README order."""
    blocks = []
    for train, body in BLOCK.findall(readme):
        lines = [line for line in body.splitlines() if not INSTALL.match(line)]
        blocks.append((bool(train), "\n".join(lines) + "\n"))
    return blocks


def run_block(script: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COTMILL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # the checkout under test, also where cotmill is installed from elsewhere (a worktree)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # -x: the log shows which command failed
    done = subprocess.run(["bash", "-euxo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, (
        f"README block failed (exit {done.returncode}):\n{script}\n{done.stderr[-6000:]}"
    )


@pytest.fixture(scope="module")
def blocks():
    found = walkthrough_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    # the walkthrough is there: Quickstart, Verifying, Curation (data) and Training
    assert [train for train, _ in found] == [False, False, False, True]
    return found


@pytest.fixture(scope="module")
def clone(tmp_path_factory, blocks):
    """A fresh directory where the data blocks have run."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "examples", root / "examples")
    for train, script in blocks:
        if not train:
            run_block(script, root)
    return root


def test_install_lines_are_left_out_and_nothing_else():
    script = walkthrough_blocks(
        "<!-- walkthrough: x -->\n```bash\npython3 -m venv .venv && .venv/bin/pip install -e .\n"
        ". .venv/bin/activate\ncotmill doctor\nmake demo\n```\n```bash\ncotmill never\n```\n"
    )
    assert script == [(False, "cotmill doctor\n")]


@pytest.mark.timeout(900)
def test_walkthrough_data_blocks(clone):
    assert (clone / "W" / "cotmill.duckdb").is_file()
    assert pq.read_table(clone / "out" / "train.parquet").num_rows > 0  # the mixture of examples/mix.yaml
    assert (clone / "demo-export" / "train.parquet").is_file()  # examples/quickstart.yaml
    assert (clone / "report.html").is_file()


@pytest.mark.timeout(900)
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the training extra is not installed")
def test_walkthrough_training_block(clone, blocks):
    for train, script in blocks:
        if train:
            run_block(script, clone)
    assert (clone / "runs" / "grpo" / "final").is_dir() and (clone / "merged" / "config.json").is_file()
    # the rl export has a val split: eval measured something
    assert sum(1 for _ in (clone / "exp" / "rl" / "val.jsonl").open()) > 0
