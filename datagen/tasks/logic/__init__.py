"""Logic tasks: each is judged by its own checker, `logic.<task>`."""

from datagen.tasks.logic import countdown, knights_knaves, ordering, sat_assignment, sudoku4, zebra

TASKS = {m.TASK.name: m.TASK for m in (knights_knaves, zebra, sudoku4, countdown, sat_assignment, ordering)}
