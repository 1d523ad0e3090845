"""Step-level checking: splitting, exact claims in every notation, the GSM8K
reference solutions (right steps pass, altered results are caught at their line),
the builtin teacher's solutions and planted slips, and hostile text."""

from __future__ import annotations

import json
import random
import re
import time
from functools import cache
from pathlib import Path

import pytest

from datagen.tasks import TASKS, make_problem, solve_problem
from datagen.teachers.render import render_solution
from datagen.teachers.slips import plant_slip
from verifiers.steps import check_steps, split_steps, step_claims

BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks"
MATH_TASKS = sorted(name for name, task in TASKS.items() if task.domain == "math")


def labels(text: str) -> list[str]:
    return [step["label"] for step in check_steps(text).steps]


def verdicts(text: str) -> list[bool | None]:
    return [claim["ok"] for claim in step_claims(text)]


# ---------------------------------------------------------------- splitting


def test_split_builtin_cot_format():
    text = "Let's think step by step.\n\nStep 1: 7 + 81 = 88.\n\nStep 2: 88 * 2 = 176.\n\nTherefore, the answer is \\boxed{176}."
    report = check_steps(text)
    assert [s["label"] for s in report.steps] == ["correct", "correct"]
    assert report.steps[0]["text"] == "Step 1: 7 + 81 = 88."
    assert report.steps[1]["text"].endswith("\\boxed{176}.")  # the conclusion joins the last step
    assert report.first_error_step is None


def test_split_least_to_most_keeps_goal_and_work_together():
    text = (
        "First, the sub-problems to solve:\n\n1. What is 3 + 4?\n2. What is 7 * 2?\n\n"
        "Sub-problem 1: What is 3 + 4?\n3 + 4 = 7.\n\nSub-problem 2: What is 7 * 2?\n7 * 2 = 15.\n\n"
        "Therefore, the answer is \\boxed{15}."
    )
    report = check_steps(text)
    assert len(report.steps) == 2
    assert report.steps[1]["text"].startswith("Sub-problem 2: What is 7 * 2?\n7 * 2 = 15.")
    assert report.first_error_step == 2


def test_split_markdown_markers_and_claiming_preamble():
    text = "We know 2 + 2 = 4.\n**Step 1:** 4 * 3 = 12\n### Step 2. 12 - 1 = 10\nstep 3) done"
    steps, preamble = split_steps(text)
    assert preamble == "We know 2 + 2 = 4." and len(steps) == 3
    report = check_steps(text)
    assert [s["label"] for s in report.steps] == ["correct", "correct", "wrong", "unchecked"]
    assert report.first_error_step == 3  # the preamble makes a claim, so it is step 1


def test_split_lines_and_sentences():
    gsm = "He sprints 3*3=<<3*3=9>>9 times\nSo he runs 9*60=<<9*60=540>>540 meters\n#### 540"
    assert labels(gsm) == ["correct", "correct", "unchecked"]
    one_line = "First 3 + 4 = 7. Then 7 * 2 = 15. So the answer is 15."
    report = check_steps(one_line)
    assert [s["label"] for s in report.steps] == ["correct", "wrong", "unchecked"]
    assert report.first_error_step == 2
    assert check_steps("").steps == [] and check_steps(None).steps == []


def test_report_shape():
    report = check_steps("Step 1: 2 + 3 = 5\nStep 2: 5 * 5 = 24")
    step = report.steps[1]
    assert set(step) == {"index", "text", "label", "claims"} and step["index"] == 2
    assert step["claims"] == [{"text": "5 * 5 = 24", "kind": "inline", "ok": False, "value": "25"}]
    assert report.counts() == {"correct": 1, "wrong": 1, "unchecked": 0}
    json.dumps(report.steps)  # storable as JSON


# ---------------------------------------------------------------- claims

