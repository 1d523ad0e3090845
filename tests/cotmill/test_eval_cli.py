"""`cotmill eval` as a user runs it: the tiny model on rl and sft exports, scores stored in
`runs` and `evals`, a before/after table for two models, clear errors."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from cotmill.cli import main
from tests.conftest import query, run_cli


def test_eval_stores_scores_and_prints_them(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    ws, out = tmp_path / "w", tmp_path / "problems.jsonl"
    result = run_cli("eval", "--model", str(tiny_model_dir), "--data", str(workspace_exports.rl), "--samples", "2",
                     "--limit", "5", "--max-new-tokens", "8", "--workspace", str(ws), "--run", "before",
                     "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "stored run before: 5 problems" in result.stdout
    for label in ("pass@1", "pass@2", "maj@2"):
        assert label in result.stdout
    assert query(ws, "select run, kind, status from runs") == [("before", "eval", "finished")]
    totals = query(ws, "select metric, k, n from evals where domain = 'all' and task = 'all' order by metric")
    assert [(m, k) for m, k, _ in totals] == [("maj@k", 2), ("pass@1", 1), ("pass@k", 2)]
    assert dict((m, n) for m, _, n in totals)["pass@1"] == 5
    domains = {
        d for (d,) in query(ws, "select distinct domain from evals where task = 'all' and domain != 'all'")
    }
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5 and domains == {r["domain"] for r in rows}
    assert query(ws, "select split from evals group by 1") == [("val",)]


def test_two_models_give_a_before_after_table(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    ws = tmp_path / "w"  # a copy: the session's workspace stays as other tests expect it
    shutil.copytree(workspace_exports.workspace, ws)
    args = ["eval", "--model", str(tiny_model_dir), "--model", str(tiny_model_dir), "--data",
            str(workspace_exports.sft), "--limit", "3", "--max-new-tokens", "6", "--workspace",
            str(ws), "--run", "cmp"]  # fmt: skip
    result = CliRunner().invoke(main, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "stored run cmp-a" in result.output and "stored run cmp-b" in result.output
    header = next(line for line in result.output.splitlines() if "metric" in line)
    assert "A: " in header and "B: " in header and "delta" in header
    total = next(line for line in result.output.splitlines() if "pass@1" in line and "all" in line)
    assert "+0.0%" in total  # the same model, greedy: no change
    runs = query(ws, "select run from runs where kind = 'eval' order by run")
    assert runs == [("cmp-a",), ("cmp-b",)]


def test_user_errors_are_clear(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    runner = CliRunner()
    model, rl = str(tiny_model_dir), str(workspace_exports.rl)
    cases = [
        (["--model", str(tmp_path / "nope"), "--data", rl], str(tmp_path / "nope")),
        (["--model", model, "--data", str(workspace_exports.sft), "--workspace", str(tmp_path / "other")],
         "--workspace"),
        (["--model", model, "--model", model, "--model", model, "--data", rl], "two for a before/after"),
        (["--model", model, "--data", rl, "--samples", "0"], "--samples: Input should be greater than or equal to 1"),
        (["--model", model, "--data", str(tmp_path / "missing-export")], "missing-export"),
    ]  # fmt: skip
    for args, message in cases:
        if "--workspace" not in args:
            args = [*args, "--workspace", str(tmp_path / "w")]
        result = runner.invoke(main, ["eval", *args])
        assert result.exit_code != 0 and isinstance(result.exception, SystemExit), (args, result.exception)
        assert message in result.output, (args, result.output)


def test_an_unknown_verifier_in_the_rows_is_one_line(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    """A row naming a verifier nothing registers (a plugin not installed here) is the data's
    fault: one line naming the row and the verifier, no traceback."""
    data = tmp_path / "rl"
    shutil.copytree(workspace_exports.rl, data)
    rows = [json.loads(line) for line in (data / "val.jsonl").read_text().splitlines()]
    (data / "val.jsonl").write_text(
        "".join(json.dumps({**r, "verifier": "plugin.gone"}) + "\n" for r in rows)
    )
    result = CliRunner().invoke(main, ["eval", "--model", str(tiny_model_dir), "--data", str(data), "--limit", "1",
                                       "--max-new-tokens", "4", "--workspace", str(tmp_path / "w")])  # fmt: skip
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "error: rl row " in result.output and "unknown verifier 'plugin.gone'" in result.output, (
        result.output
    )
