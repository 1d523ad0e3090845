"""Templates of `function_synthesis`, levels 3-5 (nested data, two pointers, DP)."""

from __future__ import annotations

from datagen.tasks.code.common import Bug, Template, ints, word


def _merge_params(rng, difficulty):
    touching = rng.random() < 0.5
    return {
        "name": rng.choice(("merge_intervals", "merge_ranges", "union_intervals")),
        "op": "<=" if touching else "<",
        "flip": "<" if touching else "<=",
        "touch": "are merged" if touching else "stay separate",
        "example": "[[1, 5]]" if touching else "[[1, 3], [3, 5]]",
    }


def _intervals(rng, difficulty):
    out = []
    for _ in range(rng.randint(1, 2 + difficulty)):
        start = rng.randint(0, 8 * difficulty)
        out.append([start, start + rng.randint(0, 5)])
    return [out]


MERGE_INTERVALS = Template(
    key="merge_intervals",
    level=3,
    source="""\
def $name(intervals: list[list[int]]) -> list[list[int]]:
    merged = []
    for start, end in sorted(intervals):
        if merged and start $op merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
""",
    describe="takes closed intervals `[start, end]` (start <= end, in any order) and returns the union as "
    "a list of disjoint intervals sorted by start; intervals that merely touch $touch "
    "(for [[3, 5], [1, 3]] the answer is $example)",
    principle="Sort by start; then each interval either extends the last merged one or begins a new one.",
    plan=(
        (
            "Why sort first?",
            "After sorting by start, only the last merged interval can overlap the next one.",
        ),
        (
            "When does the next interval join the last one?",
            "The next interval joins the last merged one when `start $op merged[-1][1]`; touching intervals $touch.",
        ),
        (
            "How is the end updated?",
            "The end becomes `merged[-1][1] = max(merged[-1][1], end)`, because the new interval may lie entirely inside the old one.",
        ),
    ),
    bugs=(
        Bug("off_by_one", "start $op merged", "start $flip merged"),
        Bug("dropped_term", "max(merged[-1][1], end)", "end"),
    ),
    params=_merge_params,
    edges=lambda p: [[[]], [[[3, 5], [1, 3]]], [[[1, 10], [2, 3]]]],
    sample=lambda rng, d, p: _intervals(rng, d),
)


def _nested(rng, depth):
    items = []
    for _ in range(rng.randint(0, 3)):
        if depth > 0 and rng.random() < 0.4:
            items.append(_nested(rng, depth - 1))
        else:
            items.append(rng.randint(-9, 9))
    return items


FLATTEN = Template(
    key="flatten",
    level=3,
    source="""\
def $name(items: list) -> list[int]:
    flat = []
    for item in items:
        if isinstance(item, list):
            flat.extend($name(item))
        else:
            flat.append(item)
    return flat
""",
    describe="takes a list whose elements are integers or (arbitrarily deeply) nested lists of the same "
    "kind and returns all the integers in left-to-right order as one flat list "
    "(for [1, [2, [3]], []] the answer is [1, 2, 3])",
    principle="Recursion mirrors the data: a nested list is flattened by flattening each of its parts.",
    plan=(
        ("What is done with an integer?", "An integer is appended to the result as it is."),
        (
            "What is done with a nested list?",
            "A nested list is flattened recursively first, `flat.extend($name(item))`, since it may itself contain lists.",
        ),
        (
            "Where does the recursion stop?",
            "The recursion stops at lists holding only integers (or nothing), which return at once.",
        ),
    ),
    bugs=(Bug("wrong_intermediate", "flat.extend($name(item))", "flat.extend(item)"),),
    params=lambda rng, d: {"name": rng.choice(("flatten", "flatten_list", "deep_flatten"))},
    edges=lambda p: [[[]], [[[], [[]]]], [[1, [2, [3, [4]]]]]],
    sample=lambda rng, d, p: [_nested(rng, d)],
)


def _anagram_sample(rng, difficulty):
    bases = [word(rng, 2, 2 + difficulty, "abcde") for _ in range(rng.randint(1, 3))]
    words = []
    for _ in range(rng.randint(1, 3 + difficulty)):
        letters = list(rng.choice(bases))
        rng.shuffle(letters)
        words.append("".join(letters))
    return [words]


