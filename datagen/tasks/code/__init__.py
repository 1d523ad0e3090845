"""Code tasks: the reference answer is a tests JSON for the `code` verifier."""

from datagen.tasks.code import assert_tests, function_synthesis, stdio_programs

TASKS = {m.TASK.name: m.TASK for m in (function_synthesis, stdio_programs, assert_tests)}
