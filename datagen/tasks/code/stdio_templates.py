"""Templates of `stdio_programs`: whole programs that read stdin and print to stdout.

Every reference defines `main()` behind an `if __name__ == "__main__"` guard, so it
runs as a script and can also be called in-process with redirected streams.
"""

from __future__ import annotations

from datagen.tasks.code.common import Bug, Template, ints

# The top and bottom of every reference program (shared with stdio_templates_hard).
PROGRAM_HEAD = "import sys\n\n\n"
PROGRAM_TAIL = '\n\nif __name__ == "__main__":\n    main()\n'


def _numbers_text(nums: list[int]) -> str:
    return f"{len(nums)}\n{' '.join(map(str, nums))}\n"


def _sum_params(rng, difficulty):
    m = rng.choice((2, 3, 5, 7))
    return {"m": m, "what": "even numbers" if m == 2 else f"numbers divisible by {m}"}


SUM_MULTIPLES = Template(
    key="sum_multiples",
    level=1,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    data = sys.stdin.read().split()
    n = int(data[0])
    nums = [int(x) for x in data[1 : 1 + n]]
    print(sum(x for x in nums if x % $m == 0))
"""
    + PROGRAM_TAIL,
    describe="reads an integer N on the first line and N integers on the second line (N may be 0), "
    "and prints the sum of the $what among them (0 if there are none)",
    principle="Parse all whitespace-separated tokens at once, then filter and sum.",
    plan=(
        (
            "How is the input parsed?",
            "Split the whole input into tokens; the first is N and the next N are the numbers, "
            "`data[1 : 1 + n]`.",
        ),
        (
            "Which numbers count?",
            "A number counts when `x % $m == 0` (negative ones included, as Python's % allows).",
        ),
        ("What is printed?", "Print their sum on one line; an empty selection prints 0."),
    ),
    bugs=(Bug("off_by_one", "data[1 : 1 + n]", "data[1:n]"),),
    params=_sum_params,
    edges=lambda p: ["0\n\n", f"1\n{p['m']}\n", f"3\n1 2 {3 * p['m']}\n"],
    sample=lambda rng, d, p: _numbers_text(ints(rng, rng.randint(1, 3 + 3 * d), -20 * d, 20 * d)),
)

_WORDS = ("alpha", "beta", "gamma", "delta", "echo", "fox", "golf", "hotel", "ink", "jazz", "kilo", "lima")


def _lines_params(rng, difficulty):
    transform, text = rng.choice(
        (("", "unchanged"), ("[::-1]", "with its characters reversed"), (".upper()", "in upper case"))
    )
    return {"transform": transform, "how": text}


REVERSE_LINES = Template(
    key="reverse_lines",
    level=1,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    lines = sys.stdin.read().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        print(lines[i]$transform)
"""
    + PROGRAM_TAIL,
    describe="reads all lines of the input and prints them in reverse order (last line first), "
    "each line $how; empty input prints nothing",
    principle="Read every line into a list, then walk the list backwards.",
    plan=(
        (
            "How are the lines read?",
            "`sys.stdin.read().splitlines()` gives all lines without their newlines.",
        ),
        (
            "Which indices are visited?",
            "The indices run from `len(lines) - 1` down to 0 inclusive: `range(len(lines) - 1, -1, -1)` "
            "(the stop value is exclusive, so it must be -1).",
        ),
        ("What is printed for each line?", "Each line is printed $how, via `print(lines[i]$transform)`."),
    ),
    bugs=(Bug("off_by_one", "range(len(lines) - 1, -1, -1)", "range(len(lines) - 1, 0, -1)"),),
    params=_lines_params,
    edges=lambda p: ["", "solo line\n"],
    sample=lambda rng, d, p: "".join(
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3))) + "\n"
        for _ in range(rng.randint(2, 2 + 2 * d))
    ),
)


def _average_params(rng, difficulty):
    above = rng.random() < 0.5
    return {
        "op": ">" if above else "<",
        "flip": ">=" if above else "<=",
        "side": "above" if above else "below",
    }


