"""The code tasks: reproducible problems whose hidden tests accept the reference
solution and reject every planted bug.

The harness below runs programs against the three test formats in a subprocess
(one per batch, with a per-program alarm). It only checks the generated data; the
real sandboxed code verifier lives elsewhere.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from datagen.tasks import TASKS as ALL_TASKS
from datagen.tasks import make_problem, solve_problem
from datagen.tasks.base import Solution
from datagen.tasks.code import TASKS, assert_tests, function_synthesis, stdio_programs
from datagen.tasks.code.common import (
    BUG_KINDS,
    MAX_CASES,
    MIN_CASES,
    Bug,
    Template,
    apply_bug,
    call_function,
    make_cases,
    render,
)

FORMATS = {"function_synthesis": "io", "stdio_programs": "stdio", "assert_tests": "humaneval"}
MODULES = {
    "function_synthesis": function_synthesis,
    "stdio_programs": stdio_programs,
    "assert_tests": assert_tests,
}
NAMES = sorted(TASKS)
REPO = Path(__file__).resolve().parents[3]

# ------------------------------------------------------------------------- harness

_RUNNER = r"""
import contextlib, io, json, signal, sys

def _alarm(signum, frame):
    raise TimeoutError("candidate timed out")

def _norm(text):
    return [line.rstrip() for line in text.rstrip().splitlines()]

def _run(source, tests):
    fmt = tests["format"]
    if fmt == "stdio":
        code = compile(source, "<candidate>", "exec")
        for case in tests["cases"]:
            out = io.StringIO()
            sys.stdin = io.StringIO(case["stdin"])
            with contextlib.redirect_stdout(out):
                exec(code, {"__name__": "__main__"})
            if _norm(out.getvalue()) != _norm(case["stdout"]):
                return False
        return True
    namespace = {"__name__": "candidate"}
    exec(compile(source, "<candidate>", "exec"), namespace)
    fn = namespace[tests["entry_point"]]
    if fmt == "humaneval":
        exec(tests["test"], namespace)
        namespace["check"](fn)
        return True
    return all(json.loads(json.dumps(fn(*case["input"]))) == case["output"] for case in tests["cases"])

