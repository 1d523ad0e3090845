"""The math verifier: is the final answer of a response equivalent to the reference?

    verify(reference, response) -> Verdict     extract, then compare, never raises
    extract(text) -> str | None                 the final answer (math_extract)
    equivalent(reference, candidate) -> bool    gold first: the reference decides

Layout:
    math_extract  final-answer extraction (boxed, "answer is", ####, fallbacks)
    math_norm     LaTeX clean-up and answer structure (lists, tuples, intervals,
                  sets, equations, matrices, units, percent, choice letters)
    math_parse    scalar expressions (LaTeX or plain) -> AST, no eval
    math_eval     guards, exact rationals, Decimal and float values of an AST
    math_compare  the gold-first rules (see its docstring)
    math_pool     the time limit: sympy in killable helper processes
    math_worker   the helper process (sympy rebuilt from the AST, no eval)

Order of work, cheapest first: the cleaned strings are equal -> done; otherwise
both sides are parsed (cached) and compared structurally; numbers compare as
exact rationals (Fraction), real constants (radicals, pi, e, logs) as 80-digit
Decimals (equal when they agree to 50 digits), and a float check at sample points
can only say "different". What is left (expressions with symbols, trig, complex
numbers) goes to sympy in a helper process, one batched request per comparison,
with a time limit of `timeout_s` (default 1 s) for that work. Inputs longer than
MAX_INPUT characters, answers longer than MAX_ANSWER, huge powers and factorials,
towers and deep nesting are refused before anything is built; the verdict says why.

Rules (details in math_compare):
- exact values: 0.333 is not 1/3 and 3.14 is not pi; a decimal reference is
  matched by the same number in any exact form (0.5 = 1/2 = 50%);
- percent: "10%" is 10 or 0.1, whichever the other side needs, so 10% = 10 = 0.1
  and 0.1 = 10% (but 0.1% != 10%);
- lists: a bare comma list in the reference ("-2, 3": roots, solutions) is
  unordered and needs the same number of items; tuples are ordered, sets are not,
  intervals keep their open / closed ends;
- equations: "x = 3" and "3" match either way; "y = 2x + 1" takes "2x + 1 = y" or
  "2x + 1"; other equations match equations that differ by a non-zero factor;
- degrees, units, \\text{}, currency signs after or before a number are dropped
  (90^\\circ = 90; radians are not converted), choice letters read as letters.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from verifiers import register
from verifiers.base import Verdict
from verifiers.math_compare import Context, equal
from verifiers.math_extract import DEFAULT_FALLBACKS, EXPLICIT, extract, extract_with_source
from verifiers.math_norm import Leaf, clean, decimal_comma, key, parse_answer, unit_of
from verifiers.math_pool import warm_up

VERSION = "3"  # 3: real-model answer forms, fallback reasons, exact random points
DEFAULT_TIMEOUT_S = 1.0
MAX_INPUT = 20_000  # characters of a reference or an extracted answer we look at
MAX_ANSWER = 2_000  # characters of a cleaned answer we parse
_DECIMAL = re.compile(r"-?\d{1,300}(?:\.\d{1,300})?")  # a plain number: compared at once

__all__ = [
    "VERSION",
    "DEFAULT_FALLBACKS",
    "clear_caches",
    "equivalent",
    "extract",
    "judge",
    "verify",
    "warm_up",
]


@dataclass(frozen=True)
class Judgement:
    equal: bool
    reason: str | None = None  # why not (or None)
    path: str = ""  # "exact" | "structure" | "sympy" | "refused"


@lru_cache(maxsize=8192)
def _symbolic(ast: tuple) -> bool:
    if ast[0] == "s":
        return True
    return any(isinstance(a, tuple) and _symbolic(a) for a in ast[1:])


def judge(reference: str, candidate: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Judgement:
    """Compare a candidate answer with the reference; never raises."""
    try:
        return _judge(reference, candidate, timeout_s)
    except Exception as exc:  # noqa: BLE001 - a verifier answers, it does not crash
        return Judgement(False, f"internal error: {type(exc).__name__}: {exc}"[:200], "refused")


def _judge(reference: str, candidate: str, timeout_s: float) -> Judgement:
    if not isinstance(reference, str) or not isinstance(candidate, str):
        return Judgement(False, "reference and answer must be text", "refused")
    if len(reference) > MAX_INPUT or len(candidate) > MAX_INPUT:
        return Judgement(False, f"rejected: longer than {MAX_INPUT} characters", "refused")
    ref_clean, cand_clean = clean(reference), clean(candidate)
    if not ref_clean:
        return Judgement(False, "empty reference", "refused")
    if _DECIMAL.fullmatch(ref_clean) and _DECIMAL.fullmatch(cand_clean):  # most GSM8K-style pairs
        same = Decimal(ref_clean) == Decimal(cand_clean)  # exact, and faster than Fraction
        return Judgement(same, None if same else "not equivalent", "exact" if same else "structure")
    if key(ref_clean) == key(cand_clean):
        return Judgement(True, None, "exact")
    if len(cand_clean) > MAX_ANSWER or len(ref_clean) > MAX_ANSWER:
        return Judgement(False, f"rejected: answer longer than {MAX_ANSWER} characters", "refused")
    reference, candidate = decimal_comma(ref_clean, cand_clean, reference, candidate)
    ref_unit, cand_unit = unit_of(ref_clean), unit_of(cand_clean)
    if ref_unit and cand_unit and ref_unit != cand_unit:
        # units are dropped to compare values, but two different units are two answers
        return Judgement(False, f"units differ: {ref_unit} vs {cand_unit}", "structure")
    ref = parse_answer(reference)
    numeric = isinstance(ref, Leaf) and ref.ast is not None and not _symbolic(ref.ast)
    cand = parse_answer(candidate, numeric)
    ctx = Context(timeout_s)
    same = equal(ref, cand, ctx)
    path = "sympy" if ctx.used_sympy else "structure"
    if same:
        return Judgement(True, None, path)
    if ctx.timed_out:
        return Judgement(False, f"timed out: sympy took longer than {timeout_s:g} s", path)
    rejected = [n for n in ctx.notes if n.startswith("rejected")]
    if rejected or ctx.notes:
        return Judgement(False, (rejected or ctx.notes)[0], path)
    return Judgement(False, "not equivalent", path)


def clear_caches() -> None:
    """Forget every parse and value cached so far (benchmarks time a cold verifier with it)."""
    from verifiers import math_compare, math_eval, math_norm

    for module in (math_compare, math_eval, math_norm, sys.modules[__name__]):
        for value in vars(module).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()


def equivalent(reference: str, candidate: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Whether `candidate` is an equivalent answer to `reference` (gold first)."""
    return judge(reference, candidate, timeout_s).equal


