"""train.rewards on rl rows built from the real task generators and the builtin solutions."""

from __future__ import annotations

import json
import os
import random
import time

import pytest
import torch

import verifiers
from datagen.tasks import get_task, make_problem, solve_problem
from datagen.teachers.render import render_solution
from train.data import DataError
from train.rewards import (
    REWARDS,
    compute_rewards,
    format_reward,
    overlong_penalty,
    parse_weights,
    verifier_reward,
)
from verifiers.base import Verdict


def rl_row(task: str, index: int = 0) -> tuple[dict, str]:
    """An rl export row (meta as JSON text, as mixtures.export writes it) and a correct completion."""
    p = make_problem(task, seed=0, index=index, difficulty=1)
    row = {"problem_id": p.problem_id, "reference": p.answer, "verifier": p.verifier,
           "domain": p.domain, "task": p.task, "meta": json.dumps(p.meta)}  # fmt: skip
    return row, render_solution(solve_problem(p), "cot", p.domain, random.Random(0))


def fenced(code: str) -> str:
    return f"Here it is:\n\n```python\n{code}\n```\n"


# -------------------------------------------------------------------- weights


def test_parse_weights():
    assert parse_weights(None) == parse_weights("") == {"verifier": 1.0}
    assert parse_weights("verifier=1, format=0.1,overlong=0.5") == {
        "verifier": 1.0,
        "format": 0.1,
        "overlong": 0.5,
    }
    assert parse_weights({"format": 2}) == {"format": 2.0}
    assert set(REWARDS) == {"verifier", "format", "overlong"}
    with pytest.raises(ValueError, match="'length'"):
        parse_weights("verifier=1,length=2")
    with pytest.raises(ValueError, match="name=weight"):
        parse_weights("verifier")
    with pytest.raises(ValueError, match="not a number"):
        parse_weights("format=lots")
    with pytest.raises(ValueError, match="not finite"):
        parse_weights("format=inf")


# ------------------------------------------------------------------- verifier


@pytest.mark.parametrize(
    "task", ["arithmetic", "function_synthesis", "stdio_programs", "sudoku4", "countdown"]
)
def test_verifier_reward_is_the_verifier_score(task):
    row, solution = rl_row(task)
    assert verifier_reward(row, solution) == 1.0
    assert verifier_reward(row, "I do not know.") == 0.0


def test_logic_verifiers_read_the_puzzle_from_meta_json_text():
    row, _ = rl_row("countdown")
    assert row["reference"] == "7 - 2 + 5"
    other = "So \\boxed{5 + 7 - 2}"  # a different valid expression: only the puzzle in meta accepts it
    assert verifier_reward(row, other) == 1.0
    assert verifier_reward({**row, "meta": "{}"}, other) == 0.0  # no puzzle: compared with the reference


def test_hostile_math_answers_score_zero_quickly():
    row, _ = rl_row("arithmetic")
    start = time.perf_counter()
    for text in [
        "\\boxed{9^{9^{9^{9^{9}}}}}",
        "\\boxed{" * 50_000,
        "\\boxed{100!!!!!!!}",
        "\x00" * 10_000,
        "",
    ]:
        assert verifier_reward(row, text) == 0.0
    assert time.perf_counter() - start < 10


def test_a_raising_or_nan_verifier_scores_zero():
    def raises(problem, response):
        raise RecursionError("deep")

    def nan(problem, response):
        return Verdict(True, float("nan"))

    verifiers.register("test.raises", "1")(raises)
    verifiers.register("test.nan", "1")(nan)
    try:
        row, _ = rl_row("arithmetic")
        assert verifier_reward({**row, "verifier": "test.raises"}, "x") == 0.0
        assert verifier_reward({**row, "verifier": "test.nan"}, "x") == 0.0
    finally:
        verifiers.REGISTRY.unregister("test.raises")
        verifiers.REGISTRY.unregister("test.nan")


def test_unknown_verifier_is_a_data_error():
    # a DataError is a CotmillError: `cotmill eval` and `train grpo` print it as one line
    row, solution = rl_row("arithmetic")
    with pytest.raises(DataError, match="unknown verifier 'nope'"):
        verifier_reward({**row, "verifier": "nope"}, solution)
    with pytest.raises(DataError, match="unknown verifier"):
        compute_rewards([row, {**row, "verifier": "nope"}], [solution] * 2, [1, 1],
                        weights=None, max_new_tokens=8, overlong_buffer=0)  # fmt: skip


