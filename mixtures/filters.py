"""Quality filters on completions: each is a plain function from a completion row to a
drop reason (or None), in the spirit of datatrove's filters with built-in reasons.

A row is a dict with the completion's `text`, `finish_reason`, `completion_tokens`
and its problem's `domain`. Verification is not a filter here: it needs the
verdicts table and is a query in `mixtures.curate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mixtures.dedup import words
from mixtures.defaults import MAX_REPETITION
from verifiers.answers import answer_kind, has_answer

_THINK = re.compile(r"<think>\s*\S.*?</think>", re.S)

# word 8-grams: a loop repeats long spans, while normal CoT repeats short phrases ("can only
# be in house"); on 1,500 builtin-teacher completions of every task the 8-gram ratio stays
# at or below 0.46 (4-grams reach 0.55 on zebra), while a looping text scores about 0.96
REPETITION_NGRAM = 8


@dataclass(frozen=True)
class FilterConfig:
    # share of repeated word 8-grams above which a completion counts as looping
    max_repetition: float = MAX_REPETITION
    min_tokens: int | None = None
    max_tokens: int | None = None
    require_think: bool = False


def truncated(row: dict) -> str | None:
    return "finish_reason=length" if row.get("finish_reason") == "length" else None


def has_final_answer(domain: str, text: str, verifier: str | None = None) -> bool:
    """verifiers.answers.has_answer for the problem's answer kind (the GRPO format reward
    asks the same); a kind whose answers we do not know how to read gets no verdict."""
    kind = answer_kind(domain, verifier)
    return has_answer(text, kind) if kind is not None else True


def no_answer(row: dict) -> str | None:
    domain = row.get("domain") or ""
    if has_final_answer(domain, row.get("text") or "", row.get("verifier")):
        return None
    return f"no final answer ({domain})"


def repetition_ratio(text: str, n: int = REPETITION_NGRAM) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for none, near 1 for a loop."""
    tokens = words(text)
    total = len(tokens) - n + 1
    if total <= 1:
        return 0.0
    distinct = len({tuple(tokens[i : i + n]) for i in range(total)})
    return 1.0 - distinct / total


def make_filters(cfg: FilterConfig) -> dict[str, Callable[[dict], str | None]]:
    """reason -> filter, for the filters this configuration switches on."""

    def repetition(row: dict) -> str | None:
        ratio = repetition_ratio(row.get("text") or "")
        return f"{ratio:.2f} > {cfg.max_repetition}" if ratio > cfg.max_repetition else None

    def length(row: dict) -> str | None:
        tokens = row.get("completion_tokens")
        if tokens is None:
            return None
        if cfg.min_tokens is not None and tokens < cfg.min_tokens:
            return f"{tokens} < {cfg.min_tokens} tokens"
        if cfg.max_tokens is not None and tokens > cfg.max_tokens:
            return f"{tokens} > {cfg.max_tokens} tokens"
        return None

    def think_format(row: dict) -> str | None:
        return None if _THINK.search(row.get("text") or "") else "no <think>...</think> block"

    filters: dict[str, Callable[[dict], str | None]] = {
        "truncated": truncated,
        "no_answer": no_answer,
        "repetition": repetition,
    }
    if cfg.min_tokens is not None or cfg.max_tokens is not None:
        filters["length"] = length
    if cfg.require_think:
        filters["format"] = think_format
    return filters
