"""Templates of `assert_tests`, levels 1-2: digits, strings and small matrices.

`describe` is the first paragraph of the docstring shown in the prompt, so it is
written in the imperative ("Return ...").
"""

from __future__ import annotations

import string

from datagen.tasks.code.common import Bug, Template, ints, word

IS_PRIME = Template(
    key="is_prime",
    level=1,
    source="""\
def $name(n: int) -> bool:
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True
""",
    describe="Return True when the integer n is a prime number and False otherwise "
    "(0, 1 and negative numbers are not prime).",
    principle="Trial division: n is composite exactly when it has a divisor d with 2 <= d and d * d <= n.",
    plan=(
        ("Which small values are special?", "Anything below 2 is not prime: `if n < 2: return False`."),
        (
            "Which divisors must be tried?",
            "Try every divisor i from 2 while `i * i <= n`; the bound must include i * i == n, or squares like 9 "
            "and 25 would pass as prime.",
        ),
        ("What if no divisor is found?", "If no divisor is found, n is prime: return True."),
    ),
    bugs=(
        Bug("off_by_one", "i * i <= n", "i * i < n"),
        Bug("off_by_one", "if n < 2:", "if n < 1:"),
    ),
    params=lambda rng, d: {"name": rng.choice(("is_prime", "check_prime", "prime_test"))},
    edges=lambda p: [[0], [1], [2], [4], [9], [25]],
    sample=lambda rng, d, p: [rng.randint(3, 20 * d * d)],
)


def _digit_params(rng, difficulty):
    squares = rng.random() < 0.5
    return {
        "name": rng.choice(
            ("digit_square_sum", "sum_digit_squares") if squares else ("digit_sum", "sum_digits")
        ),
        "term": "(n % 10) ** 2" if squares else "n % 10",
        "what": "the squares of the decimal digits" if squares else "the decimal digits",
    }


DIGIT_SUM = Template(
    key="digit_sum",
    level=1,
    source="""\
def $name(n: int) -> int:
    n = abs(n)
    total = 0
    while n > 0:
        total += $term
        n //= 10
    return total
""",
    describe="Return the sum of $what of the integer n; the sign of a negative n is ignored.",
    principle="Peel off the last digit with % 10 and drop it with // 10 until nothing is left.",
    plan=(
        ("What about negative numbers?", "The sign is ignored, so work on `n = abs(n)`."),
        (
            "How is each digit reached?",
            "The last digit is `n % 10`; `n //= 10` removes it; loop while `n > 0`.",
        ),
        ("What is accumulated?", "Each digit adds `total += $term`; an input of 0 gives 0."),
    ),
    bugs=(Bug("dropped_term", "    n = abs(n)\n", ""),),
    params=_digit_params,
    edges=lambda p: [[0], [-123], [7]],
    sample=lambda rng, d, p: [rng.randint(-(10 ** (d + 2)), 10 ** (d + 2))],
)


def _palindrome_sample(rng, difficulty):
    half = word(rng, 1, 2 + difficulty, "abcxyz")
    text = half + half[::-1] if rng.random() < 0.6 else half + word(rng, 1, 3, "abcxyz")
    chars = [ch.upper() if rng.random() < 0.3 else ch for ch in text]
    for _ in range(rng.randint(0, difficulty)):  # separators the function must skip
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(" ,.!"))
    return ["".join(chars)]


IS_PALINDROME = Template(
    key="is_palindrome",
    level=1,
    source="""\
def $name(text: str) -> bool:
    cleaned = [ch.lower() for ch in text if ch.isalnum()]
    return cleaned == cleaned[::-1]
""",
    describe="Return True when text reads the same forwards and backwards, considering only letters "
    "and digits and ignoring case; an empty string is a palindrome.",
    principle="Normalise first (keep letters and digits, lower-case them), then compare with the reverse.",
    plan=(
        (
            "Which characters matter?",
            "Only letters and digits count (`ch.isalnum()`), compared case-insensitively (`ch.lower()`).",
        ),
        ("How is the test done?", "Build the cleaned list and compare it with `cleaned[::-1]`."),
    ),
    bugs=(
        Bug("dropped_term", "ch.lower()", "ch"),
        Bug("dropped_term", " if ch.isalnum()", ""),
    ),
    params=lambda rng, d: {"name": rng.choice(("is_palindrome", "palindrome", "reads_same_backwards"))},
    edges=lambda p: [[""], ["Aba"], ["A man, a plan, a canal: Panama"]],
    sample=lambda rng, d, p: _palindrome_sample(rng, d),
)