GROUP_ANAGRAMS = Template(
    key="group_anagrams",
    level=3,
    source="""\
def $name(words: list[str]) -> list[list[str]]:
    groups = {}
    for word in words:
        key = "".join(sorted(word))
        groups.setdefault(key, []).append(word)
    return list(groups.values())
""",
    describe="groups the words that are anagrams of each other (same letters with the same counts); "
    "groups appear in the order of their first word and keep the input order inside "
    '(for ["ab", "c", "ba"] the answer is [["ab", "ba"], ["c"]])',
    principle="Give every word a canonical key shared exactly by its anagrams, and bucket by that key.",
    plan=(
        (
            "What key identifies an anagram class?",
            'The key of a word is its sorted letters, `"".join(sorted(word))`; it keeps repeated letters, so "aab" and "abb" differ.',
        ),
        (
            "How are groups kept in first-appearance order?",
            "A dict preserves insertion order; `groups.setdefault(key, []).append(word)` adds to the bucket.",
        ),
        (
            "What is returned?",
            "The answer is `list(groups.values())`, the buckets in first-appearance order.",
        ),
    ),
    bugs=(Bug("wrong_intermediate", "sorted(word)", "sorted(set(word))"),),
    params=lambda rng, d: {"name": rng.choice(("group_anagrams", "anagram_groups"))},
    edges=lambda p: [[[]], [["aab", "abb", "bab"]]],
    sample=lambda rng, d, p: _anagram_sample(rng, d),
)


SPIRAL = Template(
    key="spiral_order",
    level=4,
    source="""\
def $name(matrix: list[list[int]]) -> list[int]:
    result = []
    top, bottom = 0, len(matrix) - 1
    left, right = 0, (len(matrix[0]) - 1 if matrix else -1)
    while top <= bottom and left <= right:
        for c in range(left, right + 1):
            result.append(matrix[top][c])
        top += 1
        for r in range(top, bottom + 1):
            result.append(matrix[r][right])
        right -= 1
        if top <= bottom:
            for c in range(right, left - 1, -1):
                result.append(matrix[bottom][c])
            bottom -= 1
        if left <= right:
            for r in range(bottom, top - 1, -1):
                result.append(matrix[r][left])
            left += 1
    return result
""",
    describe="returns the elements of a rectangular matrix in clockwise spiral order, starting at the "
    "top-left corner (for [[1, 2, 3], [4, 5, 6]] the answer is [1, 2, 3, 6, 5, 4]; [] gives [])",
    principle="Peel the matrix layer by layer with four shrinking boundaries.",
    plan=(
        (
            "What state describes the unvisited part?",
            "Four boundaries `top, bottom, left, right` describe the unvisited part; the loop runs while both ranges are non-empty.",
        ),
        (
            "How is one layer walked?",
            "Each layer walks the top row left to right, the right column downward, bottom row right to left, "
            "left column upward, moving the matching boundary inwards after each side.",
        ),
        (
            "Why check the boundaries again mid-layer?",
            "A single remaining row or column would otherwise be walked twice, "
            "hence `if top <= bottom:` before the bottom row and `if left <= right:` before the left column.",
        ),
    ),
    bugs=(Bug("dropped_term", "if top <= bottom:", "if True:"),),
    params=lambda rng, d: {"name": rng.choice(("spiral_order", "spiral", "spiral_walk"))},
    edges=lambda p: [[[]], [[[1, 2, 3]]], [[[1], [2], [3]]]],
    sample=lambda rng, d, p: [
        [ints(rng, cols, 0, 99) for cols in [rng.randint(1, d)] for _ in range(rng.randint(1, d))]
    ],
)


UNIQUE_WINDOW = Template(
    key="longest_unique_substring",
    level=4,
    source="""\
def $name(text: str) -> int:
    last = {}
    start = best = 0
    for i, ch in enumerate(text):
        if ch in last and last[ch] >= start:
            start = last[ch] + 1
        last[ch] = i
        best = max(best, i - start + 1)
    return best
""",
    describe="returns the length of the longest substring of `text` without repeated characters "
    '("abcabcbb" gives 3, "" gives 0)',
    principle="Sliding window: extend the right end one character at a time and move the left end "
    "just past the previous copy of a repeated character.",
    plan=(
        (
            "What does the window need to remember?",
            "The window needs the last index of every character (`last`) and its own start.",
        ),
        (
            "When must the start move?",
            "The start moves only when the previous copy of the character lies inside the window, `last[ch] >= start`; "
            "an older copy must never move the start backwards.",
        ),
        (
            "How is the answer kept?",
            "After each character, `best = max(best, i - start + 1)` records the window length.",
        ),
    ),
    bugs=(Bug("dropped_term", " and last[ch] >= start", ""),),
    params=lambda rng, d: {
        "name": rng.choice(("longest_unique_substring", "longest_distinct_run", "max_unique_window"))
    },
    edges=lambda p: [[""], ["aaaa"], ["abba"]],
    sample=lambda rng, d, p: [word(rng, 1, 6 + 4 * d, "abcdefgh"[: 2 + d])],
)


