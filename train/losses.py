"""GRPO's objective: group-relative advantages, the clipped ratio, k3 KL and three ways
to average per-token losses.

GRPO (Group Relative Policy Optimization, DeepSeekMath): G completions are sampled per
prompt; each completion's advantage is its reward minus the group mean, divided by the
group std (no critic). Every token of a completion shares its advantage. The policy
term is PPO's clipped surrogate, here with separate low / high epsilons (DAPO's
clip-higher: eps_high > eps_low lets unlikely tokens grow). KL to the reference is the
k3 estimator, added per token with weight beta.

The variants differ only in how the per-token losses [N, C] become one number, so each
is a function in LOSSES:
- grpo: mean over each sequence's tokens, then over sequences (long completions weigh
  per token less than short ones);
- dr_grpo (Dr. GRPO, "Understanding R1-Zero-Like Training"): sum / (N * max_tokens), a
  constant normaliser, no length bias; pair it with scale="none" advantages;
- dapo (Decoupled Clip and Dynamic sAmpling Policy Optimization): token-level, the sum
  over all tokens / their number, so every token weighs the same.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-4  # added to the std so an all-equal group gives 0, not 0/0
SCALES = ("group", "batch", "none")


def group_advantages(rewards: Tensor, group_size: int, scale: str = "group") -> Tensor:
    """rewards [N = P*G], consecutive groups of G per prompt -> advantages [N].

    r - group mean, divided by the group std ("group"), the batch std ("batch") or
    nothing ("none"). std is the unbiased sample std, as in DeepSeekMath and TRL.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown reward scaling {scale!r}; choose one of {', '.join(SCALES)}")
    if group_size < 2:
        raise ValueError(f"group_size must be at least 2 for group-relative advantages, got {group_size}")
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries")
    grouped = rewards.float().view(-1, group_size)  # [P, G]
    centred = grouped - grouped.mean(dim=1, keepdim=True)  # [P, G]
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + EPS)
    elif scale == "batch":
        centred = centred / (rewards.float().std() + EPS)
    return centred.reshape(-1)


def k3_kl(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(policy || reference): exp(d) - d - 1 with d = ref - logp.
    Non-negative, 0 where the two agree, unbiased under samples from the policy."""
    diff = ref_logp - logp
    return torch.exp(diff) - diff - 1


def clipped_objective(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, eps_low: float, eps_high: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-token PPO loss -min(r*A, clip(r, 1-eps_low, 1+eps_high)*A) [N, C], with
    r = exp(logp - old_logp) and A [N] broadcast over tokens, plus the boolean masks [N, C]
    of tokens where the clip is active: low (r < 1-eps_low, A < 0) and high
    (r > 1+eps_high, A > 0). Clipped tokens get no gradient."""
    ratio = torch.exp(logp - old_logp)  # [N, C]
    adv = advantages[:, None]  # [N, 1]
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv
    per_token = -torch.min(unclipped, clipped)
    low = (ratio < 1 - eps_low) & (adv < 0)
    high = (ratio > 1 + eps_high) & (adv > 0)
    return per_token, low, high


def loss_grpo(per_token: Tensor, mask: Tensor, max_tokens: int | None = None) -> Tensor:
    """Mean over each sequence's tokens, then mean over sequences. (max_tokens: unused,
    there so every LOSSES entry takes the same arguments.)"""
    per_sequence = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # [N]
    return per_sequence.mean()


def loss_dr_grpo(per_token: Tensor, mask: Tensor, max_tokens: int) -> Tensor:
    """Sum over all tokens / (number of sequences * max_tokens): no length normalisation."""
    if not max_tokens or max_tokens < 1:
        raise ValueError(f"dr_grpo needs max_tokens >= 1 (the generation budget), got {max_tokens}")
    return (per_token * mask).sum() / (per_token.shape[0] * max_tokens)


def loss_dapo(per_token: Tensor, mask: Tensor, max_tokens: int | None = None) -> Tensor:
    """Token-level: sum over all tokens / number of tokens. (max_tokens: unused.)"""
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


LOSSES = {"grpo": loss_grpo, "dr_grpo": loss_dr_grpo, "dapo": loss_dapo}


def policy_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    *,
    loss: str,
    eps_low: float,
    eps_high: float,
    ref_logp: Tensor | None = None,
    beta: float = 0.0,
    max_tokens: int,
) -> tuple[Tensor, dict[str, float]]:
    """The scalar loss for log-probs [N, C] of the completion tokens (mask [N, C]).

    old_logp None means the policy that sampled is the current one (one iteration per
    batch): the ratio is 1 and only its gradient counts. KL (k3, weight beta) is added per
    token before aggregation; `ref_logp` is required when beta > 0. Stats: the share of
    the masked tokens clipped low / high, and the mean k3 KL when `ref_logp` is given.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if beta and ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp (the reference model's log-probs)")
    mask = mask.to(logp.dtype)
    old_logp = logp.detach() if old_logp is None else old_logp
    per_token, low, high = clipped_objective(logp, old_logp, advantages.to(logp.dtype), eps_low, eps_high)
    tokens = mask.sum().clamp(min=1)
    stats = [(low * mask).sum() / tokens, (high * mask).sum() / tokens]
    if ref_logp is not None:
        kl = k3_kl(logp, ref_logp)  # [N, C]
        if beta:
            per_token = per_token + beta * kl
        stats.append((kl.detach() * mask).sum() / tokens)
    total = LOSSES[loss](per_token, mask, max_tokens)
    values = torch.stack([s.detach().float() for s in stats]).tolist()  # one host sync for all stats
    names = ["clip_low_frac", "clip_high_frac", "kl"][: len(values)]
    return total, dict(zip(names, values))


__all__ = [
    "LOSSES",
    "SCALES",
    "clipped_objective",
    "group_advantages",
    "k3_kl",
    "loss_dapo",
    "loss_dr_grpo",
    "loss_grpo",
    "policy_loss",
]
