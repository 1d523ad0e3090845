"""The final answer of a response, and where it was read (`extract_with_source`):

1. "boxed": the last \\boxed{...} or \\fbox{...} (nested braces; "\\boxed 5" too).
   Boxes that directly precede it, separated only by commas, "and", "or", spaces,
   math delimiters or a short \\text{...}, join it: "\\boxed{2} and \\boxed{3}" and
   "\\(\\boxed{1}\\) and \\(\\boxed{-2}\\)" read "2, 3" and "1, -2";
2. "answer": the last "the answer is X" / "Answer: X" / "Final answer: X". X is the
   math span that starts it, or its sentence read down to the value: "The largest
   $n$ is 34." reads 34 and "29, which is the sum" 29 (a leading number, else the part
   after the last " is " / " = ", else the sentence's last math span, else its only
   number);
3. "hashes": the last GSM8K "#### N".
   Of these, a box wins unless an answer statement comes after it and states a value
   (a digit or math, not "the answer is correct"): "\\boxed{255} ... Final Answer: The
   final answer is $10,455$" reads 10,455.
   Steps 1-3 are `verifiers.answers.explicit_answer`, the reading every consumer of
   replies shares (the filters, the GRPO format reward); the fallbacks are the math
   verifier's own.
4. the fallbacks, within the last 2000 characters: "last_math" (the last $...$,
   \\(...\\) or \\[...\\] span; an escaped \\$ neither opens nor closes one) and
   "last_number" (the last number that is not part of a word such as "AZYUK2A",
   space- or comma-grouped thousands kept whole; where the last line is bare LaTeX,
   "so x = -\\frac{10}{9}", its expression instead of a number inside it). Of those
   enabled, the one that ends last wins (a number inside the last math span loses to
   the span), so "$5 + $3 = 8 dollars" reads 8. A response cut off mid-expression
   ("... = 2(9 + ") has no fallback answer: no number is taken from inside an open
   bracket or after a trailing operator. Both are on by default; pass fallbacks=()
   to accept only explicit final answers. A verdict from a fallback says so.

Every step is linear in the length of the text (a 100k-character response with
thousands of unclosed boxes is read in milliseconds).
"""

from __future__ import annotations

import re

from verifiers.answers import MATH_SPAN, NUMBER, explicit_answer, math_span_text
from verifiers.math_parse import GuardError, ParseError, parse

DEFAULT_FALLBACKS = ("last_math", "last_number")
FALLBACKS = ("last_math", "last_number")
EXPLICIT = ("boxed", "answer", "hashes")  # sources that are not fallbacks

_OPEN, _CLOSE = "([{", ")]}"
_TRAILING_OPERATOR = re.compile(  # cut off mid-expression, or right after announcing the answer
    r"(?:[-+*/^=(\[{,]|\\(?:cdot|times|frac|sqrt)|(?i:\banswer(?:\s+is)?:?)(?:\s*\\boxed\{\s*\}\.?)?)\s*$"
)
_TAIL = 2000  # the fallbacks look only at the end of a response


def _last_math(text: str) -> tuple[str, int] | None:
    last = None
    for m in MATH_SPAN.finditer(text, max(0, len(text) - _TAIL)):
        last = m
    if last is None:
        return None
    answer = math_span_text(last).strip()
    return (answer, last.end()) if answer else None


def _open_at(text: str, start: int, end: int) -> bool:
    """The span text[start:end] sits inside a bracket opened on its line and not closed
    after it (counted, not parsed: str.count is fast and this only vetoes a fallback)."""
    line = text[text.rfind("\n", 0, start) + 1 : start]
    opened = sum(line.count(c) for c in _OPEN) - sum(line.count(c) for c in _CLOSE)
    if opened <= 0:
        return False
    rest = text[end:]
    return sum(rest.count(c) for c in _CLOSE) - sum(rest.count(c) for c in _OPEN) < opened


def _bare_latex(text: str) -> tuple[str, int] | None:
    """The last line's expression when it is bare LaTeX: "\\frac{10}{9}", "so x = -\\frac{10}{9}"."""
    line = text.rstrip().rsplit("\n", 1)[-1].strip().rstrip(".")
    if "\\" not in line or "$" in line or len(line) > 200:
        return None
    expr = line.rsplit("=", 1)[-1].strip()
    if "=" not in line and re.search(r"[A-Za-z]{3,}\s", re.sub(r"\\[A-Za-z]+", " ", expr)):
        return None  # prose, not an expression
    try:
        parse(expr)
    except (ParseError, GuardError, RecursionError, ValueError):
        return None
    return expr, len(text.rstrip())


def _last_number(text: str) -> tuple[str, int] | None:
    if _TRAILING_OPERATOR.search(text[-40:]):
        return None  # cut off mid-expression: "... = 2(9 + "
    latex = _bare_latex(text)
    if latex:
        return latex
    last = None
    # the last number: first in a short window at the end (a whole number must start after
    # the window's first character), else in the whole tail
    for window in (64, 400, _TAIL):
        for m in NUMBER.finditer(text, max(0, len(text) - window)):
            last = m
        if last is not None and (last.start() > len(text) - window or window >= len(text)):
            break
    if last is None:
        return None
    start, end = last.start(), last.end()
    if start and end < len(text) and text[start - 1] in "([{" and text[end] in ")]}":
        # "[1,2]": keep the brackets, which decide tuple vs interval vs set
        return text[start - 1 : end + 1], end + 1
    if _open_at(text, start, end):
        return None  # a number inside an unfinished bracket is not an answer
    return last.group().rstrip(","), end


_FALLBACK = {"last_math": _last_math, "last_number": _last_number}


def extract_with_source(
    text: str, fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS
) -> tuple[str | None, str | None]:
    """(final answer, where it was read: "boxed" | "answer" | "hashes" | a fallback's
    name), or (None, None) when there is none."""
    if not isinstance(text, str) or not text:
        return None, None
    unknown = set(fallbacks) - set(FALLBACKS)
    if unknown:
        raise ValueError(f"unknown fallbacks {sorted(unknown)}; known: {', '.join(FALLBACKS)}")
    answer, source = explicit_answer(text)
    if answer is not None:
        return answer, source
    found = [(f, name) for name in fallbacks if (f := _FALLBACK[name](text))]
    if not found:
        return None, None
    (answer, _), name = max(found, key=lambda f: f[0][1])  # the one that ends last; ties: the first named
    return answer, name


def extract(text: str, fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS) -> str | None:
    """The final answer in `text`, or None when there is none."""
    return extract_with_source(text, fallbacks)[0]
