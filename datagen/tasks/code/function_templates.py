"""Templates of `function_synthesis`, level 1 (single scans of a list or string).

Each `edges` list holds the inputs that expose the template's bugs (the empty list,
a value equal to the threshold, a rotation longer than the list, ...).
"""

from __future__ import annotations

from datagen.tasks.code.common import Bug, Template, ints, word


def _threshold_params(rng, difficulty):
    strict = rng.random() < 0.5
    return {
        "name": rng.choice(("sum_above", "total_above", "sum_over")),
        # never 0: adding or dropping a 0 element would hide the `>` / `>=` slip
        "t": rng.choice([v for v in range(-5, 5 * difficulty + 1) if v != 0]),
        "op": ">" if strict else ">=",
        "flip": ">=" if strict else ">",
        "op_text": "strictly greater than" if strict else "greater than or equal to",
        "tie": "is left out" if strict else "is included",
    }


SUM_ABOVE = Template(
    key="sum_above",
    level=1,
    source="""\
def $name(nums: list[int]) -> int:
    total = 0
    for x in nums:
        if x $op $t:
            total += x
    return total
""",
    describe="returns the sum of the elements of `nums` that are $op_text $t (0 when none qualify)",
    principle="Filter and accumulate: scan the list once, keeping a running total of the elements that pass the test.",
    plan=(
        (
            "What is the result when no element qualifies?",
            "An empty sum is 0, so start from `total = 0`; an empty list returns it unchanged.",
        ),
        (
            "Which elements count?",
            "An element counts when `x $op $t`; an element equal to $t $tie, so the comparison must be `$op`.",
        ),
        ("How is the answer built?", "Loop over `nums`, add each qualifying `x` to `total`, return `total`."),
    ),
    bugs=(Bug("off_by_one", "x $op $t", "x $flip $t"),),
    params=_threshold_params,
    edges=lambda p: [[[]], [[p["t"], p["t"] + 1, p["t"] - 1]]],
    sample=lambda rng, d, p: [ints(rng, rng.randint(1, 2 + 2 * d), p["t"] - 4 * d, p["t"] + 4 * d)],
)


def _vowel_params(rng, difficulty):
    with_y = rng.random() < 0.5
    return {
        "name": rng.choice(("count_vowels", "vowel_count", "num_vowels")),
        "letters": "aeiouy" if with_y else "aeiou",
        "letters_text": "a, e, i, o, u and y" if with_y else "a, e, i, o and u",
    }


COUNT_VOWELS = Template(
    key="count_vowels",
    level=1,
    source="""\
def $name(text: str) -> int:
    count = 0
    for ch in text.lower():
        if ch in "$letters":
            count += 1
    return count
""",
    describe="returns how many characters of `text` are vowels ($letters_text), "
    "counting upper- and lower-case letters alike",
    principle="Normalise the case once, then count the characters that belong to a fixed set.",
    plan=(
        (
            "How are upper-case vowels handled?",
            'Lower-case the whole text first (`text.lower()`), so "A" and "a" both match.',
        ),
        (
            "How is each character tested?",
            'A character is a vowel when it is in the string "$letters": `if ch in "$letters": count += 1`.',
        ),
        ("What does an empty string give?", "For an empty string the loop never runs, so the count stays 0."),
    ),
    bugs=(Bug("dropped_term", "text.lower()", "text"),),
    params=_vowel_params,
    edges=lambda p: [[""], ["AEIOU"], ["Hello World"]],
    sample=lambda rng, d, p: [word(rng, 1, 6 + 4 * d, "aeiouyAEIOUbcdkrstxyzBCDT ")],
)


def _rotate_params(rng, difficulty):
    right = rng.random() < 0.5
    return {
        "name": rng.choice(("rotate", "rotate_list", "rotate_by")),
        "side": "right" if right else "left",
        "expr": "items[-k:] + items[:-k]" if right else "items[k:] + items[:k]",
        "example": "[3, 1, 2]" if right else "[2, 3, 1]",
    }


