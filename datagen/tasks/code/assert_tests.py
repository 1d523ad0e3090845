"""Assert tests (HumanEval style): complete a function from its signature and docstring.

The prompt shows the `def` line and a docstring with a specification and two
doctest-style examples; the hidden tests are in the `humaneval` format, a
`check(candidate)` function with one assert per input, the expected values being
the reference implementation's outputs (on 5-12 inputs, always including the edge
inputs that expose the template's bugs). The 14 templates (primes, digit sums,
Caesar shifts, base conversion, Roman numerals, edit distance, ...) are distinct
from those of `function_synthesis`.

Difficulty picks the template pool (levels difficulty-2..difficulty: digits and
strings at 1-2, numeral systems at 3, matrices and Pascal's triangle at 4, string
DP at 5), and grows the inputs and the number of asserts.
"""

from __future__ import annotations

import json
import random
import textwrap

from datagen.tasks.base import Generated, Solution, Task
from datagen.tasks.code import assert_templates as easy
from datagen.tasks.code import assert_templates_hard as hard
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

TEMPLATES = {t.key: t for t in (*easy.BASIC, *easy.INTERMEDIATE, *hard.ADVANCED)}


def _call(args: list, name: str) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def _docstring(text: str, examples: list, name: str) -> str:
    lines = [textwrap.fill(text, width=88, initial_indent='    """', subsequent_indent="    "), ""]
    for args, out in examples:
        lines += [f"    >>> {_call(args, name)}", f"    {out!r}"]
    return "\n".join(lines) + '\n    """\n'


def _check_function(inputs: list, outputs: list) -> str:
    asserts = "".join(
        f"    assert {_call(args, 'candidate')} == {out!r}\n"
        for args, out in zip(inputs, outputs, strict=True)
    )
    return f"def check(candidate):\n{asserts}"


def generate(rng: random.Random, difficulty: int) -> Generated:
    template = pick_template(TEMPLATES, rng, difficulty)
    params = template.params(rng, difficulty)
    source = render(template.source, params)
    name = params["name"]
    meta = {"template": template.key, "params": params, "source": source, "entry_point": name}
    inputs, outputs = make_cases(template, meta, rng, difficulty, call_function)
    examples = example_cases(inputs, outputs, len(template.edges(params)), 2)
    stub = f"def {signature(source)}:\n" + _docstring(render(template.describe, params), examples, name)
    prompt = f"Complete the following Python function.\n\n```python\n{stub}```"
    tests = {"format": "humaneval", "test": _check_function(inputs, outputs), "entry_point": name}
    return Generated(prompt=prompt, answer=json.dumps(tests, sort_keys=True), meta=meta)


def solve(meta: dict) -> Solution:
    return solution_for(TEMPLATES[meta["template"]], meta)


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    return corrupt_with(TEMPLATES[meta["template"]], meta, solution, rng)


TASK = Task(
    name="assert_tests",
    domain="code",
    verifier="code",
    description="Complete a function from its signature and docstring; hidden HumanEval-style asserts",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
