"""`cotmill verify` end to end: real stores, real verifiers, the builtin teacher's
planted slips as ground truth."""

from __future__ import annotations

import json

import duckdb
import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.verify_runner import run_verify
from tests.conftest import query, run_cli


@pytest.fixture(scope="module")
def slipped(tmp_path_factory):
    """Builtin teacher, 20% planted slips, every task."""
    ws = tmp_path_factory.mktemp("verify") / "w"
    cfg = GenerateConfig(
        workspace=str(ws), job="e", tasks="math,code,logic", count=150, samples=2, error_rate=0.2
    )
    run_generate(cfg)
    return ws


def test_verdicts_match_the_planted_slips(slipped):
    result = run_cli("verify", "--workspace", str(slipped), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "judged 300 completions" in result.stdout and "pass rate" in result.stdout
    rows = query(
        slipped,
        """
        select p.task, c.meta->>'planted_error', v.passed, v.reason
        from verdicts v join completions c using (completion_id) join problems p using (problem_id)""",
    )
    assert len(rows) == 300
    mismatched = [
        (task, slip, passed, reason) for task, slip, passed, reason in rows if passed != (slip is None)
    ]
    assert mismatched == []
    share = sum(passed for *_, passed, _ in rows) / len(rows)
    assert 0.72 <= share <= 0.88  # about 80% pass at error rate 0.2


def test_math_verdicts_carry_step_labels(slipped):
    rows = query(
        slipped,
        """
        select v.steps, v.first_error_step, c.meta->>'planted_error'
        from verdicts v join completions c using (completion_id) join problems p using (problem_id)
        where p.domain = 'math' and p.task = 'arithmetic'""",
    )
    assert rows
    for steps, first_error, slip in rows:
        labels = [s["label"] for s in json.loads(steps)]
        if slip is None:
            assert "wrong" not in labels and first_error is None
        elif slip == "wrong_intermediate":
            assert first_error is not None and labels[first_error - 1] == "wrong"


def test_rerun_judges_nothing_new(slipped):
    before = query(slipped, "select count(*) from verdicts")[0][0]
    stats = run_verify(slipped)
    assert stats.judged == 0 and query(slipped, "select count(*) from verdicts")[0][0] == before


def test_vote_gives_unlabelled_problems_a_majority_label(openai_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    server = openai_server(dissent_every=3)
    source = tmp_path / "open.jsonl"
    source.write_text("".join(json.dumps({"prompt": f"Question number {i}?"}) + "\n" for i in range(5)))
    run_generate(GenerateConfig(workspace=str(tmp_path / "w"), job="v", source=str(source), samples=3,
                                teacher="openai:m", base_url=server.base_url))  # fmt: skip
    stats = run_verify(tmp_path / "w", vote=True, workers=1)
    assert stats.pseudo_labels == 5
    labels = query(tmp_path / "w", "select agreement, samples from pseudo_labels")
    assert labels == [(pytest.approx(2 / 3), 3)] * 5
    verdicts = query(
        tmp_path / "w", "select passed, count(*) from verdicts where verifier = 'vote' group by 1"
    )
    assert dict(verdicts) == {True: 10, False: 5}


def test_doctor_reports_isolation():
    result = run_cli("doctor")
    assert result.returncode == 0
    assert "code sandbox isolation:" in result.stdout and "math" in result.stdout
    assert "  seccomp: " in result.stdout  # in force, or why not


def test_verify_a_missing_workspace_is_an_error(tmp_path):
    result = run_cli("verify", "--workspace", str(tmp_path / "nope"))
    assert result.returncode != 0 and "no workspace at" in result.stderr


def test_verifier_filter_and_an_unknown_verifier(tmp_path):
    ws = tmp_path / "w"
    run_generate(GenerateConfig(workspace=str(ws), job="f", tasks="arithmetic,sudoku4", count=6))
    stats = run_verify(ws, verifier="logic.sudoku4", workers=1)
    assert stats.judged == 3 and query(ws, "select distinct verifier from verdicts") == [("logic.sudoku4",)]
    con = duckdb.connect(str(ws / "cotmill.duckdb"))
    con.execute("update problems set verifier = 'nope' where task = 'arithmetic'")
    con.close()
    result = run_cli("verify", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert "3 completion(s) name the unknown verifier 'nope'; not judged" in result.stderr
    missing = run_cli("verify", "--workspace", str(ws), "--verifier", "code")
    assert missing.returncode != 0 and "no completions of problems judged by 'code'" in missing.stderr


def test_a_tied_vote_gives_no_label(openai_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    server = openai_server(dissent_every=2)  # two samples: one each way
    source = tmp_path / "open.jsonl"
    source.write_text(json.dumps({"prompt": "Which number?"}) + "\n")
    cfg = GenerateConfig(workspace=str(tmp_path / "w"), job="t", source=str(source), samples=2,
                         teacher="openai:m", base_url=server.base_url)  # fmt: skip
    run_generate(cfg)
    assert run_verify(tmp_path / "w", vote=True, workers=1).pseudo_labels == 0


def test_without_ray_the_ray_executor_says_how_to_install_it(tmp_path):
    """Ray hidden from a fresh interpreter, as where it is not installed: one line, exit 1,
    nothing judged."""
    import subprocess
    import sys

    from tests.conftest import REPO

    ws = tmp_path / "w"
    run_generate(GenerateConfig(workspace=str(ws), job="n", tasks="math", count=5))
    code = "import sys; sys.modules['ray'] = None; from cotmill.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "verify", "-w", str(ws), "--executor", "ray"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --executor ray needs Ray, which is not installed: pip install 'cotmill[ray]' (or pip install ray)"
    )
    assert query(ws, "select count(*) from verdicts") == [(0,)]
