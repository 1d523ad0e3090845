"""train.grpo_batch: shuffled prompt passes, groups sampled and scored, dynamic sampling."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from train.grpo import GRPOConfig  # noqa: E402
from train.grpo_batch import PromptSampler, collect_batch  # noqa: E402

QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]


def test_prompt_sampler_passes_cover_the_pool_and_resume_from_state():
    sampler = PromptSampler(5, seed=1)
    first = sampler.draw(3) + sampler.draw(4)  # crosses into the second pass
    assert sorted(first[:5]) == [0, 1, 2, 3, 4] and sampler.state() == {"epoch": 1, "position": 2}
    again = PromptSampler(5, seed=1, **sampler.state())
    assert again.draw(6) == sampler.draw(6)
    assert PromptSampler(5, seed=2).draw(5) != PromptSampler(5, seed=1).draw(5)


def _flat_or_mixed(rows, texts, lengths):
    """Rows marked flat get 1.0 for every completion; the others alternate 0/1 within a group."""
    r = torch.tensor([1.0 if row["flat"] else float(i % 2) for i, row in enumerate(rows)])
    return r, {"toy": r}


def test_dynamic_sampling_drops_equal_groups_and_refills(tiny_model_dir):
    from train.model import load_model

    model, tok = load_model(tiny_model_dir)
    rows = [{"prompt": QUESTION, "flat": i % 3 != 0} for i in range(9)]  # 3 mixed, 6 flat
    prompts = [[5 + i, 6, 7] for i in range(9)]
    gen = torch.Generator().manual_seed(0)
    cfg = GRPOConfig(
        model="m",
        data="d",
        out="o",
        prompts_per_step=3,
        group_size=4,
        max_new_tokens=2,
        dynamic_sampling=True,
    )

    batch = collect_batch(model, tok, rows, prompts, PromptSampler(9, 0), cfg, _flat_or_mixed, gen)
    assert len(batch.rows) == 3 * 4 and not any(r["flat"] for r in batch.rows)
    assert batch.rollouts.prompt_ids.shape[0] == 12 and bool((batch.rewards.view(3, 4).std(1) > 0).all())
    picks = PromptSampler(9, 0).draw(batch.drawn)  # the same draws, to count the flat groups among them
    assert batch.drawn > 3 and batch.rounds > 1
    assert batch.zero_std_groups == sum(rows[i]["flat"] for i in picks)

    cfg.dynamic_sampling = False  # without it, flat groups are trained on (with zero advantage)
    plain = collect_batch(model, tok, rows, prompts, PromptSampler(9, 0), cfg, _flat_or_mixed, gen)
    assert (plain.drawn, plain.rounds, len(plain.rows)) == (3, 1, 12)
    assert any(r["flat"] for r in plain.rows)

    cfg.dynamic_sampling = True
    flat = [{**r, "flat": True} for r in rows]
    none = collect_batch(model, tok, flat, prompts, PromptSampler(9, 0), cfg, _flat_or_mixed, gen)
    # only all-equal groups: 3 prompts, then 4x the batch in each of the 3 extra rounds, and no batch
    assert none.rollouts is None and none.rows == []
    assert (none.rounds, none.drawn, none.zero_std_groups) == (4, 39, 39)
