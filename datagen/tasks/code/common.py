"""Shared machinery of the code tasks: templates, reference runs and planted bugs.

A code template is Python source text with `$placeholders` (string.Template, so the
braces of dicts, sets and f-strings need no escaping) plus the prose around it. A
problem is a template, its parameters (drawn from the task rng) and a list of
inputs; the hidden tests are the reference's own outputs on those inputs, computed
by exec'ing the reference in a fresh namespace (our own trusted code, so no sandbox).

Every template lists the realistic bugs `corrupt` may plant. `make_cases` checks
that each bug fails at least one hidden test, so a corrupted solution is always
wrong by construction rather than by luck.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datagen.tasks.base import Solution, Step

BUG_KINDS = ("off_by_one", "dropped_term", "wrong_intermediate", "wrong_final")
MIN_CASES, MAX_CASES = 5, 12

# A runner maps (source, inputs) to the reference outputs, one per input.
Runner = Callable[[str, dict, list], list]


@dataclass(frozen=True)
class Bug:
    """A textual slip: `old` (which must occur exactly once in the rendered source)
    becomes `new`. Both are templates filled with the problem's parameters."""

    kind: str
    old: str
    new: str


@dataclass(frozen=True)
class Template:
    """One family of problems.

    `describe` is the task sentence of the prompt, `plan` the (goal, work) pairs of
    the worked solution, `edges` fixed inputs chosen to expose every bug, `sample`
    one random input (an argument list, or a stdin string for programs).
    """

    key: str
    level: int  # the lowest difficulty that uses it
    source: str
    describe: str
    principle: str
    plan: tuple[tuple[str, str], ...]
    bugs: tuple[Bug, ...]
    params: Callable[[random.Random, int], dict]
    edges: Callable[[dict], list]
    sample: Callable[[random.Random, int, dict], Any]


def render(text: str, params: dict) -> str:
    return string.Template(text).substitute(params)


def pick_template(templates: dict[str, Template], rng: random.Random, difficulty: int) -> Template:
    """Templates of the last three levels up to `difficulty`: harder problems drop
    the easiest families instead of merely mixing harder ones in."""
    pool = [t for t in templates.values() if difficulty - 2 <= t.level <= difficulty]
    return rng.choice(pool)


def signature(source: str) -> str:
    """`name(args) -> type` from the first `def` line of a reference."""
    for line in source.splitlines():
        if line.startswith("def "):
            return line[len("def ") :].rstrip(":")
    raise ValueError("reference source has no top-level def")


# ---------------------------------------------------------------- running references


def _load(source: str, entry: str) -> Callable:
    # A name other than "__main__" keeps a program's `if __name__ == "__main__"` quiet.
    namespace: dict[str, Any] = {"__name__": "cotmill_reference"}
    exec(compile(source, "<reference>", "exec"), namespace)
    return namespace[entry]


def call_function(source: str, meta: dict, inputs: list) -> list:
    """Outputs of the function `meta["entry_point"]` on each argument list."""
    fn = _load(source, meta["entry_point"])
    # deepcopy: a reference that mutates its arguments must not alter the stored input
    return [fn(*copy.deepcopy(args)) for args in inputs]


def run_program(source: str, meta: dict, inputs: list) -> list:
    """Stdout of the program's `main()` on each stdin text, without a subprocess."""
    main = _load(source, "main")
    outputs = []
    for text in inputs:
        buffer = io.StringIO()
        saved = sys.stdin
        sys.stdin = io.StringIO(text)
        try:
            with contextlib.redirect_stdout(buffer):
                main()
        finally:
            sys.stdin = saved
        outputs.append(buffer.getvalue())
    return outputs


# ------------------------------------------------------------------- hidden test cases


def apply_bug(source: str, bug: Bug, params: dict) -> str:
    old, new = render(bug.old, params), render(bug.new, params)
    if source.count(old) != 1:
        raise ValueError(f"bug anchor {old!r} must occur exactly once in the source")
    return source.replace(old, new)


def _detects(run: Runner, source: str, meta: dict, inputs: list, expected: list) -> bool:
    try:
        return run(source, meta, inputs) != expected
    except Exception:  # a crash on some input fails that test just as well
        return True


def _key(item: Any) -> str:
    return json.dumps(item, sort_keys=True)


def make_cases(
    template: Template, meta: dict, rng: random.Random, difficulty: int, run: Runner
) -> tuple[list, list]:
    """Distinct inputs (the edges, then random ones; more at higher difficulty) and
    the reference outputs; each of the template's bugs fails at least one of them."""
    params, source = meta["params"], meta["source"]
    inputs: list = []
    for item in template.edges(params):
        if _key(item) not in map(_key, inputs):
            inputs.append(item)
    # room is left for one witness per bug, should the edges miss one
    target = max(MIN_CASES, min(MAX_CASES - len(template.bugs), len(inputs) + 2 + difficulty))
    for _ in range(50):  # bounded: a tiny input space may run out of fresh samples
        if len(inputs) >= target:
            break
        item = template.sample(rng, difficulty, params)
        if _key(item) not in map(_key, inputs):
            inputs.append(item)
    expected = run(source, meta, inputs)
    for out in expected:
        if json.loads(json.dumps(out)) != out:
            raise TypeError(f"{template.key}: output {out!r} does not survive JSON")
    for bug in template.bugs:
        buggy = apply_bug(source, bug, params)
        if not _detects(run, buggy, meta, inputs, expected):
            item, out = _witness(template, meta, rng, difficulty, run, buggy, inputs)
            inputs.append(item)
            expected.append(out)
    return inputs, expected


def _witness(template, meta, rng, difficulty, run, buggy, taken) -> tuple[Any, Any]:
    """Fallback when the edges missed a bug: a fresh random input it gets wrong."""
    for _ in range(200):
        item = template.sample(rng, difficulty, meta["params"])
        if _key(item) in map(_key, taken):
            continue
        want = run(meta["source"], meta, [item])
        if _detects(run, buggy, meta, [item], want):
            return item, want[0]
    raise RuntimeError(f"{template.key}: no test input exposes a planted bug")


def example_cases(inputs: list, outputs: list, n_edges: int, count: int) -> list[tuple]:
    """`count` random cases of median size for the prompt: the smallest are often
    trivial and the largest long; the edge cases stay hidden."""
    pool = list(zip(inputs, outputs, strict=True))
    pool = pool[n_edges:] or pool
    pool.sort(key=lambda case: len(_key(case[0])))
    start = max(0, (len(pool) - count) // 2)
    return pool[start : start + count]


# ------------------------------------------------------------------- solve and corrupt


def solution_for(template: Template, meta: dict) -> Solution:
    params = meta["params"]
    steps = [Step(goal=render(goal, params), work=render(work, params)) for goal, work in template.plan]
    return Solution(principle=render(template.principle, params), steps=steps, answer=meta["source"])


def corrupt_with(template: Template, meta: dict, solution: Solution, rng: random.Random):
    """Plant one of the template's bugs; a step quoting the changed fragment is
    changed with it so that the prose and the code tell the same wrong story."""
    bug = rng.choice(template.bugs)
    params = meta["params"]
    old, new = render(bug.old, params), render(bug.new, params)
    steps = [Step(goal=s.goal, work=s.work.replace(old, new)) for s in solution.steps]
    answer = apply_bug(solution.answer, bug, params)
    return Solution(principle=solution.principle, steps=steps, answer=answer), bug.kind


# ----------------------------------------------------------------- input building blocks


def ints(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def word(rng: random.Random, lo: int, hi: int, alphabet: str = string.ascii_lowercase) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))
