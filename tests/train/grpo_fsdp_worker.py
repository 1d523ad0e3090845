"""GRPO optimisation of one fixed batch with a full (not LoRA) model, sharded with --fsdp under
torchrun or plain in one process; run by tests/train/test_fsdp.py. As grpo_ddp_worker.py: every
rank samples the same global batch (same generator, the sharded model's weights gathered for the
sampling, as a run does) and keeps its shard of the groups; one process keeps them all.

The cases (CASES) make the ranks run different numbers of forwards, which FSDP only survives
when they pad to the same count: 3 groups (2 and 1 per rank: 3 micro-batches of 3 on rank 0, 2
on rank 1) with old log-probs (iterations 2) and a sharded frozen reference (beta > 0); 1 group
(rank 1 idle, joining every forward and backward with zero-weighted ones).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/train/grpo_fsdp_worker.py MODEL RL OUT
"""

from __future__ import annotations

import json
import os
import sys

import torch

# case -> (GRPOConfig settings, groups in the global batch)
CASES = {
    "uneven-kl": ({"loss": "dapo", "beta": 0.1}, 3),
    "idle-rank": ({"loss": "grpo", "scale_rewards": "batch"}, 1),
}


def toy_reward(rows, texts, lengths):
    total = torch.tensor([float(len(set(t))) for t in texts])
    return total, {"toy": total}


def run(model_dir: str, data: str, out: str) -> dict:
    """{case: {"stats": [per optimise call], "params": {name: values}, "rewards": [...]}} (written by rank 0)."""
    from train import fsdp
    from train.distributed import barrier, session, shard
    from train.grpo import GRPOConfig, _load, _merge, optimise
    from train.grpo_batch import _batch, _sample_groups, load_prompts
    from train.schedule import make_optimizer

    results = {}
    with session("cpu") as dist:
        for case, (settings, count) in CASES.items():
            cfg = GRPOConfig(model=model_dir, data=data, out=out, prompts_per_step=4, group_size=4, max_new_tokens=12,
                             precision="fp32", device="cpu", lr=1e-3, iterations=2, micro_batch_size=3, lora=False,
                             fsdp=dist.enabled, **settings)  # fmt: skip
            torch.manual_seed(0)
            model, tok, ref_model = _load(cfg, "cpu", dist)
            rows, prompts = load_prompts(cfg, tok)
            with fsdp.gathered(model):
                groups = _sample_groups(model, tok, rows, prompts, list(range(4)), cfg, toy_reward,
                                        torch.Generator().manual_seed(1), None)[:count]  # fmt: skip
            batch = _batch(model, tok, rows, prompts, shard(groups, dist), cfg, (count, 1, 0))
            optimizer = make_optimizer(model, cfg.lr, 0.0)
            stats = [_merge({f"train/{k}": v for k, v in optimise(model, ref_model, optimizer, batch, cfg, dist).items()},
                            dist) for _ in range(2)]  # fmt: skip
            weights = fsdp.full_state(model)[0] if dist.enabled else model.state_dict()  # rank 0's
            params = {n: p.reshape(-1).tolist() for n, p in weights.items()}
            rewards = [r for g in groups for r in g.rewards]
            results[case] = {"stats": stats, "params": params, "rewards": rewards}
        barrier(dist)
        if dist.is_main:
            with open(out, "w") as f:
                json.dump({"world_size": dist.world_size, "results": results}, f)
    return results


if __name__ == "__main__":
    run(*sys.argv[1:4])
    sys.stdout.flush()
    os._exit(0)  # as the cotmill CLI does under torchrun: skip the C++ teardown that now and then aborts
