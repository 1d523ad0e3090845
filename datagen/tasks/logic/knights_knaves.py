"""Knights and knaves: knights always tell the truth, knaves always lie.

Each inhabitant makes one statement about the others ("B is a knave", "A and C
are the same type", "at least one of us is a knave", "exactly 2 of us are
knights"). Puzzles are kept only if exactly one assignment is consistent (checked
by brute force) and the solver can find it by deduction plus one-level case
analysis. Difficulty sets the number of inhabitants (2..6); counting statements
appear from difficulty 3.
"""

from __future__ import annotations

import random
from itertools import product

from datagen.tasks.base import Generated, Solution, Step, Task

NAMES = "ABCDEF"
_KINDS = ["is", "is", "same", "different", "some_knave"]


def role(knight: bool) -> str:
    return "knight" if knight else "knave"


def truth(stmt: dict, roles) -> bool:
    """The truth value of a statement; `roles[i]` is True for a knight."""
    kind = stmt["kind"]
    if kind == "is":
        return roles[stmt["target"]] == stmt["knight"]
    if kind == "same":
        return roles[stmt["a"]] == roles[stmt["b"]]
    if kind == "different":
        return roles[stmt["a"]] != roles[stmt["b"]]
    if kind == "some_knave":
        return not all(roles[i] for i in range(stmt["n"]))
    return sum(roles[i] for i in range(stmt["n"])) == stmt["count"]  # "count"


def scope(stmt: dict) -> list[int]:
    """Everyone the statement's consistency depends on, speaker included."""
    kind = stmt["kind"]
    if kind == "is":
        people = {stmt["target"]}
    elif kind in ("same", "different"):
        people = {stmt["a"], stmt["b"]}
    else:
        people = set(range(stmt["n"]))
    return sorted(people | {stmt["speaker"]})


def text(stmt: dict) -> str:
    kind, me = stmt["kind"], stmt["speaker"]
    if kind == "is":
        return f"{NAMES[stmt['target']]} is a {role(stmt['knight'])}."
    if kind in ("same", "different"):
        a, b = stmt["a"], stmt["b"]
        if me in (a, b):
            pair = f"{NAMES[b if a == me else a]} and I"
        else:
            pair = f"{NAMES[a]} and {NAMES[b]}"
        return f"{pair} are {'the same type' if kind == 'same' else 'different types'}."
    if kind == "some_knave":
        return "At least one of us is a knave."
    k = stmt["count"]
    return f"Exactly {k} of us {'is a knight' if k == 1 else 'are knights'}."


def _random_statement(rng: random.Random, speaker: int, n: int, difficulty: int) -> dict:
    kinds = _KINDS + (["count"] if difficulty >= 3 else [])
    kind = rng.choice(kinds)
    others = [i for i in range(n) if i != speaker]
    if kind == "is":
        return {"speaker": speaker, "kind": kind, "target": rng.choice(others), "knight": rng.random() < 0.5}
    if kind in ("same", "different"):
        a, b = sorted(rng.sample(range(n), 2))
        return {"speaker": speaker, "kind": kind, "a": a, "b": b}
    if kind == "some_knave":
        return {"speaker": speaker, "kind": kind, "n": n}
    return {"speaker": speaker, "kind": kind, "n": n, "count": rng.randint(1, n - 1)}


def consistent(statements: list[dict], roles) -> bool:
    return all(roles[s["speaker"]] == truth(s, roles) for s in statements)


def _facts(known: dict[int, bool], people) -> str:
    told = [f"{NAMES[i]} is a {role(known[i])}" for i in people if i in known]
    return told[0] if len(told) == 1 else ", ".join(told[:-1]) + " and " + told[-1] if told else ""


def _quote(stmt: dict) -> str:
    return '"' + text(stmt).rstrip(".") + '"'


def _check(stmt: dict, known: dict[int, bool]):
    """Arc consistency on one statement: (forced {person: knight?}, ok) where ok is
    False when no completion of the unknown people satisfies it."""
    people = scope(stmt)
    unknown = [i for i in people if i not in known]
    seen: dict[int, set[bool]] = {i: set() for i in unknown}
    ok = False
    for combo in product((True, False), repeat=len(unknown)):
        roles = {**known, **dict(zip(unknown, combo))}
        if roles[stmt["speaker"]] == truth(stmt, roles):
            ok = True
            for i, v in zip(unknown, combo):
                seen[i].add(v)
    return {i: next(iter(v)) for i, v in seen.items() if len(v) == 1}, ok


