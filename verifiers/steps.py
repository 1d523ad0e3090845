"""Process supervision: split a chain of thought into steps and check every arithmetic
claim in each step exactly.

    report = check_steps(text)
    report.steps             # [{"index": 1, "text": ..., "label": "correct", "claims": [...]}, ...]
    report.first_error_step  # 1-based index of the first "wrong" step, or None

Steps
    - Marked steps: when lines start with "Step N:" or "Sub-problem N:" (any case,
      markdown decoration such as "**Step 1:**" or "### Step 2." allowed), each marker
      starts a step that runs to the next marker, so a least-to-most "Sub-problem 2:"
      keeps its goal line and its work together. Text before the first marker is a
      step of its own only when it makes a claim; text after the last marker (the
      conclusion) belongs to the last step.
    - Otherwise every non-empty line is a step (GSM8K solutions: one line per step,
      "#### N" included), except that a response on a single line is split into
      sentences.

Claims
    - Inline: `a op b = c`, chains `a + b + c = d`, `a = b = c`, with + - * / (also
      x, ×, ·, ÷, \\times, \\cdot, \\div, \\frac{a}{b}), parentheses, unary minus and
      negatives in parentheses "(-56) * 4 = -224", small powers (^, **, ², ³), sqrt of
      perfect squares, percentages ("20% of 50 = 10", "100% - 20% = 80%"), `$` and
      `,` thousand separators, decimals (".5" too). A side that touches a letter, a
      function call or an operator word ("x - 3 = 5", "2a = 10", "sum of 3 and 4",
      "f(3) = 12") is not a number, so that "=" is not checked. Running totals
      written as one chain ("5 + 3 = 8 * 2 = 16") are read as such.
    - GSM8K annotations `<<expr=value>>`: the expression must equal the value, and a
      number written right after `>>` must be that value.
    - Exact arithmetic with Fractions. A decimal written with d places may round or
      truncate the exact value to d places ("10 / 3 = 3.33"). A percentage equated
      with a plain number ("20% = $10", "10 + 20% = 12") is ambiguous and unchecked.

Labels: "wrong" when any claim is false, "correct" when at least one claim was
checked and all hold, else "unchecked". Hostile text cannot hang or crash it: the
text, steps, claims and tokens are capped, numbers longer than 60 digits and powers
with big exponents are refused (the claim is then unchecked), and nothing is eval'd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from verifiers.arith import (
    _SAFE_AFTER,
    _SAFE_BEFORE,
    _SOFT_WORD_OPS_BEFORE,
    _VARIABLE,
    _WORD_OPS_AFTER,
    _WORD_OPS_BEFORE,
    MAX_RUN_TOKENS,
    Tok,
    _Ambiguous,
    _Invalid,
    _literal,
    _prepare,
    evaluate,
    tokenize,
)

VERSION = "1"  # stored with math verdicts ("<math version>+steps<this>")
MAX_TEXT = 200_000  # characters of a response that are read
MAX_STEPS = 2_000
MAX_CLAIMS = 200  # per step


@dataclass
class StepReport:
    steps: list[dict[str, Any]] = field(default_factory=list)
    first_error_step: int | None = None
    truncated: bool = False  # the text was longer than MAX_TEXT or had more than MAX_STEPS steps

    def counts(self) -> dict[str, int]:
        out = {"correct": 0, "wrong": 0, "unchecked": 0}
        for step in self.steps:
            out[step["label"]] += 1
        return out


# ---------------------------------------------------------------- splitting

_MARKER = re.compile(
    r"^[ \t#>*_]*(?:step|sub-?problem)[ \t]+(\d{1,4})[ \t*_]*[:.)\-–—][ \t*_]*",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\\$\d-])")


def split_steps(text: str) -> tuple[list[str], str]:
    """The steps of a chain of thought, and the text before the first marker (or "")."""
    markers = list(_MARKER.finditer(text))
    if markers:
        preamble = text[: markers[0].start()].strip()
        bounds = [m.start() for m in markers] + [len(text)]
        return [text[a:b].strip() for a, b in zip(bounds, bounds[1:])], preamble
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1:
        lines = [s.strip() for s in _SENTENCE_END.split(lines[0]) if s.strip()]
    return lines, ""


# ---------------------------------------------------------------- claims


def _show(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    d = x.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:  # a terminating decimal
        digits = 0
        while (x * 10**digits).denominator != 1:
            digits += 1
        scaled = abs(x.numerator * 10**digits // x.denominator)
        whole, frac = divmod(scaled, 10**digits)
        return f"{'-' if x < 0 else ''}{whole}.{frac:0{digits}d}"
    return f"{x.numerator}/{x.denominator}"


def _decimals(toks: list[Tok]) -> int | None:
    """Decimal places of a side that is a single decimal literal (maybe negated)."""
    body = toks[1:] if len(toks) == 2 and toks[0].kind == "op" and toks[0].text == "-" else toks
    if len(body) == 1 and body[0].kind == "num" and "." in body[0].text:
        return len(body[0].text.split(".")[1])
    return None


def _rounded(exact: Fraction, written: Fraction, places: int | None) -> bool:
    """`written` is `exact` rounded to its decimal places ("10 / 3 = 3.33"), or
    truncated when it has at least two ("2 / 3 = 0.66")."""
    if not places:
        return False
    unit = Fraction(1, 10**places)
    if abs(exact - written) * 2 <= unit:
        return True
    return places >= 2 and abs(written) < abs(exact) < abs(written) + unit and (exact > 0) == (written > 0)


def _text_of(toks: list[Tok], source: str) -> str:
    return source[toks[0].start : toks[-1].end] if toks else ""


def _compare(left: list[Tok], right: list[Tok], source: str, kind: str) -> dict | None:
    """One `left = right` claim, or None when a side is not a number."""
    try:
        a, b = evaluate(left), evaluate(right)
    except _Invalid:
        return None
    except _Ambiguous:
        return _claim(left, right, source, kind, None, "ambiguous percentage")
    note = None
    ok = a.x == b.x
    if not ok:
        for side, exact, written in ((right, a.x, b.x), (left, b.x, a.x)):
            if _rounded(exact, written, _decimals(side)):
                ok, note = True, "rounded"
                break
    if not ok and a.pct != b.pct:
        plain_side, pct_side = (right, b) if a.pct else (left, a)
        if len(plain_side) <= 2 and plain_side[-1].kind == "num":
            # "20% = $10", "48 = 120%": a percentage of something unnamed
            return _claim(left, right, source, kind, None, "ambiguous percentage")
        if (a.x if a.pct else b.x) * 100 == pct_side.x:  # "578 / 340 * 100 = 170%"
            ok, note = True, "percent"
    claim = _claim(left, right, source, kind, ok, note)
    claim["value"] = _show(a.x)
    return claim


def _claim(left, right, source, kind, ok, note) -> dict:
    out = {
        "text": f"{_text_of(left, source)} = {_text_of(right, source)}",
        "kind": kind,
        "ok": ok,
    }
    if note:
        out["note"] = note
    return out


def _trim(elements: list[list[Tok]]) -> None:
    """Drop brackets that belong to the surrounding text: an unmatched "(" before the
    first side, an unmatched ")" after the last, a "(" left dangling at the end."""
    first, last = elements[0], elements[-1]
    while first and first[0].kind == "lp" and sum((t.kind == "lp") - (t.kind == "rp") for t in first) > 0:
        first.pop(0)
    while last and last[-1].kind == "rp" and sum((t.kind == "lp") - (t.kind == "rp") for t in last) < 0:
        last.pop()
    while last and last[-1].kind == "lp" and last[-1].spaced:
        last.pop()


def _tainted_first(first: list[Tok], before: Tok | None, before2: Tok | None, bridged: bool = False) -> bool:
    if not first or bridged:
        return True
    if before is not None:
        if not first[0].spaced and not (before.kind == "other" and before.text in _SAFE_BEFORE):
            return True  # f(3), 2a, u'(x), 5\pi
        if before.kind == "word" and before.text.lower() in _WORD_OPS_BEFORE:
            return True
        if before.kind == "word" and before.text.lower() in _SOFT_WORD_OPS_BEFORE:
            lone = len(first) <= 2 and first[-1].kind == "num"  # 4 or -4
            multiplier = (
                before.text.lower() == "of"
                and before2 is not None
                and (before2.kind in ("num", "pct", "rp") or before2.text.lower() in _WORD_OPS_BEFORE)
            )
            if lone or multiplier:
                return True  # sum of 3 and 4 = 7, half of 3 * 4 = 6
        if before.kind == "word" and first[0].kind == "op" and first[0].text in "+-":
            return True  # x - 3 = 5
        if (
            before.kind == "word"
            and _VARIABLE.fullmatch(before.text)
            and before2 is not None
            and before2.kind == "op"
        ):
            return True  # a * b 3 = ...
    if first[0].kind == "op" and first[0].text not in "+-":
        return True
    if first[0].kind == "pct":
        return True
    return False


def _tainted_last(last: list[Tok], after: Tok | None, after2: Tok | None, bridged: bool = False) -> bool:
    if not last or bridged:
        return True
    if after is not None:
        variable = after.kind == "word" and _VARIABLE.fullmatch(after.text) is not None
        if not after.spaced and not (after.kind == "other" and after.text in _SAFE_AFTER):
            if variable or after.kind != "word":
                return True  # 12x, 5\pi (but 10km, 2nd: a unit or an ordinal)
        if after.kind == "word" and after.text.lower() in _WORD_OPS_AFTER:
            return True
        if variable and after2 is not None and after2.kind in ("op", "lp", "eq"):
            return True  # = 3 u^2, = 2 x + 1
    if last[-1].kind in ("op", "func"):
        return True
    return False


def _chain_claims(run: list[Tok], before: tuple, after: tuple, source: str, kind: str) -> list[dict]:
    elements: list[list[Tok]] = [[]]
    for tok in run:
        if tok.kind == "eq":
            elements.append([])
        else:
            elements[-1].append(tok)
    if len(elements) < 2:
        return []
    _trim(elements)
    usable = [True] * len(elements)
    if kind == "inline":
        usable[0] = not _tainted_first(elements[0], *before)
        usable[-1] = not _tainted_last(elements[-1], *after)
    claims = []
    for i in range(len(elements) - 1):
        left, right = elements[i], elements[i + 1]
        if not (usable[i] and usable[i + 1] and left and right):
            continue
        claim = _compare(left, right, source, kind)
        if claim is None:
            continue
        if claim["ok"] is False and _running(left, right):
            claim["ok"], claim["note"] = True, "running total"
        claims.append(claim)
    return claims


def _running(left: list[Tok], right: list[Tok]) -> bool:
    """`5 + 3 = 8 * 2 = 16`: the right side starts with the left side's value."""
    if len(right) < 3 or right[0].kind != "num" or right[1].kind != "op":
        return False
    try:
        return evaluate(left).x == _literal(right[0].text)
    except (_Invalid, _Ambiguous, ValueError):
        return False


