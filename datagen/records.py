"""The records that flow through cotmill and the hashes that identify them.

`problem_id` is a hash of the problem's content, so the same problem loaded twice
is stored once. `completion_id` is a hash of the *request* (problem, teacher, model
parameters, strategy, sample index): it is the resume key, so a re-run knows which
requests were already paid for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


def content_hash(*parts: str, size: int = 16) -> str:
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")  # unit separator, so ("ab","c") != ("a","bc")
    return h.hexdigest()


@dataclass(frozen=True)
class Problem:
    problem_id: str
    domain: str
    task: str
    source: str
    prompt: str
    answer: str | None
    verifier: str
    difficulty: int | None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, *, domain, task, source, prompt, answer, verifier, difficulty, meta) -> Problem:
        pid = content_hash(domain, task, prompt, answer or "")
        return cls(pid, domain, task, source, prompt, answer, verifier, difficulty, meta)

    def row(self) -> dict[str, Any]:
        row = dict(self.__dict__)  # not asdict(): its deep copy costs more than the insert
        row["meta"] = json.dumps(self.meta, sort_keys=True)
        return row


@dataclass(frozen=True)
class GenParams:
    """The model parameters that change what a teacher writes (part of the resume key)."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 2048
    extra: str = ""  # JSON of extra request fields (GenerateConfig.extra_body), "" for none

    def key(self) -> str:
        fields = asdict(self)
        if not fields["extra"]:
            del fields["extra"]  # keys made before the field existed stay the same
        return json.dumps(fields, sort_keys=True)


def completion_id(problem_id: str, teacher: str, params: GenParams, strategy: str, sample_index: int) -> str:
    return content_hash(problem_id, teacher, params.key(), strategy, str(sample_index))


@dataclass
class Completion:
    completion_id: str
    problem_id: str
    job: str
    teacher: str
    strategy: str
    sample_index: int
    text: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        row = dict(self.__dict__)
        row["meta"] = json.dumps(self.meta, sort_keys=True)
        return row
