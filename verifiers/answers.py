"""Reading the final answer of a reply: the one place that knows where answers stand.

Every reader of model text uses these: the verifiers (math, logic, code), the source
presets (the MATH dataset's boxed solutions), the curation filters and the GRPO format
reward. The forms:

- `last_boxed(text)`: the last `\\boxed{...}` or `\\fbox{...}` (nested braces; "\\boxed 5"
  too). Boxes that directly precede it, separated only by commas, "and", "or", spaces,
  math delimiters or a short \\text{...}, join it: "\\boxed{2} and \\boxed{3}" reads
  "2, 3". A box left open (a truncated reply) does not count: the one before it does.
  `boxed_span` gives the same with where it stands.
- `stated_answer(text)`: the last "the answer is X" / "Answer: X" / "Final answer: X",
  read down to a math value: X is the math span that starts it, or its sentence read
  down to the value ("The largest $n$ is 34." reads 34, "29, which is the sum" 29).
- `hashes_answer(text)`: the last GSM8K "#### N".
- `explicit_answer(text)`: the math verifier's reading of those three: a box wins unless
  an answer statement comes after it and states a value ("\\boxed{255} ... Final Answer:
  The final answer is $10,455$" reads 10,455). `verifiers.math_extract` adds the guesses
  (the last number, the last math span) that a reply with none of them falls back to.
- `answer_line(text)`: the whole of the last line that reads "Answer: ..." ("Final
  answer:", "**Answer:**"), for answers that are not math values ("A: knight, B: knave");
  `final_answer(text)` is the last box, else that line (the logic verifiers' reading).
- `code_blocks(text)` / `last_python_block(text)`: fenced code blocks; the code verifier
  runs the last python one (```python, ```py or a bare fence).
- `has_answer(text, kind)`: whether a reply states its final answer where the verifier of
  `kind` ("math", "code", "logic") reads it, explicitly and completely. The curation
  filter `no_answer` and the GRPO `format` reward both ask this one question:
    math   an explicit answer (a non-empty box, "the answer is <value>", "#### N"); a
           number the verifier would only guess from the end of the text does not count
    code   the last python block is closed and has code in it (an unclosed fence is a
           cut-off reply; a block in another language is not what the verifier runs)
    logic  a non-empty box, else a non-empty "Answer:" line

Replies are model output, so hostile input: every reader is linear in the length of the
text (a 100k-character reply with thousands of unclosed boxes is read in milliseconds).
"""

from __future__ import annotations

import re

ANSWER_KINDS = ("math", "code", "logic")

# ------------------------------------------------------------------ boxes

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"\\[{}]|[{}]")
_JOIN = re.compile(  # what may stand between boxes that state one answer together
    r"^(?:\s|[,;.]|\$|\\[()\[\]]|\\q?quad\b|\\[,;:!]|\\text\{[^{}$]{0,40}\}|\band\b|\bor\b"
    r"|\b[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=)*$"  # "x = \boxed{2}, y = \boxed{3}": the names go
)
_MAX_TRIES = 3  # boxes (and answer statements) tried from the end before giving up


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


def boxed_span(text: str | None) -> tuple[str, int, int] | None:
    """(answer, start, end) of the last box, with the boxes joined to it."""
    if not isinstance(text, str) or ("\\boxed" not in text and "\\fbox" not in text):
        return None
    starts = list(_BOX.finditer(text))
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


def last_boxed(text: str | None) -> str | None:
    """Content of the last complete box (with the boxes joined to it); None when there is
    none or it is empty."""
    found = boxed_span(text)
    return found[0] if found else None


