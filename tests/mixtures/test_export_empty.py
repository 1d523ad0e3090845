"""An export with no rows is an error that says why and what to change, and writes nothing:
an empty directory would only fail later, in the trainer ("no train split")."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cotmill.cli import main
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.store import Store
from datagen.verify_runner import run_verify
from mixtures.build import build_mixture
from mixtures.curate import run_curate
from mixtures.export import ExportError, export_mixture
from mixtures.spec import MixSpec


@pytest.fixture(scope="module")
def all_pass(tmp_path_factory):
    """Every sample right (--error-rate 0): every pass rate is 1."""
    w = tmp_path_factory.mktemp("empty") / "ws"
    run_generate(GenerateConfig(workspace=str(w), tasks="arithmetic", count=12, samples=2, error_rate=0.0))
    run_verify(str(w), workers=1)
    run_curate(w)
    with Store.open(w) as store:
        build_mixture(store, MixSpec(name="m", total=10, ratios={"math": 1.0}, split={"val": 0.2}))
    return w


@pytest.mark.parametrize(
    "fmt, why",
    [
        ("rl", "of its 10 problems, 10 have pass rate 1 and 0 pass rate 0"),
        ("dpo", "no problem of it has a failing completion"),
    ],
)
def test_an_empty_export_says_why_and_writes_nothing(all_pass, tmp_path, fmt, why):
    out = tmp_path / "out"
    args = ["export", "-w", str(all_pass), "--mixture", "m", "--format", fmt, "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert f"error: mixture 'm' gives no {fmt} rows: {why}" in result.output
    assert "--error-rate above 0" in result.output  # what to change
    assert not out.exists()
    # the sft export of the same mixture is fine
    assert CliRunner().invoke(main, [*args[:5], "--out", str(tmp_path / "sft")]).exit_code == 0


def test_pass_rate_bounds_that_leave_nothing_are_named(all_pass, tmp_path):
    with pytest.raises(ExportError, match=r"none of its 10 problems has a pass rate >= 0.2 and <= 0.8"):
        export_mixture(all_pass, "m", "rl", tmp_path / "o", "jsonl", pass_rates=(0.2, 0.8))
    counts, _ = export_mixture(all_pass, "m", "rl", tmp_path / "o", "jsonl", pass_rates=(0.0, 1.0))
    assert counts == {"train": 8, "val": 2}
