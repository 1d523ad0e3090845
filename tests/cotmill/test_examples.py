"""The example files the README and `make demo`/`make tiny-rl` use are valid as shipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cotmill.pipeline import load_pipeline
from mixtures.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["quickstart.yaml", "tiny_rl.yaml"])
def test_pipelines_load(name, tmp_path):
    pipeline = load_pipeline(EXAMPLES / name, workspace=str(tmp_path / "w"))
    assert pipeline.generate and pipeline.mix and pipeline.export


def test_tiny_rl_pool_excludes_the_sft_mixture_and_fits_the_job():
    pipeline = load_pipeline(EXAMPLES / "tiny_rl.yaml")
    pool = load_spec(EXAMPLES / "tiny_rl_pool.yaml")
    assert pool.exclude == [pipeline.mix["name"]]
    # the job makes enough distinct problems for both mixtures
    assert pipeline.generate["count"] >= pipeline.mix["total"] + pool.total


def test_tiny_rl_script_uses_the_example_files():
    script = (EXAMPLES / "tiny_rl.sh").read_text()
    assert "examples/tiny_rl.yaml" in script and "examples/tiny_rl_pool.yaml" in script
