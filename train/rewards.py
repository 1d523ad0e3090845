"""GRPO rewards: the problem's verifier, the answer format, DAPO's soft overlong penalty.

Each reward is registered by name (`REWARDS`, see verifiers.registry; plugins add theirs
through the `cotmill.rewards` entry points) as a function of a batch,
`(rows, texts, lengths, settings) -> one float per completion`; the total is a weighted
sum (`--reward-weights verifier=1,format=0.1,overlong=1`). The verifier
reward is the same judge that curated the data (the `verifiers` registry), so GRPO
optimises exactly what the dataset was filtered for. Completions are model output, so
they are hostile input: any verifier exception scores 0 and the verifiers bound their
own time (the code sandbox has a wall-clock limit, sympy runs in killable helpers).

Verifying a batch is the slow part of a step for code (a sandboxed run each), so
`compute_rewards` verifies the completions on a thread pool: the code sandbox pool and
the math helper pool are thread-safe and do their work in other processes.

Simplification: the format reward checks only that the final answer is where the
verifier reads it (not that it parses); it is a shaping signal for an untrained model.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import Tensor

import verifiers
from train.data import DataError
from verifiers.answers import answer_kind, has_answer
from verifiers.registry import Registry

# name -> (rows, texts, lengths, settings) -> list[float]; the built-ins below register
# themselves when this module is imported
REWARDS = Registry("reward", builtins=("train.rewards",))
DEFAULT_WEIGHTS = {"verifier": 1.0}
_MAX_THREADS = 32  # verifications in flight; the sandbox pool queues beyond its workers


def parse_weights(text: str | dict | None) -> dict[str, float]:
    """ "verifier=1,format=0.1" (or a dict) -> {name: weight}; None or "" -> verifier only.
    A bad one is a ValueError whose message leaves out the setting's name: the caller
    names it as the user wrote it (train.grpo.check_config: "reward-weights: ...")."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return dict(DEFAULT_WEIGHTS)
    if isinstance(text, dict):
        pairs = list(text.items())
    else:
        pairs = []
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r} is not name=weight (e.g. verifier=1,format=0.1)")
            pairs.append((name.strip(), value.strip()))
    weights = {}
    for name, value in pairs:
        if name not in REWARDS:
            raise ValueError(f"unknown reward {name!r}; known: {', '.join(REWARDS.names())}")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not a number") from None
        if not math.isfinite(weight):
            raise ValueError(f"{name}={value!r} is not finite")
        weights[name] = weight
    if not weights:
        raise ValueError(f"no reward weights in {text!r}")
    return weights


# ---------------------------------------------------------------- the rewards


@dataclass(frozen=True)
class RewardSettings:
    """What a reward may need beyond the completions: the run's generation limits."""

    max_new_tokens: int
    overlong_buffer: int


RewardFn = Callable[[Sequence[dict], Sequence[str], Sequence[int], RewardSettings], list[float]]


def register(name: str, fn: RewardFn | None = None):
    """`@register("brevity")` on `fn(rows, texts, lengths, settings) -> list[float]`, one
    value per completion; `--reward-weights brevity=0.1` then uses it."""
    return REWARDS.register(name, fn)


def _problem(row: dict) -> SimpleNamespace:
    """What the verifiers read: answer (the reference), meta (a dict), task, domain, prompt."""
    meta = row.get("meta")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta) if meta.strip() else {}
        except ValueError:
            meta = {}
    return SimpleNamespace(
        answer=row.get("reference"),
        meta=meta if isinstance(meta, dict) else {},
        task=row.get("task"),
        domain=row.get("domain"),
        prompt=row.get("prompt"),  # the math verifier fails an answer that restates the question
    )


def _verifier(row: dict) -> Callable:
    """The row's verifier; a missing or unknown name is a DataError (the CLI prints it as
    one line), not a 0 reward. The registry loads the built-in and plugin verifiers on
    this first lookup."""
    name = row.get("verifier")
    try:
        return verifiers.get(name)
    except KeyError as exc:
        raise DataError(f"rl row {row.get('problem_id', '?')}: {exc.args[0]}") from None


