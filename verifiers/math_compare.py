"""Gold-first comparison of two answer structures (math_norm), sympy last.

The reference decides what the candidate may be:

- a scalar reference takes a scalar; a candidate equation gives its value
  ("x = 3", "x = 2 + 1 = 3": the last side; "3 = x": the other side);
- an equation reference with one variable on the left (x = 3, y = 2x + 1) takes
  the same equation in any arrangement or just its right-hand side; any other
  equation reference takes only an equation, equal up to a non-zero factor
  (2x + 4y = 2 is x + 2y = 1);
- a bare list reference ("-2, 3", roots) is unordered and takes a bare list or a
  set of the same size; "x = -2, x = 3" reads as "-2, 3";
- a set is unordered; a tuple is ordered, and its brackets must match, so [-2, 7)
  is not [-2, 7] nor (-2, 7); a parenthesised tuple also takes "8, 2" and
  "x = 8, y = 2" (variables sorted by name);
- a matrix takes a matrix of the same shape; a row or column vector also a tuple;
- a choice letter (A-E) takes "(C)", "C", "c", "Option C", "(C) 12";
- percent: "10%" against "10", "0.1" or "10%" all agree, as does "0.1" against
  "10%" (the sign is read as a unit or as /100, whichever matches); "0.1%" is not 10%.

Conventions (where graders differ, this is what we chose; tests/verifiers/test_math.py
checks each):

- exact values, no rounding tolerance: 0.333 is not 1/3, 3.14 is not pi; the digits the
  reference gives decide;
- thousands: 1,000 / 1 000 / 1{,}000 / 1,\\!000 / 14 {, }916 are one number. A decimal
  comma ("2,74", "0,111") is read only against a decimal number (2.74) and only where the
  comma cannot separate thousands; "2,5" against a list stays the list 2, 5;
- chains state their last member, in the reference and in the response: "z = 1 + 1 = 2"
  is 2; an approximation states what it approximates unless that is only a name:
  "x = 1/3 \\approx 0.33" is 1/3, "x \\approx 11" is 11;
- names: an equation whose left side is a name (x, f(x), |AB|, V_1:V_2, \\frac{NO}{BO},
  products and ratios of symbols) takes its bare value: "|AB| = 1" against "1";
- a ratio a:b is the number a/b (2:4 is 1:2 is 0.5);
- solution lists: "p=5, q=2; p=7, q=2" is "(5, 2), (7, 2)" (values in the order of the
  names); multiplicity counts, so a list with a repeated item is not the list without it;
- matrices and vectors are compared, not computed ("A + B" is not added up);
- "{1, 3}" with unescaped braces is a list, not the point (1, 3).

Leaves compare fastest first: equal trees, exact rationals (Fraction), real
constants (radicals, pi, e, logs) to 80 digits with Decimal, rational functions of
symbols exactly at random integer points (math_eval.exact_at: agreement at three
points is equality, any difference proves them different), a float check that can
only say "different" (complex constants; other expressions with symbols at three
sample points), and only then sympy in a helper process (proving that expressions
with roots of symbols, trig or complex values are equal).
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from verifiers import math_pool
from verifiers.math_eval import approx, exact_at, precise
from verifiers.math_norm import Eq, Leaf, Node, Seq, Text, Union, label_of

_CHOICE = re.compile(r"^(?:option|choice|answer)?\s*:?\s*\(?([A-Ea-e])\)?(?=$|[\s.:,)])")


class Context:
    """One comparison: its deadline, sympy results so far, and notes for the reason."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.deadline: float | None = None
        self.memo: dict[tuple, bool] = {}
        self.notes: list[str] = []
        self.timed_out = False
        self.used_sympy = False

    def resolve(self, jobs: list[tuple]) -> None:
        todo = list(dict.fromkeys(j for j in jobs if j not in self.memo))
        if not todo:
            return
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout_s
        remaining = self.deadline - time.monotonic()
        results: list = [None] * len(todo)
        if remaining <= 0 or self.timed_out:
            self.timed_out = True
        else:
            self.used_sympy = True
            try:
                results = math_pool.run([list(j) for j in todo], remaining)
            except math_pool.Timeout:
                self.timed_out = True
        for job, result in zip(todo, results):
            self.memo[job] = result is True