MAX_SUBARRAY = Template(
    key="max_subarray",
    level=4,
    source="""\
def $name(nums: list[int]) -> int:
    if not nums:
        return 0
    best = current = nums[0]
    for x in nums[1:]:
        current = max(x, current + x)
        best = max(best, current)
    return best
""",
    describe="returns the largest sum of a non-empty contiguous sub-list of `nums` "
    "(0 for an empty list; [-3, -1, -2] gives -1)",
    principle="Kadane's algorithm: the best sum ending at each position either extends the previous "
    "one or starts afresh.",
    plan=(
        (
            "What is the best sum ending at x?",
            "The best sum ending at x is `current = max(x, current + x)`: extend the previous run only if that helps.",
        ),
        (
            "How should the sums start?",
            "Both sums start at the first element, `best = current = nums[0]`; starting from 0 would be wrong "
            "when every element is negative.",
        ),
        ("What about an empty list?", "An empty list is a special case that returns 0 before the loop."),
    ),
    bugs=(Bug("wrong_intermediate", "best = current = nums[0]", "best = current = 0"),),
    params=lambda rng, d: {"name": rng.choice(("max_subarray", "best_segment_sum", "max_run_sum"))},
    edges=lambda p: [[[]], [[-3, -1, -2]]],
    sample=lambda rng, d, p: [ints(rng, rng.randint(1, 3 + 2 * d), -10 * d, 10 * d)],
)

# Coin systems where greedy fails, so the DP is needed.
_COIN_SETS = ([1, 3, 4], [1, 5, 6, 9], [2, 5, 7], [3, 7, 11], [1, 4, 6], [4, 6, 9])


MIN_COINS = Template(
    key="min_coins",
    level=5,
    source="""\
def $name(amount: int) -> int:
    coins = $coins
    best = [0] + [-1] * amount
    for value in range(1, amount + 1):
        for coin in coins:
            if coin <= value and best[value - coin] != -1:
                candidate = best[value - coin] + 1
                if best[value] == -1 or candidate < best[value]:
                    best[value] = candidate
    return best[amount]
""",
    describe="returns the fewest coins with values $coins (each usable any number of times) that add up "
    "to exactly `amount` (>= 0), or -1 when that is impossible; 0 needs 0 coins",
    principle="Dynamic programming over amounts: the best count for a value is one more than the best "
    "count for value minus some coin.",
    plan=(
        (
            "Why not take the largest coin greedily?",
            "With coins $coins greedy can be beaten, so every coin must be tried for every amount.",
        ),
        (
            "What table is filled, and from where?",
            "The table `best[v]` covers v = 0..amount, with `best[0] = 0` and -1 marking unreachable values; "
            "the loop `for value in range(1, amount + 1)` must reach `amount` itself.",
        ),
        (
            "How is best[value] computed?",
            "For each coin <= value with `best[value - coin] != -1`, keep the smallest "
            "`best[value - coin] + 1`.",
        ),
    ),
    bugs=(Bug("off_by_one", "range(1, amount + 1)", "range(1, amount)"),),
    params=lambda rng, d: {
        "name": rng.choice(("min_coins", "fewest_coins", "coin_change")),
        "coins": list(rng.choice(_COIN_SETS)),
    },
    edges=lambda p: [[0], [p["coins"][-1]], [p["coins"][0] + p["coins"][-1]]],
    sample=lambda rng, d, p: [rng.randint(1, 10 * d)],
)

ADVANCED = (MERGE_INTERVALS, FLATTEN, GROUP_ANAGRAMS, SPIRAL, UNIQUE_WINDOW, MAX_SUBARRAY, MIN_COINS)
