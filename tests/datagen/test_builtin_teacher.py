"""The builtin teacher (a simulator): correct solutions in every strategy, and
planted slips at the requested rate that really change the answer."""

from __future__ import annotations

import asyncio

import pytest

from datagen.prompts import STRATEGIES, render_messages
from datagen.records import GenParams, completion_id
from datagen.tasks import TASKS, make_problem, solve_problem
from datagen.teachers.base import Request
from datagen.teachers.builtin import BuiltinTeacher
from verifiers.answers import last_boxed


def complete(teacher, problem, strategy="cot", samples=1):
    ids = [completion_id(problem.problem_id, teacher.name, GenParams(), strategy, i) for i in range(samples)]
    messages = render_messages(STRATEGIES[strategy], problem.prompt, problem.domain)
    return asyncio.run(teacher.complete(Request(problem, messages, strategy, GenParams(), ids)))


def final(text: str, domain: str) -> str:
    if domain == "code":
        return text.split("```python\n")[-1].split("```")[0].strip()
    return last_boxed(text)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_correct_solutions_in_every_strategy(strategy):
    teacher = BuiltinTeacher()
    for name in TASKS:
        for difficulty in (1, 3, 5):
            problem = make_problem(name, 0, difficulty, difficulty)
            reply = complete(teacher, problem, strategy)
            text = reply.choices[0].text
            expected = solve_problem(problem).answer
            assert final(text, problem.domain) == expected.strip(), (name, difficulty)
            assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
            if strategy == "step_back":
                assert "Principle:" in text
            if strategy == "least_to_most":
                assert "Sub-problem 1:" in text


def test_slips_are_planted_at_the_rate_and_change_the_answer():
    teacher = BuiltinTeacher(error_rate=0.3)
    planted = total = 0
    kinds = set()
    for name in TASKS:
        for index in range(25):
            problem = make_problem(name, 1, index, 1 + index % 5)
            reply = complete(teacher, problem, samples=2)
            for choice in reply.choices:
                total += 1
                slip = choice.meta["planted_error"]
                answer = final(choice.text, problem.domain)
                if slip:
                    planted += 1
                    kinds.add(slip)
                    assert answer != solve_problem(problem).answer.strip(), (name, slip)
                else:
                    assert answer == solve_problem(problem).answer.strip()
    assert 0.22 < planted / total < 0.38
    assert {"wrong_intermediate", "off_by_one", "wrong_final"} <= kinds


def test_output_depends_only_on_the_completion_id():
    teacher = BuiltinTeacher(error_rate=0.5)
    problem = make_problem("arithmetic", 0, 7, 3)
    assert (
        complete(teacher, problem, samples=3).choices[2].text
        == complete(teacher, problem, samples=3).choices[2].text
    )
    assert BuiltinTeacher(0.2).name != BuiltinTeacher(0.0).name  # part of the resume key


def test_error_rate_out_of_range_is_refused():
    with pytest.raises(ValueError, match="error_rate"):
        BuiltinTeacher(error_rate=1.5)
