"""Logic checkers: one per task, each judging a candidate against the puzzle itself.

The candidate is the last `\\boxed{...}` of the response, else its last "Answer:" line
(`verifiers.answers.final_answer`).
A checker parses it leniently (case, spacing, separators, a trailing period, LaTeX
`\\text{}` and `$`) but strictly enough that anything left over fails, then checks it
against the structured puzzle in `problem.meta`, never by comparing with the reference
string, so any valid solution passes:

- `logic.knights_knaves`: every inhabitant gets knight or knave once; every statement
  is true exactly when its speaker is a knight.
- `logic.zebra`: every house gets one value of every attribute, every value one house;
  every clue holds.
- `logic.sudoku4`: a 4x4 grid of 1-4 keeping the givens; rows, columns, boxes hold 1-4.
- `logic.countdown`: an expression of + - * / and parentheses over the given numbers
  (each at most as often as given), every intermediate result a positive whole number,
  equal to the target (see `verifiers.logic_countdown`).
- `logic.sat_assignment`: every variable assigned once; every clause satisfied.
- `logic.ordering`: a permutation of the people; every clue holds.
- `logic`: logic problems from files, a normalised comparison with the reference.

A task checker whose problem has no puzzle in `meta` falls back to that comparison.
Checkers never raise: hostile input gives `passed=False` with a reason.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from verifiers import register
from verifiers.answers import final_answer
from verifiers.base import Verdict
from verifiers.logic_countdown import Rejected, evaluate, normalise, split_target

# 2: the answer is read by verifiers.answers: boxes joined by "and" or commas read together,
# and an empty box gives way to an "Answer:" line
VERSION = "2"
MAX_ANSWER_CHARS = 4000  # the longest real answer (a 5x4 zebra grid) is about 200
_SHOWN = 500  # how much of a rejected candidate a verdict keeps

Check = Callable[[dict, str], None]  # raises Rejected with the reason, returns on success


# ---------------------------------------------------------------- shared plumbing


def _meta(problem) -> dict:
    meta = getattr(problem, "meta", None)
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return {}
    return meta if isinstance(meta, dict) else {}


def plain(candidate: str) -> str:
    """Strip presentation: `\\text{}` wrappers, `$`, LaTeX spaces, quotes, a final period."""
    text = re.sub(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox)\s*\{([^{}]*)\}", r"\1", candidate)
    text = text.replace("$", "").replace("\\,", " ").replace("\\;", " ").replace("\\ ", " ").replace("~", " ")
    text = text.strip()
    for _ in range(2):
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
            text = text[1:-1].strip()
        text = text.rstrip(".").strip()
    return text


def normalised(text: str) -> str:
    """For string comparison: plain, lower case, single spaces, none around punctuation."""
    text = re.sub(r"\s+", " ", plain(text).lower())
    return re.sub(r"\s*([,;:/|=()])\s*", r"\1", text).strip()


def _compare_reference(problem, candidate: str) -> None:
    reference = getattr(problem, "answer", None)
    if not isinstance(reference, str) or not reference.strip():
        raise Rejected("the problem has no reference answer to compare with")
    if normalised(candidate) != normalised(reference):
        raise Rejected("does not match the reference answer")


def _leftover(text: str, spans: list[tuple[int, int]], extra_words: tuple[str, ...] = ("and",)) -> str:
    """What is left of `text` outside the matched spans, minus separators and filler words."""
    pieces, last = [], 0
    for start, end in sorted(spans):
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    rest = " ".join(pieces)
    for word in extra_words:
        rest = re.sub(rf"\b{word}\b", " ", rest, flags=re.IGNORECASE)
    return re.sub(r"[\s,;.|/&]+", "", rest)


def _judge(problem, response, check: Check | None, needs: tuple[str, ...]) -> Verdict:
    if not isinstance(response, str):
        return Verdict.fail("the response is not text")
    candidate = final_answer(response)
    if candidate is None:
        return Verdict.fail("no \\boxed{} answer and no 'Answer:' line")
    shown = candidate[:_SHOWN]
    if len(candidate) > MAX_ANSWER_CHARS:
        return Verdict.fail(f"the answer is longer than {MAX_ANSWER_CHARS} characters", shown)
    if not plain(candidate):
        return Verdict.fail("the answer is empty", shown)
    meta = _meta(problem)
    try:
        if check is not None and all(key in meta for key in needs):
            check(meta, plain(candidate))
            return Verdict.ok(shown)
        _compare_reference(problem, candidate)
        how = "matches the reference" if check is None else "matches the reference (no puzzle in meta)"
        return Verdict.ok(shown, how)
    except Rejected as exc:
        return Verdict.fail(str(exc), shown)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # a malformed puzzle in meta: say so rather than raise
        return Verdict.fail(f"could not check against the puzzle ({type(exc).__name__}: {exc})", shown)


def verifier(name: str, check: Check | None = None, needs: tuple[str, ...] = ()):
    """Register `check(meta, candidate)` (None: compare with the reference) as the
    verifier `name`: a `(problem, response) -> Verdict` that is timed and never raises."""

    @register(name, VERSION)
    def verify(problem, response) -> Verdict:
        started = time.perf_counter()
        try:
            verdict = _judge(problem, response, check, needs)
        except Exception as exc:  # a verifier must never raise
            verdict = Verdict.fail(f"checker error: {type(exc).__name__}")
        verdict.elapsed_ms = (time.perf_counter() - started) * 1000
        return verdict

    verify.__name__ = verify.__qualname__ = "verify_" + name.replace(".", "_")
    return verify


def _checker(name: str, needs: tuple[str, ...]):
    """Decorator form of `verifier`: the module keeps the check, the registry the verifier."""

    def wrap(check: Check) -> Check:
        VERIFIERS[name] = verifier(name, check, needs)
        return check

    return wrap


VERIFIERS: dict[str, Callable[[object, str], Verdict]] = {}


def _positions_ok(clues: list[dict], where: dict[str, int]) -> None:
    """Zebra and ordering clues over item positions (1-based)."""
    for i, clue in enumerate(clues, 1):
        kind, a = clue["kind"], where[clue["a"]]
        if kind == "pos":
            ok = a == clue["pos"]
        else:
            b = where[clue["b"]]
            ok = {
                "same": a == b,
                "next_to": abs(a - b) == 1,
                "left": a + 1 == b,
                "before": a < b,
            }.get(kind)
            if ok is None:
                raise ValueError(f"unknown clue kind {kind!r}")
        if not ok:
            raise Rejected(f"clue {i} does not hold")


# ---------------------------------------------------------------- knights and knaves

_KK_PAIR = re.compile(
    r"\b([A-Za-z])\b\s*(?::|=|-|is\s+an?|is|are)?\s*(knight|knave)s?\b",
    re.IGNORECASE,
)


def _kk_truth(stmt: dict, roles: dict[int, bool]) -> bool:
    kind = stmt["kind"]
    if kind == "is":
        return roles[stmt["target"]] == bool(stmt["knight"])
    if kind == "same":
        return roles[stmt["a"]] == roles[stmt["b"]]
    if kind == "different":
        return roles[stmt["a"]] != roles[stmt["b"]]
    if kind == "some_knave":
        return not all(roles[i] for i in range(stmt["n"]))
    if kind == "count":
        return sum(roles[i] for i in range(stmt["n"])) == stmt["count"]
    raise ValueError(f"unknown statement kind {kind!r}")


@_checker("logic.knights_knaves", needs=("names", "statements"))
def check_knights_knaves(meta: dict, candidate: str) -> None:
    names = [str(n).upper() for n in meta["names"]]
    said: dict[str, bool] = {}
    spans = []
    for m in _KK_PAIR.finditer(candidate):
        who, knight = m.group(1).upper(), m.group(2).lower() == "knight"
        if who not in names:
            raise Rejected(f"{m.group(1)} is not one of the inhabitants")
        if said.get(who, knight) != knight:
            raise Rejected(f"{who} is given two different types")
        said[who] = knight
        spans.append(m.span())
    if _leftover(candidate, spans):
        raise Rejected("the answer is not a list of 'name: knight/knave'")
    missing = [n for n in names if n not in said]
    if missing:
        raise Rejected(f"no type given for {', '.join(missing)}")
    roles = {i: said[n] for i, n in enumerate(names)}
    for stmt in meta["statements"]:
        if roles[stmt["speaker"]] != _kk_truth(stmt, roles):
            speaker = names[stmt["speaker"]]
            kind = "knight" if roles[stmt["speaker"]] else "knave"
            raise Rejected(
                f"{speaker} would be a {kind} making a {'false' if kind == 'knight' else 'true'} statement"
            )


# ---------------------------------------------------------------- zebra

_HOUSE_PREFIX = re.compile(r"^\s*(?:house\s*)?#?\s*(\d+)\s*[:.)=-]?\s*", re.IGNORECASE)
_HOUSE_SPLIT = re.compile(
    r"[;\n|]+|[.,]\s*(?=house\s*\d)", re.IGNORECASE
)  # "House 1: red, cat. House 2: ..."
_WORD = re.compile(r"[A-Za-z]+")


@_checker("logic.zebra", needs=("houses", "attributes", "values", "clues"))
def check_zebra(meta: dict, candidate: str) -> None:
    n, groups = int(meta["houses"]), [[str(v) for v in g] for g in meta["values"]]
    chunks = [c for c in _HOUSE_SPLIT.split(candidate) if c.strip(" \t,.")]
    if len(chunks) != n:
        raise Rejected(f"{len(chunks)} houses given, the puzzle has {n}")
    owner = {v.lower(): g for g, group in enumerate(groups) for v in group}
    distinct = len(owner) == sum(len(g) for g in groups)
    numbers = [_HOUSE_PREFIX.match(c) for c in chunks]
    if any(numbers) and not all(numbers):
        raise Rejected("some houses are numbered and some are not")
    where: dict[str, int] = {}
    seen_houses: set[int] = set()
    for k, (chunk, num) in enumerate(zip(chunks, numbers)):
        house = int(num.group(1)) if num else k + 1
        if not 1 <= house <= n or house in seen_houses:
            raise Rejected(f"house number {house} is out of range or repeated")
        seen_houses.add(house)
        body = chunk[num.end() :] if num else chunk
        words = list(_WORD.finditer(body))
        if _leftover(body, [w.span() for w in words], extra_words=()):
            raise Rejected(f"house {house}: not a list of values")
        values = [w.group().lower() for w in words]
        if len(values) != len(groups):
            raise Rejected(f"house {house} has {len(values)} values, expected {len(groups)}")
        for pos, value in enumerate(values):
            g = owner.get(value) if distinct else pos
            if g is None or value not in (v.lower() for v in groups[g]):
                raise Rejected(f"house {house}: {value!r} is not a value of the puzzle")
            if any(where.get(v) == house for v in groups[g]):
                raise Rejected(f"house {house} has two values of one attribute")
            if value in where:
                raise Rejected(f"{value} is placed in two houses")
            where[value] = house
    original = {v.lower(): v for g in groups for v in g}
    _positions_ok(meta["clues"], {original[k]: h for k, h in where.items()})


# ---------------------------------------------------------------- sudoku 4x4


def _sudoku_rows(candidate: str) -> list[str]:
    candidate = re.sub(r"^[\s+|=-]*$", "", candidate, flags=re.MULTILINE)  # ----+---- rules, as in the prompt
    parts = [p for p in re.split(r"[/\s|,;]+|\\\\", candidate) if p]
    if len(parts) == 1 and len(parts[0]) == 16:
        parts = [parts[0][i : i + 4] for i in range(0, 16, 4)]
    elif len(parts) == 16:
        parts = ["".join(parts[i : i + 4]) for i in range(0, 16, 4)]
    if len(parts) != 4 or any(len(p) != 4 for p in parts):
        raise Rejected("not four rows of four digits")
    if not all(ch in "1234" for p in parts for ch in p):
        raise Rejected("cells must be digits 1-4")
    return parts


@_checker("logic.sudoku4", needs=("grid",))
def check_sudoku4(meta: dict, candidate: str) -> None:
    grid = "".join(_sudoku_rows(candidate))
    givens = str(meta["grid"]).replace("/", "")
    if len(givens) != 16:
        raise ValueError("the puzzle grid is not 16 cells")
    for i, (given, cell) in enumerate(zip(givens, grid)):
        if given != "." and given != cell:
            raise Rejected(f"r{i // 4 + 1}c{i % 4 + 1} is given as {given}, the answer has {cell}")
    for r in range(4):
        if set(grid[r * 4 : r * 4 + 4]) != set("1234"):
            raise Rejected(f"row {r + 1} does not hold 1-4 once each")
    for c in range(4):
        if {grid[r * 4 + c] for r in range(4)} != set("1234"):
            raise Rejected(f"column {c + 1} does not hold 1-4 once each")
    for b in range(4):
        cells = [(b // 2) * 8 + (b % 2) * 2 + dr * 4 + dc for dr in (0, 1) for dc in (0, 1)]
        if {grid[i] for i in cells} != set("1234"):
            raise Rejected(f"box {b + 1} does not hold 1-4 once each")


# ---------------------------------------------------------------- countdown


@_checker("logic.countdown", needs=("numbers", "target"))
def check_countdown(meta: dict, candidate: str) -> None:
    numbers, target = [int(x) for x in meta["numbers"]], int(meta["target"])
    expression = split_target(normalise(candidate), target)
    value = evaluate(expression, numbers)
    if value != target:
        raise Rejected(f"the expression equals {value}, not {target}")


# ---------------------------------------------------------------- SAT

_SAT_PAIR = re.compile(
    r"\bx\s*_?\s*\{?\s*(\d{1,4})\s*\}?\s*(?:=|:|\bis\b|->|→|:=)\s*(true|false|t|f|1|0)\b",
    re.IGNORECASE,
)


@_checker("logic.sat_assignment", needs=("n", "clauses"))
def check_sat_assignment(meta: dict, candidate: str) -> None:
    n = int(meta["n"])
    values: dict[int, bool] = {}
    spans = []
    for m in _SAT_PAIR.finditer(candidate):
        var, value = int(m.group(1)), m.group(2).lower() in ("true", "t", "1")
        if not 1 <= var <= n:
            raise Rejected(f"x{var} is not a variable of the formula (x1 to x{n})")
        if values.get(var, value) != value:
            raise Rejected(f"x{var} is given two values")
        values[var] = value
        spans.append(m.span())
    if _leftover(candidate, spans):
        raise Rejected("the answer is not a list of 'xN=T/F'")
    missing = [f"x{v}" for v in range(1, n + 1) if v not in values]
    if missing:
        raise Rejected(f"no value for {', '.join(missing[:5])}")
    for i, clause in enumerate(meta["clauses"], 1):
        if not any(values[abs(lit)] == (lit > 0) for lit in clause):
            raise Rejected(f"clause {i} is false")


# ---------------------------------------------------------------- ordering


@_checker("logic.ordering", needs=("people", "clues"))
def check_ordering(meta: dict, candidate: str) -> None:
    people = [str(p) for p in meta["people"]]
    by_lower = {p.lower(): p for p in people}
    text = re.sub(r"->|→|>", ",", candidate)
    words = list(_WORD.finditer(text))
    if _leftover(text, [w.span() for w in words], extra_words=()):
        raise Rejected("the answer is not a list of names")
    order = [w.group().lower() for w in words if w.group().lower() not in ("then", "and")]
    unknown = [w for w in order if w not in by_lower]
    if unknown:
        raise Rejected(f"{unknown[0]!r} is not one of the people")
    if sorted(order) != sorted(by_lower):
        raise Rejected("the answer is not each person exactly once")
    _positions_ok(meta["clues"], {by_lower[w]: i + 1 for i, w in enumerate(order)})


# ---------------------------------------------------------------- logic problems from files


VERIFIERS["logic"] = verifier("logic")


__all__ = [
    "VERSION",
    "VERIFIERS",
    "plain",
    "normalised",
    "verifier",
    "check_knights_knaves",
    "check_zebra",
    "check_sudoku4",
    "check_countdown",
    "check_sat_assignment",
    "check_ordering",
]