signal.signal(signal.SIGALRM, _alarm)
real_stdout = sys.stdout
results = []
for job in json.load(sys.stdin):
    signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            results.append(bool(_run(job["source"], json.loads(job["tests"]))))
    except BaseException:
        results.append(False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
real_stdout.write(json.dumps(results))
"""


def run_batch(jobs: list[tuple[str, str]], limit_s: float = 5.0) -> list[bool]:
    """Pass/fail of each (source, tests JSON) job, all in one fresh interpreter;
    a job running longer than `limit_s` fails."""
    payload = json.dumps([{"source": s, "tests": t} for s, t in jobs])
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(limit_s)],
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_harness_accepts_and_rejects_each_format():
    square = "def sq(x):\n    return x * x\n"
    wrong = "def sq(x):\n    return x + x\n"
    echo = "import sys\nprint(sys.stdin.read().strip().upper())\n"
    tests = [
        json.dumps({"format": "io", "entry_point": "sq", "cases": [{"input": [3], "output": 9}]}),
        json.dumps(
            {"format": "humaneval", "entry_point": "sq", "test": "def check(c):\n    assert c(3) == 9\n"}
        ),
    ]
    stdio = json.dumps({"format": "stdio", "cases": [{"stdin": "ab\n", "stdout": "AB\n"}]})
    loop = "def sq(x):\n    while True:\n        pass\n"
    jobs = [(square, tests[0]), (wrong, tests[0]), (square, tests[1]), (wrong, tests[1])]
    jobs += [(echo, stdio), ("print('ab')\n", stdio), (loop, tests[0])]
    assert run_batch(jobs, limit_s=0.5) == [True, False, True, False, True, False, False]


# ---------------------------------------------------------------------- generation


def test_registry():
    assert set(TASKS) == set(FORMATS)
    for name, task in TASKS.items():
        assert task.name == name and ALL_TASKS[name] is task
        assert task.domain == "code" and task.verifier == "code"
        assert task.corrupt is not None and task.description


@pytest.mark.parametrize("name", NAMES)
def test_reproducible(name):
    for difficulty in range(1, 6):
        assert make_problem(name, 7, 3, difficulty) == make_problem(name, 7, 3, difficulty)


def test_reproducible_across_processes():
    """Same ids under another string-hash seed: no generator may depend on set order."""
    script = (
        "from datagen.tasks import make_problem\n"
        f"for name in {NAMES!r}:\n"
        "    for d in range(1, 6):\n"
        "        for i in range(4):\n"
        "            print(make_problem(name, 9, i, d).problem_id)\n"
    )
    ids = [make_problem(n, 9, i, d).problem_id for n in NAMES for d in range(1, 6) for i in range(4)]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ids


@pytest.mark.parametrize("name", NAMES)
def test_distinct_across_indices(name):
    for difficulty in (1, 5):
        problems = [make_problem(name, 0, i, difficulty) for i in range(20)]
        assert len({p.problem_id for p in problems}) == 20
        assert len({p.meta["template"] for p in problems}) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_difficulty_changes_template_pool(name):
    templates = MODULES[name].TEMPLATES
    for difficulty in range(1, 6):
        for i in range(15):
            level = templates[make_problem(name, 1, i, difficulty).meta["template"]].level
            assert difficulty - 2 <= level <= difficulty
    assert {t.level for t in templates.values()} == {1, 2, 3, 4, 5}


def _check_format(tests: dict, fmt: str, meta: dict) -> int:
    """Validate one answer against the verifier contract; return the case count."""
    assert tests["format"] == fmt
    if fmt == "humaneval":
        assert set(tests) == {"format", "test", "entry_point"}
        assert tests["entry_point"] == meta["entry_point"]
        assert tests["test"].startswith("def check(candidate):\n")
        compile(tests["test"], "<test>", "exec")
        return tests["test"].count("\n    assert candidate(")
    if fmt == "io":
        assert set(tests) == {"format", "entry_point", "cases"}
        assert tests["entry_point"] == meta["entry_point"]
        assert all(set(c) == {"input", "output"} and isinstance(c["input"], list) for c in tests["cases"])
    else:
        assert set(tests) == {"format", "cases"}
        assert all(set(c) == {"stdin", "stdout"} for c in tests["cases"])
        assert all(isinstance(c["stdin"], str) and isinstance(c["stdout"], str) for c in tests["cases"])
    return len(tests["cases"])


@pytest.mark.parametrize("name", NAMES)
def test_answers_and_meta_follow_the_contract(name):
    for difficulty in range(1, 6):
        for i in range(8):
            p = make_problem(name, 2, i, difficulty)
            assert p.domain == "code" and p.verifier == "code" and p.difficulty == difficulty
            assert p.answer == json.dumps(json.loads(p.answer), sort_keys=True)
            n_cases = _check_format(json.loads(p.answer), FORMATS[name], p.meta)
            assert MIN_CASES <= n_cases <= MAX_CASES
            assert json.loads(json.dumps(p.meta)) == p.meta
            if FORMATS[name] == "stdio":
                assert "Example input:" in p.prompt and "Example output:" in p.prompt
            else:
                assert f"{p.meta['entry_point']}(" in p.prompt


@pytest.mark.parametrize("name", NAMES)
def test_solution_shape_and_corruption_kind(name):
    task = TASKS[name]
    for i in range(10):
        p = make_problem(name, 3, i, 1 + i % 5)
        sol = solve_problem(p)
        assert sol.answer == p.meta["source"] and sol.principle
        assert 2 <= len(sol.steps) <= 5
        assert all(s.goal.endswith("?") and s.work for s in sol.steps)
        bad, kind = task.corrupt(p.meta, sol, random.Random(i))
        assert kind in BUG_KINDS
        assert bad.answer != sol.answer and bad.principle == sol.principle
        assert len(bad.steps) == len(sol.steps)


def _problems(name: str) -> list:
    return [make_problem(name, 11, i, d) for d in range(1, 6) for i in range(6)]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_and_every_bug_fails(name):
    """30 problems per task: the reference passes its hidden tests, the output of
    `corrupt` and every other bug the template can plant fail at least one."""
    task = TASKS[name]
    templates = MODULES[name].TEMPLATES
    jobs, expect = [], []
    for i, p in enumerate(_problems(name)):
        sol = solve_problem(p)
        jobs.append((sol.answer, p.answer))
        expect.append(True)
        bad, _ = task.corrupt(p.meta, sol, random.Random(i))
        jobs.append((bad.answer, p.answer))
        expect.append(False)
        for bug in templates[p.meta["template"]].bugs:
            jobs.append((apply_bug(sol.answer, bug, p.meta["params"]), p.answer))
            expect.append(False)
    results = run_batch(jobs)
    wrong = [jobs[k][0] for k, (got, want) in enumerate(zip(results, expect, strict=True)) if got != want]
    assert not wrong, f"{len(wrong)} mismatches, first:\n{wrong[0]}"


@pytest.mark.parametrize("name", NAMES)
def test_every_template_bug_applies(name):
    """Each bug anchor occurs exactly once in its rendered reference, for every
    template and a spread of parameters (rendering is cheap)."""
    for template in MODULES[name].TEMPLATES.values():
        for difficulty in range(template.level, 6):
            for s in range(5):
                params = template.params(random.Random(s), difficulty)
                source = render(template.source, params)
                for bug in template.bugs:
                    assert bug.kind in BUG_KINDS
                    assert apply_bug(source, bug, params) != source


def test_stdio_reference_runs_as_a_script(tmp_path):
    p = make_problem("stdio_programs", 0, 0, 3)
    script = tmp_path / "prog.py"
    script.write_text(solve_problem(p).answer)
    for case in json.loads(p.answer)["cases"][:3]:
        proc = subprocess.run(
            [sys.executable, str(script)], input=case["stdin"], capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 0 and proc.stdout == case["stdout"]


# ------------------------------------------------------------- the bug-exposure guard

_ABS = Template(
    key="toy_abs",
    level=1,
    source="def $name(x: int) -> int:\n    return abs(x)\n",
    describe="returns |x|",
    principle="p",
    plan=(("g?", "w"),),
    bugs=(Bug("dropped_term", "abs(x)", "x"),),
    params=lambda rng, d: {"name": "f"},
    edges=lambda p: [[1], [2]],  # positive only: the edges miss the bug
    sample=lambda rng, d, p: [rng.randint(0, 3) if rng.random() < 0.9 else -rng.randint(1, 3)],
)


def _toy_meta(template: Template) -> dict:
    source = render(template.source, {"name": "f"})
    return {"template": template.key, "params": {"name": "f"}, "source": source, "entry_point": "f"}


def test_make_cases_adds_a_witness_when_the_edges_miss_a_bug():
    inputs, outputs = make_cases(_ABS, _toy_meta(_ABS), random.Random(0), 1, call_function)
    assert any(args[0] < 0 for args in inputs) and outputs == [abs(a[0]) for a in inputs]
    assert MIN_CASES <= len(inputs) <= MAX_CASES


def test_make_cases_rejects_an_undetectable_bug():
    harmless = replace(_ABS, bugs=(Bug("dropped_term", "abs(x)", "abs(+x)"),))
    with pytest.raises(RuntimeError, match="exposes"):
        make_cases(harmless, _toy_meta(harmless), random.Random(0), 1, call_function)


def test_corrupt_rejects_a_source_without_the_anchor():
    p = make_problem("function_synthesis", 0, 0, 1)
    edited = Solution(principle="p", steps=[], answer="def nothing():\n    pass\n")
    with pytest.raises(ValueError, match="exactly once"):
        TASKS["function_synthesis"].corrupt(p.meta, edited, random.Random(0))
