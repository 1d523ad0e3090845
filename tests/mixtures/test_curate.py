"""`run_curate` and `cotmill curate` on real workspaces: the builtin teacher with planted
slips, real verdicts, GSM8K test questions mixed into the task problems."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.records import Problem
from datagen.store import Store
from datagen.verify_runner import run_verify
from mixtures.curate import CurateError, run_curate
from mixtures.difficulty import rl_pool
from tests.conftest import query, run_cli

BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks"
GSM8K = BENCHMARKS / "gsm8k_test.jsonl"
HUMANEVAL = BENCHMARKS / "humaneval.jsonl"

ELIGIBLE_MINUS_MARKED = """
    WITH latest AS (
        SELECT v.*, row_number() OVER (PARTITION BY completion_id, verifier
                                       ORDER BY created_at DESC, verifier_version DESC) AS rn
        FROM verdicts v)
    SELECT count(*) FROM completions c JOIN problems p USING (problem_id)
    JOIN latest l ON l.completion_id = c.completion_id AND l.verifier = p.verifier AND l.rn = 1
    WHERE l.passed AND c.error IS NULL
      AND c.completion_id NOT IN (SELECT item_id FROM curation_marks WHERE kind = 'completion')
      AND c.problem_id NOT IN (SELECT item_id FROM curation_marks WHERE kind = 'problem')"""


def make_workspace(path: Path, with_gsm8k: bool = True) -> Path:
    gsm8k = {"source": str(GSM8K), "preset": "gsm8k", "limit": 30} if with_gsm8k else {}
    cfg = GenerateConfig(
        workspace=str(path), job="e", tasks="math,code,logic", count=150, samples=3, error_rate=0.3, **gsm8k
    )
    run_generate(cfg)
    run_verify(str(path), workers=1)
    return path


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    if not GSM8K.exists():
        pytest.skip(f"{GSM8K} is absent (../shared is not beside the checkout)")
    ws = make_workspace(tmp_path_factory.mktemp("curate") / "w")
    stats = run_curate(ws, decontaminate=[str(GSM8K), str(HUMANEVAL)])
    return ws, stats


def test_exactly_the_gsm8k_problems_are_contaminated(curated):
    ws, stats = curated
    rows = query(
        ws,
        """SELECT p.source LIKE '%gsm8k_test.jsonl' AS from_gsm8k, m.detail
           FROM curation_marks m JOIN problems p ON p.problem_id = m.item_id
           WHERE m.kind = 'problem' AND m.reason = 'contaminated'""",
    )
    assert len(rows) == 30 and all(from_gsm8k for from_gsm8k, _ in rows)
    assert all(detail.startswith("gsm8k_test.jsonl line ") for _, detail in rows)
    assert stats.marks[("problem", "contaminated")] == 30


def test_curated_view_is_passing_minus_marked(curated):
    ws, stats = curated
    (expected,) = query(ws, ELIGIBLE_MINUS_MARKED)[0]
    assert query(ws, "SELECT count(*) FROM curated")[0][0] == expected == stats.curated
    assert 0 < expected < query(ws, "SELECT count(*) FROM completions")[0][0]
    failed = query(ws, "SELECT count(*) FROM curation_marks WHERE reason = 'failed_verification'")[0][0]
    assert failed == query(ws, "SELECT count(*) FROM verdicts WHERE NOT passed")[0][0] > 0


def test_duplicates_point_at_a_clean_sample_of_the_same_problem(curated):
    ws, _ = curated
    bad = query(
        ws,
        """SELECT m.item_id FROM curation_marks m
           JOIN completions c ON c.completion_id = m.item_id
           JOIN completions r ON r.completion_id = m.detail
           WHERE m.kind = 'completion' AND m.reason IN ('exact_dup', 'near_dup')
             AND (c.problem_id <> r.problem_id OR (
                  r.completion_id IN (SELECT item_id FROM curation_marks WHERE reason NOT LIKE '%_dup')
                  AND c.completion_id NOT IN (SELECT item_id FROM curation_marks WHERE reason NOT LIKE '%_dup')))""",
    )
    assert bad == []
    # every unmarked problem with a passing sample keeps one in `curated`
    lost = query(
        ws,
        """SELECT DISTINCT c.problem_id FROM completions c JOIN verdicts v USING (completion_id)
           WHERE v.passed AND c.problem_id NOT IN (SELECT item_id FROM curation_marks WHERE kind = 'problem')
             AND c.problem_id NOT IN (SELECT problem_id FROM curated)""",
    )
    assert lost == []


def test_difficulty_is_the_pass_rate_of_the_samples(curated):
    ws, _ = curated
    rows = query(ws, "SELECT samples, passed, pass_rate, bucket FROM difficulty")
    assert len(rows) == query(ws, "SELECT count(*) FROM problems")[0][0] == 180
    buckets = {bucket for *_, bucket in rows}
    assert {"all_pass", "all_fail"} & buckets and {"hard", "easy"} & buckets
    for samples, passed, rate, bucket in rows:
        assert samples == 3 and rate == passed / 3
        assert bucket == {0: "all_fail", 1: "hard", 2: "medium", 3: "all_pass"}[passed]
    with Store.open(ws, read_only=True) as store:
        default, wide = rl_pool(store), rl_pool(store, min_pass_rate=0.0, max_pass_rate=1.0)
        hard_only = rl_pool(store, max_pass_rate=0.34)
    mixed = query(
        ws,
        """SELECT problem_id FROM difficulty WHERE bucket NOT IN ('all_pass', 'all_fail')
           AND problem_id NOT IN (SELECT item_id FROM curation_marks WHERE kind = 'problem')""",
    )
    assert sorted(default) == sorted(r[0] for r in mixed) and len(default) > 0
    assert set(hard_only) < set(default) < set(wide)


def test_rerun_replaces_its_marks_and_keeps_switched_off_reasons(tmp_path):
    ws = make_workspace(tmp_path / "w", with_gsm8k=False)
    first = run_curate(ws, decontaminate=[str(HUMANEVAL)] if HUMANEVAL.exists() else ())
    marks = "SELECT kind, item_id, reason, detail FROM curation_marks ORDER BY ALL"
    before = query(ws, marks)
    with Store.open(ws) as store:
        prompt, pid = store.con.execute(
            "SELECT prompt, problem_id FROM problems ORDER BY problem_id"
        ).fetchone()
        # stale marks of a recomputed reason must go; a switched-off reason's marks stay
        store.insert_rows("curation_marks", [
            {"kind": "completion", "item_id": "nonexistent", "reason": "near_dup", "detail": "x"},
            {"kind": "problem", "item_id": pid, "reason": "contaminated", "detail": "old bench line 1"},
        ])  # fmt: skip
        # a later copy of a problem, with its prompt only re-spaced: an exact duplicate
        copy = Problem.create(domain="math", task="copy", source="t", prompt="  " + prompt.upper() + "\n",
                              answer="0", verifier="math", difficulty=None, meta={})  # fmt: skip
        row = {**copy.__dict__, "meta": "{}", "created_at": dt.datetime.now() + dt.timedelta(days=1)}
        store.insert_rows("problems", [row])
    second = run_curate(ws)
    after = query(ws, marks)
    assert ("problem", copy.problem_id, "exact_dup", pid) in after
    assert ("problem", pid, "contaminated", "old bench line 1") in after
    assert not any(item == "nonexistent" for _, item, *_ in after)
    assert [m for m in after if m[1] not in (copy.problem_id, pid)] == [m for m in before if m[1] != pid]
    assert second.curated <= first.curated


def test_cli_prints_marks_by_reason(tmp_path):
    ws = make_workspace(tmp_path / "w", with_gsm8k=GSM8K.exists())
    args = ["curate", "-w", str(ws), "--max-tokens", "200", "--require-think"]
    if GSM8K.exists():
        args += ["--decontaminate", f"{GSM8K},{HUMANEVAL}", "--ngram", "8"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "curation marks by reason" in result.stdout
    for reason in ("failed_verification", "length", "format"):
        assert reason in result.stdout
    if GSM8K.exists():
        assert "contaminated" in result.stdout
    assert query(ws, "SELECT count(*) FROM curated")[0][0] == 0  # no <think> tags anywhere
    missing = run_cli("curate", "-w", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no workspace" in missing.stderr
    bad = run_cli("curate", "-w", str(ws), "--decontaminate", str(tmp_path / "absent.jsonl"))
    assert bad.returncode == 1 and "absent.jsonl" in bad.stderr


def test_job_scope_marks_only_that_jobs_completions(tmp_path):
    ws = str(tmp_path / "w")
    for job, seed in (("a", 0), ("b", 1)):
        cfg = GenerateConfig(
            workspace=ws, job=job, tasks="math", count=20, samples=2, error_rate=0.5, seed=seed
        )
        run_generate(cfg)
    run_verify(ws, workers=1)
    run_curate(ws, job="a")
    jobs = query(
        ws,
        """SELECT DISTINCT c.job FROM curation_marks m JOIN completions c ON c.completion_id = m.item_id
           WHERE m.kind = 'completion'""",
    )
    assert jobs == [("a",)]
    run_curate(ws, job="b")
    assert {r[0] for r in query(ws, "SELECT DISTINCT c.job FROM curation_marks m JOIN completions c "
                                    "ON c.completion_id = m.item_id")} == {"a", "b"}  # fmt: skip


def test_without_ray_the_ray_executor_says_how_to_install_it(tmp_path):
    """Ray hidden from a fresh interpreter, as where it is not installed: one line, exit 1,
    nothing marked."""
    import subprocess
    import sys

    from tests.conftest import REPO

    ws = tmp_path / "w"
    run_generate(GenerateConfig(workspace=str(ws), job="n", tasks="math", count=5))
    code = "import sys; sys.modules['ray'] = None; from cotmill.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "curate", "-w", str(ws), "--executor", "ray"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --executor ray needs Ray, which is not installed: pip install 'cotmill[ray]' (or pip install ray)"
    )
    assert query(ws, "SELECT count(*) FROM curation_marks") == [(0,)]
    with pytest.raises(CurateError, match="^unknown executor 'dask'; use local or ray$"):
        run_curate(ws, executor="dask")
