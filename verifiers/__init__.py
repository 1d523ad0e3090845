"""verifiers: pure judging of answers (math, code, logic, steps, voting).

One registry (`REGISTRY`, see verifiers.registry; plugins add to it through the
`cotmill.verifiers` entry points): `get(name)` returns a callable `(problem, response) -> Verdict` and
`version(name)` its version string, stored with every verdict so that a changed
verifier re-judges what it judged before. A `problem` is anything with the
attributes `answer` (the reference), `meta` (a dict), `task` and `domain`:
datagen's Problem, or a simple namespace in tests. This package imports nothing
else of cotmill's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from verifiers.base import Verdict
from verifiers.registry import Registry

VerifyFn = Callable[[object, str], Verdict]


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    fn: VerifyFn


def _plain(name: str, fn: VerifyFn) -> Registered:
    # an entry point naming a bare function (not a module that uses @register):
    # its `version` attribute, else "1"
    return Registered(name, str(getattr(fn, "version", "1")), fn)


# importing the built-in modules registers their verifiers; plugins come from the
# `cotmill.verifiers` entry points (see verifiers.registry)
REGISTRY = Registry(
    "verifier",
    builtins=("verifiers.code", "verifiers.logic", "verifiers.math"),
    adapt=_plain,
    origin=lambda item: getattr(item.fn, "__module__", None),
)


def register(name: str, version: str):
    """Decorator: `@register("logic.sudoku4", "1")` on a `(problem, response)` function.
    The version is stored with every verdict: change it when the verifier's judgement changes."""

    def wrap(fn: VerifyFn) -> VerifyFn:
        REGISTRY.register(name, Registered(name, str(version), fn))
        return fn

    return wrap


def get(name: str) -> VerifyFn:
    return entry(name).fn


def version(name: str) -> str:
    return entry(name).version


def entry(name: str) -> Registered:
    return REGISTRY.get(name)


def names() -> list[str]:
    return sorted(REGISTRY.names())


__all__ = ["REGISTRY", "Registered", "Verdict", "get", "version", "entry", "names", "register"]
