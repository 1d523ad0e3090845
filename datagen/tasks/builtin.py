"""The built-in tasks: each domain package lists its own; importing this registers them all
(datagen.tasks.TASKS imports it on its first lookup)."""

from datagen.tasks import code, logic, math, register

for _task in (*math.TASKS.values(), *code.TASKS.values(), *logic.TASKS.values()):
    register(_task)
