"""Evaluation: the pass@k estimator against brute force, maj@k through the real verifiers and
voting, sft rows completed from the workspace, and a whole run on the tiny model stored in
`runs` and `evals`."""

from __future__ import annotations

import json
from itertools import combinations

import pytest

import verifiers
from datagen.tasks import make_problem
from tests.conftest import query
from train.evaluate import (
    EvalError,
    EvalResult,
    ProblemResult,
    evaluate,
    load_rows,
    paired_delta,
    pass_at_k,
    problem_rows,
    run_eval,
    summarize,
    vote_answer,
)


def test_pass_at_k_is_the_chance_that_some_of_k_drawn_samples_pass():
    for n in range(1, 7):
        for c in range(n + 1):
            outcomes = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                draws = list(combinations(outcomes, k))
                expected = sum(any(d) for d in draws) / len(draws)
                assert pass_at_k(n, c, k) == pytest.approx(expected)
    assert pass_at_k(4, 1, 4) == 1.0 and pass_at_k(4, 0, 4) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(2, 3, 1)


def _result(domain, task, scores, maj=None) -> ProblemResult:
    return ProblemResult(
        f"{task}-{scores}", domain, task, [""] * len(scores), scores, [False] * len(scores), maj=maj
    )


def test_summary_means_over_problems_per_task_domain_and_all():
    problems = [
        _result("math", "arithmetic", [1.0, 0.0, 0.0, 0.0], maj=False),  # pass@1 .25, pass@4 1
        _result("math", "arithmetic", [0.0, 0.0, 0.0, 0.0], maj=False),
        _result("math", "fractions", [1.0, 1.0, 1.0, 0.0], maj=True),
        _result("code", "functions", [0.5, 1.0, 0.5, 0.5]),  # partial credit is not a pass; no maj
    ]
    scores = {(s.domain, s.task, s.metric): (s.k, s.value, s.n) for s in summarize(problems, 4)}
    assert scores[("math", "arithmetic", "pass@1")] == (1, pytest.approx(0.125), 2)
    assert scores[("math", "arithmetic", "pass@k")] == (4, pytest.approx(0.5), 2)
    assert scores[("math", "fractions", "maj@k")] == (4, 1.0, 1)
    assert scores[("math", "all", "pass@1")] == (1, pytest.approx((0.25 + 0 + 0.75) / 3), 3)
    assert scores[("math", "all", "maj@k")] == (4, pytest.approx(1 / 3), 3)
    assert scores[("code", "functions", "pass@1")] == (1, pytest.approx(0.25), 1)
    assert ("code", "functions", "maj@k") not in scores and ("code", "all", "maj@k") not in scores
    assert scores[("all", "all", "pass@1")] == (1, pytest.approx((0.25 + 0 + 0.75 + 0.25) / 4), 4)
    assert scores[("all", "all", "pass@k")] == (4, pytest.approx(0.75), 4)
    assert scores[("all", "all", "maj@k")] == (4, pytest.approx(1 / 3), 3)  # code is left out
    first = summarize(problems, 4)[0]
    assert (first.domain, first.task, first.label) == ("all", "all", "pass@1")
    only = {(s.domain, s.task, s.metric) for s in summarize(problems, 1)}
    assert {m for *_, m in only} == {"pass@1"}  # one sample: pass@k and maj@k would repeat pass@1


