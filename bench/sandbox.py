"""Sandbox throughput: pre-forked sandboxed workers versus a fresh sandboxed interpreter per run.

Both sides run the same short programs, each with HumanEval-style tests, at the
same concurrency (one thread per CPU), in the same run:

- ours: `verifiers.code.verify`, the whole path: extracting the program, a fork of
  a warm zygote per run (a program process plus a tests process), scoring.
- fresh: one new sandbox per run, `bwrap <same binds> python -c "<program + tests>"`.
  Under namespaces or rlimits mode it is `unshare ... python -c` or a bare interpreter.

Goal: at least 200 isolated executions per second on 2 cores for ours.

    python bench/sandbox.py [--runs 600] [--fresh-runs 120]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from verifiers import sandbox  # noqa: E402
from verifiers.code import verify  # noqa: E402
from verifiers.sandbox_cmd import bwrap_prefix, python  # noqa: E402

PROGRAMS = [
    (
        "add",
        "def add(a, b):\n    return a + b\n",
        "assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0",
    ),
    (
        "rev",
        "def rev(s):\n    return s[::-1]\n",
        "assert candidate('abc') == 'cba'\n    assert candidate('') == ''",
    ),
    (
        "fib",
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "assert candidate(10) == 55\n    assert candidate(1) == 1",
    ),
    (
        "evens",
        "def evens(xs):\n    return [x for x in xs if x % 2 == 0]\n",
        "assert candidate([1, 2, 3, 4]) == [2, 4]\n    assert candidate([]) == []",
    ),
    (
        "count",
        "from collections import Counter\n\ndef count(s):\n    return dict(Counter(s))\n",
        "assert candidate('aab') == {'a': 2, 'b': 1}",
    ),
    (
        "is_prime",
        "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
        "assert candidate(7)\n    assert not candidate(9)\n    assert not candidate(1)",
    ),
    (
        "sort_words",
        "def sort_words(s):\n    return ' '.join(sorted(s.split()))\n",
        "assert candidate('b a c') == 'a b c'",
    ),
    (
        "max_run",
        "def max_run(xs):\n    best = cur = 0\n    for i, x in enumerate(xs):\n"
        "        cur = cur + 1 if i and xs[i - 1] == x else 1\n        best = max(best, cur)\n    return best\n",
        "assert candidate([1, 1, 2, 2, 2]) == 3\n    assert candidate([]) == 0",
    ),
]


def cases():
    for name, program, asserts in PROGRAMS:
        test = f"def check(candidate):\n    {asserts}\n"
        yield name, program, test


def run_ours(runs: int, workers: int) -> float:
    items = list(cases())
    jobs = [items[i % len(items)] for i in range(runs)]

    def one(job) -> bool:
        name, program, test = job
        tests = {"format": "humaneval", "test": test, "entry_point": name}
        return verify(f"```python\n{program}```", tests).passed

    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, jobs[: workers * 4]))  # warm the workers up
        start = time.perf_counter()
        results = list(ex.map(one, jobs))
    elapsed = time.perf_counter() - start
    if not all(results):
        raise SystemExit(f"ours: {results.count(False)} runs failed")
    return runs / elapsed


def fresh_prefix(mode: str) -> list[str]:
    if mode == "bubblewrap":
        return bwrap_prefix()
    if mode == "namespaces":
        root = ["--map-root-user"] if os.geteuid() else []
        return [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--net",
            "--ipc",
            "--uts",
            *root,
            "--",
        ]
    return []


def run_fresh(runs: int, workers: int, mode: str) -> float:
    items = list(cases())
    jobs = [items[i % len(items)] for i in range(runs)]
    prefix = fresh_prefix(mode) + [python(), "-B", "-s", "-c"]

    def one(job) -> bool:
        name, program, test = job
        code = f"{program}\n{test}\ncheck({name})\n"
        proc = subprocess.run(prefix + [code], env=dict(sandbox.ENV), capture_output=True, timeout=60)
        return proc.returncode == 0

    with ThreadPoolExecutor(workers) as ex:
        start = time.perf_counter()
        results = list(ex.map(one, jobs))
    elapsed = time.perf_counter() - start
    if not all(results):
        raise SystemExit(f"fresh: {results.count(False)} runs failed")
    return runs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--fresh-runs", type=int, default=120)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    mode = sandbox.default_pool().mode
    print(f"isolation: {mode}; {args.workers} threads on {os.cpu_count()} CPUs")
    ours = run_ours(args.runs, args.workers)
    fresh = run_fresh(args.fresh_runs, args.workers, mode)
    print(f"ours  (pre-forked zygotes):        {ours:8.1f} execs/s  ({args.runs} runs)")
    print(f"fresh (sandbox + interpreter/run): {fresh:8.1f} execs/s  ({args.fresh_runs} runs)")
    print(f"ratio: {ours / fresh:.1f}x; goal >= 200 execs/s: {'met' if ours >= 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