_RUN_KINDS = {"num", "op", "eq", "lp", "rp", "pct", "func"}


def _bridged(toks: list[Tok], k: int, step: int) -> bool:
    """Whether a few words from toks[k] on (in direction `step`) lead to an operator:
    "25 + shoe size 5 = 30", "= 3 apples + 3 apples" continue a larger expression
    (after a claim only + - * count, so that "= 12 km/h" stays a number)."""
    words = 0
    while 0 <= k < len(toks) and toks[k].kind == "word" and words < 4:
        if step > 0 and toks[k].text.lower() in ("x", "times"):
            return True
        k += step
        words += 1
    if words == 0 or not 0 <= k < len(toks) or toks[k].kind != "op":
        return False
    return step < 0 or toks[k].text in "+-*"


def _inline_claims(text: str) -> list[dict]:
    toks = tokenize(text)
    claims: list[dict] = []
    i = 0
    while i < len(toks) and len(claims) < MAX_CLAIMS:
        if toks[i].kind not in _RUN_KINDS:
            i += 1
            continue
        j = i
        while j < len(toks) and toks[j].kind in _RUN_KINDS:
            j += 1
        run = toks[i:j]
        if j - i <= MAX_RUN_TOKENS and any(t.kind == "eq" for t in run):
            before = (
                toks[i - 1] if i >= 1 else None,
                toks[i - 2] if i >= 2 else None,
                _bridged(toks, i - 1, -1),
            )
            after = (
                toks[j] if j < len(toks) else None,
                toks[j + 1] if j + 1 < len(toks) else None,
                _bridged(toks, j, 1),
            )
            claims.extend(_chain_claims(run, before, after, text, "inline"))
        i = j
    return claims