@lru_cache(maxsize=16384)
def _approx(ast: tuple, point: int | None = None) -> complex | None:
    return approx(ast, point)


@lru_cache(maxsize=16384)
def _infinite(ast: tuple) -> bool:
    return ast == ("c", "oo") or any(isinstance(a, tuple) and _infinite(a) for a in ast[1:])


@lru_cache(maxsize=16384)
def _precise(ast: tuple):
    return precise(ast)


def _alternatives(r: Leaf, c: Leaf) -> list[tuple]:
    """(ref ast, ref value, cand ast, cand value) readings; more than one only for %."""
    refs = [(r.ast, r.value)]
    cands = [(c.ast, c.value)]
    if r.pct and not c.pct:
        refs.append((("/", r.ast, ("n", "100")), None if r.value is None else r.value / 100))
    if c.pct and not r.pct:
        cands.append((("/", c.ast, ("n", "100")), None if c.value is None else c.value / 100))
    return [(ra, rv, ca, cv) for ra, rv in refs for ca, cv in cands]


def _fast(ra: tuple, rv: Fraction | None, ca: tuple, cv: Fraction | None) -> bool | None:
    if ra == ca:
        return True
    if rv is not None and cv is not None:
        return rv == cv
    if _infinite(ra) or _infinite(ca):
        return False  # infinities are equal only written the same way (checked above)
    pa, pb = _precise(ra), _precise(ca)
    if pa is not None and pb is not None:
        return abs(pa - pb) <= Decimal("1e-50") * max(1, abs(pa), abs(pb))
    verdict = _at_random_points(ra, ca)
    if verdict is not None:
        return verdict
    for point in (None, 0, 1, 2):  # constants, then symbols at three sample points
        a, b = _approx(ra, point), _approx(ca, point)
        if a is not None and b is not None:
            if abs(a - b) > 1e-5 * max(1.0, abs(a), abs(b)):
                return False
            if point is None:
                break
    return None


POINTS_NEEDED = 3  # random points two rational functions must agree at to be equal
_POINTS_TRIED = 6  # points tried, so that a pole at one point does not send the pair to sympy


@lru_cache(maxsize=16384)
def _exact_at(ast: tuple, point: int):
    return exact_at(ast, point)


def _at_random_points(a: tuple, b: tuple) -> bool | None:
    """Rational functions of symbols compared exactly at random integer points (math_eval):
    any difference proves them different; agreement at POINTS_NEEDED points makes them
    equal (wrong with probability below 1e-25 for degrees under 1000). None: not both
    rational functions, or too many poles; sympy decides."""
    agreed = 0
    for point in range(_POINTS_TRIED):
        va = _exact_at(a, point)
        if va is None and point == 0 and _exact_at(a, 1) is None:
            return None  # not a rational function (not a pole at one point)
        vb = _exact_at(b, point)
        if va is None or vb is None:
            continue
        if va != vb:
            return False
        agreed += 1
        if agreed == POINTS_NEEDED:
            return True
    return None


def _pending(r: Leaf, c: Leaf) -> tuple[bool, list[tuple]]:
    """(decided equal, sympy jobs still needed)."""
    if r.ast is None or c.ast is None:
        return False, []
    jobs = []
    for ra, rv, ca, cv in _alternatives(r, c):
        verdict = _fast(ra, rv, ca, cv)
        if verdict:
            return True, []
        if verdict is None:
            jobs.append(("expr", ra, ca))
    return False, jobs


def leaf_equal(r: Leaf, c: Leaf, ctx: Context) -> bool:
    if r.ast is None or c.ast is None:
        for leaf in (r, c):
            if leaf.error:
                ctx.notes.append(leaf.error)
        return r.text == c.text
    done, jobs = _pending(r, c)
    if done or not jobs:
        return done
    ctx.resolve(jobs)
    return any(ctx.memo.get(j, False) for j in jobs)


def prefetch(pairs: list[tuple[Node, Node]], ctx: Context) -> None:
    """Send every sympy job these leaf pairs need in one request."""
    jobs = []
    for r, c in pairs:
        if isinstance(r, Leaf) and isinstance(c, Leaf):
            done, more = _pending(r, c)
            if not done:
                jobs.extend(more)
    if len(jobs) > 1:
        ctx.resolve(jobs)