CORRECT = [
    "7 + 81 = 88",
    "(-56) * 4 = -224",
    "43 - (-59) = 102",
    "2 + 3 + 4 = 9",
    "24 = 1 * 21 + 3",
    "3 * 4 = 12 = 2 * 6",
    "(-4) * (-1) + 4 = 4 + 4 = 8",
    "b^2 - 4ac = 5^2 - 4 * 5 * (-30) = 25 - (-600) = 625",
    "13104 = 2^4 * 3^2 * 7^1 * 13^1",
    "5² = 25",
    "2 ** 10 = 1024",
    "sqrt(625) = 25",
    r"\sqrt{144} = 12",
    r"\frac{3}{4} \times 8 = 6",
    r"\dfrac{1}{2} + \frac{1}{3} = \frac{5}{6}",
    r"$2 \cdot 3 = 6$",
    r"12 \div 4 = 3",
    "6 ÷ 2 × 5 = 15",
    "3 x 4 = 12",
    "3x4=12",
    "10/15 - 9/15 = 1/15",
    "(1/5) / (1/6) = (1/5) * 6",
    "$1,200 - $200 = $1,000",
    "1{,}000 + 1 = 1001",
    "400.00 * 10 / 100 = 40.00",
    ".5 * 10 = 5",
    "20% of 50 = 10",
    "100% - 20% = 80%",
    "10/40 = 25%",
    "578.00 / 340 * 100 = 170 percent of the price",
    "10 / 3 = 3.33",
    "2 / 3 = 0.67",
    "5+3=8*2=16",
    "3 (4 + 5) = 27",
    "¾ x 4 = 3",
    "1½ * 2 = 3",
    "22 – 7 = 15",
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.",
    "80,000*1.5=<<80000*1.5=120000>>120,000",
    "It is <<3/4=3/4>>3/4 of the total",
    "(coefficients: (-2) * 2 = -4)",
    "where -b = -5 and 2a = 2 * 5 = 10",
    "Multiply: 3 * 2 = 6 and 7 * 5 = 35",
    "The speed is 94.5 / 4.5 = 21 km/h.",
]

WRONG = [
    "7 + 81 = 89",
    "(-56) * 4 = 224",
    "2 + 3 + 4 = 10",
    "3 * 4 = 12 = 2 * 7",
    "24 = 2 * 21 + 3",
    "5^2 = 10",
    r"\frac{3}{4} \times 8 = 7",
    "3 x 4 = 13",
    "$1,200 - $200 = $1,100",
    "20% of 50 = 15",
    "10 / 3 = 3.4",
    "5+3=8*2=17",
    "Janet sells 16 - 3 - 4 = <<16-3-4=8>>8 duck eggs a day.",
    "He makes <<9*2=18>>19 dollars",  # the annotation is right, the written result is not
    "Multiply: 3 * 2 = 6 and 7 * 5 = 36",
    "578.00 / 340 * 100 = 179 percent of the price",
    "2 / 3 = 0.6",
]

UNCHECKED = [  # not arithmetic claims, or ambiguous ones: never "wrong"
    "x - 3 = 5",
    "so 3x = -12",
    "u(x) = -2x^2 + 4x - 1",
    "x + 1 = 0 gives x = -1",
    "f(3) = 12",
    "2a = 10",
    "the sum of 3 and 4 = 7",
    "half of 80 = 40 apples",
    "12 = 3 times 4",
    "twice 15 = 30",
    "Tommy raised 23 slices x $4 = $92",
    "25 + shoe size 5 = 30",
    "20% = $10",
    "10 + 20% = 12",
    "48 = 120% of the actual number",
    "x = (-b ± sqrt(60)) / (2a)",
    "sqrt(60) = 2*sqrt(15)",
    "f' = 3 u^2 u' v + u^3 v'",
    "2^100000 = 1",
    "5 / 0 = 1",
    "a = b = c",
    "r1c2 = 3 and x1=T",
    "No numbers here at all.",
    "1 + 1 ≈ 2.1",
    "2 + 2 = 4x",
]


@pytest.mark.parametrize("text", CORRECT)
def test_correct_claims(text):
    found = verdicts(text)
    assert found and all(ok is True for ok in found), (text, step_claims(text))


@pytest.mark.parametrize("text", WRONG)
def test_wrong_claims(text):
    assert False in verdicts(text), (text, step_claims(text))