# ------------------------------------------------- "the answer is", "####"

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
MATH_SPAN = re.compile(
    rf"{_D}{_D}(.{{1,500}}?){_D}{_D}|{_D}(.{{1,500}}?){_D}|\\\((.{{1,500}}?)\\\)|\\\[(.{{1,500}}?)\\\]", re.S
)
# a number not glued to a word before it ("AZYUK2A", "x2", "v_1"); 1,234 stays whole, and so
# does 1 234 where it ends a sentence (not "3 100 dollar bills")
NUMBER = re.compile(  # (not "Step 3", a label)
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
_MAX_ANSWER_SPAN = 300


def math_span_text(m: re.Match) -> str:
    """The inside of a MATH_SPAN match, whichever delimiters it has."""
    return next(g for g in m.groups() if g is not None)


def _value_of_sentence(sentence: str) -> str:
    """What a sentence after "Final Answer:" states: "The largest $n$ is 34" -> 34,
    "Jane started growing Sphere 3 hours ago" -> 3; a bare value stays as it is."""
    math = MATH_SPAN.match(sentence)
    if math:
        return math_span_text(math)
    which = _WHICH_IS.match(sentence)
    if which:
        return which.group(1)
    # a comment after the value goes: "29, which is the sum", "17 + 8 = 25, which is final"
    sentence = _COMMENT.split(sentence, 1)[0].strip()
    if not _PROSE.search(MATH_SPAN.sub(" ", sentence)):
        return sentence  # no prose: "x = 5", "12 dollars", "(1, 2)"
    lead = _LEADING_VALUE.match(sentence)
    if lead and _PROSE.search(sentence[lead.end() :]):
        return lead.group(1)  # "20 is the result of ..." -> 20
    tail = _VALUE_WORD.search(sentence)
    if tail:
        return _value_of_sentence(sentence[tail.end() :].strip())
    spans = list(MATH_SPAN.finditer(sentence))
    if spans:
        return math_span_text(spans[-1])
    numbers = list(NUMBER.finditer(sentence))
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


def stated_span(text: str) -> tuple[str, int] | None:
    """(answer, start of its marker) of the last answer statement."""
    for m in _answer_markers(text):
        rest = text[m.end() : m.end() + 2 * _MAX_ANSWER_SPAN].lstrip(" *_:")
        if _NOT_AN_ANSWER.match(rest):
            continue
        math = MATH_SPAN.match(rest)
        if math:
            answer = math_span_text(math)
        else:
            end = _SENTENCE_END.search(rest)
            answer = _value_of_sentence((rest[: end.start()] if end else rest).strip().strip("*_"))
        answer = re.sub(r'^(?:\\?")+|(?:\\?")+$', "", answer.strip().strip("*_").strip()).strip()
        answer = _EMPTY_BOX.sub(" ", answer).strip()  # "\\boxed{} 6 + 7 = 13": the box was left empty
        if answer and len(answer) <= _MAX_ANSWER_SPAN:
            return answer, m.start()
    return None


def stated_answer(text: str | None) -> str | None:
    """The value of the last "the answer is X" / "Answer: X"; None when there is none."""
    found = stated_span(text) if isinstance(text, str) else None
    return found[0] if found else None


def hashes_answer(text: str | None) -> str | None:
    """What follows the last GSM8K "####" on its line; None when there is none."""
    if not isinstance(text, str):
        return None
    i = text.rfind("####")
    if i < 0:
        return None
    return text[i + 4 :].split("\n", 1)[0].strip() or None


def explicit_answer(text: str | None) -> tuple[str | None, str | None]:
    """(answer, "boxed" | "answer" | "hashes"), or (None, None) when the reply states none."""
    if not isinstance(text, str) or not text:
        return None, None
    box, stated = boxed_span(text), stated_span(text)
    if box and stated and stated[1] >= box[2] and _HAS_VALUE.search(stated[0]):
        return stated[0], "answer"  # a final answer stated after a box mid-solution
    if box:
        return box[0], "boxed"
    if stated:
        return stated[0], "answer"
    hashes = hashes_answer(text)
    return (hashes, "hashes") if hashes else (None, None)


# ---------------------------------------------------------- "Answer:" lines

_ANSWER_LINE = re.compile(
    r"^[ \t>*_#-]*(?:the\s+)?(?:final\s+)?answer(?:\s+is)?[ \t*_]*[:：](?P<body>[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)


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
    """The last box, else the last "Answer:" line, else None."""
    boxed = last_boxed(text)
    return boxed if boxed is not None else answer_line(text)


# ------------------------------------------------------------ code fences

# a fence opens a line; a block runs to its closing fence, or to the end of the text
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(^[ \t]*```[ \t]*$|\Z)", re.M | re.S)
PYTHON_FENCES = frozenset({"", "python", "py", "python3", "py3"})


def code_blocks(text: str | None) -> list[tuple[str, str, bool]]:
    """(language in lower case, code, closed?) of each fenced block, in order."""
    if not isinstance(text, str) or "```" not in text:
        return []
    return [(m.group(1).lower(), m.group(2), bool(m.group(3))) for m in _FENCE.finditer(text)]


def last_python_block(text: str | None) -> tuple[str, bool] | None:
    """(code, closed?) of the last python block (```python, ```py, a bare fence), or None."""
    blocks = [(code, closed) for lang, code, closed in code_blocks(text) if lang in PYTHON_FENCES]
    return blocks[-1] if blocks else None


# ------------------------------------------------------- has an answer


def answer_kind(domain: str | None, verifier: str | None = None) -> str | None:
    """The answer form (one of ANSWER_KINDS) a problem's final answer takes: its verifier's
    family ("math.sympy": math), else its domain; None for a plugin's own kind, whose answers
    neither the curation filter `no_answer` nor the GRPO format reward knows how to read
    (both then give no verdict, rather than reading it as some other kind)."""
    family = str(verifier or "").split(".")[0]
    if family in ANSWER_KINDS:
        return family
    return domain if domain in ANSWER_KINDS else None


def has_answer(text: str | None, kind: str) -> bool:
    """Whether `text` states its final answer where the verifier of `kind` reads it,
    explicitly and completely (see the module docstring)."""
    if kind not in ANSWER_KINDS:
        raise ValueError(f"no answer form known for {kind!r}; known: {', '.join(ANSWER_KINDS)}")
    if not isinstance(text, str):
        return False
    if kind == "math":
        return explicit_answer(text)[0] is not None
    if kind == "code":
        block = last_python_block(text)
        return block is not None and block[1] and bool(block[0].strip())
    return bool(final_answer(text))


__all__ = [
    "ANSWER_KINDS",
    "PYTHON_FENCES",
    "answer_kind",
    "answer_line",
    "boxed_span",
    "code_blocks",
    "explicit_answer",
    "final_answer",
    "has_answer",
    "hashes_answer",
    "last_boxed",
    "last_python_block",
    "stated_answer",
]