def value_of(c: Node) -> Node:
    """What a candidate equation says the answer is: x = 3 -> 3, 3 = x -> 3,
    x = 2 + 1 = 3 -> 3, (x, y) = (8, 2) -> (8, 2)."""
    if not isinstance(c, Eq):
        return c
    if len(c.sides) == 2 and label_of(c.sides[1]) and not label_of(c.sides[0]):
        return c.sides[0]
    return c.sides[-1]


def _is_choice(r: Leaf) -> bool:
    return r.ast is not None and r.ast[0] == "s" and r.ast[1] in ("A", "B", "C", "D", "E")


def equal(r: Node, c: Node, ctx: Context) -> bool:
    if isinstance(r, Eq):
        return _equal_eq(r, c, ctx)
    c = value_of(c)
    if isinstance(r, Text):
        return isinstance(c, Text) and r.word == c.word
    if isinstance(r, Leaf):
        if _is_choice(r) and isinstance(c, (Leaf, Text)):
            m = _CHOICE.match(c.text if isinstance(c, Leaf) else c.word)
            return bool(m) and m.group(1).upper() == r.ast[1]
        if isinstance(c, Seq) and c.kind in ("list", "set") and len(c.items) == 1:
            c = c.items[0]
        return isinstance(c, Leaf) and leaf_equal(r, c, ctx)
    if isinstance(r, Union):
        return isinstance(c, Union) and unordered(r.items, c.items, ctx)
    if isinstance(r, Seq):
        return _equal_seq(r, c, ctx)
    return False


def _equal_eq(r: Eq, c: Node, ctx: Context) -> bool:
    sides = r.sides
    if len(sides) > 2:  # a chain "z = 1 + 1 = 2" states its last member
        return equal(sides[-1], c, ctx)
    var = label_of(sides[0]) if len(sides) == 2 else None
    two_leaves = isinstance(c, Eq) and len(c.sides) == 2 and all(isinstance(s, Leaf) for s in c.sides)
    if var is not None or (len(sides) == 2 and isinstance(sides[0], Seq)):
        if not isinstance(c, Eq):
            return equal(sides[1], c, ctx)
        if label_of(c.sides[0]) == var or c.sides[0] == sides[0]:
            return equal(sides[1], c.sides[-1], ctx)
        if len(c.sides) == 2 and (label_of(c.sides[1]) == var or c.sides[1] == sides[0]):
            return equal(sides[1], c.sides[0], ctx)
    if not (two_leaves and len(sides) == 2 and all(isinstance(s, Leaf) and s.ast for s in sides)):
        return False
    if any(s.ast is None for s in c.sides):
        return False
    if sides[0].ast == c.sides[0].ast and sides[1].ast == c.sides[1].ast:
        return True
    if _different_relations(sides[0].ast, sides[1].ast, c.sides[0].ast, c.sides[1].ast):
        return False
    verdict = _relation_at_random_points(sides[0].ast, sides[1].ast, c.sides[0].ast, c.sides[1].ast)
    if verdict is not None:
        return verdict
    job = ("eq", (sides[0].ast, sides[1].ast), (c.sides[0].ast, c.sides[1].ast))
    ctx.resolve([job])
    return ctx.memo.get(job, False)


def _relation_at_random_points(l1: tuple, r1: tuple, l2: tuple, r2: tuple) -> bool | None:
    """l1 = r1 and l2 = r2 are one relation when l1 - r1 = k (l2 - r2) for a constant k != 0:
    exactly at random points, the ratio must be the same non-zero number at each."""
    d1, d2 = ("+", l1, ("neg", r1)), ("+", l2, ("neg", r2))
    ratios = []
    for point in range(_POINTS_TRIED):
        v1, v2 = _exact_at(d1, point), _exact_at(d2, point)
        if v1 is None or v2 is None:
            if point == 0 and (_exact_at(d1, 1) is None or _exact_at(d2, 1) is None):
                return None
            continue
        if (v1 == 0) != (v2 == 0):
            return False
        if v2:
            ratios.append(v1 / v2)
            if ratios[-1] != ratios[0]:
                return False
        if len(ratios) == POINTS_NEEDED:
            return True
    return None


