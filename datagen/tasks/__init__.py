"""Procedural task generators, registered by name (`TASKS`, see verifiers.registry).

The built-in tasks are listed in their domain's package (datagen.tasks.math, ...);
`register(Task(...))` adds one from anywhere, and plugins add theirs through the
`cotmill.tasks` entry points. A task's domain needs no registration of its own: the
domains are those of the registered tasks, and `--tasks DOMAIN` selects all of them.

`make_problem(name, seed, index, difficulty)` is the one way to build a task
problem: it is reproducible for the same arguments and independent of any other
index, so a job can be resumed or sharded without generating what came before.
"""

from __future__ import annotations

from datagen.records import Problem
from datagen.tasks.base import Solution, Task, check_difficulty, task_rng
from verifiers.registry import Registry


def _task(name: str, task: object) -> Task:
    # an entry point naming a Task value: it must be one, under its own name
    if not isinstance(task, Task) or task.name != name:
        raise ValueError(f"expected a datagen.tasks.base.Task named {name!r}, got {task!r:.80}")
    return task


TASKS = Registry("task", builtins=("datagen.tasks.builtin",), adapt=_task)


def register(task: Task) -> Task:
    """Add `task` under its name (a later task of the same name replaces it); returns it."""
    if not isinstance(task, Task):
        raise TypeError(f"register takes a datagen.tasks.base.Task, got {type(task).__name__}")
    return TASKS.register(task.name, task)


def domains() -> list[str]:
    """The domains of the registered tasks, in registration order."""
    return list(dict.fromkeys(t.domain for t in TASKS.values()))


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
        if name in domains():
            group = [t for t in TASKS.values() if t.domain == name]
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


__all__ = [
    "TASKS",
    "domains",
    "register",
    "get_task",
    "select_tasks",
    "select_task_groups",
    "make_problem",
    "solve_problem",
]