def _explain(stmt: dict, known: dict[int, bool], who: int, knight: bool) -> str:
    """One sentence or two a person could say aloud for a forced deduction."""
    s, said = stmt["speaker"], f"{NAMES[stmt['speaker']]} says {_quote(stmt)}."
    facts = _facts(known, [i for i in scope(stmt) if i not in (who, s)])
    given = f"Given that {facts}, " if facts else ""
    if who == s:
        # when the statement is only about others and they are known, its truth is plain
        others_known = all(i in known for i in scope(stmt) if i != s)
        if others_known and len({truth(stmt, {**known, s: k}) for k in (True, False)}) == 1:
            tv = "true" if knight else "false"
            return f"{said} {given}the statement is {tv}, so {NAMES[s]} is a {role(knight)}."
        opp = not knight
        reason = (
            f"if {NAMES[s]} were a {role(opp)}, the statement would have to be {'true' if opp else 'false'}"
        )
        return f"{said} {_cap(given + reason)}, and it cannot be. So {NAMES[s]} is a {role(knight)}."
    if s in known:
        tv = "true" if known[s] else "false"
        then = _cap(f"{given}that is only possible if {NAMES[who]} is a {role(knight)}.")
        return f"{NAMES[s]} is a {role(known[s])}, so the statement {_quote(stmt)} is {tv}. {then}"
    rest = f"whether {NAMES[s]} is a knight or a knave, this only works if {NAMES[who]} is a {role(knight)}."
    return f"{said} {_cap(given + rest)}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _propagate(statements: list[dict], known: dict[int, bool]):
    """Apply forced deductions until stable; returns (sentences, contradiction or None).
    Each sentence is (person, text)."""
    found: list[tuple[int, str]] = []
    progress = True
    while progress:
        progress = False
        for stmt in statements:
            forced, ok = _check(stmt, known)
            if not ok:
                s = stmt["speaker"]
                return found, (
                    f"But then {NAMES[s]}'s statement {_quote(stmt)} cannot hold when "
                    f"{_facts(known, scope(stmt))}: a contradiction."
                )
            for who, knight in forced.items():
                found.append((who, _explain(stmt, known, who, knight)))
                known[who] = knight
                progress = True
                break  # re-check with the new fact before forcing more
    return found, None


def _case(statements: list[dict], known: dict[int, bool], n: int):
    """Find a person and a type whose assumption leads to a contradiction."""
    for who in range(n):
        if who in known:
            continue
        for guess in (True, False):
            trial = dict(known)
            trial[who] = guess
            found, clash = _propagate(statements, trial)
            if clash:
                chain = " ".join(t for _, t in found)
                work = f"Suppose {NAMES[who]} is a {role(guess)}. {chain} {clash}".replace("  ", " ")
                work += f" So {NAMES[who]} is not a {role(guess)}: {NAMES[who]} is a {role(not guess)}."
                return who, not guess, Step(goal=f"Can {NAMES[who]} be a {role(guess)}?", work=work)
    return None


def deduce(statements: list[dict], n: int) -> tuple[list[Step], dict[int, bool]] | None:
    """Deduction with one-level case analysis; None if that does not settle everyone."""
    known: dict[int, bool] = {}
    steps: list[Step] = []
    while True:
        found, clash = _propagate(statements, known)
        if clash:
            return None
        steps += [Step(goal=f"What type is {NAMES[who]}?", work=t) for who, t in found]
        if len(known) == n:
            return steps, known
        case = _case(statements, known, n)
        if case is None:
            return None
        who, knight, step = case
        known[who] = knight
        steps.append(step)


def format_answer(known: dict[int, bool], n: int) -> str:
    return ", ".join(f"{NAMES[i]}: {role(known[i])}" for i in range(n))


def generate(rng: random.Random, difficulty: int) -> Generated:
    n = difficulty + 1
    while True:
        statements = [_random_statement(rng, s, n, difficulty) for s in range(n)]
        models = [r for r in product((True, False), repeat=n) if consistent(statements, r)]
        if len(models) == 1 and deduce(statements, n) is not None:
            break
    known = dict(enumerate(models[0]))
    names = list(NAMES[:n])
    said = [f'{NAMES[s["speaker"]]} says: "{text(s)}"' for s in statements]
    prompt = "\n".join(
        [
            f"On an island every inhabitant is either a knight, who always tells the truth, or a knave, "
            f"who always lies. You meet {n} inhabitants: {', '.join(names)}. "
            '"Us" means all of them.',
            *said,
            "Who is a knight and who is a knave? Give your answer as "
            + '"'
            + ", ".join(f"{c}: <knight or knave>" for c in names)
            + '" in alphabetical order, e.g. "A: knight, B: knave".',
        ]
    )
    meta = {
        "names": names,
        "statements": statements,
        "solution": {NAMES[i]: role(k) for i, k in known.items()},
    }
    return Generated(prompt=prompt, answer=format_answer(known, n), meta=meta)


def solve(meta: dict) -> Solution:
    n = len(meta["names"])
    result = deduce(meta["statements"], n)
    assert result is not None, "generated puzzles are always deducible"
    steps, known = result
    answer = format_answer(known, n)
    steps.append(Step(goal="What is everyone's type?", work=f"Putting it together: {answer}."))
    return Solution(
        principle="A knight's statement is true and a knave's is false, so each statement ties its "
        "speaker's type to its truth; draw what follows from known types, and when stuck, assume a "
        "type and look for a contradiction.",
        steps=steps,
        answer=answer,
    )


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """Flip one inhabitant in the final answer (a mistaken last conclusion)."""
    n = len(meta["names"])
    known = {i: meta["solution"][c] == "knight" for i, c in enumerate(meta["names"])}
    flip = rng.randrange(n)
    known[flip] = not known[flip]
    answer = format_answer(known, n)
    steps = list(solution.steps[:-1])
    steps.append(Step(goal="What is everyone's type?", work=f"Putting it together: {answer}."))
    return Solution(solution.principle, steps, answer), "wrong_final"


TASK = Task(
    name="knights_knaves",
    domain="logic",
    verifier="logic.knights_knaves",
    description="Knights and knaves: decide who tells the truth from their statements",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
