"""Write a `Solution` out as a teacher would in each prompt strategy.

The builtin teacher uses this; so can anything that needs reference CoT text
(SFT on gold solutions, say). Openers vary with the RNG so samples of one problem
do not read identically.
"""

from __future__ import annotations

import random

from datagen.tasks.base import Solution

_OPENERS = {
    "cot": ["Let's think step by step.", "Let me work through this step by step.", "Step by step:"],
    "least_to_most": [
        "Let me break this problem into smaller sub-problems.",
        "First, the sub-problems to solve:",
    ],
    "step_back": ["Let me step back and think about the general principle first.", "Stepping back first."],
}


def final_answer(answer: str, domain: str) -> str:
    if domain == "code":
        return f"Here is the solution:\n\n```python\n{answer.rstrip()}\n```"
    return f"Therefore, the answer is \\boxed{{{answer}}}."


def render_solution(solution: Solution, strategy: str, domain: str, rng: random.Random) -> str:
    base = strategy.split("+")[0]  # "cot+1a2b3c4d": cot with a user template
    style = base if base in _OPENERS else "cot"
    parts = [rng.choice(_OPENERS[style])]
    if style == "step_back":
        parts.append(f"Principle: {solution.principle}")
        parts.append("Now apply it.")
    if style == "least_to_most":
        parts.append("\n".join(f"{i}. {step.goal}" for i, step in enumerate(solution.steps, 1)))
        parts.extend(f"Sub-problem {i}: {step.goal}\n{step.work}" for i, step in enumerate(solution.steps, 1))
    else:
        parts.extend(f"Step {i}: {step.work}" for i, step in enumerate(solution.steps, 1))
    parts.append(final_answer(solution.answer, domain))
    return "\n\n".join(parts)