def test_paired_delta_is_the_mean_per_problem_change_with_its_interval():
    def result(passes: list[int]) -> EvalResult:
        problems = [ProblemResult(f"p{i}", "math", "arithmetic", [""], [float(x)], [False])
                    for i, x in enumerate(passes)]  # fmt: skip
        return EvalResult(1, 0.0, problems, summarize(problems, 1))

    before = result([0] * 50 + [1] * 50)
    after = result([1] * 10 + [0] * 40 + [1] * 50)  # 10 problems fixed, none broken
    mean, half = paired_delta(before, after, "pass@1")
    assert mean == pytest.approx(0.10)
    # d is 1 on 10 of 100 problems: sd = sqrt(0.09 * 100 / 99), 95% half-width 1.96 sd / 10
    assert half == pytest.approx(1.96 * (0.09 * 100 / 99) ** 0.5 / 10)
    assert mean - half > 0  # the change is more than noise
    shuffled = result([1] * 10 + [1] * 50 + [0] * 40)  # the same 60% but on other problems
    mean, half = paired_delta(before, shuffled, "pass@1")
    assert mean == pytest.approx(0.10) and mean - half < 0  # unpaired luck is not a gain
    assert paired_delta(before, after, "pass@1", task="fractions") is None
    assert paired_delta(before, result([1]), "pass@1") is None  # one shared problem: no interval


def _judged(problem, texts: list[str]) -> ProblemResult:
    judge = verifiers.get(problem.verifier)
    scores = [judge(problem, t).score for t in texts]
    return ProblemResult(
        problem.problem_id, problem.domain, problem.task, texts, scores, [False] * len(texts)
    )


def test_majority_vote_is_judged_by_its_representative():
    problem = make_problem("arithmetic", 0, 0, 1)
    right, wrong = problem.answer, str(int(problem.answer) + 1)
    voted_right = _judged(problem, [f"\\boxed{{{right}}}", f"so \\boxed{{{wrong}}}", f"\\boxed{{{right}.0}}"])
    vote_answer(voted_right)
    assert voted_right.maj is True and voted_right.voted == right
    voted_wrong = _judged(problem, [f"\\boxed{{{wrong}}}", f"\\boxed{{{right}}}", f"\\boxed{{{wrong}}}"])
    vote_answer(voted_wrong)
    assert voted_wrong.maj is False and voted_wrong.voted == wrong and any(voted_wrong.passed)
    no_answer = _judged(problem, ["I am not sure", "no idea"])
    vote_answer(no_answer)
    assert no_answer.maj is False and no_answer.voted is None
    logic = make_problem("knights_knaves", 0, 0, 1)
    voted_logic = _judged(logic, ["Answer: nonsense"] + [f"Answer: {logic.answer}"] * 2)
    vote_answer(voted_logic)
    assert voted_logic.maj is True and voted_logic.passed == [False, True, True]
    code = _judged(make_problem("function_synthesis", 0, 0, 1), ["```python\npass\n```"] * 2)
    vote_answer(code)
    assert code.maj is None and code.voted is None  # no final answer to vote on


def test_sft_rows_take_reference_verifier_and_meta_from_the_workspace(workspace_exports, tmp_path):
    from train.data import read_export

    rl = {r["problem_id"]: r for r in problem_rows(read_export(workspace_exports.rl, "train"))}
    raw_sft = read_export(workspace_exports.sft, "train")
    sft = problem_rows(raw_sft + raw_sft[:3], workspace_exports.workspace)  # a problem's second sample
    assert len(sft) == len({r["problem_id"] for r in raw_sft})  # one row per problem
    shared = [r for r in sft if r["problem_id"] in rl]
    assert shared, "the rl and sft exports of one mixture share problems"
    for row in shared:
        want = rl[row["problem_id"]]
        assert row["prompt"] == want["prompt"]  # the assistant turn is dropped
        for key in ("reference", "verifier", "domain", "task"):
            assert row[key] == want[key], key
        assert json.loads(row["meta"]) == json.loads(want["meta"])
    assert len(problem_rows(raw_sft, workspace_exports.workspace, limit=3)) == 3
    with pytest.raises(EvalError, match="--workspace"):
        problem_rows(raw_sft, tmp_path / "no-workspace")
    no_val = tmp_path / "export"
    no_val.mkdir()
    (no_val / "train.jsonl").write_text(json.dumps(next(iter(rl.values()))) + "\n")
    with pytest.raises(EvalError, match="no val rows.*--split train"):
        load_rows(no_val, "val")
    assert len(load_rows(no_val, "train")) == 1


