"""The math verifier: equivalence table, extraction, hostile input, threads and
processes, the registry, every math task's own answers, and GSM8K's answers."""

from __future__ import annotations

import json
import multiprocessing
import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

import verifiers
from verifiers import math_pool
from verifiers.math import equivalent, extract, judge, verify, warm_up

REPO = Path(__file__).resolve().parents[2]

# (reference, candidate, equivalent?)
EQUIVALENCE = [
    # integers with separators
    ("1000", "1,000", True), ("1000", "1 000", True), ("1000", "1{,}000", True), ("3000", "3,\\!000", True),
    ("1000", "1\\,000", True), ("1000", "100", False), ("1000", "1,001", False), ("-267", "267", False),
    ("42", "42.0", True), ("1000000", "10^6", True),
    # decimals
    ("12.75", "12.750", True), ("12.75", "\\frac{51}{4}", True), ("12.75", "12.7", False), ("0.5", ".5", True),
    ("2.5", "25", False),
    # fractions and mixed numbers, exact
    ("\\frac{1}{2}", "0.5", True), ("\\frac{1}{2}", "\\dfrac{1}{2}", True), ("\\frac{1}{2}", "\\tfrac12", True),
    ("\\frac{1}{2}", "2/4", True), ("\\frac{1}{2}", "\\frac{1}{3}", False), ("-54/7", "-\\frac{54}{7}", True),
    ("-54/7", "\\frac{-54}{7}", True), ("-54/7", "54/7", False), ("5/2", "2 1/2", True),
    ("5/2", "2\\frac{1}{2}", True), ("2\\frac{1}{4}", "2.25", True), ("\\frac{1}{3}", "0.333", False),
    ("\\frac{1}{3}", "0.\\overline{3}", True),
    # radicals
    ("2\\sqrt{2}", "\\sqrt{8}", True), ("2*sqrt(2)", "sqrt(8)", True), ("2\\sqrt{2}", "\\sqrt{2}", False),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True), ("\\sqrt[3]{2}", "2^{1/3}", True),
    ("5+2\\sqrt{6}", "(\\sqrt{2}+\\sqrt{3})^2", True), ("\\sqrt{2}", "1.414", False),
    ("3/2 - 3*sqrt(5)/2, 3/2 + 3*sqrt(5)/2", "\\frac{3+3\\sqrt{5}}{2}, \\frac{3-3\\sqrt{5}}{2}", True),
    ("3/2 - 3*sqrt(5)/2, 3/2 + 3*sqrt(5)/2", "\\frac{3+3\\sqrt{5}}{2}, \\frac{3-\\sqrt{5}}{2}", False),
    # pi and e
    ("2\\pi", "2 \\pi", True), ("\\frac{\\pi}{4}", "\\pi/4", True), ("\\pi", "3.14", False),
    ("\\frac{\\pi}{4}", "\\frac{\\pi}{2}", False), ("e^2", "\\exp(2)", True), ("e^2", "2e", False),
    # percentages: the sign reads as a unit or as /100, whichever matches
    ("10\\%", "10", True), ("10\\%", "0.1", True), ("10\\%", "10%", True), ("10", "10\\%", True),
    ("0.1", "10\\%", True), ("10\\%", "0.1\\%", False), ("25\\%", "0.025", False), ("40", "40 percent", True),
    # degrees
    ("90^\\circ", "90", True), ("90", "90^{\\circ}", True), ("90^\\circ", "90\u00b0", True),
    ("90^\\circ", "45^\\circ", False), ("60", "60 degrees", True),
    # units and \text{}
    ("5\\text{ cm}", "5", True), ("5", "5 \\mbox{cm}", True), ("18", "\\$18", True), ("18", "18 dollars", True),
    ("18", "\\$18.00", True), ("18", "19 dollars", False), ("9\\text{ m}^2", "9", True), ("2", "2x", False),
    ("36\\pi", "36\\pi \\text{ cm}^2", True), ("4", "4 \\text{ km/h}", True),
    # multiple-choice letters
    ("\\text{(C)}", "C", True), ("\\text{(C)}", "(C)", True), ("\\text{(C)}", "c", True),
    ("\\text{(C)}", "(D)", False), ("(B)", "\\textbf{(B)}", True), ("D", "(D) 24", True), ("D", "(E)", False),
    # equations and values
    ("x=3", "3", True), ("3", "x=3", True), ("x=3", "3 = x", True), ("x=3", "x=4", False), ("3", "x=4", False),
    ("x=3", "y=3", False), ("y=2x+1", "2x+1=y", True), ("y=2x+1", "2x+1", True), ("y=2x+1", "y=2x-1", False),
    ("y = -\\frac{1}{2}x + 3", "x + 2y = 6", True), ("x^2+y^2=25", "x^2+y^2=5", False),
    ("f(x) = 2x+1", "2x+1", True), ("3", "x = 5 - 2 = 3", True),
    # tuples and points
    ("(8, 2)", "(8,2)", True), ("(8, 2)", "(2, 8)", False), ("(8, 2)", "x=8, y=2", True),
    ("(8, 2)", "(x, y) = (8, 2)", True), ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    ("(1, -2, 3)", "(1, 2, 3)", False), ("(-\\frac{1}{2}, 4)", "(-0.5, 4)", True),
    # sets, order-free
    ("\\{1,2\\}", "\\{2,1\\}", True), ("\\{1,2\\}", "\\{1,2,3\\}", False), ("\\{1,2\\}", "1, 2", True),
    ("\\emptyset", "\\varnothing", True), ("\\{-1, 1\\}", "\\{1\\}", False),
    # intervals: open and closed ends matter
    ("[-2, 7)", "[-2,7)", True), ("[-2, 7)", "[-2, 7]", False), ("[-2, 7)", "(-2, 7)", False),
    ("(-\\infty, 3]", "x \\le 3", True), ("(-\\infty, 3]", "(-\\infty, 3)", False), ("[2, 5]", "2 \\le x \\le 5", True),
    ("(-3, \\infty)", "x > -3", True), ("(-3, \\infty)", "x \\ge -3", False),
    # unions
    ("(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)", True),
    ("(-\\infty, -1) \\cup (1, \\infty)", "(-\\infty, -1] \\cup [1, \\infty)", False),
    ("(-\\infty,0)\\cup(0,\\infty)", "(-\\infty, 0) U (0, \\infty)", True),
    # matrices
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}", False),
    ("\\begin{pmatrix} \\frac{1}{2} \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ 2 \\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)", True),
    # complex numbers
    ("3+4i", "4i + 3", True), ("3+4i", "3-4i", False), ("-1+i", "i - 1", True), ("5-12i", "(3-2i)^2", True),
    ("\\frac{1}{2} - \\frac{\\sqrt{3}}{2}i", "\\frac{1 - i\\sqrt{3}}{2}", True), ("2i", "-2i", False),
    # answer lists (roots): unordered, same size
    ("-2, 3", "3, -2", True), ("-2, 3", "x = -2 \\text{ or } x = 3", True), ("-2, 3", "\\{-2, 3\\}", True),
    ("-2, 3", "-2", False), ("-2, 3", "2, -3", False), ("-2, 3", "-2, 3, 4", False),
    ("1 \\pm \\sqrt{2}", "1 + \\sqrt{2}, 1 - \\sqrt{2}", True), ("1 \\pm \\sqrt{2}", "1+\\sqrt{2}", False),
    # expressions under simplification
    ("2(x+1)", "2x+2", True), ("x^2-1", "(x-1)(x+1)", True), ("x^2-1", "(x-1)^2", False),
    ("\\frac{x+1}{x-1}", "\\frac{x-1}{x+1}", False), ("\\sin^2 x + \\cos^2 x", "1", True),
    ("\\log_2 8", "3", True), ("\\binom{5}{2}", "10", True), ("5!", "120", True), ("2^{10}", "1000", False),
    ("3^{x+1}", "3 \\cdot 3^x", True), ("\\sqrt{x^2}", "x", False),
    # word answers
    ("\\text{odd}", "odd", True), ("\\text{odd}", "\\text{even}", False), ("\\text{Sunday}", "Sunday", True),
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def helper_ready():
    """Start the sympy helper once, so timings below measure the checks themselves."""
    warm_up()
    assert equivalent("x + x", "2x")