@pytest.mark.slow
def test_batch_of_infinite_loops_scores_zero_and_is_verified_concurrently():
    """Two programs that never return, each stopped by the sandbox's 10 s limit: verified
    one after the other that is 20 s; concurrently (a sandbox worker per CPU) about 10."""
    row, solution = rl_row("function_synthesis")
    entry = json.loads(row["reference"])["entry_point"]
    loop = fenced(f"def {entry}(*args):\n    while True:\n        pass")
    start = time.perf_counter()
    total, parts = compute_rewards([row, row, row], [loop, loop, solution], [5, 5, 5],
                                   weights="verifier=1", max_new_tokens=8, overlong_buffer=0)  # fmt: skip
    elapsed = time.perf_counter() - start
    assert total.tolist() == parts["verifier"].tolist() == [0.0, 0.0, 1.0]
    if (os.cpu_count() or 1) >= 2:
        assert elapsed < 17, f"took {elapsed:.1f} s: verifications ran one after the other"


# --------------------------------------------------------------------- format


def test_format_reward_per_verifier_family():
    math_row, math_solution = rl_row("arithmetic")
    code_row, code_solution = rl_row("function_synthesis")
    logic_row, logic_solution = rl_row("sudoku4")
    assert format_reward(math_row, math_solution) == 1.0
    assert format_reward(math_row, "so the answer is \\boxed{3}") == 1.0
    # an explicit statement counts, as for the curation filter; a number the verifier would
    # only guess from the end of the text does not (verifiers.answers.has_answer)
    assert format_reward(math_row, "the answer is 3") == 1.0
    assert format_reward(math_row, "#### 3") == 1.0
    assert format_reward(math_row, "I think it is 3") == 0.0
    assert format_reward(math_row, "\\boxed{}") == 0.0
    assert format_reward(math_row, "\\boxed{3") == 0.0  # unclosed: a truncated completion
    assert format_reward(code_row, code_solution) == 1.0
    assert format_reward(code_row, "def f(x):\n    return x") == 0.0  # no fenced block
    assert format_reward(code_row, "```python\n```") == 0.0  # an empty block
    assert format_reward(logic_row, logic_solution) == 1.0
    assert format_reward(logic_row, "Answer: 1234/3412/2143/4321") == 1.0
    assert format_reward(logic_row, "1234/3412/2143/4321") == 0.0
    assert format_reward(math_row, "\\boxed{" * 100_000) == 0.0  # hostile input stays linear


# ------------------------------------------------------------------- overlong


def test_overlong_penalty_by_hand():
    assert [overlong_penalty(n, 100, 20) for n in (0, 80, 90, 95, 100, 130)] == [0, 0, -0.5, -0.75, -1, -1]
    assert overlong_penalty(100, 100, 0) == 0.0
    assert overlong_penalty(101, 100, 0) == -1.0
    with pytest.raises(ValueError, match="buffer"):
        overlong_penalty(10, 100, 200)


# ---------------------------------------------------------------------- batch


def test_compute_rewards_weights_the_parts():
    math_row, math_solution = rl_row("arithmetic")
    logic_row, logic_solution = rl_row("sudoku4")
    rows = [math_row, math_row, logic_row, logic_row]
    texts = [math_solution, "\\boxed{12345}", logic_solution, "no idea"]
    lengths = [10, 90, 100, 50]
    total, parts = compute_rewards(rows, texts, lengths, weights="verifier=1,format=0.5,overlong=2",
                                   max_new_tokens=100, overlong_buffer=20)  # fmt: skip
    assert set(parts) == {"verifier", "format", "overlong"}
    assert parts["verifier"].tolist() == [1, 0, 1, 0]
    assert parts["format"].tolist() == [1, 1, 1, 0]
    assert parts["overlong"].tolist() == [0, -0.5, -1, 0]
    assert total.dtype == torch.float32 and total.shape == (4,)
    torch.testing.assert_close(total, torch.tensor([1.5, -0.5, -0.5, 0.0]))

    only, parts = compute_rewards(rows, texts, lengths, weights=None, max_new_tokens=100, overlong_buffer=20)
    assert list(parts) == ["verifier"] and only.tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="differ in length"):
        compute_rewards(rows, texts[:2], lengths, weights=None, max_new_tokens=100, overlong_buffer=0)


def test_rows_of_a_real_rl_export(workspace_exports):
    """The export's rows as read from disk (meta is JSON text): each problem's builtin
    solution earns the verifier reward and the format reward, a non-answer earns neither."""
    rows = []
    for split in ("train", "val"):
        path = workspace_exports.rl / f"{split}.jsonl"
        if path.exists():
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert rows and all(isinstance(r["meta"], str) for r in rows)
    assert {r["domain"] for r in rows} >= {"math", "logic"}
    solutions = [
        render_solution(
            get_task(r["task"]).solve(json.loads(r["meta"])), "cot", r["domain"], random.Random(0)
        )
        for r in rows
    ]
    n = len(rows)
    total, parts = compute_rewards(rows + rows, solutions + ["I do not know."] * n, [10] * (2 * n),
                                   weights="verifier=1,format=1", max_new_tokens=64, overlong_buffer=0)  # fmt: skip
    assert parts["verifier"].tolist() == [1.0] * n + [0.0] * n
    assert parts["format"].tolist() == [1.0] * n + [0.0] * n
    assert total.tolist() == [2.0] * n + [0.0] * n