_ANNOTATION = re.compile(r"<<([^<>\n]{0,500})>>")
_AFTER_ANNOTATION = re.compile(
    r"[ \t]*\$?[ \t]*(-?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:/\d+(?![\d.]))?)"
)


def _annotation_claims(text: str) -> tuple[list[dict], str]:
    """Claims of the GSM8K `<<expr=value>>` annotations, and the text without them."""
    claims: list[dict] = []
    for m in _ANNOTATION.finditer(text):
        inner = _prepare(m.group(1))
        toks = tokenize(inner)
        if not any(t.kind == "eq" for t in toks) or any(t.kind not in _RUN_KINDS for t in toks):
            continue
        found = _chain_claims(toks, (None, None), (None, None), inner, "annotation")
        claims.extend(found)
        shown = _AFTER_ANNOTATION.match(text, m.end())
        last = inner.rsplit("=", 1)[1]
        if shown and found:
            right = tokenize(last)
            written = tokenize(shown.group(1))
            claim = _compare(right, written, f"{last} = {shown.group(1)}", "annotation_result")
            if claim is not None:
                claim["text"] = f"<<...={last.strip()}>>{shown.group(1)}"
                claims.append(claim)
    return claims, _ANNOTATION.sub("", text)


def step_claims(text: str) -> list[dict]:
    """Every arithmetic claim of one step, each `{"text", "kind", "ok", ...}`; `ok` is
    None for a claim that cannot be judged (an ambiguous percentage)."""
    claims, rest = _annotation_claims(text) if "<<" in text else ([], text)
    claims.extend(_inline_claims(_prepare(rest)))
    return claims[:MAX_CLAIMS]


def _label(claims: list[dict]) -> str:
    if any(c["ok"] is False for c in claims):
        return "wrong"
    if any(c["ok"] is True for c in claims):
        return "correct"
    return "unchecked"


def check_steps(text: str | None) -> StepReport:
    """Split `text` into steps and label each one; see the module docstring."""
    report = StepReport()
    if not isinstance(text, str):
        return report
    if len(text) > MAX_TEXT:
        text, report.truncated = text[:MAX_TEXT], True
    parts, preamble = split_steps(text)
    if preamble:
        claims = step_claims(preamble)
        if claims:
            parts = [preamble, *parts]
    if len(parts) > MAX_STEPS:
        parts, report.truncated = parts[:MAX_STEPS], True
    for index, part in enumerate(parts, 1):
        marker = _MARKER.match(part)
        claims = step_claims(part[marker.end() :] if marker else part)
        label = _label(claims)
        report.steps.append({"index": index, "text": part, "label": label, "claims": claims})
        if label == "wrong" and report.first_error_step is None:
            report.first_error_step = index
    return report


__all__ = ["StepReport", "check_steps", "split_steps", "step_claims", "tokenize", "MAX_TEXT"]
