"""What every teacher takes and returns, and the three ways a request can fail.

The engine owns retries, so a teacher only classifies failures:
- TransientError: worth retrying (429, 5xx, timeouts, dropped connections,
  unparseable bodies); `retry_after` carries the server's Retry-After, if any.
- RequestError: this request will not succeed as sent (other 4xx); stored as an
  error row and retried only by a later re-run.
- FatalError: no request can succeed (bad API key); the job stops at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from datagen.records import GenParams, Problem
from verifiers.errors import CotmillError


class TransientError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class RequestError(Exception):
    pass


class FatalError(CotmillError):
    pass


@dataclass
class Request:
    problem: Problem
    messages: list[dict[str, str]]
    strategy: str
    params: GenParams
    completion_ids: list[str]  # one per choice wanted: len() is the API's n

    @property
    def n(self) -> int:
        return len(self.completion_ids)


@dataclass
class Choice:
    text: str | None
    reasoning: str | None
    finish_reason: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reply:
    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int  # over all choices, as billed


class Teacher(Protocol):
    name: str  # stored in completions.teacher and part of the resume key
    supports_n: bool

    async def complete(self, request: Request) -> Reply: ...

    async def aclose(self) -> None: ...