ROTATE_LIST = Template(
    key="rotate_list",
    level=1,
    source="""\
def $name(items: list[int], k: int) -> list[int]:
    if not items:
        return []
    k %= len(items)
    return $expr
""",
    describe="returns a new list with the elements of `items` rotated $side by `k` positions "
    "(`k` >= 0 may exceed the length; an empty list stays empty); "
    "for example rotating [1, 2, 3] by 1 gives $example",
    principle="Rotation is periodic in the length of the list, so reduce k modulo the length "
    "and join two slices.",
    plan=(
        (
            "What about an empty list?",
            "An empty list has nothing to rotate (and no length to reduce by), so return `[]` at once.",
        ),
        (
            "Why reduce k?",
            "Rotating by len(items) gives the same list back, so only `k %= len(items)` matters; "
            "without it a large k would slice the whole list.",
        ),
        ("How are the pieces joined?", "Rotating $side is the slice sum `$expr`."),
    ),
    bugs=(
        Bug("dropped_term", "    k %= len(items)\n", ""),
        Bug("dropped_term", "    if not items:\n        return []\n", ""),
    ),
    params=_rotate_params,
    edges=lambda p: [[[], 2], [[1, 2, 3], 4], [[5, 6], 0]],
    sample=lambda rng, d, p: [ints(rng, rng.randint(1, 3 + 2 * d), -9, 9), rng.randint(0, 4 + 3 * d)],
)


def _running_params(rng, difficulty):
    is_max = rng.random() < 0.5
    return {
        "name": rng.choice(("running_max", "prefix_max") if is_max else ("running_min", "prefix_min")),
        "func": "max" if is_max else "min",
        "what": "largest" if is_max else "smallest",
    }


RUNNING_EXTREME = Template(
    key="running_extreme",
    level=1,
    source="""\
def $name(nums: list[int]) -> list[int]:
    if not nums:
        return []
    best = nums[0]
    result = []
    for x in nums:
        best = $func(best, x)
        result.append(best)
    return result
""",
    describe="returns a list whose i-th element is the $what of `nums[0..i]` (an empty list for empty input)",
    principle="Carry the best value seen so far through one pass and record it after every element.",
    plan=(
        (
            "What should the running value start at?",
            "Start the running value at the first element, `best = nums[0]`, not at 0: the list may be all negative or all positive.",
        ),
        (
            "How is it updated?",
            "For each `x`: `best = $func(best, x)`, then append `best` to the result.",
        ),
        ("What about an empty list?", "An empty list returns `[]` before `nums[0]` is touched."),
    ),
    bugs=(Bug("wrong_intermediate", "best = nums[0]", "best = 0"),),
    params=_running_params,
    edges=lambda p: [[[]], [[-3, -5, -1]], [[3, 5, 1]]],
    sample=lambda rng, d, p: [ints(rng, rng.randint(1, 3 + 2 * d), -10 * d, 10 * d)],
)


# Coprime divisor pairs, so that "multiple of both" is a third, distinct case.
_COPRIME = ((2, 3), (2, 5), (2, 7), (3, 4), (3, 5), (3, 7), (4, 5), (5, 7))


def _fizz_params(rng, difficulty):
    a, b = rng.choice(_COPRIME)
    wa, wb = rng.choice((("Fizz", "Buzz"), ("Foo", "Bar"), ("Ping", "Pong"), ("Tick", "Tock")))
    return {"name": rng.choice(("fizzbuzz", "fizz_buzz", "say_numbers")), "a": a, "b": b, "wa": wa, "wb": wb}


FIZZBUZZ = Template(
    key="fizzbuzz",
    level=1,
    source="""\
def $name(n: int) -> list[str]:
    result = []
    for i in range(1, n + 1):
        word = ""
        if i % $a == 0:
            word += "$wa"
        if i % $b == 0:
            word += "$wb"
        result.append(word or str(i))
    return result
""",
    describe='returns a list of strings for the numbers 1 to `n` inclusive: "$wa" for multiples of $a, '
    '"$wb" for multiples of $b, "$wa$wb" for multiples of both, and the number itself (as a string) '
    "otherwise; `n` = 0 gives an empty list",
    principle="Build each entry by concatenating the words of the divisors that apply, "
    "falling back to the number.",
    plan=(
        (
            "Which numbers are covered?",
            "The numbers run from 1 to n inclusive, so the loop is `for i in range(1, n + 1)`.",
        ),
        (
            "How are both divisors handled?",
            'Start from `word = ""`, append "$wa" when `i % $a == 0` and "$wb" when `i % $b == 0`; '
            "a multiple of both gets both words in order.",
        ),
        (
            "What if no divisor applies?",
            "If no divisor applies the word stays empty, and `word or str(i)` falls back to the number.",
        ),
    ),
    bugs=(Bug("off_by_one", "range(1, n + 1)", "range(1, n)"),),
    params=_fizz_params,
    edges=lambda p: [[0], [1], [p["a"] * p["b"]]],
    sample=lambda rng, d, p: [rng.randint(2, 5 + 5 * d)],
)

BASIC = (SUM_ABOVE, COUNT_VOWELS, ROTATE_LIST, RUNNING_EXTREME, FIZZBUZZ)
