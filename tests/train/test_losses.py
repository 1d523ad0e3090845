"""train.losses against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from train.losses import (
    EPS,
    LOSSES,
    clipped_objective,
    group_advantages,
    k3_kl,
    loss_dapo,
    loss_dr_grpo,
    loss_grpo,
    policy_loss,
)

REWARDS = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])  # two prompts, groups of 4


def close(got, want):
    torch.testing.assert_close(got, torch.as_tensor(want, dtype=torch.float32), atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------------ advantages


def test_group_advantages_by_hand():
    # group 1: mean 0.5, unbiased std sqrt(4 * 0.25 / 3); group 2: all equal -> 0
    std = math.sqrt(1 / 3)
    a = 0.5 / (std + EPS)
    close(group_advantages(REWARDS, 4), [a, -a, -a, a, 0, 0, 0, 0])
    close(group_advantages(REWARDS, 4, scale="none"), [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0])
    # batch: mean 1.25, squared deviations sum to 5.5 -> std sqrt(5.5 / 7)
    b = 0.5 / (math.sqrt(5.5 / 7) + EPS)
    close(group_advantages(REWARDS, 4, scale="batch"), [b, -b, -b, b, 0, 0, 0, 0])


def test_all_equal_rewards_give_zero_advantage():
    for scale in ("group", "batch", "none"):
        assert torch.equal(group_advantages(torch.full((6,), 0.7), 3, scale=scale), torch.zeros(6))


def test_group_advantages_refuse_bad_input():
    with pytest.raises(ValueError, match="scaling"):
        group_advantages(REWARDS, 4, scale="mean")
    with pytest.raises(ValueError, match="at least 2"):
        group_advantages(REWARDS, 1)
    with pytest.raises(ValueError, match="multiple"):
        group_advantages(REWARDS, 3)


# ---------------------------------------------------------------------- k3 KL


def test_k3_kl_is_zero_when_equal_and_positive_otherwise():
    logp = torch.randn(4, 7, generator=torch.Generator().manual_seed(0), requires_grad=True)
    equal = k3_kl(logp, logp.detach())
    assert torch.equal(equal, torch.zeros_like(equal))
    equal.sum().backward()
    assert torch.equal(logp.grad, torch.zeros_like(logp))  # the minimum: no pull either way
    other = torch.randn(4, 7, generator=torch.Generator().manual_seed(1))
    assert (k3_kl(logp.detach(), other) > 0).all()
    # ref - logp = ln 2: 2 - ln 2 - 1
    close(k3_kl(torch.tensor([0.0]), torch.tensor([math.log(2)])), [1 - math.log(2)])


# ------------------------------------------------------------------- clipping


def test_clipped_objective_by_hand():
    ratios = torch.tensor([[1.5, 0.5, 1.0, 1.1], [1.5, 0.5, 1.0, 1.1]])
    logp = ratios.log().requires_grad_()
    old = torch.zeros(2, 4)
    per_token, low, high = clipped_objective(logp, old, torch.tensor([1.0, -1.0]), 0.2, 0.28)
    # A = +1: -min(r, clip(r)); A = -1: max(r, clip(r)), clip to [0.8, 1.28]
    close(per_token, [[-1.28, -0.5, -1.0, -1.1], [1.5, 0.8, 1.0, 1.1]])
    assert high.tolist() == [[True, False, False, False], [False] * 4]
    assert low.tolist() == [[False] * 4, [False, True, False, False]]
    per_token.sum().backward()
    # d/dlogp of -r*A is -r*A where the clip is inactive, 0 where it is active
    close(logp.grad, [[0.0, -0.5, -1.0, -1.1], [1.5, 0.0, 1.0, 1.1]])


# ---------------------------------------------------------------- aggregation

PER_TOKEN = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 9.0, 9.0, 9.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])  # lengths 4 and 1


def test_aggregations_by_hand_with_different_lengths():
    close(loss_grpo(PER_TOKEN, MASK), (1.0 + 3.0) / 2)  # sequence means 1 and 3
    close(loss_dapo(PER_TOKEN, MASK), (4.0 + 3.0) / 5)  # 5 tokens weigh the same
    close(loss_dr_grpo(PER_TOKEN, MASK, max_tokens=8), (4.0 + 3.0) / (2 * 8))
    assert set(LOSSES) == {"grpo", "dr_grpo", "dapo"}


def test_grpo_and_dapo_agree_when_lengths_are_equal():
    full = torch.ones_like(MASK)
    close(loss_grpo(PER_TOKEN, full), loss_dapo(PER_TOKEN, full))
    close(loss_dr_grpo(PER_TOKEN, full, max_tokens=4), loss_dapo(PER_TOKEN, full))


def test_dr_grpo_needs_max_tokens():
    with pytest.raises(ValueError, match="max_tokens"):
        loss_dr_grpo(PER_TOKEN, MASK, max_tokens=0)


# ---------------------------------------------------------------- policy_loss


def test_on_policy_loss_and_gradient():
    """old_logp None: ratio 1, so the loss is -A aggregated and d loss / d logp = -A * weight."""
    logp = torch.full((2, 4), -1.0, requires_grad=True)
    adv = torch.tensor([1.0, -1.0])
    loss, stats = policy_loss(logp, None, adv, MASK, loss="dapo", eps_low=0.2, eps_high=0.28, max_tokens=4)
    close(loss, (-4.0 + 1.0) / 5)
    loss.backward()
    close(logp.grad, -adv[:, None] * MASK / 5)
    assert stats == {"clip_low_frac": 0.0, "clip_high_frac": 0.0}

    logp.grad = None
    loss, _ = policy_loss(logp, None, adv, MASK, loss="grpo", eps_low=0.2, eps_high=0.28, max_tokens=4)
    close(loss, 0.0)  # sequence means -1 and +1
    loss.backward()
    close(logp.grad, [[-0.125] * 4, [0.5, 0, 0, 0]])  # 1 / (2 sequences * length)


def test_clip_fractions_count_masked_tokens_only():
    old = torch.zeros(2, 4)
    logp = torch.tensor([[math.log(1.5), 0, 0, 0], [math.log(0.5), math.log(0.5), 0, 0]])
    adv = torch.tensor([1.0, -1.0])
    _, stats = policy_loss(logp, old, adv, MASK, loss="grpo", eps_low=0.2, eps_high=0.28, max_tokens=4)
    # 5 real tokens: one clipped high (row 0), one clipped low (row 1's second is padding)
    assert stats["clip_high_frac"] == pytest.approx(1 / 5)
    assert stats["clip_low_frac"] == pytest.approx(1 / 5)


def test_kl_term_is_added_per_token_with_beta():
    logp = torch.full((2, 4), -1.0)
    ref = torch.full((2, 4), -1.0 + math.log(2))  # k3 = 1 - ln 2 on every token
    adv = torch.tensor([1.0, -1.0])
    kw = dict(loss="dapo", eps_low=0.2, eps_high=0.28, max_tokens=4, ref_logp=ref)
    plain, stats = policy_loss(logp, None, adv, MASK, **kw)
    with_kl, _ = policy_loss(logp, None, adv, MASK, beta=0.1, **kw)
    assert stats["kl"] == pytest.approx(1 - math.log(2))
    close(with_kl - plain, 0.1 * (1 - math.log(2)))
    with pytest.raises(ValueError, match="ref_logp"):
        policy_loss(logp, None, adv, MASK, loss="dapo", eps_low=0.2, eps_high=0.2, beta=0.1, max_tokens=4)


def test_variants_are_looked_up_in_losses(monkeypatch):
    monkeypatch.setitem(LOSSES, "sum", lambda per_token, mask, max_tokens: (per_token * mask).sum())
    logp = torch.zeros(2, 4)
    loss, _ = policy_loss(
        logp, None, torch.tensor([1.0, 2.0]), MASK, loss="sum", eps_low=0.2, eps_high=0.2, max_tokens=4
    )
    close(loss, -(4 * 1.0 + 1 * 2.0))
    with pytest.raises(ValueError, match="unknown loss"):
        policy_loss(logp, None, torch.zeros(2), MASK, loss="ppo", eps_low=0.2, eps_high=0.2, max_tokens=4)
