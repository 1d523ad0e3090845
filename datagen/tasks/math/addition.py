"""Two-number addition, the easiest math task: a level a small pretrained model (SmolLM2-135M)
gets right sometimes, not always, which is where learning from its own verified samples can
show (examples/smollm2_star.sh).

Difficulty sets the operands: both up to 20, then by digits 2+1, 2+2, 3+2 and 3+3 (level 1 has
400 distinct problems, enough for disjoint train and held-out sets). The worked solution adds
the place values one at a time, each claim written `a + b = c` so the step checker can test it.
"""

from __future__ import annotations

import random

from datagen.tasks.base import Generated, Solution, Step, Task

# the operands' ranges per difficulty: up to 20 each, then 2+1, 2+2, 3+2 and 3+3 digits
_RANGES = [((1, 20), (1, 20)), ((10, 99), (1, 9)), ((10, 99), (10, 99)), ((100, 999), (10, 99)),
           ((100, 999), (100, 999))]  # fmt: skip


def generate(rng: random.Random, difficulty: int) -> Generated:
    ra, rb = _RANGES[difficulty - 1]
    a, b = rng.randint(*ra), rng.randint(*rb)
    if rng.random() < 0.5:
        a, b = b, a
    return Generated(prompt=f"What is {a} + {b}?", answer=str(a + b), meta={"a": a, "b": b})


def solve(meta: dict) -> Solution:
    a, b = meta["a"], meta["b"]
    small, big = sorted((a, b))
    steps, total = [], big
    # add the smaller number one place value at a time: 47 + 25 = 47 + 20 + 5
    place = 10 ** (len(str(small)) - 1)
    rest = small
    while place >= 1:
        part = rest // place * place
        rest -= part
        if part:
            steps.append(Step(goal=f"What is {total} + {part}?", work=f"{total} + {part} = {total + part}."))
            total += part
        place //= 10
    if not steps:  # unreachable for positive operands; kept so a solution always has a step
        steps.append(Step(goal=f"What is {a} + {b}?", work=f"{a} + {b} = {a + b}."))
    return Solution(
        principle="Add the smaller number to the larger one place value at a time.",
        steps=steps,
        answer=str(total),
    )


TASK = Task(
    name="addition",
    domain="math",
    verifier="math",
    description="Two-number addition (the easiest math task)",
    generate=generate,
    solve=solve,
)
