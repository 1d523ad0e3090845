"""Templates of `assert_tests`, levels 3-5: Roman numerals, Pascal's triangle,
matrix products, palindromic substrings and edit distance."""

from __future__ import annotations

from datagen.tasks.code.common import Bug, Template, ints, word

_ROMAN = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"))
_ROMAN += ((40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def _roman(n: int) -> str:
    """Input builder for `from_roman` (the reference of `to_roman` is the tested code)."""
    out = []
    for value, symbol in _ROMAN:
        count, n = divmod(n, value)
        out.append(symbol * count)
    return "".join(out)


TO_ROMAN = Template(
    key="to_roman",
    level=3,
    source="""\
def $name(n: int) -> str:
    values = [
        (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
        (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
    ]
    out = []
    for value, symbol in values:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)
""",
    describe="Return the Roman numeral of n (1 <= n <= 3999) in upper case, using the subtractive "
    "forms IV, IX, XL, XC, CD and CM (so 1994 is MCMXCIV).",
    principle="Greedy over a value table that includes the subtractive pairs: always take the largest "
    "value that still fits.",
    plan=(
        (
            "Which symbols are needed?",
            "The table holds the seven letters plus the six subtractive pairs (CM, CD, XC, XL, IX, IV), in decreasing value.",
        ),
        (
            "How is n converted?",
            "For each value, `while n >= value`: append its symbol and subtract (a symbol may repeat up to three times).",
        ),
    ),
    bugs=(
        Bug("dropped_term", '(4, "IV"), ', ""),
        Bug("wrong_intermediate", "while n >= value:", "if n >= value:"),
    ),
    params=lambda rng, d: {"name": rng.choice(("to_roman", "int_to_roman", "roman_numeral"))},
    edges=lambda p: [[3], [4], [14], [1994]],
    sample=lambda rng, d, p: [rng.randint(1, 3999)],
)


FROM_ROMAN = Template(
    key="from_roman",
    level=3,
    source="""\
def $name(text: str) -> int:
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(text):
        if i + 1 < len(text) and values[ch] < values[text[i + 1]]:
            total -= values[ch]
        else:
            total += values[ch]
    return total
""",
    describe="Return the integer value of a valid upper-case Roman numeral (between I and MMMCMXCIX), "
    "where a smaller symbol before a larger one is subtracted (MCMXCIV is 1994).",
    principle="Add each symbol's value, except that a symbol followed by a larger one is subtracted.",
    plan=(
        ("What does each symbol weigh?", "A dict maps I, V, X, L, C, D, M to 1, 5, 10, 50, 100, 500, 1000."),
        (
            "When is a symbol subtracted?",
            "A symbol is subtracted when a next symbol exists (`i + 1 < len(text)`) and is strictly larger "
            "(`values[ch] < values[text[i + 1]]`); equal symbols such as II add up.",
        ),
        ("What is returned?", "Return the running total."),
    ),
    bugs=(
        Bug("off_by_one", "values[ch] < values[text[i + 1]]", "values[ch] <= values[text[i + 1]]"),
        Bug("off_by_one", "i + 1 < len(text)", "i + 1 <= len(text)"),
    ),
    params=lambda rng, d: {"name": rng.choice(("from_roman", "roman_to_int", "parse_roman"))},
    edges=lambda p: [["I"], ["III"], ["MCMXCIV"]],
    sample=lambda rng, d, p: [_roman(rng.randint(1, 3999))],
)


PASCAL_ROW = Template(
    key="pascal_row",
    level=4,
    source="""\
def $name(n: int) -> list[int]:
    row = [1]
    for _ in range(n):
        row = [1] + [row[i] + row[i + 1] for i in range(len(row) - 1)] + [1]
    return row
""",
    describe="Return row n of Pascal's triangle (n >= 0), counting the top row [1] as row 0 "
    "(row 3 is [1, 3, 3, 1]).",
    principle="Each row follows from the previous one: ones at both ends and sums of neighbouring "
    "pairs in between.",
    plan=(
        ("Where does the triangle start?", "Row 0 is `[1]`."),
        (
            "How is the next row built?",
            "The next row is `[1] + [row[i] + row[i + 1] for i in range(len(row) - 1)] + [1]`.",
        ),
        ("How many times?", "Repeat exactly n times, `for _ in range(n)`, to go from row 0 to row n."),
    ),
    bugs=(Bug("off_by_one", "range(n)", "range(n - 1)"),),
    params=lambda rng, d: {"name": rng.choice(("pascal_row", "binomial_row", "triangle_row"))},
    edges=lambda p: [[0], [1], [4]],
    sample=lambda rng, d, p: [rng.randint(2, 5 * d)],
)


def _matmul_sample(rng, difficulty):
    rows, inner, cols = (rng.randint(1, difficulty) for _ in range(3))
    a = [ints(rng, inner, -5, 5) for _ in range(rows)]
    b = [ints(rng, cols, -5, 5) for _ in range(inner)]
    return [a, b]


MATMUL = Template(
    key="matrix_multiply",
    level=4,
    source="""\
def $name(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    rows, inner, cols = len(a), len(b), len(b[0])
    return [[sum(a[i][k] * b[k][j] for k in range(inner)) for j in range(cols)] for i in range(rows)]
""",
    describe="Return the matrix product a x b of two non-empty integer matrices given as lists of rows, "
    "where the number of columns of a equals the number of rows of b.",
    principle="Entry (i, j) of the product is the dot product of row i of a with column j of b.",
    plan=(
        (
            "What is the shape of the result?",
            "The result has len(a) rows and len(b[0]) columns; the shared dimension is `inner = len(b)`.",
        ),
        (
            "How is one entry computed?",
            "Entry (i, j) is `sum(a[i][k] * b[k][j] for k in range(inner))`: every k of the shared dimension contributes.",
        ),
    ),
    bugs=(Bug("off_by_one", "range(inner)", "range(inner - 1)"),),
    params=lambda rng, d: {"name": rng.choice(("matrix_multiply", "matmul", "mat_product"))},
    edges=lambda p: [[[[1, 2]], [[3], [4]]], [[[2]], [[5, -1]]]],
    sample=lambda rng, d, p: _matmul_sample(rng, d),
)


LONGEST_PALINDROME = Template(
    key="longest_palindrome",
    level=5,
    source="""\
def $name(text: str) -> str:
    best = ""
    for center in range(2 * len(text) - 1):
        left, right = center // 2, (center + 1) // 2
        while left >= 0 and right < len(text) and text[left] == text[right]:
            left -= 1
            right += 1
        candidate = text[left + 1 : right]
        if len(candidate) > len(best):
            best = candidate
    return best
""",
    describe="Return the longest palindromic substring of text; when several have the maximum length "
    'return the leftmost one ("" for an empty string, "bab" for "babad").',
    principle="Expand around every centre: each palindrome has a middle character or a middle gap, "
    "and grows outwards while both ends match.",
    plan=(
        (
            "Which centres are there?",
            "There are 2 * len(text) - 1 centres: each character (odd lengths) and each gap between two (even lengths).",
        ),
        (
            "How far does a palindrome reach?",
            "Move `left` and `right` outwards while they are inside the text and the characters match; "
            "the palindrome is `text[left + 1 : right]`.",
        ),
        (
            "How are ties resolved?",
            "Centres are visited left to right, so replacing only on `len(candidate) > len(best)` keeps the leftmost.",
        ),
    ),
    bugs=(Bug("off_by_one", "len(candidate) > len(best)", "len(candidate) >= len(best)"),),
    params=lambda rng, d: {"name": rng.choice(("longest_palindrome", "longest_palindromic_substring"))},
    edges=lambda p: [[""], ["abc"], ["cbbd"]],
    sample=lambda rng, d, p: [word(rng, 1, 4 + 3 * d, "abc")],
)


EDIT_DISTANCE = Template(
    key="edit_distance",
    level=5,
    source="""\
def $name(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[len(b)]
""",
    describe="Return the Levenshtein distance between a and b: the fewest single-character insertions, "
    'deletions and substitutions that turn a into b ("kitten" to "sitting" is 3).',
    principle="Dynamic programming over prefixes: the distance of two prefixes follows from the three "
    "smaller prefix pairs.",
    plan=(
        (
            "What are the base cases?",
            "Turning a prefix into the empty string costs its length: row 0 is `range(len(b) + 1)`, "
            "and row i starts with `cur = [i] + ...`.",
        ),
        (
            "What is the recurrence?",
            "The recurrence is `cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)`: delete, insert, or "
            "substitute (free when the characters match).",
        ),
        ("Why keep only two rows?", "Each row needs only the previous one, so memory stays O(len(b))."),
    ),
    bugs=(
        Bug("wrong_intermediate", "cur = [i] + [0] * len(b)", "cur = [0] + [0] * len(b)"),
        Bug("dropped_term", "prev[j - 1] + cost", "prev[j - 1] + 1"),
    ),
    params=lambda rng, d: {"name": rng.choice(("edit_distance", "levenshtein", "string_distance"))},
    edges=lambda p: [["abc", ""], ["", "ab"], ["abc", "abc"], ["kitten", "sitting"]],
    sample=lambda rng, d, p: [word(rng, 0, 2 + d, "abcd"), word(rng, 0, 2 + d, "abcd")],
)

ADVANCED = (TO_ROMAN, FROM_ROMAN, PASCAL_ROW, MATMUL, LONGEST_PALINDROME, EDIT_DISTANCE)
