"""Procedural task generators, registered by name in one explicit dict.

`make_problem(name, seed, index, difficulty)` is the one way to build a task
problem: it is reproducible for the same arguments and independent of any other
index, so a job can be resumed or sharded without generating what came before.
"""

from __future__ import annotations

from datagen.records import Problem
from datagen.tasks import code, logic, math
from datagen.tasks.base import DOMAINS, Solution, Task, check_difficulty, task_rng

TASKS: dict[str, Task] = {**math.TASKS, **code.TASKS, **logic.TASKS}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise KeyError(f"unknown task {name!r}; known tasks: {known}") from None


def select_task_groups(spec: str | list[str]) -> list[list[Task]]:
    """One group per name in `math,code,sudoku4`: a domain (or `all`) is the group
    of its tasks, a task name a group of one. Jobs split their count evenly over
    the groups, then over the tasks of each group."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    groups: list[list[Task]] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in DOMAINS:
            group = [t for t in TASKS.values() if t.domain == name]
            if not group:
                raise ValueError(f"no tasks registered for domain {name!r}")
        elif name == "all":
            group = list(TASKS.values())
        else:
            group = [get_task(name)]
        groups.append(group)
    if not groups:
        raise ValueError(f"no tasks selected by {spec!r}")
    return groups


def select_tasks(spec: str | list[str]) -> list[Task]:
    """The tasks named by task or domain names, without repeats."""
    chosen: list[Task] = []
    for group in select_task_groups(spec):
        chosen.extend(t for t in group if t not in chosen)
    return chosen


def make_problem(name: str, seed: int, index: int, difficulty: int) -> Problem:
    task = get_task(name)
    check_difficulty(difficulty)
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


__all__ = ["TASKS", "get_task", "select_tasks", "select_task_groups", "make_problem", "solve_problem"]