@pytest.mark.parametrize("text", UNCHECKED)
def test_non_claims_are_not_judged(text):
    assert False not in verdicts(text), (text, step_claims(text))
    assert labels(text) in (["unchecked"], ["correct"], [])


def test_claim_values_are_exact():
    (claim,) = step_claims("1/3 + 1/6 = 0.5")
    assert claim["ok"] and claim["value"] == "0.5"
    (claim,) = step_claims("1/3 + 1/3 = 0.6667")
    assert claim["ok"] and claim["note"] == "rounded" and claim["value"] == "2/3"
    (claim,) = step_claims("0.1 + 0.2 = 0.3")  # no float error
    assert claim["ok"] and claim.get("note") is None


# ---------------------------------------------------------------- GSM8K references


@cache
def gsm8k() -> list[list[str]]:
    path = BENCHMARKS / "gsm8k_test.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not beside the checkout)")
    solutions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        answer = json.loads(line)["answer"]
        solutions.append([s for s in answer.split("\n") if s.strip() and not s.startswith("####")])
    return solutions


def test_gsm8k_reference_steps_are_correct():
    solutions = gsm8k()
    assert len(solutions) == 1319
    annotated = right = 0
    for lines in solutions:
        report = check_steps("\n".join(lines))
        assert len(report.steps) == len(lines)
        for step in report.steps:
            if "<<" in step["text"]:
                annotated += 1
                right += step["label"] == "correct"
    assert annotated > 4000
    assert right / annotated >= 0.99, f"{right}/{annotated}"


_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>(\$?)([\d,]*\.?\d+)?")


def _alter(lines: list[str], rng: random.Random) -> tuple[list[str], int] | None:
    """Change one annotated result (inside the annotation and where it is written after it)."""
    candidates = [(i, m) for i, line in enumerate(lines) for m in _ANNOTATION.finditer(line)]
    if not candidates:
        return None
    i, m = rng.choice(candidates)
    value = m.group(2).strip()
    delta = rng.choice([1, 2, 3, 5, 10, 100]) * rng.choice([1, -1])
    if re.fullmatch(r"-?\d+", value):
        new = str(int(value) + delta)
    elif re.fullmatch(r"-?\d*\.\d+", value):
        places = len(value.split(".")[1])
        new = f"{float(value) + delta:.{places}f}"
    else:
        return None
    shown = m.group(4)
    after = new if shown is not None and shown.replace(",", "") == value else (shown or "")
    replaced = f"<<{m.group(1)}={new}>>{m.group(3)}{after}"
    altered = list(lines)
    altered[i] = lines[i][: m.start()] + replaced + lines[i][m.end() :]
    return altered, i + 1


def test_gsm8k_altered_results_are_caught_at_their_step():
    rng = random.Random(1319)
    altered = caught = 0
    for lines in gsm8k():
        change = _alter(lines, rng)
        if change is None:
            continue
        new_lines, index = change
        altered += 1
        caught += check_steps("\n".join(new_lines)).first_error_step == index
    assert altered > 1250
    assert caught / altered >= 0.95, f"{caught}/{altered}"


# ---------------------------------------------------------------- builtin teacher


@cache
def math_problems() -> list:
    return [make_problem(name, 5, i, 1 + i % 5) for name in MATH_TASKS for i in range(20)]


def test_builtin_teacher_correct_solutions_have_no_wrong_step():
    checked = 0
    for problem in math_problems():
        solution = solve_problem(problem)
        for strategy in ("cot", "least_to_most", "step_back"):
            text = render_solution(solution, strategy, "math", random.Random(problem.problem_id + strategy))
            report = check_steps(text)
            assert report.first_error_step is None, (problem.task, text, report.steps)
            checked += report.counts()["correct"]
    assert checked > 1000  # the claims really are checked, not skipped


_SLIP = re.compile(
    r"=\s*(-?\d+)(?![\w/]|\.\d)"
)  # where plant_slip changes a number (datagen/teachers/slips.py)