def verify(
    reference: str,
    response: str,
    *,
    fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Verdict:
    """Extract the final answer of `response` and compare it with `reference`."""
    start = time.perf_counter()
    try:
        verdict = _verify(reference, response, fallbacks, timeout_s)
    except Exception as exc:  # noqa: BLE001
        verdict = Verdict.fail(f"internal error: {type(exc).__name__}: {exc}"[:200])
    verdict.elapsed_ms = (time.perf_counter() - start) * 1000
    return verdict


def _verify(reference, response, fallbacks, timeout_s) -> Verdict:
    if reference is None or (isinstance(reference, str) and not reference.strip()):
        return Verdict.fail("no reference answer")
    if not isinstance(response, str):
        return Verdict.fail("response is not text")
    answer, source = extract_with_source(response, fallbacks)
    if answer is None:
        return Verdict.fail("no final answer found")
    result = judge(str(reference), answer, timeout_s)
    details = {"path": result.path, "source": source}
    # an answer guessed by a fallback (no box, no "answer is") says so, so that curation
    # and rewards can weigh it: "fallback: last_number"
    note = None if source in EXPLICIT else f"fallback: {source}"
    if result.equal:
        return Verdict.ok(answer, note, details=details)
    reason = result.reason or "not equivalent"
    return Verdict.fail(f"{reason} ({note})" if note else reason, answer, details=details)


_OPERATOR = re.compile(r"[\w)}]\s*(?:[-+*/^\u00d7\u00f7]|\\times|\\cdot|\\div)\s*[\w(\\{]")
_ARITHMETIC = re.compile(r"\d+(?:[-+*/]\d+)+")
_FRACTION = re.compile(r"-?\d+(?:\.\d+)?/\d+(?:\.\d+)?|-?\\frac\{\d+\}\{\d+\}")
_SQUEEZE = str.maketrans("", "", " \t\n$")  # what restates_question ignores when it compares


def _prompt_text(prompt) -> str:
    """The question's text: a string, or the user turns of chat messages."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return " ".join(
            str(m.get("content", "")) for m in prompt if isinstance(m, dict) and m.get("role") != "system"
        )
    return ""


def restates_question(answer: str | None, prompt) -> bool:
    """The answer is an expression copied from the question: "7 + 16" for "What is 7 + 16?".
    Equal in value, it is still no answer (a small model often ends "the answer is 7 + 16")."""
    if not answer or not _OPERATOR.search(answer):
        return False
    question = _prompt_text(prompt)
    needle = clean(answer).translate(_SQUEEZE)
    if _FRACTION.fullmatch(needle) or "=" in needle:
        return False  # a number such as 3/4 may be the answer and in the question; x = 2 + 1 = 3 works on
    haystack = clean(question[:MAX_INPUT]).translate(_SQUEEZE)
    if len(needle) >= 3 and needle in haystack:
        return True
    # "\\left( 7 + 16 \\right) multiplication": the question's sum, wrapped in other text
    return any(len(expr) >= 3 and expr in needle for expr in _ARITHMETIC.findall(haystack))


@register("math", VERSION)
def verify_problem(problem, response: str) -> Verdict:
    """Registry entry: the problem's `answer` is the reference; an answer that only restates
    an expression of the problem's `prompt` (when it has one) fails."""
    reference = getattr(problem, "answer", None)
    if reference is None or not str(reference).strip():
        return Verdict.fail("no reference answer")
    verdict = verify(str(reference), response)
    if verdict.passed and restates_question(verdict.extracted, getattr(problem, "prompt", None)):
        return Verdict.fail("the answer restates the question", verdict.extracted, details=verdict.details,
                            elapsed_ms=verdict.elapsed_ms)  # fmt: skip
    return verdict