def _matrix(rng, rows: int, cols: int, lo: int, hi: int) -> list[list[int]]:
    return [ints(rng, cols, lo, hi) for _ in range(rows)]


TRANSPOSE = Template(
    key="transpose",
    level=1,
    source="""\
def $name(matrix: list[list[int]]) -> list[list[int]]:
    if not matrix:
        return []
    return [[row[c] for row in matrix] for c in range(len(matrix[0]))]
""",
    describe="Return the transpose of a rectangular matrix given as a list of rows: row i of the result "
    "is column i of the input. An empty matrix gives [].",
    principle="Column c of the input, read top to bottom, becomes row c of the output.",
    plan=(
        (
            "How many rows does the result have?",
            "The result has one row per input column, `range(len(matrix[0]))`, not the number of input rows.",
        ),
        (
            "How is each output row built?",
            "Output row c is `[row[c] for row in matrix]`, i.e. input column c.",
        ),
        ("What about an empty matrix?", "An empty matrix has no first row to measure, so return [] first."),
    ),
    bugs=(Bug("wrong_intermediate", "range(len(matrix[0]))", "range(len(matrix))"),),
    params=lambda rng, d: {"name": rng.choice(("transpose", "transpose_matrix", "flip_diagonal"))},
    edges=lambda p: [[[]], [[[1, 2, 3], [4, 5, 6]]], [[[1], [2]]]],
    sample=lambda rng, d, p: [_matrix(rng, rng.randint(1, 1 + d), rng.randint(1, 1 + d), -9, 9)],
)


def _caesar_sample(rng, difficulty):
    text = " ".join(word(rng, 1, 6, string.ascii_letters) for _ in range(rng.randint(1, 2 + difficulty)))
    return [text + rng.choice(("", "!", ".", "?")), rng.randint(-5 * difficulty, 10 * difficulty)]


CAESAR = Template(
    key="caesar_shift",
    level=2,
    source="""\
def $name(text: str, shift: int) -> str:
    result = []
    for ch in text:
        if ch.islower():
            result.append(chr((ord(ch) - ord("a") + shift) % 26 + ord("a")))
        elif ch.isupper():
            result.append(chr((ord(ch) - ord("A") + shift) % 26 + ord("A")))
        else:
            result.append(ch)
    return "".join(result)
""",
    describe="Return text with every ASCII letter shifted `shift` places along the alphabet, wrapping "
    "around from z to a and keeping its case; shift may be negative or larger than 26, and other "
    "characters are unchanged.",
    principle="Map each letter to its index 0-25, add the shift modulo 26, and map back within the same case.",
    plan=(
        (
            "How is a lower-case letter shifted?",
            'A lower-case letter becomes `chr((ord(ch) - ord("a") + shift) % 26 + ord("a"))`; the modulo wraps and also handles '
            "negative or large shifts.",
        ),
        (
            "And an upper-case one?",
            'An upper-case letter uses the same formula with "A" as the base, in its own branch.',
        ),
        ("What about other characters?", "Any other character is appended unchanged."),
    ),
    bugs=(
        Bug(
            "dropped_term",
            '        elif ch.isupper():\n            result.append(chr((ord(ch) - ord("A") + shift) % 26 + ord("A")))\n',
            "",
        ),
    ),
    params=lambda rng, d: {"name": rng.choice(("caesar", "caesar_shift", "shift_letters"))},
    edges=lambda p: [["", 5], ["Hello, World!", 3], ["xyz", 29]],
    sample=lambda rng, d, p: _caesar_sample(rng, d),
)


