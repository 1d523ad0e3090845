"""Stdio programs: write a whole program that reads standard input and prints a result.

The rng picks one of 10 templates (sum of the even numbers, reversed lines, word
frequencies, island counting, BFS in a maze, topological order, ...) and its
parameters. The hidden tests are in the `stdio` format: the reference program's
exact stdout on 5-12 inputs, computed in-process by calling its `main()` with
redirected streams, and always including the edge inputs (empty input, a single
line, touching intervals, ...) that expose the template's bugs.

Difficulty picks the template pool (levels difficulty-2..difficulty: one-line
arithmetic at 1, counting and tables at 2, grids and greedy choices at 3, BFS and
parsing at 4, graphs at 5), and grows the inputs and the number of hidden cases.
"""

from __future__ import annotations

import json
import random

from datagen.tasks.base import Generated, Solution, Task
from datagen.tasks.code import stdio_templates as easy
from datagen.tasks.code import stdio_templates_hard as hard
from datagen.tasks.code.common import (
    corrupt_with,
    example_cases,
    make_cases,
    pick_template,
    render,
    run_program,
    solution_for,
)

TEMPLATES = {
    t.key: t
    for t in (
        easy.SUM_MULTIPLES,
        easy.REVERSE_LINES,
        easy.ABOVE_AVERAGE,
        easy.WORD_FREQUENCY,
        easy.COLUMN_SUMS,
        *hard.ADVANCED,
    )
}


def _example(inputs: list, outputs: list, n_edges: int) -> str:
    [(stdin, stdout)] = example_cases(inputs, outputs, n_edges, 1)
    return f"Example input:\n```\n{stdin}```\n\nExample output:\n```\n{stdout}```"


def generate(rng: random.Random, difficulty: int) -> Generated:
    template = pick_template(TEMPLATES, rng, difficulty)
    params = template.params(rng, difficulty)
    source = render(template.source, params)
    meta = {"template": template.key, "params": params, "source": source}
    inputs, outputs = make_cases(template, meta, rng, difficulty, run_program)
    n_edges = len(template.edges(params))
    prompt = (
        f"Write a Python program that {render(template.describe, params)}.\n\n"
        f"{_example(inputs, outputs, n_edges)}"
    )
    tests = {
        "format": "stdio",
        "cases": [{"stdin": i, "stdout": o} for i, o in zip(inputs, outputs, strict=True)],
    }
    return Generated(prompt=prompt, answer=json.dumps(tests, sort_keys=True), meta=meta)


def solve(meta: dict) -> Solution:
    return solution_for(TEMPLATES[meta["template"]], meta)


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    return corrupt_with(TEMPLATES[meta["template"]], meta, solution, rng)


TASK = Task(
    name="stdio_programs",
    domain="code",
    verifier="code",
    description="Write a program that reads stdin and prints the result; hidden stdin/stdout tests",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
