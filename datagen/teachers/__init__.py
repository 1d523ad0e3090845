"""Teachers write completions: `builtin` (a simulator), `openai:MODEL` (any
OpenAI-compatible endpoint). `make_teacher` turns a `--teacher` spec into one."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from datagen.config import ConfigError
from datagen.teachers.base import FatalError, Reply, Request, RequestError, Teacher, TransientError


def make_teacher(
    spec: str,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    error_rate: float = 0.0,
    timeout_s: float = 600.0,
) -> Teacher:
    if spec == "builtin":
        from datagen.teachers.builtin import BuiltinTeacher

        return BuiltinTeacher(error_rate=error_rate)
    if spec.startswith("openai:") and len(spec) > len("openai:"):
        from datagen.teachers.openai_api import OpenAITeacher

        # a server on this machine (vLLM, llama.cpp) often wants no key; anything
        # else without one is a mistake worth stopping for
        local = bool(base_url) and urlparse(base_url).hostname in ("127.0.0.1", "localhost", "::1")
        key = os.environ.get(api_key_env) or ("EMPTY" if local else None)
        if not key:
            raise ConfigError(f"teacher {spec}: environment variable {api_key_env} is not set (the API key)")
        return OpenAITeacher(spec.split(":", 1)[1], base_url, key, timeout_s)
    raise ConfigError(f"unknown teacher {spec!r}; use builtin or openai:MODEL")


__all__ = ["make_teacher", "Teacher", "Request", "Reply", "TransientError", "RequestError", "FatalError"]
