"""Templates of `function_synthesis`, level 2 (runs, stacks, pairs and tie rules).

As in level 1, `edges` holds the inputs that expose each template's bugs.
"""

from __future__ import annotations

from datagen.tasks.code.common import Bug, Template, ints


def _rle_params(rng, difficulty):
    count_first = rng.random() < 0.5
    return {
        "name": rng.choice(("run_length_encode", "rle", "compress_runs")),
        "piece": "{count}{current}" if count_first else "{current}{count}",
        "example": "3a1b2c" if count_first else "a3b1c2",
        "order": "the count followed by the character"
        if count_first
        else "the character followed by the count",
    }


RUN_LENGTH = Template(
    key="run_length",
    level=2,
    source="""\
def $name(text: str) -> str:
    if not text:
        return ""
    parts = []
    current, count = text[0], 1
    for ch in text[1:]:
        if ch == current:
            count += 1
        else:
            parts.append(f"$piece")
            current, count = ch, 1
    parts.append(f"$piece")
    return "".join(parts)
""",
    describe="run-length encodes `text`: every maximal run of one repeated character becomes $order "
    '(so "aaabcc" becomes "$example"); an empty string gives ""',
    principle="Scan once while tracking the current run; emit a run whenever the character changes, "
    "and once more at the end.",
    plan=(
        (
            "What state does the scan need?",
            "The scan tracks the character of the current run and its length, starting with `current, count = text[0], 1`.",
        ),
        (
            "What happens when the character changes?",
            'When the character changes, emit `f"$piece"` and start a new run with `current, count = ch, 1`.',
        ),
        (
            "Is anything left after the loop?",
            "The last run is never emitted inside the loop, so append it once more after the loop, before joining.",
        ),
    ),
    bugs=(
        Bug("dropped_term", '\n    parts.append(f"$piece")\n    return', "\n    return"),
        Bug("wrong_intermediate", "current, count = ch, 1", "current, count = ch, 0"),
    ),
    params=_rle_params,
    edges=lambda p: [[""], ["a"], ["aaabccdddd"]],
    sample=lambda rng, d, p: [
        "".join(rng.choice("abc") * rng.randint(1, 1 + d) for _ in range(rng.randint(1, 2 + d)))
    ],
)


def _second_params(rng, difficulty):
    largest = rng.random() < 0.5
    return {
        "name": rng.choice(("second_largest", "runner_up") if largest else ("second_smallest", "second_min")),
        "reverse": largest,
        "what": "largest" if largest else "smallest",
        "example": "3" if largest else "5",
    }


SECOND_DISTINCT = Template(
    key="second_distinct",
    level=2,
    source="""\
def $name(nums: list[int]) -> int | None:
    distinct = sorted(set(nums), reverse=$reverse)
    if len(distinct) < 2:
        return None
    return distinct[1]
""",
    describe="returns the second $what distinct value in `nums`, or None when there are fewer than "
    "two distinct values (so [5, 5, 3] gives $example)",
    principle="Remove duplicates first, order what remains, and guard the case with too few values.",
    plan=(
        (
            "Why remove duplicates?",
            "Repeated copies of the $what value are not a second value: `set(nums)` keeps each value once.",
        ),
        (
            "How is the answer found?",
            "Sort the distinct values (`reverse=$reverse` puts the $what first) and take index 1.",
        ),
        (
            "When is there no answer?",
            "With fewer than two distinct values (`len(distinct) < 2`) return None instead of indexing.",
        ),
    ),
    bugs=(
        Bug("dropped_term", "sorted(set(nums),", "sorted(nums,"),
        Bug("off_by_one", "len(distinct) < 2", "len(distinct) < 1"),
    ),
    params=_second_params,
    edges=lambda p: [[[]], [[7]], [[4, 4, 4]], [[5, 5, 3]], [[3, 3, 5]]],
    sample=lambda rng, d, p: [ints(rng, rng.randint(2, 3 + 2 * d), -3 * d, 3 * d)],
)


