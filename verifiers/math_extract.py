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

from verifiers.math_parse import GuardError, ParseError, parse

DEFAULT_FALLBACKS = ("last_math", "last_number")
FALLBACKS = ("last_math", "last_number")
EXPLICIT = ("boxed", "answer", "hashes")  # sources that are not fallbacks

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"\\[{}]|[{}]")
_JOIN = re.compile(  # what may stand between boxes that state one answer together
    r"^(?:\s|[,;.]|\$|\\[()\[\]]|\\q?quad\b|\\[,;:!]|\\text\{[^{}$]{0,40}\}|\band\b|\bor\b"
    r"|\b[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=)*$"  # "x = \boxed{2}, y = \boxed{3}": the names go
)
_ANSWER = re.compile(  # "answer within \\boxed{} is": a small model echoing its instructions
    r"(?i)\banswer(?:\s+within\s+\\boxed\{\})?\s*"
    r"(?:(?:is|was)\b\s*:?|:|=|can\s+be\s+(?:expressed|written)\s+as\b|of(?=\s*\$?-?\d))\s*"
)
# what follows "the answer is" without being one: "the answer is correct", "... is that 6 ..."
_NOT_AN_ANSWER = re.compile(
    r"(?i)^(?:correct|incorrect|wrong|right|not\b|simply\b|that\b|as follows|below|above)"
)
_EMPTY_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{\s*\}")
_SENTENCE_END = re.compile(r"\.(?:\s|$)|\n")
_D = r"(?<!\\)\$"  # a dollar sign that is not an escaped \$
_MATH = re.compile(
    rf"{_D}{_D}(.{{1,500}}?){_D}{_D}|{_D}(.{{1,500}}?){_D}|\\\((.{{1,500}}?)\\\)|\\\[(.{{1,500}}?)\\\]", re.S
)
# a number not glued to a word before it ("AZYUK2A", "x2", "v_1"); 1,234 stays whole, and so
# does 1 234 where it ends a sentence (not "3 100 dollar bills")
_NUMBER = re.compile(  # (not "Step 3", a label)
    r"(?<![A-Za-z_\d.])(?<![Ss]tep )-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d{1,3}(?: \d{3})+(?=\s*(?:[.,;!?)$]|$))|\d+)(?:[.,]\d+)?(?:/\d+)?"
    r"|(?<![A-Za-z_\d])-?\.\d+"
)
_VALUE_WORD = re.compile(r"\s(?:is|are|was|equals|=)\s+(?!.*\s(?:is|are|was|equals|=)\s)", re.S)
_HAS_VALUE = re.compile(r"\d|\\[A-Za-z]|\$")
_PROSE = re.compile(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}")
_LEADING_VALUE = re.compile(r"^\\?\$?(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\s+(?=[A-Za-z]{2,})")  # "20 is the ..."
# "6 + 3, which is 9": the value a comment gives an expression
_WHICH_IS = re.compile(
    r"^[^=,]*[-+*/][^=,]*,\s*which\s+(?:is|equals|gives(?:\s+us)?|makes)\s+\$?(-?\d[\d,]*(?:\.\d+)?)\$?\s*$"
)
_COMMENT = re.compile(r",\s*(?:which|that|because|since|so|as)\b")
_OPEN, _CLOSE = "([{", ")]}"
_TRAILING_OPERATOR = re.compile(  # cut off mid-expression, or right after announcing the answer
    r"(?:[-+*/^=(\[{,]|\\(?:cdot|times|frac|sqrt)|(?i:\banswer(?:\s+is)?:?)(?:\s*\\boxed\{\s*\}\.?)?)\s*$"
)
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


