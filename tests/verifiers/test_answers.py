"""verifiers.answers: the one reading of final answers, shared by the verifiers, the
source presets, the curation filter `no_answer` and the GRPO format reward."""

from __future__ import annotations

import time

import pytest

from mixtures.filters import has_final_answer, no_answer
from train.rewards import format_reward
from verifiers.answers import (
    answer_kind,
    answer_line,
    code_blocks,
    explicit_answer,
    final_answer,
    has_answer,
    hashes_answer,
    last_boxed,
    last_python_block,
    stated_answer,
)

# (reply, kind, counts as a final answer?): what a user can rely on, in one table
HAS_ANSWER = [
    # math: an explicit answer, never a guess from the end of the text
    ("so the answer is \\boxed{7}.", "math", True),
    ("\\fbox{7}", "math", True),
    ("\\boxed 7", "math", True),
    ("The answer is 7.", "math", True),
    ("Final Answer: $\\frac{1}{2}$", "math", True),
    ("#### 7", "math", True),
    ("I think it is probably 7", "math", False),  # the verifier would only guess 7
    ("$x = 7$", "math", False),
    ("\\boxed{}", "math", False),  # an empty box
    ("so it is \\boxed{7", "math", False),  # cut off inside the box
    ("the answer is correct, so we are done", "math", False),
    ("", "math", False),
    # code: the last python block, closed, with code in it
    ("```python\ndef f():\n    return 1\n```", "code", True),
    ("Here:\n```\nprint(1)\n```\nDone.", "code", True),  # a bare fence is python to the verifier
    ("```py\nx = 1\n```", "code", True),
    ("def f():\n    return 1", "code", False),  # no block: the verifier would run prose too
    ("```python\ndef f():\n", "code", False),  # cut off inside the block
    ("```python\n```", "code", False),  # an empty block
    ("```python\n   \n```", "code", False),
    ("```bash\nls\n```", "code", False),  # not a block the verifier runs
    ("```python\nx = 1\n```\nthen\n```python\ndef f(", "code", False),  # the last block is cut off
    # logic: a box, else an "Answer:" line
    ("\\boxed{1234/3412/2143/4321}", "logic", True),
    ("Answer: A is a knight", "logic", True),
    ("**Final answer:** Alice, Bob", "logic", True),
    ("A is a knight, I believe", "logic", False),
    ("\\boxed{}", "logic", False),
    ("Answer:", "logic", False),
]


@pytest.mark.parametrize(("reply", "kind", "expected"), HAS_ANSWER)
def test_has_answer_table(reply, kind, expected):
    assert has_answer(reply, kind) is expected


@pytest.mark.parametrize(("reply", "kind", "expected"), HAS_ANSWER)
def test_the_filter_and_the_format_reward_ask_the_same_question(reply, kind, expected):
    row = {"text": reply, "domain": kind, "verifier": kind}
    assert has_final_answer(kind, reply) is expected
    assert format_reward(row, reply) == (1.0 if expected else 0.0)


def test_unknown_kinds():
    with pytest.raises(ValueError, match="no answer form known for 'poetry'"):
        has_answer("x", "poetry")
    assert has_final_answer("poetry", "anything") is True  # the filter gives no verdict
    # a plugin's domain and verifier: neither the filter nor the format reward reads its
    # answers as another kind's (the reward used to read them as logic's and score 0)
    plugin = {"domain": "strings", "verifier": "strings.exact", "text": "reversed: olleh"}
    assert answer_kind("strings", "strings.exact") is None
    assert no_answer(plugin) is None
    assert format_reward(plugin, plugin["text"]) == 1.0
    # a plugin verifier in a known domain: the domain's form, for both
    row = {"domain": "math", "verifier": "strings.exact", "text": "I think it is 3"}
    assert answer_kind("math", "strings.exact") == "math"
    assert no_answer(row) is not None and format_reward(row, row["text"]) == 0.0
    assert answer_kind("logic", "math.sympy") == "math"  # the verifier's family comes first
    assert has_answer(None, "math") is False


def test_boxes():
    assert last_boxed("\\boxed{2} and \\boxed{3}") == "2, 3"  # boxes that state one answer together
    assert last_boxed("\\boxed{2}, then we get \\boxed{3}") == "3"
    assert last_boxed("\\boxed{\\{1, 2\\} \\cup {3}}") == "\\{1, 2\\} \\cup {3}"
    assert last_boxed("\\boxed{\\frac{1}{2}} and a truncated \\boxed{2") == "\\frac{1}{2}"
    assert last_boxed("no box") is None and last_boxed(None) is None


def test_statements_hashes_and_lines():
    assert stated_answer("The largest $n$ is 34. So the answer is 34.") == "34"
    assert stated_answer("Final Answer: The final answer is $10,455$") == "10,455"
    assert hashes_answer("work\n#### 1,234\n") == "1,234"
    assert hashes_answer("####\n") is None
    assert explicit_answer("\\boxed{255} ... Final Answer: The final answer is $10,455$") == (
        "10,455",
        "answer",
    )
    assert explicit_answer("\\boxed{255}. The answer is correct.") == ("255", "boxed")
    assert explicit_answer("nothing") == (None, None)
    assert answer_line("work\n**Answer:** A: knight, B: knave.\nthanks") == "A: knight, B: knave."
    assert final_answer("Answer: 1\n\\boxed{2}") == "2"


def test_code_blocks():
    text = "```bash\nls\n```\n```python\nx = 1\n```\n```py\ny = 2\n"
    assert code_blocks(text) == [
        ("bash", "ls\n", True),
        ("python", "x = 1\n", True),
        ("py", "y = 2\n", False),
    ]
    assert last_python_block(text) == ("y = 2\n", False)
    assert last_python_block("no fence") is None


def test_hostile_replies_are_read_in_linear_time():
    hostile = ["\\boxed{" * 50_000, "answer is " * 20_000, "```\n" * 50_000, "Answer:" * 30_000]
    start = time.perf_counter()
    for text in hostile:
        for kind in ("math", "code", "logic"):
            has_answer(text, kind)
    assert time.perf_counter() - start < 5
