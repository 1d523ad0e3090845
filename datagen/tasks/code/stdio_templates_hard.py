"""Templates of `stdio_programs`, levels 3-5: grids, greedy scheduling, BFS,
expression evaluation and topological sorting."""

from __future__ import annotations

from datagen.tasks.code.common import Bug, Template
from datagen.tasks.code.stdio_templates import PROGRAM_HEAD, PROGRAM_TAIL

_FOUR = "((-1, 0), (1, 0), (0, -1), (0, 1))"
_EIGHT = "((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))"


def _islands_params(rng, difficulty):
    diagonal = difficulty >= 4 and rng.random() < 0.5
    return {
        "moves": _EIGHT if diagonal else _FOUR,
        "adjacent": "horizontally, vertically or diagonally" if diagonal else "horizontally or vertically",
    }


def _land_grid(rng, difficulty, density: float) -> list[str]:
    rows, cols = rng.randint(2, 2 + difficulty), rng.randint(2, 2 + difficulty)
    return ["".join("#" if rng.random() < density else "." for _ in range(cols)) for _ in range(rows)]


def _grid_input(grid: list[str]) -> str:
    return f"{len(grid)} {len(grid[0])}\n" + "".join(row + "\n" for row in grid)


ISLANDS = Template(
    key="count_islands",
    level=3,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    data = sys.stdin.read().split()
    rows, cols = int(data[0]), int(data[1])
    grid = data[2 : 2 + rows]
    seen = [[False] * cols for _ in range(rows)]
    islands = 0
    for r in range(rows):
        for c in range(cols):
            if grid[r][c] != "#" or seen[r][c]:
                continue
            islands += 1
            seen[r][c] = True
            stack = [(r, c)]
            while stack:
                y, x = stack.pop()
                for dy, dx in $moves:
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < rows and 0 <= nx < cols and grid[ny][nx] == "#" and not seen[ny][nx]:
                        seen[ny][nx] = True
                        stack.append((ny, nx))
    print(islands)
"""
    + PROGRAM_TAIL,
    describe='reads "R C" on the first line and then R lines of C characters, "#" for land and "." for '
    "water, and prints the number of islands: groups of land cells connected $adjacent",
    principle="Count connected components: every unvisited land cell starts a new island, "
    "and a flood fill marks the whole island as visited.",
    plan=(
        (
            "When does a new island start?",
            "A new island starts at a land cell not yet seen: increment the count and flood-fill from it.",
        ),
        (
            "How does the flood fill spread?",
            "The flood fill uses an explicit stack and spreads to neighbours $adjacent that are inside the grid "
            "(`0 <= ny < rows and 0 <= nx < cols`), land, and not yet seen.",
        ),
        (
            "Why mark cells when pushing them?",
            "Cells are marked when pushed, so no cell is pushed twice and each island is counted once.",
        ),
    ),
    bugs=(Bug("off_by_one", "0 <= ny < rows and", "0 <= ny < rows - 1 and"),),
    params=_islands_params,
    edges=lambda p: ["1 1\n.\n", "2 1\n#\n#\n", "2 2\n#.\n.#\n"],
    sample=lambda rng, d, p: _grid_input(_land_grid(rng, d, 0.45)),
)


def _schedule_params(rng, difficulty):
    touching = rng.random() < 0.5
    return {
        "op": ">=" if touching else ">",
        "flip": ">" if touching else ">=",
        "touch": "does not overlap it" if touching else "overlaps it",
    }


def _schedule_sample(rng, difficulty):
    spans = []
    for _ in range(rng.randint(1, 3 + 2 * difficulty)):
        start = rng.randint(0, 6 * difficulty)
        spans.append(f"{start} {start + rng.randint(1, 6)}\n")
    return f"{len(spans)}\n" + "".join(spans)


SCHEDULING = Template(
    key="interval_scheduling",
    level=3,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    data = sys.stdin.read().split()
    n = int(data[0])
    intervals = [(int(data[1 + 2 * i]), int(data[2 + 2 * i])) for i in range(n)]
    intervals.sort(key=lambda iv: iv[1])
    count = 0
    last_end = None
    for start, end in intervals:
        if last_end is None or start $op last_end:
            count += 1
            last_end = end
    print(count)
"""
    + PROGRAM_TAIL,
    describe='reads an integer N and then N lines "start end" (start < end) describing meetings, and '
    "prints the largest number of meetings that can be attended without overlap; a meeting that starts at "
    "the very moment another ends $touch",
    principle="Greedy by earliest finishing time: taking the meeting that ends first always leaves "
    "the most room for the rest.",
    plan=(
        (
            "In which order are meetings considered?",
            "Meetings are considered by end time, `intervals.sort(key=lambda iv: iv[1])`.",
        ),
        (
            "When can a meeting be taken?",
            "A meeting is taken when it starts after the last taken one ends, `start $op last_end` "
            "(a meeting starting exactly when the previous one ends $touch).",
        ),
        ("What is printed?", "Print how many meetings were taken."),
    ),
    bugs=(
        Bug("off_by_one", "start $op last_end", "start $flip last_end"),
        Bug("wrong_intermediate", "key=lambda iv: iv[1]", "key=lambda iv: iv[0]"),
    ),
    params=_schedule_params,
    edges=lambda p: ["0\n", "2\n1 3\n3 5\n", "3\n1 10\n2 3\n4 5\n"],
    sample=lambda rng, d, p: _schedule_sample(rng, d),
)


