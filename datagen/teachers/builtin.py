"""The builtin teacher: a simulator, not a model.

It writes each problem's correct worked solution (from the task's own solver, or
from the reference solution a source file carries) in the requested strategy, and
with probability `error_rate` plants a realistic slip. Output is a pure function
of the completion id, so a resumed job reproduces it exactly. Token counts are a
word-and-symbol count, close enough for throughput and cost plots.
"""

from __future__ import annotations

import random
import re

from datagen.records import Problem
from datagen.tasks import get_task, solve_problem
from datagen.tasks.base import Solution, Step
from datagen.teachers.base import Choice, Reply, Request, RequestError
from datagen.teachers.render import render_solution
from datagen.teachers.slips import plant_slip

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _from_reference(problem: Problem) -> Solution:
    meta = problem.meta
    if meta.get("reference_code"):
        return Solution(
            principle="Read the specification and the examples, then implement exactly that behaviour.",
            steps=[Step("What must the function return?", "Follow the docstring and its examples.")],
            answer=meta["reference_code"],
        )
    worked = meta.get("solution")
    if worked and problem.answer is not None:
        lines = [ln.strip() for ln in str(worked).splitlines() if ln.strip() and not ln.startswith("####")]
        steps = [Step(f"What follows from step {i}?", ln) for i, ln in enumerate(lines, 1)]
        return Solution("Work through the quantities one at a time.", steps, problem.answer)
    raise RequestError(
        f"builtin teacher cannot solve problem {problem.problem_id} from source {problem.source!r}: "
        "it has no task solver and no reference solution"
    )


def solution_for(problem: Problem) -> tuple[Solution, object]:
    if problem.source == "task":
        task = get_task(problem.task)
        return solve_problem(problem), task.corrupt
    return _from_reference(problem), None


class BuiltinTeacher:
    supports_n = True
    # a simulator: a sample without a planted slip is the one correct solution, by design, so
    # identical samples do not mean its sampling is off (datagen.engine's check skips it)
    deterministic = True

    def __init__(self, error_rate: float = 0.0):
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {error_rate}")
        self.error_rate = error_rate
        # error_rate changes what is written, so it is part of the name (and resume key)
        self.name = "builtin" if error_rate == 0 else f"builtin(error_rate={error_rate:g})"

    async def complete(self, request: Request) -> Reply:
        problem = request.problem
        solution, corrupt = solution_for(problem)
        choices = []
        for cid in request.completion_ids:
            rng = random.Random(cid)
            written, slip = solution, None
            if rng.random() < self.error_rate:
                if corrupt is not None:
                    written, slip = corrupt(problem.meta, solution, rng)
                else:
                    written, slip = plant_slip(solution, problem.domain, rng)
            text = render_solution(written, request.strategy, problem.domain, rng)
            choices.append(Choice(text, None, "stop", {"simulated": True, "planted_error": slip}))
        prompt_tokens = sum(count_tokens(m["content"]) for m in request.messages)
        completion_tokens = sum(count_tokens(c.text) for c in choices)
        return Reply(choices, prompt_tokens, completion_tokens)

    async def aclose(self) -> None:
        return None
