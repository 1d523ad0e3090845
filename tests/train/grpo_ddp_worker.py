"""GRPO optimisation of one fixed batch, run alone or under torchrun by tests/train/test_distributed.py.

Every rank samples the same global batch (same model, same generator, same prompts), keeps its
shard of the groups and optimises with `train.grpo.optimise`; a single process keeps them all. The
sampling is thereby taken out of the comparison (under a real run each rank samples its own
prompts with its own stream, so the two runs would see different completions): what is compared
is the update of the same global batch. The reward is a toy one, a function of the text alone
(distinct characters), so groups have differing rewards even with an untrained model.

The cases (CASES): the dapo and grpo losses on 4 groups (2 per rank); scale_rewards "batch" on 3
groups (2 and 1: the ranks' own stds differ from the global batch's) and on 1 group (rank 1 has
none and joins the collectives idle).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/train/grpo_ddp_worker.py MODEL RL OUT
"""

from __future__ import annotations

import json
import os
import sys

import torch


def toy_reward(rows, texts, lengths):
    total = torch.tensor([float(len(set(t))) for t in texts])
    return total, {"toy": total}


# case -> (GRPOConfig settings, groups in the global batch)
CASES = {
    "dapo": ({"loss": "dapo"}, 4),
    "grpo": ({"loss": "grpo"}, 4),
    "batch-std": ({"loss": "dapo", "scale_rewards": "batch"}, 3),
    "batch-std-idle-rank": ({"loss": "dapo", "scale_rewards": "batch"}, 1),
}


def run(model_dir: str, data: str, out: str) -> dict:
    """{case: {"stats": [per optimise call], "params": {name: values}, "rewards": [...]}} (written by rank 0)."""
    from train.distributed import all_reduce_mean, barrier, session, shard
    from train.grpo import GRPOConfig, _merge, optimise
    from train.grpo_batch import _batch, _sample_groups, load_prompts
    from train.model import LoraSettings, load_model
    from train.schedule import make_optimizer

    results = {}
    with session("cpu") as dist:
        for case, (settings, count) in CASES.items():
            cfg = GRPOConfig(model=model_dir, data=data, out=out, prompts_per_step=4, group_size=4, max_new_tokens=12,
                             precision="fp32", device="cpu", lr=1e-2, iterations=2, micro_batch_size=3, **settings)  # fmt: skip
            torch.manual_seed(0)
            model, tok = load_model(model_dir, device="cpu", precision="fp32",
                                    lora=LoraSettings(r=4, alpha=8, dropout=0.0))  # fmt: skip
            rows, prompts = load_prompts(cfg, tok)
            groups = _sample_groups(model, tok, rows, prompts, list(range(4)), cfg, toy_reward,
                                    torch.Generator().manual_seed(1), None)[:count]  # fmt: skip
            batch = _batch(model, tok, rows, prompts, shard(groups, dist), cfg, (count, 1, 0))
            optimizer = make_optimizer(model, cfg.lr, 0.0)
            # each rank's stats are its shares of the global batch's; merged as a run logs them
            stats = [_merge({f"train/{k}": v for k, v in optimise(model, None, optimizer, batch, cfg, dist).items()},
                            dist) for _ in range(2)]  # fmt: skip
            params = {
                n: p.detach().reshape(-1).tolist() for n, p in model.named_parameters() if p.requires_grad
            }
            rewards = [r for g in groups for r in g.rewards]
            results[case] = {"stats": stats, "params": params, "rewards": rewards}
        mean_rank = float(all_reduce_mean(torch.tensor([float(dist.rank)]), dist))  # 0.5 on 2 ranks
        barrier(dist)
        if dist.is_main:
            with open(out, "w") as f:
                json.dump({"world_size": dist.world_size, "mean_rank": mean_rank, "results": results}, f)
    return results


if __name__ == "__main__":
    run(*sys.argv[1:4])
    sys.stdout.flush()
    os._exit(0)  # as the cotmill CLI does under torchrun: skip the C++ teardown that now and then aborts