def _maze_sample(rng, difficulty):
    grid = [list(row) for row in _land_grid(rng, difficulty, 0.1 + 0.05 * difficulty)]
    cells = [(r, c) for r in range(len(grid)) for c in range(len(grid[0]))]
    (sr, sc), (er, ec) = rng.sample(cells, 2)
    grid[sr][sc], grid[er][ec] = "S", "E"
    return _grid_input(["".join(row) for row in grid])


SHORTEST_PATH = Template(
    key="grid_shortest_path",
    level=4,
    source="import sys\nfrom collections import deque\n\n\n"
    + """\
def main() -> None:
    data = sys.stdin.read().split()
    rows, cols = int(data[0]), int(data[1])
    grid = data[2 : 2 + rows]
    for r in range(rows):
        for c in range(cols):
            if grid[r][c] == "S":
                start = (r, c)
            elif grid[r][c] == "E":
                end = (r, c)
    dist = {start: 0}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < rows and 0 <= nc < cols and grid[nr][nc] != "#" and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                queue.append((nr, nc))
    print(dist.get(end, -1))
"""
    + PROGRAM_TAIL,
    describe='reads "R C" on the first line and then R lines of C characters: "S" the start, "E" the exit, '
    '"#" a wall and "." open floor. Moving one step up, down, left or right onto a non-wall cell costs 1; '
    "print the fewest steps from S to E, or -1 if E cannot be reached",
    principle="Breadth-first search finds shortest paths in an unweighted grid: cells are reached "
    "in order of their distance.",
    plan=(
        (
            "Where does the search start?",
            "The search starts at S with distance 0, `dist = {start: 0}`, and a queue holding S.",
        ),
        (
            "How is a cell expanded?",
            "Each in-bounds, non-wall neighbour not yet in `dist` gets distance + 1 and joins the queue.",
        ),
        ("What is printed?", "Print `dist.get(end, -1)`: the distance of E, or -1 if it was never reached."),
    ),
    bugs=(
        Bug("wrong_intermediate", "dist = {start: 0}", "dist = {start: 1}"),
        Bug("off_by_one", "0 <= nr < rows and", "0 <= nr < rows - 1 and"),
    ),
    params=lambda rng, d: {},
    edges=lambda p: ["1 2\nSE\n", "2 1\nS\nE\n", "1 3\nS#E\n"],
    sample=lambda rng, d, p: _maze_sample(rng, d),
)


def _postfix(rng, n_ops: int, hi: int) -> str:
    tokens = [str(rng.randint(0, hi))]
    for _ in range(n_ops):
        operand = str(rng.randint(0, hi))
        tokens = [*tokens, operand] if rng.random() < 0.5 else [operand, *tokens]
        tokens.append(rng.choice("+-*"))
    return " ".join(tokens)


