"""Final-answer extraction shared by the logic checkers (the math verifier has its own).

`last_boxed(text)` is the content of the last complete `\\boxed{...}` (or `\\fbox{...}`)
with nested braces; `answer_line(text)` the content of the last "Answer: ..." line;
`final_answer(text)` the first of those two that exists. All are single linear
passes, so hostile input (a megabyte of unclosed braces) costs no more than reading it.
"""

from __future__ import annotations

import re

_BOX_OR_BRACE = re.compile(r"\\(?:boxed|fbox)\s*\{|\{|\}")
_ANSWER_LINE = re.compile(
    r"^[ \t>*_#-]*(?:the\s+)?(?:final\s+)?answer(?:\s+is)?[ \t*_]*[:：](?P<body>[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)


def last_boxed(text: str | None) -> str | None:
    """Content of the last complete `\\boxed{...}`, stripped; None when there is none.

    "Last" is the box that closes last, so `\\boxed{\\boxed{1} + 1}` gives the outer
    content. An unclosed box (a truncated response) does not count.
    """
    if not isinstance(text, str) or "box" not in text:
        return None
    stack: list[tuple[bool, int]] = []  # (opened by a box?, content start)
    best: tuple[int, int] | None = None
    for m in _BOX_OR_BRACE.finditer(text):
        tok = m.group()
        if tok == "}":
            if not stack:
                continue
            boxed, start = stack.pop()
            if boxed:
                best = (start, m.start())
        else:
            stack.append((tok != "{", m.end()))
    if best is None:
        return None
    return text[best[0] : best[1]].strip()


def _clean(body: str) -> str:
    body = body.strip(" \t*_")
    for _ in range(3):  # peel **bold**, `code`, $math$ and quotes around the answer
        stripped = body
        for left, right in (("**", "**"), ("`", "`"), ("$", "$"), ('"', '"'), ("'", "'")):
            if (
                len(stripped) >= len(left) + len(right)
                and stripped.startswith(left)
                and stripped.endswith(right)
            ):
                stripped = stripped[len(left) : len(stripped) - len(right)].strip()
        if stripped == body:
            break
        body = stripped
    return body


def answer_line(text: str | None) -> str | None:
    """Content of the last line that reads "Answer: ..." ("Final answer:", "**Answer:**")."""
    if not isinstance(text, str):
        return None
    found = None
    for m in _ANSWER_LINE.finditer(text):
        body = _clean(m.group("body"))
        if body:
            found = body
    return found


def final_answer(text: str | None) -> str | None:
    """The last `\\boxed{}` content, else the last "Answer:" line, else None."""
    boxed = last_boxed(text)
    return boxed if boxed is not None else answer_line(text)


__all__ = ["last_boxed", "answer_line", "final_answer"]