LCM = Template(
    key="lcm_list",
    level=2,
    source="""\
def $name(nums: list[int]) -> int:
    result = 1
    for x in nums:
        a, b = result, x
        while b:
            a, b = b, a % b
        result = result * x // a
    return result
""",
    describe="Return the least common multiple of the positive integers in nums (1 for an empty list).",
    principle="Fold the list with lcm(a, b) = a * b // gcd(a, b), starting from the neutral element 1.",
    plan=(
        (
            "What is the starting value?",
            "The running lcm starts at 1, the lcm of nothing, which also answers the empty list.",
        ),
        ("How is the gcd found?", "Euclid's algorithm: `a, b = b, a % b` until b is 0; a is the gcd."),
        (
            "How is the running lcm updated?",
            "The running lcm becomes `result = result * x // a`; dividing by the gcd removes the shared factors.",
        ),
    ),
    bugs=(
        Bug("wrong_intermediate", "result = 1", "result = 0"),
        Bug("dropped_term", "result * x // a", "result * x"),
    ),
    params=lambda rng, d: {"name": rng.choice(("lcm_list", "lcm_of", "least_common_multiple"))},
    edges=lambda p: [[[]], [[4, 6]]],
    sample=lambda rng, d, p: [ints(rng, rng.randint(1, 2 + d), 1, 5 * d)],
)


TO_BASE = Template(
    key="to_base",
    level=2,
    source="""\
def $name(n: int, base: int) -> str:
    digits = "0123456789ABCDEF"
    if n == 0:
        return "0"
    out = []
    while n > 0:
        out.append(digits[n % base])
        n //= base
    return "".join(reversed(out))
""",
    describe="Return the representation of the non-negative integer n in the given base (2 to 16), "
    'using the digits 0-9 then A-F, without leading zeros (0 is "0").',
    principle="Repeated division: the remainders by the base are the digits from least to most significant.",
    plan=(
        ("How is each digit found?", "`n % base` is the last digit; `n //= base` drops it."),
        ("In which order are the digits?", "The digits come out last-first, so reverse them before joining."),
        (
            "Why special-case 0?",
            'For 0 the loop never runs and would give an empty string, so return "0" first.',
        ),
    ),
    bugs=(
        Bug("dropped_term", '    if n == 0:\n        return "0"\n', ""),
        Bug("dropped_term", '"".join(reversed(out))', '"".join(out)'),
    ),
    params=lambda rng, d: {"name": rng.choice(("to_base", "convert_base", "int_to_base"))},
    edges=lambda p: [[0, 2], [6, 2], [255, 16]],
    sample=lambda rng, d, p: [rng.randint(0, 10 ** (d + 1)), rng.randint(2, 16)],
)


LONGEST_WORD = Template(
    key="longest_word",
    level=2,
    source="""\
def $name(sentence: str) -> str:
    best = ""
    for word in sentence.split():
        if len(word) > len(best):
            best = word
    return best
""",
    describe="Return the longest whitespace-separated word of sentence; on a tie return the first one, "
    'and return "" when there are no words.',
    principle="Keep the best word so far and replace it only on a strictly longer word, which keeps the first tie.",
    plan=(
        (
            "Where does the search start?",
            'The search starts with `best = ""`, which is also the answer for no words.',
        ),
        (
            "When is the best word replaced?",
            "The best word is replaced only when `len(word) > len(best)`: a later word of equal length must not win.",
        ),
    ),
    bugs=(Bug("off_by_one", "len(word) > len(best)", "len(word) >= len(best)"),),
    params=lambda rng, d: {"name": rng.choice(("longest_word", "first_longest_word", "max_word"))},
    edges=lambda p: [[""], ["cat dog"], ["a bb cc"]],
    sample=lambda rng, d, p: [" ".join(word(rng, 1, 2 + d) for _ in range(rng.randint(1, 3 + d)))],
)

BASIC = (IS_PRIME, DIGIT_SUM, IS_PALINDROME, TRANSPOSE)
INTERMEDIATE = (CAESAR, LCM, TO_BASE, LONGEST_WORD)