def test_evaluate_judges_every_sample_with_its_verifier(tiny_model_dir, workspace_exports):
    from train.model import load_model

    rows = load_rows(workspace_exports.rl, "train", limit=6)
    model, tokenizer = load_model(tiny_model_dir, trainable=False)
    result = evaluate(model, tokenizer, rows, samples=3, max_new_tokens=8, seed=1)
    assert result.temperature == 0.7 and len(result.problems) == 6
    for row, p in zip(rows, result.problems):
        assert (p.problem_id, p.domain, p.task) == (row["problem_id"], row["domain"], row["task"])
        assert len(p.texts) == len(p.scores) == len(p.truncated) == 3
        problem = _namespace(row)
        assert p.scores == [verifiers.get(row["verifier"])(problem, t).score for t in p.texts]
        assert (p.maj is None) == (p.domain == "code")
    assert result.value("pass@1") == pytest.approx(sum(sum(p.passed) / 3 for p in result.problems) / 6)
    assert result.value("pass@k") >= result.value("pass@1")
    greedy = evaluate(model, tokenizer, rows[:2], max_new_tokens=8, batch_size=1)
    assert greedy.temperature == 0.0 and [s.metric for s in greedy.scores if s.domain == "all"] == ["pass@1"]
    again = evaluate(model, tokenizer, rows[:2], max_new_tokens=8, batch_size=1)
    assert [p.texts for p in again.problems] == [p.texts for p in greedy.problems]


def _namespace(row):
    from types import SimpleNamespace

    return SimpleNamespace(answer=row["reference"], meta=json.loads(row["meta"]), task=row["task"],
                           domain=row["domain"])  # fmt: skip


def test_run_eval_stores_the_run_and_its_scores(tiny_model_dir, workspace_exports, tmp_path):
    ws = tmp_path / "w"
    out = tmp_path / "problems.jsonl"
    kw = dict(split="train", samples=2, limit=4, max_new_tokens=8, workspace=ws, run="r1", out=out)
    result = run_eval(tiny_model_dir, workspace_exports.rl, **kw)
    run_rows = query(ws, "select run, kind, model, data, status, config, summary, out from runs")
    assert len(run_rows) == 1
    run, kind, model, data, status, config, summary, out_col = run_rows[0]
    assert (run, kind, model, data, status) == ("r1", "eval", str(tiny_model_dir), str(workspace_exports.rl),
                                                "finished")  # fmt: skip
    assert json.loads(config)["samples"] == 2 and json.loads(config)["split"] == "train"
    assert json.loads(summary)["pass@2"] == result.value("pass@k") and out_col == str(out)
    stored = query(ws, "select domain, task, metric, k, value, n, split from evals where run = 'r1'")
    assert sorted(stored) == sorted(
        (s.domain, s.task, s.metric, s.k, s.value, s.n, "train") for s in result.scores
    )
    assert ("all", "all", "pass@1", 1, result.value("pass@1"), 4, "train") in stored
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["problem_id"] for line in lines] == [p.problem_id for p in result.problems]
    assert all(len(line["texts"]) == 2 and "pass@k" in line["metrics"] for line in lines)
    run_eval(tiny_model_dir, workspace_exports.rl, **kw)  # the same run id again replaces its rows
    assert query(ws, "select count(*) from runs") == [(1,)]
    assert query(ws, "select count(*) from evals") == [(len(result.scores),)]


def test_default_run_ids_name_the_training_run(tmp_path):
    from train.evaluate import _model_label

    assert _model_label(tmp_path / "sft1" / "final") == "sft1-final"
    assert _model_label(tmp_path / "grpo" / "checkpoint-000040") == "grpo-checkpoint-000040"
    assert _model_label(tmp_path / "qwen-0.5b") == "qwen-0.5b"
