"""The verdict every verifier returns.

Verifiers are pure functions of (reference or problem, response text). They do no
I/O except the code sandbox, never raise on hostile input (a verdict with
`passed=False` and a reason instead), and return within their time limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Verdict:
    passed: bool
    score: float  # 1.0 / 0.0 for exact verifiers; a fraction where partial credit makes sense
    extracted: str | None = None  # the answer the verifier read from the response
    reason: str | None = None  # why it failed (or how it passed, when not obvious)
    steps: list[dict[str, Any]] | None = None  # step labels, for math CoT
    first_error_step: int | None = None  # 1-based index of the first wrong step
    elapsed_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fail(cls, reason: str, extracted: str | None = None, **kw) -> Verdict:
        return cls(False, 0.0, extracted, reason, **kw)

    @classmethod
    def ok(cls, extracted: str | None = None, reason: str | None = None, **kw) -> Verdict:
        return cls(True, 1.0, extracted, reason, **kw)