def _different_relations(l1: tuple, r1: tuple, l2: tuple, r2: tuple) -> bool:
    """Float samples show that l1 - r1 is not a constant multiple of l2 - r2."""
    ratios = []
    for point in (0, 1, 2):
        values = [_approx(ast, point) for ast in (l1, r1, l2, r2)]
        if any(v is None for v in values):
            continue
        d1, d2 = values[0] - values[1], values[2] - values[3]
        if abs(d2) > 1e-6 and abs(d1) > 1e-6:
            ratios.append(d1 / d2)
    return len(ratios) >= 2 and any(abs(r - ratios[0]) > 1e-5 * max(1.0, abs(ratios[0])) for r in ratios)


def _items(seq: Seq) -> tuple:
    return tuple(value_of(i) for i in seq.items)


def _equal_seq(r: Seq, c: Node, ctx: Context) -> bool:
    if r.kind == "matrix":
        return _equal_matrix(r, c, ctx)
    if not isinstance(c, Seq):
        return False
    if r.kind in ("list", "set"):
        if c.kind == "tuple" and c.left == "(" and _named(r) is not None:  # p=5, q=2 against (5, 2)
            return ordered(_named(r), c.items, ctx)
        return c.kind in ("list", "set") and unordered(_items(r), _items(c), ctx)
    # an ordered tuple / interval
    if c.kind == "tuple":
        return (r.left, r.right) == (c.left, c.right) and ordered(r.items, c.items, ctx)
    if c.kind == "matrix":
        return _vector(c) is not None and r.left == "(" and ordered(r.items, _vector(c), ctx)
    if c.kind == "list" and (r.left, r.right) == ("(", ")"):
        return ordered(r.items, _named(c) or _items(c), ctx)
    return False


def _named(seq: Seq) -> tuple | None:
    """The values of "x = 8, y = 2" in the order of their names (8, 2); None unless every
    item is such an equation and the names differ."""
    items = seq.items
    names = [label_of(i.sides[0]) if isinstance(i, Eq) and len(i.sides) == 2 else None for i in items]
    if not items or not all(names) or len(set(names)) != len(names):
        return None
    return tuple(i.sides[1] for _, i in sorted(zip(names, items), key=lambda p: p[0]))


def _vector(m: Seq) -> tuple | None:
    rows = m.items
    if len(rows) == 1:
        return rows[0].items
    if all(len(row.items) == 1 for row in rows):
        return tuple(row.items[0] for row in rows)
    return None


def _equal_matrix(r: Seq, c: Node, ctx: Context) -> bool:
    if isinstance(c, Seq) and c.kind == "matrix":
        shape_r = [len(row.items) for row in r.items]
        if shape_r != [len(row.items) for row in c.items]:
            return False
        return ordered(sum((row.items for row in r.items), ()), sum((row.items for row in c.items), ()), ctx)
    vector = _vector(r)
    if vector is not None and isinstance(c, Seq) and c.kind in ("tuple", "list") and c.left in ("(", "[", ""):
        return ordered(vector, c.items, ctx)
    if isinstance(c, Seq) and c.kind == "tuple" and all(isinstance(i, Seq) for i in c.items):
        rows = tuple(Seq("tuple", i.items, "[", "]") for i in c.items)
        return _equal_matrix(r, Seq("matrix", rows), ctx)
    return False


def ordered(rs: tuple, cs: tuple, ctx: Context) -> bool:
    if len(rs) != len(cs):
        return False
    prefetch(list(zip(rs, cs)), ctx)
    return all(equal(r, c, ctx) for r, c in zip(rs, cs))


def unordered(rs: tuple, cs: tuple, ctx: Context) -> bool:
    """A perfect matching between the two multisets (augmenting paths)."""
    n = len(rs)
    if n != len(cs):
        return False
    if n > 64:
        return False
    prefetch([(r, c) for r in rs for c in cs], ctx)
    ok = [[equal(r, c, ctx) for c in cs] for r in rs]
    match: list[int | None] = [None] * n  # cand index -> ref index

    def augment(i: int, seen: set[int]) -> bool:
        for j in range(n):
            if ok[i][j] and j not in seen:
                seen.add(j)
                if match[j] is None or augment(match[j], seen):
                    match[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(n))
