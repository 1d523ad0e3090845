"""Teachers write completions. A `--teacher` spec is `SCHEME` or `SCHEME:ARG`, and the
scheme names a registered teacher kind: `builtin` (a simulator), `openai:MODEL` (any
OpenAI-compatible endpoint), `hf:PATH` (a local transformers model, train.hf_teacher).
`make_teacher` builds one; `check_teacher` is what a config validates a spec with.

A kind is registered with `register(scheme, make, check=None)` (plugins: an entry point
in group `cotmill.teachers` naming a module that calls it). `make(arg, **options)`
returns a Teacher; options are the job's settings a teacher may use (base_url,
api_key_env, error_rate, timeout_s, precision) and a kind ignores what it does not
need. `check(arg)` raises ValueError when the spec cannot work, before the job starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from datagen.config import ConfigError
from datagen.teachers.base import FatalError, Reply, Request, RequestError, Teacher, TransientError
from verifiers.registry import Registry


@dataclass(frozen=True)
class TeacherKind:
    scheme: str
    make: Callable[..., Teacher]  # (arg, **options) -> Teacher
    check: Callable[[str], None] | None = None  # (arg) -> None, or ValueError
    usage: str = ""  # how a spec of this kind is written, e.g. "openai:MODEL"


# `hf` comes from train.hf_teacher through cotmill's own entry point (pyproject.toml), the
# way a plugin's teacher does: datagen does not depend on train
TEACHERS = Registry(
    "teacher",
    builtins=("datagen.teachers",),
    adapt=lambda scheme, make: TeacherKind(scheme, make, usage=f"{scheme}:ARG"),
    origin=lambda kind: getattr(kind.make, "__module__", None),
)


def register(
    scheme: str, make: Callable[..., Teacher] | None = None, *, check=None, usage: str | None = None
):
    """`register("echo", make)` or `@register("echo")` on `make(arg, **options) -> Teacher`;
    `check(arg)` (optional) rejects a spec before any job starts; `usage` is how the spec is
    written in messages (default `SCHEME:ARG`)."""
    if ":" in scheme:
        raise ValueError(f"a teacher scheme has no ':' in it, got {scheme!r}")
    if make is None:
        return lambda fn: register(scheme, fn, check=check, usage=usage)
    TEACHERS.register(scheme, TeacherKind(scheme, make, check, usage or f"{scheme}:ARG"))
    return make


def _kind(spec: str) -> tuple[TeacherKind, str]:
    scheme, _, arg = spec.partition(":")
    if scheme not in TEACHERS:
        usages = [TEACHERS.get(s).usage for s in TEACHERS.names()]
        known = ", ".join(usages[:-1]) + " or " + usages[-1] if len(usages) > 1 else "".join(usages)
        raise ConfigError(f"unknown teacher {spec!r}; use {known}")
    return TEACHERS.get(scheme), arg


def check_teacher(spec: str) -> str:
    """`spec` if its kind is registered and accepts it; ConfigError (a ValueError) otherwise."""
    kind, arg = _kind(spec)
    if kind.check is not None:
        try:
            kind.check(arg)
        except ConfigError:
            raise
        except ValueError as e:  # a kind's check (a plugin's too) says why in a plain ValueError
            raise ConfigError(str(e)) from None
    return spec


def make_teacher(spec: str, **options) -> Teacher:
    kind, arg = _kind(check_teacher(spec))
    return kind.make(arg, **options)


# ------------------------------------------------------------ the built-in kinds


def _check_builtin(arg: str) -> None:
    if arg:
        raise ConfigError(f"unknown teacher 'builtin:{arg}'; the builtin teacher takes no argument")


@register("builtin", check=_check_builtin, usage="builtin")
def _builtin(arg: str, *, error_rate: float = 0.0, **_) -> Teacher:
    from datagen.teachers.builtin import BuiltinTeacher

    return BuiltinTeacher(error_rate=error_rate)


def _check_openai(arg: str) -> None:
    if not arg:
        raise ValueError("unknown teacher 'openai:'; use openai:MODEL")


@register("openai", check=_check_openai, usage="openai:MODEL")
def _openai(
    model: str,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    timeout_s: float = 600.0,
    **_,
) -> Teacher:
    from datagen.teachers.openai_api import OpenAITeacher

    # a server on this machine (vLLM, llama.cpp) often wants no key; anything
    # else without one is a mistake worth stopping for
    local = bool(base_url) and urlparse(base_url).hostname in ("127.0.0.1", "localhost", "::1")
    key = os.environ.get(api_key_env) or ("EMPTY" if local else None)
    if not key:
        raise ConfigError(
            f"teacher openai:{model}: environment variable {api_key_env} is not set (the API key)"
        )
    return OpenAITeacher(model, base_url, key, timeout_s)


__all__ = [
    "TEACHERS",
    "TeacherKind",
    "check_teacher",
    "make_teacher",
    "register",
    "Teacher",
    "Request",
    "Reply",
    "TransientError",
    "RequestError",
    "FatalError",
]
