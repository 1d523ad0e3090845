"""Procedural task generators, registered by name in one explicit dict.

`make_problem(name, seed, index, difficulty)` is the one way to build a task
problem: it is reproducible for the same arguments and independent of any other
index, so a job can be resumed or sharded without generating what came before.
"""

from __future__ import annotations

from datagen.records import Problem
from datagen.tasks import code, logic, math
from datagen.tasks.base import DOMAINS, Solution, Task, TaskConfig, task_rng

TASKS: dict[str, Task] = {**math.TASKS, **code.TASKS, **logic.TASKS}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise KeyError(f"unknown task {name!r}; known tasks: {known}") from None


def select_tasks(spec: str | list[str]) -> list[Task]:
    """Task names or domain names (`math,code,logic_sudoku4`), in registry order,
    without repeats."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen: list[Task] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in DOMAINS:
            picked = [t for t in TASKS.values() if t.domain == name]
            if not picked:
                raise ValueError(f"no tasks registered for domain {name!r}")
        elif name == "all":
            picked = list(TASKS.values())
        else:
            picked = [get_task(name)]
        chosen.extend(t for t in picked if t not in chosen)
    if not chosen:
        raise ValueError(f"no tasks selected by {spec!r}")
    return chosen


def make_problem(name: str, seed: int, index: int, difficulty: int) -> Problem:
    task = get_task(name)
    TaskConfig(difficulty=difficulty, seed=seed).validate()
    generated = task.generate(task_rng(name, seed, index, difficulty), difficulty)
    meta = {**generated.meta, "seed": seed, "index": index}
    return Problem.create(
        domain=task.domain,
        task=task.name,
        source="task",
        prompt=generated.prompt,
        answer=generated.answer,
        verifier=task.verifier,
        difficulty=difficulty,
        meta=meta,
    )


def solve_problem(problem: Problem) -> Solution:
    return get_task(problem.task).solve(problem.meta)


__all__ = ["TASKS", "get_task", "select_tasks", "make_problem", "solve_problem"]
