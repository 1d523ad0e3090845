"""Function synthesis: write a Python function from a one-sentence specification.

The rng picks one of 17 templates (sum above a threshold, run-length encoding,
merge intervals, coin change, ...), its parameters (threshold, direction, tie rule,
function name) and the test inputs. The hidden tests are in the `io` format: the
reference implementation's outputs on 5-12 inputs, always including the edge cases
(empty list, value equal to the threshold, ...) that expose the template's bugs.

Difficulty picks the template pool (levels difficulty-2..difficulty: list scans at
1, stack and pair searches at 2-3, nested data and sliding windows at 4, DP at 5),
and grows the random inputs and the number of hidden cases.
"""

from __future__ import annotations

import json
import random

from datagen.tasks.base import Generated, Solution, Task
from datagen.tasks.code import function_templates as easy
from datagen.tasks.code import function_templates_hard as hard
from datagen.tasks.code import function_templates_mid as mid
from datagen.tasks.code.common import (
    call_function,
    corrupt_with,
    example_cases,
    make_cases,
    pick_template,
    render,
    signature,
    solution_for,
)

TEMPLATES = {t.key: t for t in (*easy.BASIC, *mid.INTERMEDIATE, *hard.ADVANCED)}


def _call(args: list, name: str) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def _examples(inputs: list, outputs: list, n_edges: int, name: str) -> str:
    cases = example_cases(inputs, outputs, n_edges, 2)
    return "\n".join(f"    {_call(args, name)} == {out!r}" for args, out in cases)


def generate(rng: random.Random, difficulty: int) -> Generated:
    template = pick_template(TEMPLATES, rng, difficulty)
    params = template.params(rng, difficulty)
    source = render(template.source, params)
    meta = {
        "template": template.key,
        "params": params,
        "source": source,
        "entry_point": params["name"],
    }
    inputs, outputs = make_cases(template, meta, rng, difficulty, call_function)
    n_edges = len(template.edges(params))
    prompt = (
        f"Write a Python function `{signature(source)}` that {render(template.describe, params)}.\n\n"
        f"Examples:\n{_examples(inputs, outputs, n_edges, params['name'])}"
    )
    tests = {
        "format": "io",
        "entry_point": params["name"],
        "cases": [{"input": args, "output": out} for args, out in zip(inputs, outputs, strict=True)],
    }
    return Generated(prompt=prompt, answer=json.dumps(tests, sort_keys=True), meta=meta)


def solve(meta: dict) -> Solution:
    return solution_for(TEMPLATES[meta["template"]], meta)


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    return corrupt_with(TEMPLATES[meta["template"]], meta, solution, rng)


TASK = Task(
    name="function_synthesis",
    domain="code",
    verifier="code",
    description="Write a Python function from a specification; hidden input/output tests",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
