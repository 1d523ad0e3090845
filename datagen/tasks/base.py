"""The shape every procedural task shares.

A task is one module exposing a `TASK = Task(...)` value. Generation is seeded per
(task, seed, index, difficulty), so any problem can be rebuilt on its own (randomly
addressable, as in reasoning-gym) and the builtin teacher can re-solve it from `meta`.

Simplification: there is no config class per task. The only knob shared by all
tasks is `difficulty` (1-5); each task maps it onto its own sizes inside `generate`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_DIFFICULTY, MAX_DIFFICULTY = 1, 5


@dataclass(frozen=True)
class Step:
    """One step of a worked solution.

    `goal` is the sub-question the step answers (least-to-most lists them first);
    `work` is the reasoning itself, with every arithmetic claim written `a op b = c`
    so that the step checker can verify it.
    """

    goal: str
    work: str


@dataclass(frozen=True)
class Solution:
    """A correct worked solution, independent of prompt strategy.

    `principle` is the general method (step-back prompting states it first);
    `answer` is the final answer: a value for math, Python source for code, the
    solution string for logic (the same string stored as the problem's reference).
    """

    principle: str
    steps: list[Step]
    answer: str


@dataclass(frozen=True)
class Generated:
    """What a task's `generate` returns: the problem text, its reference answer and
    everything `solve` needs to rebuild the solution (JSON-serialisable)."""

    prompt: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


def check_difficulty(difficulty: int) -> None:
    if not MIN_DIFFICULTY <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(
            f"difficulty must be between {MIN_DIFFICULTY} and {MAX_DIFFICULTY}, got {difficulty}"
        )


# A slip turns a correct solution into a realistic wrong one; it returns the new
# solution and the kind of slip planted ("wrong_intermediate", "dropped_term",
# "off_by_one", "wrong_final", ...).
Corrupt = Callable[[dict, Solution, random.Random], "tuple[Solution, str]"]


@dataclass(frozen=True)
class Task:
    name: str
    domain: str
    verifier: str  # name in the verifiers registry, e.g. "math", "code", "logic.sudoku4"
    description: str
    generate: Callable[[random.Random, int], Generated]  # (rng, difficulty) -> problem
    solve: Callable[[dict], Solution]  # meta -> correct solution
    corrupt: Corrupt | None = None  # None: the builtin teacher uses a generic slip


def task_rng(task: str, seed: int, index: int, difficulty: int) -> random.Random:
    """A RNG that depends only on its arguments (str seeds hash with sha512, so the
    stream is the same across processes and Python runs, unlike hash())."""
    return random.Random(f"{task}:{seed}:{index}:{difficulty}")
