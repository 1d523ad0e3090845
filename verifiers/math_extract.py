"""The final answer of a response, in this order:

1. the last \\boxed{...} or \\fbox{...} (nested braces; "\\boxed 5" too). Boxes
   that directly precede it, separated only by commas, "and", "or" or spaces,
   join it: "\\boxed{2} and \\boxed{3}" reads "2, 3";
2. the last "the answer is X" / "Answer: X" / "Final answer: X" (X up to the end
   of its line or sentence, or the math span that starts it);
3. the last GSM8K "#### N";
4. the fallbacks: "last_math" (the last $...$, \\(...\\) or \\[...\\] span) and
   "last_number" (the last number), both within the last 2000 characters; of
   those enabled, the one that ends last in the text wins (a number inside the
   last math span loses to the span), so "$5 + $3 = 8 dollars" reads 8. Both are on by
   default; pass fallbacks=() to accept only explicit final answers.

Every step is linear in the length of the text (a 100k-character response with
thousands of unclosed boxes is read in milliseconds).
"""

from __future__ import annotations

import re

DEFAULT_FALLBACKS = ("last_math", "last_number")
FALLBACKS = ("last_math", "last_number")

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"\\[{}]|[{}]")
_JOIN = re.compile(r"^(?:\s|,|\$|\\quad|\\text\{\s*(?:and|or|,)?\s*\}|\band\b|\bor\b)*$")
_ANSWER = re.compile(r"(?i)\banswer\s*(?:is\b\s*:?|:|=)\s*")
_SENTENCE_END = re.compile(r"\.(?:\s|$)|\n")
_MATH = re.compile(r"\$\$(.{1,500}?)\$\$|\$(.{1,500}?)\$|\\\((.{1,500}?)\\\)|\\\[(.{1,500}?)\\\]", re.S)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_MAX_TRIES = 3
_MAX_ANSWER_SPAN = 300
_TAIL = 2000  # the fallbacks look only at the end of a response


def _group_end(text: str, start: int, limit: int) -> int | None:
    """Index just past the group that opens at text[start] == "{" (None: unclosed
    before `limit`)."""
    depth = 0
    for m in _BRACE.finditer(text, start, limit):
        tok = m.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def _box_at(text: str, m: re.Match, limit: int) -> tuple[str, int] | None:
    """(content, end) of the box whose command `m` matched."""
    i = m.end()
    while i < limit and text[i] == " ":
        i += 1
    if i < limit and text[i] == "{":
        end = _group_end(text, i, limit)
        return (text[i + 1 : end - 1].strip(), end) if end else None
    tok = re.match(r"[^\s$]+", text[i:limit])
    return (tok.group(), i + tok.end()) if tok else None


def last_boxed(text: str) -> str | None:
    starts = [m for m in _BOX.finditer(text)]
    for tries, k in enumerate(range(len(starts) - 1, -1, -1)):
        if tries >= _MAX_TRIES:
            return None
        found = _box_at(text, starts[k], len(text))
        if found is None:
            continue
        parts, begin = [found[0]], starts[k].start()
        for j in range(k - 1, max(k - 6, -1), -1):  # boxes joined by "and" / commas
            prev = _box_at(text, starts[j], begin)
            if prev is None or not _JOIN.match(text[prev[1] : begin]):
                break
            parts.insert(0, prev[0])
            begin = starts[j].start()
        return ", ".join(p for p in parts if p) or None
    return None


def _after_answer(text: str) -> str | None:
    matches = list(_ANSWER.finditer(text))
    for m in reversed(matches[-_MAX_TRIES:]):
        rest = text[m.end() : m.end() + 2 * _MAX_ANSWER_SPAN].lstrip(" *_:")
        math = _MATH.match(rest)
        if math:
            answer = next(g for g in math.groups() if g is not None)
        else:
            end = _SENTENCE_END.search(rest)
            answer = rest[: end.start()] if end else rest
        answer = answer.strip().strip("*_").strip()
        if answer and len(answer) <= _MAX_ANSWER_SPAN:
            return answer
    return None


def _after_hashes(text: str) -> str | None:
    i = text.rfind("####")
    if i < 0:
        return None
    answer = text[i + 4 :].split("\n", 1)[0].strip()
    return answer or None


def _last_math(text: str) -> tuple[str, int] | None:
    last = None
    for m in _MATH.finditer(text, max(0, len(text) - _TAIL)):
        last = m
    if last is None:
        return None
    answer = next(g for g in last.groups() if g is not None).strip()
    return (answer, last.end()) if answer else None


def _last_number(text: str) -> tuple[str, int] | None:
    last = None
    for m in _NUMBER.finditer(text, max(0, len(text) - _TAIL)):
        last = m
    if last is None:
        return None
    start, end = last.start(), last.end()
    if start and end < len(text) and text[start - 1] in "([{" and text[end] in ")]}":
        # "[1,2]": keep the brackets, which decide tuple vs interval vs set
        return text[start - 1 : end + 1], end + 1
    return last.group().rstrip(","), end


_FALLBACK = {"last_math": _last_math, "last_number": _last_number}


def extract(text: str, fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS) -> str | None:
    """The final answer in `text`, or None when there is none."""
    if not isinstance(text, str) or not text:
        return None
    unknown = set(fallbacks) - set(FALLBACKS)
    if unknown:
        raise ValueError(f"unknown fallbacks {sorted(unknown)}; known: {', '.join(FALLBACKS)}")
    for find in (last_boxed, _after_answer, _after_hashes):
        answer = find(text)
        if answer:
            return answer
    found = [f for f in (_FALLBACK[name](text) for name in fallbacks) if f]
    if not found:
        return None
    return max(found, key=lambda f: f[1])[0]  # the one that ends last; ties: the first named