def _arithmetic_slip(original: str, changed: str) -> bool:
    """Whether the number the slip changed is the result of a purely numeric left side
    ("... 3 * 4 = 13"), as opposed to "x = 5" or "3x = 12"."""
    at = next(i for i, (a, b) in enumerate(zip(original, changed)) if a != b)
    match = next(m for m in _SLIP.finditer(original) if m.start() <= at < m.end(1) + 1)
    head = original[: match.start()]
    expr = re.search(r"[\d\s()+\-*/^.]*$", head).group()
    before = head[: len(head) - len(expr)]
    body = expr.strip()
    return bool(re.match(r"\(|\d|-\d|-\(", body)) and not re.search(r"[A-Za-z_']$", before)


def test_builtin_teacher_planted_slips_are_flagged_at_their_step():
    arithmetic = caught = slips = 0
    for problem in math_problems():
        solution = solve_problem(problem)
        for seed in range(40):
            wrong, kind = plant_slip(solution, "math", random.Random(f"{problem.problem_id}{seed}"))
            if kind == "wrong_intermediate":
                break
        else:
            continue
        changed = [j for j, (a, b) in enumerate(zip(solution.steps, wrong.steps)) if a.work != b.work]
        if not changed:
            continue
        (j,) = changed
        slips += 1
        for strategy in ("cot", "least_to_most"):
            text = render_solution(wrong, strategy, "math", random.Random(seed))
            found = check_steps(text).first_error_step
            assert found in (None, j + 1), (problem.task, text)  # never another step
            if _arithmetic_slip(solution.steps[j].work, wrong.steps[j].work):
                arithmetic += 1
                caught += found == j + 1
                assert found == j + 1, (problem.task, solution.steps[j].work, wrong.steps[j].work)
    assert slips > 80 and arithmetic > 100  # 94 slips, 120 arithmetic renders with seed 5
    assert caught == arithmetic


def test_arithmetic_results_changed_in_any_step_are_flagged_there():
    # every step of every problem, not only the one plant_slip happens to pick
    for problem in [p for p in math_problems() if p.task == "arithmetic"]:
        solution = solve_problem(problem)
        for j, step in enumerate(solution.steps):
            head, _, value = step.work.rstrip(".").rpartition(" = ")
            steps = list(solution.steps)
            steps[j] = type(step)(step.goal, f"{head} = {int(value) + 7}.")
            wrong = type(solution)(solution.principle, steps, solution.answer)
            text = render_solution(wrong, "cot", "math", random.Random(j))
            assert check_steps(text).first_error_step == j + 1, text


# ---------------------------------------------------------------- hostile text


HOSTILE = {
    "long chain": "1+" * 100_000 + "1 = 5",
    "deep parens": "(" * 50_000 + "1" + ")" * 50_000 + " = 1",
    "equals": "=" * 200_000,
    "many claims": "1=1 " * 60_000,
    "power tower": "2^2^2^2^2^2^2^2 = 4\n" * 2_000,
    "huge power": "9**99999999 = 1 and 10^(10^10) = 1",
    "long number": "9" * 100_000 + " * 2 = 3",
    "lines": "1 + 1 = 2\n" * 100_000,
    "markers": "Step 1: 1 + 1 = 2\n" * 50_000,
    "nested frac": "\\frac{" * 30_000 + "1" + "}{2}" * 30_000 + " = 3",
    "annotations": "<<" + "9*" * 240 + "9=1>>1 " * 2_000,
    "vulgar": "½¾" * 50_000 + " = 3",
    "stars": "*" * 200_000 + "Step 1: 2 + 2 = 5",
    "newlines": "\n" * 500_000,
    "nul": "\x00=\x00" * 50_000,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_text_is_bounded(name):
    started = time.perf_counter()
    report = check_steps(HOSTILE[name])
    assert time.perf_counter() - started < 5  # about 0.3 s at worst on a quiet machine
    assert len(report.steps) <= 2_000
    for step in report.steps:
        assert step["label"] in ("correct", "wrong", "unchecked")
        assert len(step["claims"]) <= 200
