"""Generic slips for the builtin teacher: realistic mistakes planted in a correct
solution so verifiers have real work. Tasks may bring their own `corrupt`; these
apply to everything else (file sources, tasks without one).

Every slip changes the final answer, so an answer verifier can catch it; the
intermediate slips also leave a false claim in a step for the step checker.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from datagen.tasks.base import Solution, Step

_INT = re.compile(r"(?<![\w.])-?\d+(?![\w.])")
# a claimed result: an integer after "=", possibly ending a sentence ("= 88."),
# but not the start of a decimal or fraction ("= 8.5", "= 3/4")
_CLAIM = re.compile(r"=\s*(-?\d+)(?![\w/]|\.\d)")
KINDS = ("wrong_intermediate", "dropped_term", "off_by_one", "wrong_final")


def _bump(value: int, rng: random.Random, big: bool) -> int:
    delta = rng.choice([2, 3, 5, 9, 10]) if big else 1
    return value + (delta if rng.random() < 0.5 else -delta)


def perturb_answer(answer: str, rng: random.Random, big: bool = True) -> str:
    """Change one integer in the answer; answers without one get a plausible swap."""
    numbers = list(_INT.finditer(answer))
    if numbers:
        m = rng.choice(numbers)
        new = _bump(int(m.group()), rng, big)
        return answer[: m.start()] + str(new) + answer[m.end() :]
    words = [w for w in re.split(r"(\W+)", answer) if w.strip() and w.isalnum()]
    if len(set(words)) >= 2:
        a, b = rng.sample(sorted(set(words)), 2)
        swapped = re.sub(
            rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group() == a else a, answer
        )
        if swapped != answer:
            return swapped
    return answer + " + 1" if answer else "0"


def _mutate_code(code: str, rng: random.Random) -> tuple[str, str]:
    for pattern, repl, kind in [
        (r"range\(([^()]*)\)", r"range(\1 - 1)", "off_by_one"),
        (r"(?<![<>=!])<(?!=)", "<=", "off_by_one"),
        (r"(?<![<>=!])>(?!=)", ">=", "off_by_one"),
        (r"\+ 1\b", "", "dropped_term"),
    ]:
        mutated, count = re.subn(pattern, repl, code, count=1)
        if count:
            return mutated, kind
    lines = code.rstrip().splitlines()
    body = next((i for i, line in enumerate(lines) if line.strip().startswith("return ")), None)
    if body is not None:
        indent = lines[body][: len(lines[body]) - len(lines[body].lstrip())]
        lines[body] = f"{indent}return None"
        return "\n".join(lines), "wrong_final"
    return code + "\nraise SystemExit(1)\n", "wrong_final"


def plant_slip(solution: Solution, domain: str, rng: random.Random) -> tuple[Solution, str]:
    if domain == "code":
        code, kind = _mutate_code(solution.answer, rng)
        return replace(solution, answer=code), kind
    kind = rng.choice(KINDS)
    steps = list(solution.steps)
    claims = [i for i, s in enumerate(steps) if _CLAIM.search(s.work)]
    if kind == "wrong_intermediate" and claims:
        i = rng.choice(claims)
        matches = list(_CLAIM.finditer(steps[i].work))
        m = rng.choice(matches)
        wrong = str(_bump(int(m.group(1)), rng, big=True))
        work = steps[i].work[: m.start(1)] + wrong + steps[i].work[m.end(1) :]
        steps[i] = Step(steps[i].goal, work)
        return Solution(solution.principle, steps, perturb_answer(solution.answer, rng)), kind
    if kind == "dropped_term" and len(steps) >= 2:
        del steps[rng.randrange(len(steps))]
        return Solution(solution.principle, steps, perturb_answer(solution.answer, rng)), kind
    if kind == "off_by_one":
        return replace(solution, answer=perturb_answer(solution.answer, rng, big=False)), kind
    return replace(solution, answer=perturb_answer(solution.answer, rng)), "wrong_final"