def _balanced_sample(rng, difficulty):
    """Half balanced strings, half balanced ones with a character swapped or dropped."""
    kinds = "()[]{}"[: 2 * min(3, difficulty)]
    stack, out = [], []
    for _ in range(rng.randint(1, 2 + 2 * difficulty)):
        if stack and rng.random() < 0.5:
            out.append(stack.pop())
        else:
            i = 2 * rng.randrange(len(kinds) // 2)
            out.append(kinds[i])
            stack.append(kinds[i + 1])
    out.extend(reversed(stack))
    if rng.random() < 0.5:
        pos = rng.randrange(len(out))
        out[pos : pos + 1] = [] if rng.random() < 0.5 else [rng.choice(kinds)]
    if difficulty >= 3 and out:  # letters between the brackets must be ignored
        out.insert(rng.randrange(len(out) + 1), rng.choice("xyz"))
    return ["".join(out)]


BALANCED = Template(
    key="balanced_brackets",
    level=2,
    source="""\
def $name(text: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack
""",
    describe="returns True when the brackets (), [] and {} in `text` are balanced and properly nested, "
    "and False otherwise; other characters are ignored and an empty string is balanced",
    principle="A stack matches brackets: push openers, and each closer must pop its own opener.",
    plan=(
        ("What happens on an opening bracket?", "Every opening bracket is pushed on a stack."),
        (
            "What happens on a closing bracket?",
            "A closing bracket needs a non-empty stack whose top is the matching opener "
            "(`if not stack or stack.pop() != pairs[ch]: return False`).",
        ),
        (
            "What is checked at the end?",
            "At the end every opener must have been closed, so return `not stack` rather than True.",
        ),
    ),
    bugs=(
        Bug("wrong_final", "return not stack", "return True"),
        Bug("dropped_term", "if not stack or stack.pop()", "if stack.pop()"),
    ),
    params=lambda rng, d: {"name": rng.choice(("is_balanced", "balanced", "brackets_ok"))},
    edges=lambda p: [[""], ["(()"], ["([)]"], ["())("]],
    sample=lambda rng, d, p: _balanced_sample(rng, d),
)


def _run_params(rng, difficulty):
    strict = rng.random() < 0.5
    return {
        "name": rng.choice(("longest_run", "longest_increasing_run", "max_run")),
        "op": ">" if strict else ">=",
        "flip": ">=" if strict else ">",
        "kind": "strictly increasing" if strict else "non-decreasing",
        "example": "2" if strict else "4",
    }


LONGEST_RUN = Template(
    key="longest_run",
    level=2,
    source="""\
def $name(nums: list[int]) -> int:
    if not nums:
        return 0
    best = current = 1
    for i in range(1, len(nums)):
        if nums[i] $op nums[i - 1]:
            current += 1
        else:
            current = 1
        best = max(best, current)
    return best
""",
    describe="returns the length of the longest contiguous $kind run in `nums` "
    "(0 for an empty list; for [1, 2, 2, 3] the answer is $example)",
    principle="One pass with two counters: the length of the run ending here and the best length so far.",
    plan=(
        ("What are the base cases?", "An empty list has no run (0); any single element is a run of 1."),
        (
            "When does a run continue?",
            "The current run continues when `nums[i] $op nums[i - 1]` ($kind); otherwise a new run of length 1 starts.",
        ),
        (
            "How is the answer kept?",
            "After every step, `best = max(best, current)` keeps the longest run seen.",
        ),
    ),
    bugs=(Bug("off_by_one", "nums[i] $op nums[i - 1]", "nums[i] $flip nums[i - 1]"),),
    params=_run_params,
    edges=lambda p: [[[]], [[5]], [[1, 2, 2, 3]]],
    sample=lambda rng, d, p: [ints(rng, rng.randint(2, 4 + 2 * d), 0, 3 + d)],
)


def _pair_sample(rng, difficulty):
    nums = ints(rng, rng.randint(2, 3 + 2 * difficulty), -5 * difficulty, 5 * difficulty)
    target = rng.choice(nums) + rng.choice(nums) if rng.random() < 0.7 else rng.randint(-9, 9)
    return [nums, target]


TWO_SUM = Template(
    key="two_sum",
    level=2,
    source="""\
def $name(nums: list[int], target: int) -> list[int]:
    for j in range(len(nums)):
        for i in range(j):
            if nums[i] + nums[j] == target:
                return [i, j]
    return []
""",
    describe="returns indices `[i, j]` with `i < j` and `nums[i] + nums[j] == target`, choosing the "
    "smallest possible j and then the smallest i; return [] when no such pair exists "
    "(an element may not be paired with itself)",
    principle="Enumerate pairs in exactly the order the tie-breaking rule ranks them, "
    "and return the first hit.",
    plan=(
        (
            "In which order must pairs be tried?",
            "Pairs are tried smallest j first, then smallest i, so the outer loop runs over j and the inner over i.",
        ),
        (
            "Which i are allowed for a given j?",
            "For a given j only `i < j` is allowed, i.e. `range(j)`: an element cannot pair with itself.",
        ),
        ("What if nothing matches?", "If no pair matches, fall through both loops and return `[]`."),
    ),
    bugs=(Bug("off_by_one", "range(j)", "range(j + 1)"),),
    params=lambda rng, d: {"name": rng.choice(("two_sum", "pair_with_sum", "find_pair"))},
    edges=lambda p: [[[], 3], [[3, 1, 5], 6], [[2, 2], 4]],
    sample=lambda rng, d, p: _pair_sample(rng, d),
)

INTERMEDIATE = (RUN_LENGTH, SECOND_DISTINCT, BALANCED, LONGEST_RUN, TWO_SUM)
