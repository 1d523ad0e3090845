"""verifiers: pure judging of answers (math, code, logic, steps, voting).

One registry: `get(name)` returns a callable `(problem, response) -> Verdict` and
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

VerifyFn = Callable[[object, str], Verdict]


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    fn: VerifyFn


_REGISTRY: dict[str, Registered] = {}
_LOADED = False


def register(name: str, version: str):
    """Decorator: `@register("logic.sudoku4", "1")` on a `(problem, response)` function."""

    def wrap(fn: VerifyFn) -> VerifyFn:
        _REGISTRY[name] = Registered(name, version, fn)
        return fn

    return wrap


def _load() -> None:
    # importing the modules registers their verifiers. A flag, not an empty registry,
    # says whether that happened: importing one module first (verifiers.code, say)
    # fills the registry with its own entries only.
    global _LOADED
    from verifiers import code, logic, math  # noqa: F401

    _LOADED = True


def get(name: str) -> VerifyFn:
    return entry(name).fn


def version(name: str) -> str:
    return entry(name).version


def entry(name: str) -> Registered:
    if not _LOADED:
        _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    if not _LOADED:
        _load()
    return sorted(_REGISTRY)


__all__ = ["Verdict", "get", "version", "entry", "names", "register"]