def _boxed(text: str) -> tuple[str, int, int] | None:
    """(answer, start, end) of the last box, with the boxes joined to it."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return None
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
        answer = ", ".join(p for p in parts if p)
        return (answer, begin, found[1]) if answer else None
    return None


def last_boxed(text: str) -> str | None:
    found = _boxed(text)
    return found[0] if found else None


def _value_of_sentence(sentence: str) -> str:
    """What a sentence after "Final Answer:" states: "The largest $n$ is 34" -> 34,
    "Jane started growing Sphere 3 hours ago" -> 3; a bare value stays as it is."""
    math = _MATH.match(sentence)
    if math:
        return next(g for g in math.groups() if g is not None)
    which = _WHICH_IS.match(sentence)
    if which:
        return which.group(1)
    # a comment after the value goes: "29, which is the sum", "17 + 8 = 25, which is final"
    sentence = _COMMENT.split(sentence, 1)[0].strip()
    if not _PROSE.search(_MATH.sub(" ", sentence)):
        return sentence  # no prose: "x = 5", "12 dollars", "(1, 2)"
    lead = _LEADING_VALUE.match(sentence)
    if lead and _PROSE.search(sentence[lead.end() :]):
        return lead.group(1)  # "20 is the result of ..." -> 20
    tail = _VALUE_WORD.search(sentence)
    if tail:
        return _value_of_sentence(sentence[tail.end() :].strip())
    spans = list(_MATH.finditer(sentence))
    if spans:
        return next(g for g in spans[-1].groups() if g is not None)
    numbers = list(_NUMBER.finditer(sentence))
    if len(numbers) == 1:
        return numbers[0].group()
    return sentence


def _answer_markers(text: str):
    """The answer statements of `text`, last first, at most _MAX_TRIES (found with rfind:
    a case-insensitive regex scan of the whole text costs more than the rest of a verdict)."""
    lower, end, found = text.lower(), len(text), 0
    while found < _MAX_TRIES:
        i = lower.rfind("answer", 0, end)
        if i < 0:
            return
        end = i
        m = _ANSWER.match(text, i)
        if m and (i == 0 or not text[i - 1].isalnum()):
            found += 1
            yield m


def _after_answer(text: str) -> tuple[str, int] | None:
    """(answer, start of its marker) of the last answer statement."""
    for m in _answer_markers(text):
        rest = text[m.end() : m.end() + 2 * _MAX_ANSWER_SPAN].lstrip(" *_:")
        if _NOT_AN_ANSWER.match(rest):
            continue
        math = _MATH.match(rest)
        if math:
            answer = next(g for g in math.groups() if g is not None)
        else:
            end = _SENTENCE_END.search(rest)
            answer = _value_of_sentence((rest[: end.start()] if end else rest).strip().strip("*_"))
        answer = re.sub(r'^(?:\\?")+|(?:\\?")+$', "", answer.strip().strip("*_").strip()).strip()
        answer = _EMPTY_BOX.sub(" ", answer).strip()  # "\\boxed{} 6 + 7 = 13": the box was left empty
        if answer and len(answer) <= _MAX_ANSWER_SPAN:
            return answer, m.start()
    return None


def _after_hashes(text: str) -> tuple[str, int] | None:
    i = text.rfind("####")
    if i < 0:
        return None
    answer = text[i + 4 :].split("\n", 1)[0].strip()
    return (answer, i) if answer else None


def _last_math(text: str) -> tuple[str, int] | None:
    last = None
    for m in _MATH.finditer(text, max(0, len(text) - _TAIL)):
        last = m
    if last is None:
        return None
    answer = next(g for g in last.groups() if g is not None).strip()
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
        for m in _NUMBER.finditer(text, max(0, len(text) - window)):
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
    box, stated = _boxed(text), _after_answer(text)
    if box and stated and stated[1] >= box[2] and _HAS_VALUE.search(stated[0]):
        return stated[0], "answer"  # a final answer stated after a box mid-solution
    if box:
        return box[0], "boxed"
    if stated:
        return stated[0], "answer"
    hashes = _after_hashes(text)
    if hashes:
        return hashes[0], "hashes"
    found = [(f, name) for name in fallbacks if (f := _FALLBACK[name](text))]
    if not found:
        return None, None
    (answer, _), name = max(found, key=lambda f: f[0][1])  # the one that ends last; ties: the first named
    return answer, name


def extract(text: str, fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS) -> str | None:
    """The final answer in `text`, or None when there is none."""
    return extract_with_source(text, fallbacks)[0]
