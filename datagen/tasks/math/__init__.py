"""Math tasks: every one is judged by the `math` verifier (answer equivalence)."""

from datagen.tasks.math import (
    addition,
    arithmetic,
    derivatives,
    fractions,
    linear_equations,
    number_theory,
    quadratic_roots,
    word_problems,
)

TASKS = {
    m.TASK.name: m.TASK
    for m in (
        addition,
        arithmetic,
        linear_equations,
        fractions,
        word_problems,
        number_theory,
        quadratic_roots,
        derivatives,
    )
}
