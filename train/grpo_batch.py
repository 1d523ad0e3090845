"""GRPO's batches: prompts drawn in shuffled passes, G completions sampled per prompt, scored
by a reward function, and (with dynamic sampling) all-equal groups dropped and refilled.

A reward function is a plain callable, (rows, texts, lengths) -> (total [N], {name: [N]}), one
row per completion; the default is the verifiers' (`train.rewards.compute_rewards`).

Dynamic sampling (DAPO) keeps only groups whose rewards differ (an all-equal group has zero
advantage and teaches nothing) and draws more prompts to refill the batch: each extra round draws
what is missing divided by the share of groups kept so far (at least 1/4, at most 4x the batch),
for at most `max_sampling_rounds` rounds; a batch still short after that trains on what it has.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch

from train.data import DataError

# --- prompts -----------------------------------------------------------------------------------------


class PromptSampler:
    """Shuffled passes over the prompt pool; its state (epoch, position) goes into checkpoints."""

    def __init__(self, size: int, seed: int, epoch: int = 0, position: int = 0):
        self.size, self.seed, self.epoch, self.position = size, seed, epoch, position

    def _order(self) -> list[int]:
        order = list(range(self.size))
        random.Random(self.seed * 100_003 + self.epoch).shuffle(order)
        return order

    def draw(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            order = self._order()
            take = order[self.position : self.position + k - len(out)]
            out += take
            self.position += len(take)
            if self.position >= self.size:
                self.epoch, self.position = self.epoch + 1, 0
        return out

    def state(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}


def load_prompts(cfg, tokenizer) -> tuple[list[dict], list[list[int]]]:
    """rl export rows with a prompt, verifier and reference, and their encoded prompts."""
    from train.data import encode_prompt, read_export

    rows, prompts = [], []
    for i, row in enumerate(read_export(cfg.data, "train")):
        missing = [k for k in ("prompt", "verifier") if not row.get(k)]
        if missing:
            raise DataError(f"{cfg.data}: row {i} has no {', '.join(missing)} (GRPO needs an rl export)")
        ids = encode_prompt(list(row["prompt"]), tokenizer)
        if len(ids) <= cfg.max_prompt_tokens:
            rows.append(row)
            prompts.append(ids)
    if not rows:
        raise DataError(f"{cfg.data}: no prompt fits max-prompt-tokens {cfg.max_prompt_tokens}")
    return rows, prompts


# --- one step ----------------------------------------------------------------------------------------


# (rows, texts, lengths) -> (total [N], {name: [N]}): one row per completion, as train.rewards.compute_rewards
RewardFn = Callable[[list[dict], list[str], list[int]], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Batch:
    rows: list[dict]  # one per completion (each prompt's row repeated G times)
    rollouts: object  # train.rollout.Rollouts, N = kept prompts * G; None when no group was kept
    rewards: torch.Tensor  # [N] weighted total
    parts: dict[str, torch.Tensor]  # reward name -> [N]
    drawn: int  # prompts sampled this step (all rounds)
    rounds: int
    zero_std_groups: int  # groups drawn whose rewards were all equal


@dataclass
class _Group:
    index: int  # the prompt's row
    completions: list[list[int]]  # G token lists
    rewards: list[float]  # G totals
    parts: dict[str, list[float]]  # reward name -> G values


def _sample(model, tokenizer, prompts, cfg, generator, engine):
    from train.rollout import generate

    kw = {"n": cfg.group_size, "max_new_tokens": cfg.max_new_tokens, "temperature": cfg.temperature,
          "top_p": cfg.top_p}  # fmt: skip
    if engine is not None:
        seed = int(torch.randint(0, 2**31, (1,), generator=generator))
        return engine.generate(model, tokenizer, prompts, seed=seed, **kw)
    return generate(model, tokenizer, prompts, generator=generator, **kw)


def verifier_rewards(weights: dict[str, float], cfg) -> RewardFn:
    """The run's reward function: weighted verifier / format / overlong rewards (train.rewards)."""
    from train.rewards import compute_rewards

    def score(rows, texts, lengths):
        return compute_rewards(rows, texts, lengths, weights=weights, max_new_tokens=cfg.max_new_tokens,
                               overlong_buffer=cfg.overlong_buffer)  # fmt: skip

    return score


def _sample_groups(model, tokenizer, rows, prompts, picks, cfg, reward_fn, generator, engine) -> list[_Group]:
    """Sample and score G completions for each picked prompt."""
    g = cfg.group_size
    out = _sample(model, tokenizer, [prompts[i] for i in picks], cfg, generator, engine)
    total, parts = reward_fn([rows[i] for i in picks for _ in range(g)], out.texts, out.lengths)
    ids = out.completion_ids.tolist()
    groups = []
    for j, i in enumerate(picks):
        part = slice(j * g, (j + 1) * g)
        completions = [r[:n] for r, n in zip(ids[part], out.lengths[part])]
        groups.append(
            _Group(i, completions, total[part].tolist(), {k: v[part].tolist() for k, v in parts.items()})
        )
    return groups


def collect_batch(model, tokenizer, rows, prompts, sampler, cfg, reward_fn: RewardFn, generator,
                  engine=None) -> Batch:  # fmt: skip
    """Sample and score groups until the batch holds cfg.prompts_per_step of them (with dynamic
    sampling: of mixed rewards, within the round limit). Its rollouts are None if none was kept."""
    want = cfg.prompts_per_step
    kept: list[_Group] = []
    drawn = rounds = zero_std = 0
    while len(kept) < want and rounds <= (cfg.max_sampling_rounds if cfg.dynamic_sampling else 0):
        rate = len(kept) / drawn if drawn else 1.0  # draw more when most groups were dropped so far
        picks = sampler.draw(min(math.ceil((want - len(kept)) / max(rate, 0.25)), 4 * want))
        groups = _sample_groups(model, tokenizer, rows, prompts, picks, cfg, reward_fn, generator, engine)
        flat = [max(gr.rewards) == min(gr.rewards) for gr in groups]
        drawn, rounds, zero_std = drawn + len(picks), rounds + 1, zero_std + sum(flat)
        kept += [gr for gr, f in zip(groups, flat) if not (f and cfg.dynamic_sampling)]
    return _batch(model, tokenizer, rows, prompts, kept[:want], cfg, (drawn, rounds, zero_std))


def _batch(model, tokenizer, rows, prompts, kept: list[_Group], cfg, counts) -> Batch:
    """Kept groups -> one Batch, completions padded to the longest kept one."""
    from train.rollout import eos_ids, pad_id, rollouts_from_tokens

    g = cfg.group_size
    if not kept:
        return Batch([], None, torch.zeros(0), {}, *counts)
    device = next(model.parameters()).device
    rollouts = rollouts_from_tokens(tokenizer, [prompts[gr.index] for gr in kept],
                                    [c for gr in kept for c in gr.completions], n=g,
                                    stop_ids=eos_ids(model, tokenizer), pad=pad_id(tokenizer),
                                    max_new_tokens=cfg.max_new_tokens, device=device)  # fmt: skip
    rewards = torch.tensor([r for gr in kept for r in gr.rewards], dtype=torch.float32)
    parts = {
        k: torch.tensor([v for gr in kept for v in gr.parts[k]], dtype=torch.float32) for k in kept[0].parts
    }
    return Batch([rows[gr.index] for gr in kept for _ in range(g)], rollouts, rewards, parts, *counts)