RPN = Template(
    key="rpn_calculator",
    level=4,
    source=PROGRAM_HEAD
    + """\
def main() -> None:
    for line in sys.stdin.read().splitlines():
        if not line.strip():
            continue
        stack = []
        for token in line.split():
            if token in ("+", "-", "*"):
                right = stack.pop()
                left = stack.pop()
                if token == "+":
                    stack.append(left + right)
                elif token == "-":
                    stack.append(left - right)
                else:
                    stack.append(left * right)
            else:
                stack.append(int(token))
        print(stack[-1])
"""
    + PROGRAM_TAIL,
    describe="reads lines, each a valid expression in Reverse Polish notation made of non-negative "
    'integers and the operators +, - and * separated by spaces (e.g. "3 4 + 2 *"), and prints the value '
    "of each expression on its own line (blank lines are skipped)",
    principle="Evaluate postfix with a stack: operands are pushed, and an operator pops its two "
    "operands and pushes the result.",
    plan=(
        ("What happens on a number?", "A number is pushed on the stack as an int."),
        (
            "In which order are the operands popped?",
            "The right operand is on top: `right = stack.pop()` first, then `left = stack.pop()`; "
            "the order matters for subtraction.",
        ),
        ("What is printed?", "After the line's last token, print the single value left on the stack."),
    ),
    bugs=(
        Bug(
            "wrong_intermediate",
            "right = stack.pop()\n                left = stack.pop()",
            "left = stack.pop()\n                right = stack.pop()",
        ),
    ),
    params=lambda rng, d: {},
    edges=lambda p: ["5 2 -\n", "7\n\n1 2 3 * +\n"],
    sample=lambda rng, d, p: "".join(
        _postfix(rng, rng.randint(1, 1 + d), 3 * d) + "\n" for _ in range(rng.randint(1, max(1, d - 1)))
    ),
)


def _graph_sample(rng, difficulty):
    n = rng.randint(3, 3 + difficulty)
    order = list(range(1, n + 1))
    rng.shuffle(order)
    pairs = [(order[i], order[j]) for i in range(n) for j in range(i + 1, n)]
    edges = rng.sample(pairs, rng.randint(0, min(len(pairs), 2 * n)))
    if edges and rng.random() < 0.25:  # a back edge closes a cycle
        a, b = rng.choice(edges)
        edges.append((b, a))
    return f"{n} {len(edges)}\n" + "".join(f"{a} {b}\n" for a, b in edges)


TOPOLOGICAL = Template(
    key="topological_order",
    level=5,
    source="import heapq\nimport sys\n\n\n"
    + """\
def main() -> None:
    data = sys.stdin.read().split()
    n, m = int(data[0]), int(data[1])
    indegree = [0] * (n + 1)
    graph = [[] for _ in range(n + 1)]
    for i in range(m):
        a, b = int(data[2 + 2 * i]), int(data[3 + 2 * i])
        graph[a].append(b)
        indegree[b] += 1
    ready = [v for v in range(1, n + 1) if indegree[v] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        v = heapq.heappop(ready)
        order.append(v)
        for w in graph[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                heapq.heappush(ready, w)
    if len(order) < n:
        print("CYCLE")
    else:
        print(" ".join(map(str, order)))
"""
    + PROGRAM_TAIL,
    describe='reads "N M" on the first line and then M lines "a b", each meaning task a must come before '
    "task b (tasks are numbered 1..N). It prints the lexicographically smallest order of all N tasks that "
    'respects every constraint, space-separated on one line, or "CYCLE" if no such order exists',
    principle="Kahn's algorithm with a min-heap: repeatedly take the smallest task whose prerequisites "
    "are all done; if some task is never freed, the constraints contain a cycle.",
    plan=(
        (
            "Which tasks can go first?",
            "The tasks that can go first are those with in-degree 0, among all of 1..N: `range(1, n + 1)`.",
        ),
        (
            "How is the smallest order guaranteed?",
            "Keep the ready tasks in a min-heap and always pop the smallest; "
            "removing it lowers the in-degree of its successors, which join the heap at 0.",
        ),
        (
            "How is a cycle detected?",
            'Tasks on a cycle never reach in-degree 0, so if fewer than N were output, print "CYCLE".',
        ),
    ),
    bugs=(
        Bug("off_by_one", "range(1, n + 1)", "range(1, n)"),
        Bug("wrong_final", "if len(order) < n:", "if not order:"),
    ),
    params=lambda rng, d: {},
    edges=lambda p: ["3 0\n", "3 2\n2 3\n3 2\n", "3 2\n3 1\n2 1\n"],
    sample=lambda rng, d, p: _graph_sample(rng, d),
)

ADVANCED = (ISLANDS, SCHEDULING, SHORTEST_PATH, RPN, TOPOLOGICAL)