@pytest.mark.parametrize("reference,candidate,expected", EQUIVALENCE)
def test_equivalence_table(reference, candidate, expected):
    result = judge(reference, candidate)
    assert result.equal is expected, (reference, candidate, result)


def test_table_covers_enough_pairs():
    assert len(EQUIVALENCE) >= 80
    assert sum(e for *_, e in EQUIVALENCE) >= 40 and sum(not e for *_, e in EQUIVALENCE) >= 40


def test_exact_paths_do_not_need_sympy():
    for reference, candidate in [("1,000", "1000"), ("-54/7", "-\\frac{54}{7}"), ("(8, 2)", "(8,2)"),
                                 ("12.75", "51/4"), ("2\\sqrt{2}", "\\sqrt{8}"), ("[-2, 7)", "[-2,7)")]:  # fmt: skip
        assert judge(reference, candidate).path in ("exact", "structure")


EXTRACTION = [
    ("We get \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
    ("first \\boxed{1}, then \\boxed{\\frac{a^{2}}{\\{b\\}}}", "\\frac{a^{2}}{\\{b\\}}"),
    ("so \\fbox{42} done", "42"),
    ("roots \\boxed{2} and \\boxed{3}", "2, 3"),
    ("The answer is 12.5. Then we stop.", "12.5"),
    ("The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
    ("**Answer:** 18", "18"),
    ("Answer: x = 5", "x = 5"),
    ("Janet sells 9 eggs.\n#### 1,234\n", "1,234"),
    ("So the area is $36\\pi$.", "36\\pi"),
    ("She pays $5 + $3 = 8 dollars in all.", "8"),
    ("no numbers at all", None),
    ("", None),
    ("\\boxed{unclosed", None),
]


@pytest.mark.parametrize("text,expected", EXTRACTION)
def test_extract(text, expected):
    assert extract(text) == expected


def test_extract_fallbacks_are_configurable():
    assert extract("the total is 7 apples") == "7"
    assert extract("the total is 7 apples", fallbacks=()) is None
    assert extract("so $x = 2$", fallbacks=("last_math",)) == "x = 2"
    with pytest.raises(ValueError):
        extract("x", fallbacks=("bogus",))


def test_verify_verdict_fields():
    good = verify("-54/7", "Step 1: ...\nTherefore, the answer is \\boxed{-\\frac{54}{7}}.")
    assert good.passed and good.score == 1.0 and good.extracted == "-\\frac{54}{7}" and good.reason is None
    bad = verify("-54/7", "Therefore, the answer is \\boxed{54/7}.")
    assert not bad.passed and bad.score == 0.0 and bad.reason == "not equivalent"
    none = verify("3", "I could not solve it.")
    assert not none.passed and none.reason == "no final answer found"


HOSTILE = [
    "9^9^9", "9^{9^{9^{9}}}", "10**100000", "10^{10^{10}}", "2^{2^{2^{2^{2^{2}}}}}", "1000000!",
    "((((((((5!)!)!)!)!)!)!)!)", "(10^{10})!", "\\binom{10^{9}}{10^{8}}", "\\exp(\\exp(\\exp(100)))",
    "(x+1)^{100000}", "x^x^x^x^x^x", "1e999999999", "9" * 5000, "(" * 500 + "1" + ")" * 500,
    "{" * 900 + "1" + "}" * 900, "-" * 1500 + "1", "\\frac{" * 300 + "1" + "}{2}" * 300,
    "__import__('os').system('echo pwned')", "().__class__.__bases__[0].__subclasses__()",
    "lambda: 0", "\\sqrt{" * 200 + "2" + "}" * 200, "x" * 100_000,
    "\\sum_{i=1}^{10000}\\sum_{j=1}^{10000} i j", "\\prod_{k=1}^{10^{9}} k", "\\sum_{k=1}^{10^{9}} k^{k}",
]  # fmt: skip


@pytest.mark.parametrize("answer", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_answers_fail_fast(answer):
    for response in (f"The answer is \\boxed{{{answer}}}.", answer):
        start = time.monotonic()
        verdict = verify("3", response)
        assert time.monotonic() - start < 1.5
        assert not verdict.passed and verdict.reason
    start = time.monotonic()
    assert not equivalent(answer, "3") and not equivalent("x + 1", answer)
    assert time.monotonic() - start < 1.5


def test_huge_hostile_responses_fail_fast():
    for response in ["\\boxed{" * 30_000, "$" * 100_000, "\\(" * 50_000, "1 " * 50_000 + "x",
                     "The answer is " * 8000, "#" * 100_000, ("\\text{" + "a" * 20) * 4000]:  # fmt: skip
        start = time.monotonic()
        verdict = verify("3", response)
        assert time.monotonic() - start < 1.5 and not verdict.passed


def test_never_raises_on_garbage():
    rng = random.Random(5)
    alphabet = list("0123456789+-*/^_{}()[]|,.=<>!%$&\\ xyei") + ["\\frac", "\\sqrt", "\\text{", "\\boxed{"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        verdict = verify(rng.choice(["3", "x+1", "(1, 2)", "\\frac{1}{2}"]), text)
        assert isinstance(verdict.passed, bool)
        assert equivalent(text, text) in (True, False)
    assert equivalent(None, "3") is False and equivalent("3", 3) is False


def test_time_limit_kills_a_slow_helper_from_a_thread():
    box = {}

    def slow():
        start = time.monotonic()
        try:
            math_pool.run([["sleep", 30]], timeout_s=0.3)
        except math_pool.Timeout:
            box["timeout"] = time.monotonic() - start

    thread = threading.Thread(target=slow)
    thread.start()
    thread.join(5)
    assert 0.25 < box["timeout"] < 1.5
    assert equivalent("x^2-1", "(x-1)(x+1)")  # a fresh helper took its place


def test_time_limit_in_a_fresh_process_without_signals():
    code = (
        "import json, time, threading; from verifiers import math_pool; from verifiers.math import equivalent\n"
        "out = {}\n"
        "def go():\n"
        "    t = time.monotonic()\n"
        "    try: math_pool.run([['sleep', 30]], 0.3)\n"
        "    except math_pool.Timeout: out['s'] = time.monotonic() - t\n"
        "    out['ok'] = equivalent('2(x+1)', '2x+2')\n"
        "th = threading.Thread(target=go); th.start(); th.join(30); print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    out = json.loads(result.stdout.strip())
    assert out["ok"] is True and out["s"] < 20


def test_slow_sympy_work_hits_the_time_limit():
    start = time.monotonic()
    # a fractional power of a symbol is not a rational function: sympy must expand it
    verdict = verify("(\\sqrt{x}+1)^{999}", "\\boxed{(\\sqrt{x}+1)^{998}(\\sqrt{x}+2)}", timeout_s=0.5)
    assert time.monotonic() - start < 1.5
    assert not verdict.passed and verdict.reason.startswith("timed out")
    assert verify("\\sin^2 x + \\cos^2 x", "\\boxed{1}").passed  # the killed helper was replaced


def _check_in_child(pair):
    return equivalent(*pair)


def test_forked_children_get_their_own_helpers():
    assert equivalent("x + x", "2x")  # the parent's helper exists before the fork
    pairs = [("2(x+1)", "2x+2"), ("x^2-1", "(x-1)^2"), ("\\sin^2 x + \\cos^2 x", "1"), ("3+4i", "4i+3")]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_check_in_child, pairs, chunksize=1) == [True, False, True, True]
    assert equivalent("x^2-1", "(x-1)(x+1)")


def test_threads_with_a_hostile_input_all_return():
    jobs = [("2(x+1)", "\\boxed{2x+2}", True), ("3", "\\boxed{9^{9^{9}}}", False),
            ("x^2-1", "\\boxed{(x-1)(x+1)}", True), ("-2, 3", "\\boxed{3, -2}", True),
            ("(8, 2)", "\\boxed{(2, 8)}", False), ("\\frac{\\sqrt3}{2}", "\\boxed{\\sqrt{3}/2}", True),
            ("3", "\\boxed{" + "(" * 300 + "3" + ")" * 300 + "}", False), ("3+4i", "\\boxed{4i+3}", True)] * 4  # fmt: skip
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda job: verify(job[0], job[1]).passed, jobs, timeout=30))
    assert results == [expected for *_, expected in jobs]


def test_registry_entry():
    check = verifiers.get("math")
    assert verifiers.version("math")
    assert check(SimpleNamespace(answer="(8, 2)", meta={}, task="t", domain="math"), "\\boxed{(8,2)}").passed
    verdict = check(SimpleNamespace(answer=None, meta={}, task="t", domain="math"), "\\boxed{3}")
    assert not verdict.passed and verdict.reason == "no reference answer"


def test_verifiers_import_nothing_else_from_the_repo():
    code = (
        "import sys, verifiers.math, verifiers.math_worker\n"
        "verifiers.math.equivalent('x+1', '1+x')\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('datagen', 'cotmill', 'math_verify')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr
    for path in (REPO / "verifiers").glob("math*.py"):
        assert not re.search(r"^\s*(from|import)\s+(datagen|cotmill)", path.read_text(), re.M), path


def _perturbed(answer: str, rng: random.Random) -> str:
    spots = list(re.finditer(r"\d+", answer))
    m = rng.choice(spots)
    return answer[: m.start()] + str(int(m.group()) + rng.choice([1, 2, 5])) + answer[m.end() :]


def test_every_math_task_verifies_its_own_answers():
    from datagen.tasks.base import task_rng
    from datagen.tasks.math import TASKS

    rng = random.Random(11)
    for name, task in TASKS.items():
        for i in range(50):
            difficulty = 1 + i % 5
            problem = task.generate(task_rng(name, 3, i, difficulty), difficulty)
            response = f"Let's think step by step.\n\nTherefore, the answer is \\boxed{{{problem.answer}}}."
            verdict = verify(problem.answer, response)
            assert verdict.passed, (name, problem.answer, verdict)
            wrong = _perturbed(problem.answer, rng)
            verdict = verify(problem.answer, response.replace(problem.answer, wrong))
            assert not verdict.passed, (name, problem.answer, wrong)


def test_gsm8k_answers_verify(benchmark_file):
    path = benchmark_file("gsm8k_test.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 1319
    for line in lines:
        worked, _, final = json.loads(line)["answer"].rpartition("####")
        reference = final.strip().replace(",", "")
        assert verify(reference, f"{worked}\nThe answer is {final.strip()}.").passed, final
        assert verify(reference, f"{worked}\n#### {final.strip()}").passed, final
        assert not verify(reference, f"The answer is {int(reference) + 1}.").passed


@pytest.mark.parametrize(
    "reference, response, expected",
    [
        ("3\\text{ cm}", "\\boxed{3\\text{ kg}}", False),  # two units, two answers
        ("5 \\text{ km}", "The answer is 5 m", False),
        ("3 hours", "\\boxed{3 minutes}", False),
        ("5 m", "\\boxed{5 meters}", True),  # the same unit spelled out
        ("3 cm", "\\boxed{3}", True),  # a bare value takes the reference's unit
        ("(1,2)", "[1,2]", False),  # the fallback keeps brackets: interval, not a point
        ("\\{1,2\\}", "[1,2]", False),
        ("[1,2]", "so it is [1,2]", True),
    ],
)
def test_units_and_brackets_in_fallbacks_are_not_ignored(reference, response, expected):
    assert verify(reference, response).passed is expected


# Answers as real models write them: (class, reference, response, expected). Every class
# has wrong answers too: none of them may pass.
# fmt: off
REAL_MODEL_ANSWERS = [
    # an answer stated in a sentence after a marker
    ("sentence", "34", "Final Answer: The final answer is $34$. I hope it is correct.", True),
    ("sentence", "34", "Final Answer: The largest $n$ is 34.", True),
    ("sentence", "34", "Final Answer: The largest $n$ is 35.", False),
    ("sentence", "120", "so $5 \\times 6 \\times 4 = 120$. Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", True),
    ("sentence", "3", "Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", True),
    ("sentence", "3", "Final Answer: Jane started growing Sphere 4 hours ago.", False),
    ("sentence", "19", "Final Answer: The maximum number of points in the domain of $f(x)$ is 19.", True),
    ("sentence", "yes", "The answer is yes.", True),
    ("sentence", "29", "15 + 14 = 29. So the answer is 29, which is the sum of the two numbers.", True),
    ("sentence", "29", "So the answer is 28, which is the sum of the two numbers.", False),
    # a later final answer wins over a box mid-solution; a box inside the answer sentence counts
    ("later", "10455", "so $\\boxed{255}$ in interest. In all $10,200 + $255 = $10,455. Final Answer: The final answer is $10,455$. I hope it is correct.", True),
    ("later", "255", "so $\\boxed{255}$ in interest. Final Answer: The final answer is $10,455$.", False),
    ("later", "14916", "so $14{,}922$. Final Answer: The smallest possible value of $N$ is $\\boxed{14{,}916}$.", True),
    ("later", "7", "We get \\boxed{7}. Let me check whether the answer is correct.", True),
    # bare LaTeX without $, escaped dollars
    ("bare latex", "10/9", "\\frac{10}{9}", True),
    ("bare latex", "-10/9", "so x = -\\frac{10}{9}", True),
    ("bare latex", "9", "so x = -\\frac{10}{9}", False),
    ("bare latex", "10/9", "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", True),
    ("bare latex", "1/2", "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", False),
    # labels longer than one letter, ratios, approximations, chains
    ("label", "1", "$$|AB|=1$$", True),
    ("label", "|AB| = 1", "$$1$$", True),
    ("label", "|AB| = 1", "$$2$$", False),
    ("label", "V_{1}:V_{2}=11:21", "$11:21$", True),
    ("label", "V_{1}:V_{2}=11:21", "$11:20$", False),
    ("label", "11:21", "\\boxed{\\frac{11}{21}}", True),
    ("label", "\\frac{NO}{BO}=\\frac{3}{4}", "\\boxed{\\frac{3}{4}}", True),
    ("label", "\\frac{NO}{BO}=\\frac{3}{4}", "\\boxed{\\frac{4}{3}}", False),
    ("label", "A:B=1", "$$1$$", True),
    ("approx", "11", "$x\\approx11$", True),
    ("approx", "1/3", "$x=1/3\\approx1.3$", True),
    ("approx", "1.3", "$x=1/3\\approx1.3$", False),
    ("approx", "x = 1/3", "$x = 5+5+1 = 1/3 \\approx 11$", True),
    ("chain", "z = 1 + 1 = 2", "$z = 3+3 = 2$", True),
    ("chain", "z = 1 + 1 = 2", "$z = 3$", False),
    # several boxed answers, tuples with ;, solution lists, prose lists
    ("boxes", "1, -2", "\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", True),
    ("boxes", "-2, 1", "$\\boxed{1}$ and $\\boxed{-2}$", True),
    ("boxes", "1, -2", "\\(\\boxed{1}\\) and \\(\\boxed{2}\\).", False),
    ("boxes", "y_{1}=-2 x^{2}+4 x+3, y_{2}=3 x^{2}+12 x+10", "\\( y_1 = \\boxed{-2(x - 1)^2 + 5} \\) and \\( y_2 = \\boxed{3(x + 2)^2 - 2} \\)", True),
    ("boxes", "y_{1}=-2 x^{2}+4 x+3, y_{2}=3 x^{2}+12 x+10", "\\( y_1 = \\boxed{-2(x - 1)^2 + 5} \\) and \\( y_2 = \\boxed{3(x + 2)^2 + 2} \\)", False),
    ("tuples", "(0;0;0),(0;-2;0),(4;0;6)", "\\boxed{(4, 0, 6), (0, -2, 0), (0, 0, 0)}", True),
    ("tuples", "(0;0;0),(0;-2;0),(4;0;6)", "\\boxed{(4, 0, 6), (0, 2, 0), (0, 0, 0)}", False),
    ("tuples", "(11,7)or(7,11)", "$\\boxed{(7,11),\\ (11,7)}$", True),
    ("tuples", "(11,7) or (7,11)", "$\\boxed{(7,11)}$", False),
    ("tuples", "p=5,q=2;p=7,q=2", "$(5,2),(7,2)$", True),
    ("tuples", "p=5,q=2;p=7,q=2", "$(2,5),(2,7)$", False),
    ("prose list", "19, 46, 82", "$19, 46, \\text{ and } 82$", True),
    ("prose list", "19, 46, and 82", "\\boxed{19, 46, 82}", True),
    ("prose list", "19, 46, and 82", "$21, 36, and 82$", False),
    # inequalities
    ("inequality", "(0,1)", "$0<f(x)<1$", True),
    ("inequality", "0<f(x)<1", "$(0,1)$", True),
    ("inequality", "0<f(x)<1", "$[0,1)$", False),
    ("inequality", "x < 1", "$-x > -1$", True),
    ("inequality", "x <= 1", "$-x >= -1$", True),
    ("inequality", "x < 1", "$-x > 1$", False),
    # thousands separators, decimal commas
    ("thousands", "32349", "is $\\boxed{32,\\! 349}$", True),
    ("thousands", "11111111100", "is $\\boxed{11,\\! 111,\\! 111,\\! 100}$", True),
    ("thousands", "14916", "Final Answer: The final answer is $14 {, }916$. I hope it is correct.", True),
    ("thousands", "1000", "1 000", True),
    ("thousands", "1000", "1 001", False),
    ("thousands", "3100", "He has 3 100 dollar bills", False),
    ("thousands", "32349", "is $\\boxed{32,\\! 348}$", False),
    ("decimal comma", "1000.99", "1000,99", True),
    ("decimal comma", "1,22", "1.22", True),
    ("decimal comma", "0.111", "0,111", True),
    ("decimal comma", "2.74", "Soucis : 2,74 $ a..", True),
    ("decimal comma", "2.74", "2,75", False),
    ("decimal comma", "1000", "\\boxed{1,000}", True),  # three digits after the comma: thousands
    # powers with irrational exponents are bounded by value, not refused
    ("power", "2^{(1+\\sqrt5)/2}", "\\boxed{2^{(\\sqrt5+1)/2}}", True),
    ("power", "10^{\\frac{-5+\\sqrt{13}}{6}}", "\\boxed{10^{\\frac{\\sqrt{13} - 5}{6}}}", True),
    ("power", "2^{(1+\\sqrt5)/2}", "\\boxed{2^{(\\sqrt5-1)/2}}", False),
    # sums and products
    ("sum", "385", "\\boxed{\\sum_{k=1}^{10} k^2}", True),
    ("sum", "384", "\\boxed{\\sum_{k=1}^{10} k^2}", False),
    ("sum", "120", "$\\prod_{i=1}^{5} i$", True),
    ("sum", "6 + i", "\\boxed{\\sum_{i=1}^{3} i + i}", True),  # the index ends with the body
    ("sum", "12", "\\boxed{\\sum_{i=1}^{3} i + i}", False),
    ("sum", "\\frac{n(n+1)}{2}", "\\boxed{\\sum_{k=1}^{n} k}", True),
    ("sum", "\\frac{n(n+1)}{2}", "\\boxed{\\sum_{k=1}^{n} k^2}", False),
    ("sum", "F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}", "$F_n = \\sum_{k=0}^{n-1} F_{n-k-1} F_k$", True),
    ("sum", "F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}", "$F_n = \\sum_{k=0}^{n-2} F_k F_{n-k-2}$", False),
    # a number that is part of a word, or of an unfinished expression, is not an answer
    ("false accept", "2", "AZYUK2A", False),
    ("false accept", "1", "the value of x_1", False),
    ("false accept", "9", "so the sum is (9 + 7) + 2 = 2(9 + ", False),
    ("false accept", "9", "so the total is 9 +", False),
    ("false accept", "7", "We need 2 * (3 + 7", False),
    ("false accept", "16", "First 9 + 7 = 16", True),  # a finished one still reads
    # LaTeX escaped twice, as in JSON dumps
    ("escaped", "\\left(3, \\frac{\\pi}{2}\\right)", "the polar coordinates are $\\\\boxed{\\\\left( 3, \\\\frac{\\\\pi}{2} \\\\right)}.$", True),
]
# fmt: on


@pytest.mark.parametrize("kind, reference, response, expected", REAL_MODEL_ANSWERS)
def test_answers_as_real_models_write_them(kind, reference, response, expected):
    verdict = verify(reference, response)
    assert verdict.passed is expected, (kind, verdict.extracted, verdict.reason)


def test_every_class_has_a_wrong_answer():
    kinds = {k for k, *_ in REAL_MODEL_ANSWERS}
    assert kinds == {k for k, *_, e in REAL_MODEL_ANSWERS if not e} | {"escaped"}


def test_a_fallback_verdict_says_so():
    guessed = verify("16", "First 9 + 7 = 16")
    assert guessed.passed and guessed.reason == "fallback: last_number"
    assert guessed.details["source"] == "last_number"
    wrong = verify("17", "so it is $16$")
    assert not wrong.passed and wrong.reason == "not equivalent (fallback: last_math)"
    stated = verify("16", "The answer is 16.")
    assert stated.passed and stated.reason is None and stated.details["source"] == "answer"
    assert verify("16", "\\boxed{16}").details["source"] == "boxed"
    assert verify("16", "#### 16").details["source"] == "hashes"


def test_rational_functions_are_decided_without_sympy():
    pairs = [("x^2-1", "(x-1)(x+1)", True), ("\\frac{x^2+2x+1}{x+1}", "x+1", True),
             ("(a+b)^3", "a^3+3a^2b+3ab^2+b^3", True), ("(a+b)^3", "a^3+3a^2b+3ab^2+2b^3", False),
             ("\\frac{1}{x}+\\frac{1}{y}", "\\frac{x+y}{xy}", True), ("(x+1)^{999}", "(x+1)^{998}(x+2)", False),
             ("x^{-2}", "\\frac{1}{x^2}", True), ("2x+2", "2(y+1)", False)]  # fmt: skip
    for reference, candidate, expected in pairs:
        result = judge(reference, candidate)
        assert result.equal is expected and result.path != "sympy", (reference, candidate, result)
    equations = [("y = -\\frac{1}{2}x + 3", "x + 2y = 6", True), ("x^2+y^2=25", "x^2+y^2-25=0", True),
                 ("x^2+y^2=25", "x^2+y^2=5", False)]  # fmt: skip
    for reference, candidate, expected in equations:
        result = judge(reference, candidate)
        assert result.equal is expected and result.path != "sympy", (reference, candidate, result)
    # not rational functions: sympy still decides
    assert judge("\\sqrt{x} \\cdot \\sqrt{x}", "x").path == "sympy"
    assert judge("\\sin^2 x + \\cos^2 x", "1").equal


def test_random_points_are_the_same_in_every_process():
    from verifiers.math_eval import point_value

    code = "from verifiers.math_eval import point_value; print(point_value('x', 0), point_value('y', 2))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == [str(point_value("x", 0)), str(point_value("y", 2))]


# the conventions math_compare documents, where graders differ
CONVENTIONS = [
    ("1/3", "0.333", False),  # exact values, no rounding tolerance
    ("2.74", "2,74", True),  # a decimal comma against a decimal
    ("2, 5", "2,5", True),  # ... but against a list, a list
    ("2.5", "2, 5", False),
    ("1000", "1,000", True),  # three digits: thousands
    ("z = 1 + 1 = 2", "2", True),  # chains state their last member
    ("1/3", "x = 1/3 \\approx 0.33", True),  # an approximation states what it approximates
    ("0.33", "x = 1/3 \\approx 0.33", False),
    ("1:2", "2:4", True),  # a ratio is a number
    ("1:2", "0.5", True),
    ("(1, 2), (3, 4)", "(1, 2), (3, 4), (3, 4)", False),  # multiplicity counts
    ("(1,3)", "{1,3}", False),  # unescaped braces make a list, not a point
    ("9", "Answer $ \n 9 \n $", True),  # inline math may span lines
]


@pytest.mark.parametrize("reference, response, expected", CONVENTIONS)
def test_documented_conventions(reference, response, expected):
    boxed = response if "$" in response else f"So it is \\boxed{{{response}}}."
    assert verify(reference, boxed).passed is expected


def test_an_answer_that_restates_the_question_fails():
    """SmolLM2 often ends "So the answer is 7 + 16": equal in value to 23, but no answer."""
    problem = SimpleNamespace(answer="23", prompt=[{"role": "user", "content": "What is 7 + 16?"}])
    restated = verifiers.get("math")(problem, "Let me add them. So the answer is \\boxed{7 + 16}.")
    assert not restated.passed and restated.reason == "the answer restates the question"
    assert verifiers.get("math")(problem, "7 + 16 = 23, so the answer is \\boxed{23}.").passed
    assert verifiers.get("math")(problem, "The answer is 7 + 16 = 23.").passed
    factor = SimpleNamespace(answer="(x-1)(x+1)", prompt="Factor x^2 - 1.")
    assert not verifiers.get("math")(factor, "\\boxed{x^2 - 1}").passed
    assert verifiers.get("math")(factor, "\\boxed{(x+1)(x-1)}").passed
    cups = SimpleNamespace(answer="3/4", prompt="A cake needs 3/4 cup of sugar. How much sugar?")
    assert verifiers.get("math")(cups, "It needs \\boxed{3/4} cup.").passed  # a number is an answer
    assert verifiers.get("math")(
        SimpleNamespace(answer="23"), "\\boxed{7 + 16}"
    ).passed  # no prompt: no check


# real SmolLM2-135M completions (bench/verify_math.py --real) that the extraction misread
REAL_SMOLLM2 = [
    ("5", "1 + 4 = 5\n\nThe final answer within \\boxed{} is 5.", True),
    ("10", "So the answer is \\boxed{}\\10.", True),
    ("23", "16 + 7 = 23\n\nThe answer is: \\boxed{}\\text{16 + 7 = 23}\\end{b*}", True),
    ("13", "So the final answer is 6 + 7 = 12.\n\nHere's the answer:\n\n\\boxed{} 6 + 7 = 12", False),
    (
        "25",
        "The final answer can be expressed as 17 + 8 = 25, which is the final answer to the given problem.",
        True,
    ),
    (
        "29",
        "18 + 11 = 29. Finally, I will check if I have reached a total of 29, and if the answer is correct. If I",
        True,
    ),
    (
        "12",
        "and 12 is 12, which seems to make it easier to just add the 1. However, you can simplify that 12.\n\nThe answer",
        False,
    ),
    (
        "19",
        "13 + 6 equals 19.\n\nThe answer is incorrect. The original equation 13 + 6 equals 19.\n\nStep 3: Calculate the sum.",
        True,
    ),
    ("28", "3. Addition: 20 + 8 = 28.\n\nThe answer is \\boxed{}.", False),
]


@pytest.mark.parametrize("reference, response, expected", REAL_SMOLLM2)
def test_real_smollm2_answers(reference, response, expected):
    assert verify(reference, response).passed is expected