ABOVE_AVERAGE = Template(
    key="count_vs_average",
    level=1,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    data = sys.stdin.read().split()
    n = int(data[0])
    nums = [int(x) for x in data[1 : 1 + n]]
    total = sum(nums)
    print(sum(1 for x in nums if x * n $op total))
"""
    + PROGRAM_TAIL,
    describe="reads an integer N >= 1 on the first line and N integers on the second line, and prints how "
    "many of the numbers are strictly $side their average (an element equal to the average does not count)",
    principle="Compare against the mean without dividing: x is $side the mean exactly when x * N is $side the total.",
    plan=(
        ("How is the average handled exactly?", "Avoid floats: compare `x * n` with the total `sum(nums)`."),
        (
            "Which elements count?",
            "An element counts only when strictly $side the average, `x * n $op total`, so an element equal to the average is not counted.",
        ),
        ("What is printed?", "Print the count on one line."),
    ),
    bugs=(
        Bug("off_by_one", "x * n $op total", "x * n $flip total"),
        Bug("wrong_intermediate", "x * n $op total", "x $op total"),
    ),
    params=_average_params,
    edges=lambda p: ["3\n1 2 3\n", "2\n3 5\n", "1\n-4\n"],
    sample=lambda rng, d, p: _numbers_text(ints(rng, rng.randint(2, 3 + 3 * d), -10 * d, 10 * d)),
)


def _frequency_sample(rng, difficulty):
    vocab = [w.capitalize() if rng.random() < 0.2 else w for w in rng.sample(_WORDS, 3 + difficulty)]
    lines = [
        " ".join(rng.choice(vocab) for _ in range(rng.randint(2, 3 + 2 * difficulty)))
        for _ in range(rng.randint(1, 3))
    ]
    return f"{rng.randint(1, 2 + difficulty)}\n" + "\n".join(lines) + "\n"


WORD_FREQUENCY = Template(
    key="word_frequency",
    level=2,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    first, _, rest = sys.stdin.read().partition("\\n")
    k = int(first)
    counts = {}
    for word in rest.lower().split():
        counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    for word, count in ranked[:k]:
        print(word, count)
"""
    + PROGRAM_TAIL,
    describe="reads an integer k on the first line and then text over any number of lines; words are "
    "separated by whitespace and compared case-insensitively. It prints the k most frequent words, "
    'one per line as "word count" with the word in lower case, most frequent first and ties in '
    "alphabetical order (fewer lines when there are fewer than k distinct words)",
    principle="Count with a dictionary, then sort by a composite key: count descending, word ascending.",
    plan=(
        (
            "How are words counted?",
            "Lower-case the text after the first line, split on whitespace and count in a dict.",
        ),
        (
            "How are ties ordered?",
            "Sort with `key=lambda item: (-item[1], item[0])`: higher counts first, "
            "then alphabetical among equal counts.",
        ),
        (
            "How many lines are printed?",
            "Print the first k of the ranking, `ranked[:k]`, each as `word count`.",
        ),
    ),
    bugs=(
        Bug("dropped_term", "key=lambda item: (-item[1], item[0])", "key=lambda item: -item[1]"),
        Bug("off_by_one", "ranked[:k]", "ranked[: k - 1]"),
    ),
    params=lambda rng, d: {},
    edges=lambda p: ["3\n\n", "2\nb a B a c\n", "5\nx y x\n"],
    sample=lambda rng, d, p: _frequency_sample(rng, d),
)


def _grid_text(rows: list[list[int]]) -> str:
    body = "".join(" ".join(map(str, row)) + "\n" for row in rows)
    return f"{len(rows)} {len(rows[0])}\n{body}"


COLUMN_SUMS = Template(
    key="column_sums",
    level=2,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    data = sys.stdin.read().split()
    rows, cols = int(data[0]), int(data[1])
    values = [int(x) for x in data[2:]]
    sums = [0] * cols
    for r in range(rows):
        for c in range(cols):
            sums[c] += values[r * cols + c]
    print(" ".join(str(s) for s in sums))
"""
    + PROGRAM_TAIL,
    describe='reads "R C" on the first line and then R lines of C integers each, and prints the sum of '
    "every column on one line, separated by single spaces",
    principle="Flatten the grid into one list of numbers and address cell (r, c) as r * C + c.",
    plan=(
        (
            "How is the grid stored?",
            "The grid is stored as one flat list of the R * C numbers, in reading order.",
        ),
        (
            "Where is cell (r, c)?",
            "Cell (r, c) sits at index `r * cols + c`: each full row before it holds `cols` numbers.",
        ),
        ("What is printed?", "Print the C column totals joined by spaces."),
    ),
    bugs=(
        Bug("wrong_intermediate", "r * cols + c", "r * rows + c"),
        Bug("off_by_one", "for r in range(rows)", "for r in range(rows - 1)"),
    ),
    params=lambda rng, d: {},
    edges=lambda p: ["2 3\n1 2 3\n4 5 6\n", "3 1\n-1\n2\n7\n"],
    sample=lambda rng, d, p: _grid_text(
        [
            ints(rng, cols, -9 * d, 9 * d)
            for cols in [rng.randint(1, 2 + d)]
            for _ in range(rng.randint(1, 2 + d))
        ]
    ),
)
