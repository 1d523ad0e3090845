"""4x4 sudoku: fill the grid so every row, column and 2x2 box holds 1-4 once.

Puzzles have a unique solution (counted by backtracking) and can be finished by
naked and hidden singles, so every step is a one-line reason. Difficulty sets the
number of blanks: 6, 8, 9, 10, 11 of the 16 cells.
"""

from __future__ import annotations

import random

from datagen.tasks.base import Generated, Solution, Step, Task

_BLANKS = {1: 6, 2: 8, 3: 9, 4: 10, 5: 11}
_BOX_NAMES = ["top-left", "top-right", "bottom-left", "bottom-right"]
DIGITS = {1, 2, 3, 4}


def box_of(cell: int) -> int:
    r, c = divmod(cell, 4)
    return (r // 2) * 2 + c // 2


def units() -> list[tuple[str, list[int]]]:
    """Every row, column and box with the cells in it (cells 0..15, row-major)."""
    rows = [(f"row {r + 1}", [r * 4 + c for c in range(4)]) for r in range(4)]
    cols = [(f"column {c + 1}", [r * 4 + c for r in range(4)]) for c in range(4)]
    boxes = [(f"the {_BOX_NAMES[b]} box", [i for i in range(16) if box_of(i) == b]) for b in range(4)]
    return rows + cols + boxes


def _peers(cell: int) -> list[int]:
    r, c = divmod(cell, 4)
    return [i for i in range(16) if i != cell and (i // 4 == r or i % 4 == c or box_of(i) == box_of(cell))]


def _name(cell: int) -> str:
    return f"r{cell // 4 + 1}c{cell % 4 + 1}"


def _candidates(grid: list[int], cell: int) -> set[int]:
    return DIGITS - {grid[p] for p in _peers(cell)}


def count_solutions(grid: list[int], limit: int = 2) -> int:
    grid = list(grid)
    if 0 not in grid:
        return 1
    cell = grid.index(0)
    total = 0
    for d in sorted(_candidates(grid, cell)):
        grid[cell] = d
        total += count_solutions(grid, limit - total)
        if total >= limit:
            break
    return total


def _random_full(rng: random.Random, grid: list[int] | None = None) -> list[int] | None:
    grid = grid or [0] * 16
    if 0 not in grid:
        return grid
    cell = grid.index(0)
    for d in rng.sample(sorted(_candidates(grid, cell)), len(_candidates(grid, cell))):
        found = _random_full(rng, grid[:cell] + [d] + grid[cell + 1 :])
        if found:
            return found
    return None


def _digits(values) -> str:
    vals = [str(v) for v in sorted(values)]
    if not vals:
        return "no digits"
    return vals[0] if len(vals) == 1 else ", ".join(vals[:-1]) + " and " + vals[-1]


def _single(grid: list[int]) -> tuple[int, int, Step] | None:
    """The next cell a person would fill, with the reason, or None if stuck."""
    for label, cells in units():  # full house: a unit missing one digit
        blanks = [i for i in cells if grid[i] == 0]
        if len(blanks) == 1:
            (d,) = DIGITS - {grid[i] for i in cells}
            work = f"{label.capitalize()} is missing only {d}, so {_name(blanks[0])} = {d}."
            return blanks[0], d, Step(goal=f"What digit goes in {_name(blanks[0])}?", work=work)
    for cell in (i for i in range(16) if grid[i] == 0):  # naked single
        cands = _candidates(grid, cell)
        if len(cands) == 1:
            (d,) = cands
            r, c = divmod(cell, 4)
            row = {grid[r * 4 + k] for k in range(4)} - {0}
            col = {grid[k * 4 + c] for k in range(4)} - {0}
            box = {grid[i] for i in range(16) if box_of(i) == box_of(cell)} - {0}
            work = (
                f"Row {r + 1} has {_digits(row)}, column {c + 1} has {_digits(col)} and the "
                f"{_BOX_NAMES[box_of(cell)]} box has {_digits(box)}; the only digit left for "
                f"{_name(cell)} is {d}, so {_name(cell)} = {d}."
            )
            return cell, d, Step(goal=f"What digit goes in {_name(cell)}?", work=work)
    for label, cells in units():  # hidden single
        for d in sorted(DIGITS - {grid[i] for i in cells}):
            spots = [i for i in cells if grid[i] == 0 and d in _candidates(grid, i)]
            if len(spots) == 1:
                blocked = [i for i in cells if grid[i] == 0 and i != spots[0]]
                why = "; ".join(f"{_name(i)} already sees a {d}" for i in blocked)
                work = (
                    f"In {label}, {d} must go somewhere, but {why}. So it goes in {_name(spots[0])}: "
                    f"{_name(spots[0])} = {d}."
                )
                return spots[0], d, Step(goal=f"Where does {d} go in {label}?", work=work)
    return None


def deduce(grid: list[int]) -> tuple[list[Step], list[int]] | None:
    grid = list(grid)
    steps: list[Step] = []
    while 0 in grid:
        found = _single(grid)
        if found is None:
            return None
        cell, digit, step = found
        grid[cell] = digit
        steps.append(step)
    return steps, grid


def to_rows(grid: list[int]) -> str:
    """Canonical form: four rows of digits joined by "/", blanks as "."."""
    return "/".join("".join(str(d) if d else "." for d in grid[r * 4 : r * 4 + 4]) for r in range(4))


def _show(grid: list[int]) -> str:
    lines = []
    for r in range(4):
        cells = [str(d) if d else "." for d in grid[r * 4 : r * 4 + 4]]
        lines.append(f"{' '.join(cells[:2])} | {' '.join(cells[2:])}")
        if r == 1:
            lines.append("----+----")
    return "\n".join(lines)


def _puzzle(rng: random.Random, blanks: int) -> tuple[list[int], list[int]]:
    """Blank cells in random order while the solution stays unique; retry on failure."""
    while True:
        full = _random_full(rng)
        assert full is not None
        grid = list(full)
        for cell in rng.sample(range(16), 16):
            if grid.count(0) == blanks:
                break
            trial = grid[:cell] + [0] + grid[cell + 1 :]
            if count_solutions(trial) == 1:
                grid = trial
        if grid.count(0) == blanks and deduce(grid) is not None:
            return grid, full


def generate(rng: random.Random, difficulty: int) -> Generated:
    grid, full = _puzzle(rng, _BLANKS[difficulty])
    prompt = (
        "Solve this 4x4 sudoku: fill every blank (.) with a digit 1-4 so that each row, each column "
        "and each 2x2 box contains 1, 2, 3 and 4 exactly once. Rows are numbered 1-4 from the top "
        "and columns 1-4 from the left.\n\n"
        f"{_show(grid)}\n\n"
        'Give your answer as the four completed rows, top to bottom, separated by "/", '
        'e.g. "1234/3412/2143/4321".'
    )
    meta = {"grid": to_rows(grid), "solution": to_rows(full)}
    return Generated(prompt=prompt, answer=to_rows(full), meta=meta)


def _parse(rows: str) -> list[int]:
    return [0 if ch == "." else int(ch) for ch in rows.replace("/", "")]


def solve(meta: dict) -> Solution:
    result = deduce(_parse(meta["grid"]))
    assert result is not None, "generated puzzles are solvable by singles"
    steps, grid = result
    answer = to_rows(grid)
    steps.append(Step(goal="What is the completed grid?", work=f"Row by row: {answer}."))
    return Solution(
        principle="Each row, column and box holds 1-4 exactly once: repeatedly find a cell with only "
        "one possible digit, or a digit with only one possible cell in a row, column or box.",
        steps=steps,
        answer=answer,
    )


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """Swap the digits of two blanks in one row: the row still looks right, the columns do not."""
    grid, full = _parse(meta["grid"]), _parse(meta["solution"])
    rows = [r for r in range(4) if sum(grid[r * 4 + c] == 0 for c in range(4)) >= 2]
    r = rng.choice(rows)  # with at least 6 blanks in 4 rows some row has two
    a, b = rng.sample([r * 4 + c for c in range(4) if grid[r * 4 + c] == 0], 2)
    wrong = list(full)
    wrong[a], wrong[b] = wrong[b], wrong[a]
    steps = []
    for step in solution.steps[:-1]:
        work = step.work
        for cell in (a, b):
            claim = f"{_name(cell)} = {full[cell]}."
            if work.endswith(claim):
                work = work[: -len(claim)] + f"{_name(cell)} = {wrong[cell]}."
        steps.append(Step(step.goal, work))
    answer = to_rows(wrong)
    steps.append(Step(goal="What is the completed grid?", work=f"Row by row: {answer}."))
    return Solution(solution.principle, steps, answer), "wrong_intermediate"


TASK = Task(
    name="sudoku4",
    domain="logic",
    verifier="logic.sudoku4",
    description="4x4 sudoku with 2x2 boxes and a unique solution",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