def verifier_reward(row: dict, text: str) -> float:
    """The verifier's score (0..1) of `text` for the problem of `row`; 0 if it raises."""
    verify = _verifier(row)
    try:
        score = float(verify(_problem(row), text).score)
    except Exception:  # noqa: BLE001 - hostile output must not stop training
        return 0.0
    return score if math.isfinite(score) else 0.0


def format_reward(row: dict, text: str) -> float:
    """1.0 when the final answer is where the row's verifier looks for it, else 0.0: the
    question the curation filter `no_answer` asks (verifiers.answers.has_answer). A plugin's
    own answer kind gets 1.0 everywhere, as the filter gives it no verdict: a constant adds
    nothing to a group's advantages."""
    kind = answer_kind(row.get("domain"), row.get("verifier"))
    if kind is None:
        return 1.0
    try:
        return 1.0 if has_answer(text, kind) else 0.0
    except Exception:  # noqa: BLE001
        return 0.0


def overlong_penalty(length: int, max_new_tokens: int, buffer: int) -> float:
    """DAPO's soft overlong punishment: 0 up to max_new_tokens - buffer tokens, then
    linear down to -1 at max_new_tokens, -1 beyond."""
    if not 0 <= buffer <= max_new_tokens:
        raise ValueError(f"overlong buffer must be in 0..max_new_tokens ({max_new_tokens}), got {buffer}")
    free = max_new_tokens - buffer
    if length <= free:
        return 0.0
    if length > max_new_tokens:
        return -1.0
    return (free - length) / buffer


# ------------------------------------------------------------------- a batch


def _verify_all(rows: Sequence[dict], texts: Sequence[str]) -> list[float]:
    for row in rows:
        _verifier(row)  # unknown names fail loudly here, before any thread starts
    if len(rows) <= 1:
        return [verifier_reward(r, t) for r, t in zip(rows, texts)]
    workers = min(len(rows), _MAX_THREADS, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reward") as pool:
        return list(pool.map(verifier_reward, rows, texts))


def compute_rewards(
    rows: Sequence[dict],
    texts: Sequence[str],
    lengths: Sequence[int],
    *,
    weights: str | dict | None,
    max_new_tokens: int,
    overlong_buffer: int,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Total reward [N] = sum of weight * reward over the weighted rewards, and each of
    those rewards [N] (float32, on the CPU) for logging."""
    if not len(rows) == len(texts) == len(lengths):
        raise ValueError(
            f"rows, texts and lengths differ in length: {len(rows)}, {len(texts)}, {len(lengths)}"
        )
    weights = parse_weights(weights)
    settings = RewardSettings(max_new_tokens, overlong_buffer)
    parts = {}
    for name in weights:
        values = [float(v) for v in REWARDS.get(name)(rows, texts, lengths, settings)]
        if len(values) != len(rows):
            raise ValueError(f"reward {name!r} gave {len(values)} values for {len(rows)} completions")
        parts[name] = torch.tensor(values, dtype=torch.float32)
    total = torch.zeros(len(rows), dtype=torch.float32)
    for name, part in parts.items():
        total += weights[name] * part
    return total, parts


# ------------------------------------------------- the built-in rewards, registered


@register("verifier")
def _verifier_rewards(rows, texts, lengths, settings) -> list[float]:
    return _verify_all(rows, texts)


@register("format")
def _format_rewards(rows, texts, lengths, settings) -> list[float]:
    return [format_reward(r, t) for r, t in zip(rows, texts)]


@register("overlong")
def _overlong_rewards(rows, texts, lengths, settings) -> list[float]:
    return [overlong_penalty(n, settings.max_new_tokens, settings.overlong_buffer) for n in lengths]


__all__ = [
    "DEFAULT_WEIGHTS",
    "REWARDS",
    "RewardSettings",
    "register",
    "compute_rewards",
    "format_reward",
    "overlong_penalty",
    "parse_weights",
    "verifier_reward",
]
