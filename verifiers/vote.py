"""Self-consistency: the majority answer of a problem's samples, by answer equivalence.

    result = vote(["1/2", "0.5", "3", None], equivalent)
    result.answer     # "1/2": the first member of the largest cluster
    result.agreement  # 0.5: cluster size over ALL samples, the ones with no answer included
    result.members    # [0, 1]: indices into the input

Samples are clustered greedily in input order: each answer joins the first cluster
whose representative (its first member) is equivalent to it, else starts a new one.
Equivalence is called as `equivalent(representative, candidate)`, so with a
gold-first comparison the earlier answer plays the reference. Ties between clusters
of equal size go to the cluster whose first member came first. None and blank
answers are counted in the total but never clustered. A comparison that raises
counts as "not equivalent". Exact duplicates are compared once, so n samples with k
distinct strings cost at most k * (clusters) comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

VERSION = "1"


@dataclass
class VoteResult:
    answer: str | None  # representative of the majority cluster; None when no sample had an answer
    agreement: float  # majority cluster size / number of samples (0.0 when there are none)
    members: list[int] = field(default_factory=list)  # sample indices in the majority cluster
    clusters: list[list[int]] = field(default_factory=list)  # every cluster, largest first
    total: int = 0  # number of samples, including those without an answer
    answers: list[str | None] = field(default_factory=list)  # each sample's answer, as read

    @property
    def votes(self) -> int:
        return len(self.members)


def vote(answers: list[str | None], equivalent: Callable[[str, str], bool]) -> VoteResult:
    """Cluster `answers` by `equivalent` and return the majority (see the module doc)."""
    total = len(answers)
    reps: list[str] = []
    clusters: list[list[int]] = []
    same_as: dict[str, int] = {}  # exact string -> its cluster
    for i, answer in enumerate(answers):
        if not isinstance(answer, str) or not answer.strip():
            continue
        key = answer.strip()
        k = same_as.get(key)
        if k is None:
            k = next((j for j, rep in enumerate(reps) if _safe(equivalent, rep, key)), None)
            if k is None:
                reps.append(key)
                clusters.append([])
                k = len(reps) - 1
            same_as[key] = k
        clusters[k].append(i)
    if not clusters:
        return VoteResult(None, 0.0, [], [], total, list(answers))
    # largest first; among equals the one that appeared first (clusters are created in order)
    order = sorted(range(len(clusters)), key=lambda j: (-len(clusters[j]), clusters[j][0]))
    best = order[0]
    members = clusters[best]
    return VoteResult(
        answer=reps[best],
        agreement=len(members) / total,
        members=list(members),
        clusters=[list(clusters[j]) for j in order],
        total=total,
        answers=list(answers),
    )


def _safe(equivalent: Callable[[str, str], bool], a: str, b: str) -> bool:
    try:
        return bool(equivalent(a, b))
    except Exception:  # a comparison that fails says nothing about equivalence
        return False


def _read(texts: list[str | None], extract: Callable[[str], str | None]) -> list[str | None]:
    answers: list[str | None] = []
    for text in texts:
        try:
            answers.append(extract(text) if isinstance(text, str) else None)
        except Exception:
            answers.append(None)
    return answers


def vote_math(texts: list[str | None]) -> VoteResult:
    """Majority vote over math responses: `verifiers.math.extract` reads each answer,
    `verifiers.math.equivalent` decides which agree."""
    from verifiers.math import equivalent, extract  # lazily: math imports heavier things

    return vote(_read(texts, extract), equivalent)


def vote_texts(texts: list[str | None], domain: str) -> VoteResult:
    """Majority vote over responses of any domain: math by answer equivalence,
    anything else by the normalised final answer (the last \\boxed{} or Answer: line).
    Code has no answer to vote on: its samples are judged by tests instead."""
    if domain == "math":
        return vote_math(texts)
    if domain == "code":
        return VoteResult(None, 0.0, [], [], len(texts), [None] * len(texts))
    from verifiers.answers import final_answer
    from verifiers.logic import normalised

    return vote(_read(texts, final_answer), lambda a, b: normalised(a) == normalised(b))


__all__ = ["VERSION", "VoteResult", "vote", "vote_math", "vote_texts"]
