"""The code verifier: extraction, the three test formats, scoring, the registry,
HumanEval's canonical solutions and the code tasks' references and planted bugs."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

import verifiers
from verifiers.code import VERSION, extract_program, same, verify

BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks"


def fenced(program: str) -> str:
    return f"Let me think.\n\n```python\n{program}```\n"


def io_tests(entry: str, *cases) -> dict:
    return {"format": "io", "entry_point": entry, "cases": [{"input": i, "output": o} for i, o in cases]}


def stdio_tests(*cases) -> dict:
    return {"format": "stdio", "cases": [{"stdin": i, "stdout": o} for i, o in cases]}


def humaneval_tests(entry: str, body: str) -> dict:
    return {"format": "humaneval", "test": f"def check(candidate):\n{body}", "entry_point": entry}


# ------------------------------------------------------------------- extraction


def test_the_last_python_block_is_the_program():
    text = "```python\nx = 1\n```\nthen\n```py\ny = 2\n```\nand\n```text\nnot code\n```\n"
    assert extract_program(text) == "y = 2\n"
    assert extract_program("```\nz = 3\n```") == "z = 3\n"
    assert extract_program("   ```Python3 title\nw = 4\n   ```") == "w = 4\n"


def test_without_a_fence_the_whole_response_is_the_program():
    assert extract_program("def f():\n    return 1\n") == "def f():\n    return 1\n"
    assert extract_program("```bash\nls\n```") == "```bash\nls\n```"


def test_an_unclosed_fence_runs_to_the_end():
    assert extract_program("Answer:\n```python\ndef f():\n    return 1\n") == "def f():\n    return 1\n"


# ---------------------------------------------------------------------- formats


def test_io_scores_the_fraction_of_cases():
    tests = io_tests("f", ([1], 2), ([2], 4), ([3], 6), ([0], 1))
    verdict = verify(fenced("def f(x):\n    return 2 * x\n"), tests)
    assert not verdict.passed and verdict.score == 0.75
    assert verdict.extracted == "def f(x):\n    return 2 * x\n"
    assert "case 4: expected 1, got 0" in verdict.reason
    assert verify(fenced("def f(x):\n    return 2 * x or 1\n"), tests).passed


def test_io_compares_values_like_python_but_strictly_typed():
    program = "def f(kind):\n    return {'tuple': (1, 2), 'float': 0.1 + 0.2, 'int': 3.0, 'dict': {'a': [1]}}[kind]\n"
    tests = io_tests("f", (["tuple"], [1, 2]), (["float"], 0.3), (["int"], 3), (["dict"], {"a": [1]}))
    assert verify(fenced(program), tests).passed
    assert not verify(fenced("def f():\n    return 1\n"), io_tests("f", ([], True))).passed  # bool is not int
    assert not verify(fenced("def f():\n    return 3.5\n"), io_tests("f", ([], 3))).passed
    assert not verify(fenced("def f():\n    return {1, 2}\n"), io_tests("f", ([], [1, 2]))).passed


def test_io_an_object_equal_to_everything_scores_zero():
    tricks = [
        "class A:\n    def __eq__(self, other):\n        return True\n\ndef f():\n    return A()\n",
        "class I(int):\n    def __eq__(self, other):\n        return True\n\ndef f():\n    return I(5)\n",
        "class S(str):\n    def __eq__(self, other):\n        return True\n    def __repr__(self):\n"
        "        return repr('right')\n\ndef f():\n    return S('wrong')\n",
        "class L(list):\n    def __eq__(self, other):\n        return True\n\ndef f():\n    return L([0])\n",
        "def f():\n    return (x for x in [1])\n",
    ]
    for program in tricks:
        for tests in (io_tests("f", ([], "right")), io_tests("f", ([], 1)), io_tests("f", ([], [1]))):
            assert not verify(fenced(program), tests).passed, program
    # a subclass holding the right value is that value (Counter, IntEnum, ...)
    counter = "from collections import Counter\n\ndef f():\n    return Counter('aab')\n"
    assert verify(fenced(counter), io_tests("f", ([], {"a": 2, "b": 1}))).passed


def test_io_exits_and_crashes_fail_their_cases():
    tests = io_tests("f", ([1], 1), ([2], 2))
    exits = "import sys\n\ndef f(x):\n    if x == 2:\n        sys.exit(0)\n    return x\n"
    verdict = verify(fenced(exits), tests)
    assert verdict.score == 0.5 and "SystemExit" in verdict.reason
    assert verify(fenced("def f(x):\n    return 1 // (x - 2) + 1\n"), tests).score == 0.0
    assert "no function 'f'" in verify(fenced("def g(x):\n    return x\n"), tests).reason
    assert "SyntaxError" in verify(fenced("def f(x) return x"), tests).reason


def test_stdio_compares_output_and_needs_a_clean_exit():
    tests = stdio_tests(("1 2\n", "3\n"), ("5 5\n", "10\n"))
    program = "a, b = map(int, input().split())\nprint(a + b, '  ')\nprint()\n"
    assert verify(fenced(program), tests).passed  # trailing spaces and blank lines do not count
    main = "import sys\n\ndef main():\n    print(sum(map(int, sys.stdin.read().split())))\n\nif __name__ == '__main__':\n    main()\n"
    assert verify(fenced(main), tests).passed
    assert verify(fenced(main + "    sys.exit(0)\n"), tests).passed
    verdict = verify(fenced(main + "    sys.exit(3)\n"), tests)
    assert not verdict.passed and "status 3" in verdict.reason
    verdict = verify(fenced("print(int(input()) + 1)\n"), tests)
    assert not verdict.passed and "ValueError" in verdict.reason


def test_stdio_reads_stdin_every_way():
    tests = stdio_tests(("7\n", "7\n"))
    for program in (
        "import sys\nprint(sys.stdin.buffer.read().decode().strip())\n",
        "print(open(0).read().strip())\n",
        "import os\nprint(os.read(0, 10).decode().strip())\n",
        "import sys\nfor line in sys.stdin:\n    print(line.strip())\n",
    ):
        assert verify(fenced(program), tests).passed, program


def test_stdio_lost_output_fails():
    tests = stdio_tests(("", "hello\n"))
    assert not verify(fenced("import os\nprint('hello')\nos._exit(0)\n"), tests).passed  # never flushed
    assert verify(fenced("import os, sys\nprint('hello')\nsys.stdout.flush()\nos._exit(0)\n"), tests).passed


def test_humaneval_passes_and_fails_with_the_line():
    tests = humaneval_tests("add", "    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 5\n")
    verdict = verify(fenced("def add(a, b):\n    return a + b\n"), tests)
    assert not verdict.passed and verdict.score == 0
    assert "AssertionError at line 3 of the tests: assert candidate(2, 2) == 5" in verdict.reason
    tests = humaneval_tests("add", "    assert candidate(1, 2) == 3\n")
    assert verify(fenced("def add(a, b):\n    return a + b\n"), tests).passed


def test_humaneval_tests_can_use_the_programs_helpers_and_exceptions():
    program = "def helper(x):\n    return x + 1\n\ndef f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return helper(x)\n"
    body = (
        "    assert candidate(1) == helper(1) == 2\n    try:\n        candidate(-1)\n    except ValueError:\n"
        "        pass\n    else:\n        assert False\n"
    )
    assert verify(fenced(program), humaneval_tests("f", body)).passed


def test_timeouts_fail_quickly():
    verdict = verify(
        fenced("def f():\n    while True:\n        pass\n"), io_tests("f", ([], 1)), timeout_s=0.5
    )
    assert not verdict.passed and "timed out" in verdict.reason and verdict.elapsed_ms < 5000


# -------------------------------------------------------------- bad input, registry


@pytest.mark.parametrize(
    "tests",
    [
        None,
        [],
        {"format": "docker"},
        {"format": "io", "cases": [{"input": [1], "output": 1}]},
        {"format": "io", "entry_point": "f", "cases": []},
        {"format": "io", "entry_point": "f", "cases": [[1, 1]]},
        {"format": "stdio", "cases": [{"stdin": 1, "stdout": "1"}]},
        {"format": "humaneval", "test": "", "entry_point": "f"},
    ],
)
def test_malformed_tests_fail_without_raising(tests):
    verdict = verify("def f(x):\n    return x\n", tests)
    assert not verdict.passed and verdict.reason.startswith("malformed tests")


def test_the_registry_runs_problems():
    check = verifiers.get("code")
    assert verifiers.version("code") == VERSION
    answer = json.dumps(io_tests("f", ([3], 9)))
    problem = SimpleNamespace(answer=answer, meta={}, task="function_synthesis", domain="code")
    assert check(problem, fenced("def f(x):\n    return x * x\n")).passed
    assert not check(problem, fenced("def f(x):\n    return x + x\n")).passed
    for bad in ("{not json", None, "[1, 2]"):
        verdict = check(SimpleNamespace(answer=bad, meta={}, task="t", domain="code"), "x = 1")
        assert not verdict.passed and "malformed tests" in verdict.reason


def test_odd_responses_do_not_raise():
    tests = io_tests("f", ([], 1))
    for response in ("", "```python\n```", "\x00\udcff", None, "```python\n" + "(" * 10_000 + "\n```"):
        assert not verify(response, tests).passed


def test_values_compare_like_python_on_plain_data():
    assert same([1, 2.0, "x"], (1, 2, "x")) and same({"a": None}, {"a": None})
    assert same(0.1 + 0.2, 0.3) and same(float("nan"), float("nan"))
    assert not same(1, True) and not same(True, 1) and not same(2, 2.5) and not same("1", 1)
    assert not same({"1": 1}, {1: 1}) and not same([1], [1, 2]) and not same(None, 0)


def test_verify_is_thread_safe():
    def one(n: int) -> bool:
        tests = io_tests("f", ([n], n + 1))
        return verify(fenced("def f(x):\n    return x + 1\n"), tests).passed

    with ThreadPoolExecutor(8) as ex:
        assert all(ex.map(one, range(64)))


# ---------------------------------------------------------- HumanEval and tasks


@pytest.fixture(scope="module")
def humaneval():
    path = BENCHMARKS / "humaneval.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not beside the checkout)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _judge_all(rows: list, body) -> list:
    def one(row):
        tests = {"format": "humaneval", "test": row["test"], "entry_point": row["entry_point"]}
        return row["task_id"], verify(fenced(row["prompt"] + body(row)), tests)

    with ThreadPoolExecutor(4) as ex:
        return list(ex.map(one, rows))


def test_humaneval_canonical_solutions_all_pass(humaneval):
    assert len(humaneval) == 164
    failed = [
        (t, v.reason) for t, v in _judge_all(humaneval, lambda r: r["canonical_solution"]) if not v.passed
    ]
    assert failed == []


def test_humaneval_stubs_all_fail(humaneval):
    passed = [t for t, v in _judge_all(humaneval, lambda r: "    pass\n") if v.passed]
    assert passed == []


def test_code_tasks_references_pass_and_planted_bugs_fail():
    from datagen.tasks import make_problem, solve_problem
    from datagen.tasks.code import TASKS

    problems = [make_problem(name, 11, i, 1 + i % 5) for name in TASKS for i in range(30)]

    def one(problem):
        solution = solve_problem(problem)
        tests = json.loads(problem.answer)
        good = verify(fenced(solution.answer), tests)
        wrong, _kind = TASKS[problem.task].corrupt(
            problem.meta, solution, random.Random(problem.meta["index"])
        )
        bad = verify(fenced(wrong.answer), tests)
        return problem.task, problem.meta["index"], good.passed, good.reason, bad.passed

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(one, problems))
    assert [r[:4] for r in results if not r[2]] == []  # every reference passes
    assert [r[:2] for r in results if r[4]] == []  # every planted bug is caught


def test_a_program_cannot_replace_the_tests_builtins():
    # `def abs(x): return 0` would make `assert abs(candidate(...) - expected) < 1e-6` pass
    tests = {
        "format": "humaneval",
        "entry_point": "mean",
        "test": "def check(candidate):\n    assert abs(candidate([1.0, 2.0, 3.0]) - 2.0) < 1e-6\n"
        "    assert len(set([candidate([1.0])])) == 1\n",
    }
    hack = (
        "```python\ndef mean(x):\n    return 0\n\ndef abs(x):\n    return 0\n\ndef len(x):\n    return 1\n```"
    )
    assert not verify(hack, tests).passed
    honest = "```python\ndef mean(x):\n    return sum(x) / len(x)\n```"
    assert verify(honest, tests).passed
