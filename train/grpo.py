"""GRPO with verifier rewards: the training loop.

One step: draw prompts -> sample G completions each (`train.rollout`) -> score them with the
verifiers (plus optional format reward and DAPO's soft overlong penalty, `train.rewards`) ->
group-relative advantages -> `iterations` (mu) optimiser steps on the clipped objective
(`train.losses`), log-probs computed in chunks (`train.logprobs`).

What is simplified, and why:
- Old log-probs are recomputed only when mu > 1. With mu == 1 the policy that sampled is the one
  being trained, so the ratio is exactly 1 and only its gradient matters: the detached current
  log-probs stand in for the old ones and a forward pass is saved.
- The KL reference (beta > 0) is the same model with its LoRA adapter disabled (no second copy).
  With --no-lora (lora: false) there is no adapter to disable, so a frozen deep copy of the starting model is kept:
  twice the weights in memory, which is why LoRA is the default.
- Batches (prompt order, sampling, rewards, dynamic sampling) are built in `train.grpo_batch`.
- Defaults follow DAPO (token-level loss, clip-higher eps_high 0.28, no KL) with LoRA dropout 0,
  so the trained log-probs are those of the policy that sampled.
- One learning-rate schedule step per GRPO step, whatever mu is.
- The sampling generator is re-seeded from (seed, step) every step, so a resumed run samples what
  the uninterrupted one would have.

Under torchrun (`train.distributed`) each rank draws prompts_per_step prompts from its own shard
of the prompt pool (rank r of N: every N-th prompt from the r-th), samples and scores their groups
(a group never leaves its rank), computes the advantages within its groups and its loss with the
normalisers of the whole global batch (completions and tokens summed over the ranks); the
gradients are summed over the ranks, so the step is the one a single process makes on the union
of the ranks' groups (scale_rewards "batch" divides by the std of the global batch's rewards).
Exception: vLLM is not used (each rank samples with its own model). The logged values are merged
over the ranks into those of the global batch (sums for counts and the loss, max for maxima, the
reward and completion values weighted by the ranks' groups, reward stds pooled); rank 0 alone writes.

With --fsdp (a full model sharded by `train.fsdp`) each forward is a collective, so: sampling
runs on the weights gathered once per step (`fsdp.gathered`: ranks then decode freely), and the
scoring and training passes run in lockstep, every rank running the largest rank's number of
micro-batches, the extra ones zero-weighted (`_lockstep`, `_padding`).
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from train.data import check_export
from train.distributed import Dist, all_reduce_sum, broadcast_parameters, global_std, session, sum_gradients
from train.grpo_batch import Batch, PromptSampler, RewardFn, collect_batch, load_prompts, verifier_rewards
from train.grpo_config import GRPOConfig, GRPOError, GRPOResult  # noqa: F401 - run_grpo's API

SINGLE = Dist()  # a run without torchrun
# logged values that add up over the ranks (the loss and clip shares are weighted by global shares)
_SUMMED = {"train/loss", "train/clip_low_frac", "train/clip_high_frac", "train/kl", "train/trained_completions",
           "train/nonzero_adv_completions", "groups/trained", "sampling/prompts_drawn"}  # fmt: skip

# said once per run when a step trained no completion (see run_grpo's `note`)
IDLE_STEP_WARNING = (
    "step {step}: no completion was trained: in every group all {g} completions got the same reward "
    "(reward mean {reward}, {truncated} of the completions cut off at max-new-tokens), so every advantage "
    "is 0 and the step changed nothing. The task is too hard or too easy for this model, or the completions "
    "are truncated (raise --max-new-tokens); --dynamic-sampling draws more prompts to find groups that differ."
)


def check_config(cfg: GRPOConfig) -> dict[str, float]:
    """The parsed reward weights; raise GRPOError naming the setting when they are bad (the
    model's own fields were checked when it was built)."""
    from train.rewards import parse_weights

    try:
        weights = parse_weights(cfg.reward_weights)
    except ValueError as e:
        raise GRPOError(f"reward-weights: {e}") from None
    if cfg.overlong_buffer and "overlong" not in weights:
        weights["overlong"] = 1.0  # a buffer asks for the penalty; DAPO weighs it 1
    if "overlong" in weights and not cfg.overlong_buffer:
        raise GRPOError("the overlong reward needs --overlong-buffer > 0 (the tokens over which it ramps)")
    return weights


def _logprobs(model, ids, mask, start, cfg, with_entropy=False):
    """Per-token log-probs [N, C] (and entropy) of the completions, at the sampling temperature.
    A group's rows share their prompt, so each distinct prompt runs once (share_prompts; not
    sharded)."""
    from train.fsdp import call, is_sharded
    from train.logprobs import sequence_logprobs

    # sharded: one pass (running a layer twice, prompts then completions, would gather and
    # reduce its weights twice); `call` gathers the root's weights (embeddings, norm, head)
    return call(model, lambda: sequence_logprobs(model, ids, mask, start, chunk_size=cfg.logprob_chunk,
                                                 temperature=cfg.temperature, with_entropy=with_entropy,
                                                 share_prompts=not is_sharded(model)))  # fmt: skip


def _lockstep(count: int, model, dist: Dist) -> int:
    """How many micro-batches this rank runs: its own count, or under --fsdp (each forward
    through a sharded model is a collective) the largest count of any rank, the extra ones
    zero-weighted `_padding`."""
    from train.fsdp import is_sharded

    if not is_sharded(model):
        return count
    import torch.distributed as td

    most = torch.tensor([float(count)], device=next(model.parameters()).device)
    td.all_reduce(most, op=td.ReduceOp.MAX)
    return int(most.item())


def _padding(model, cfg: GRPOConfig, backward: bool) -> None:
    """A micro-batch that joins the sharded forward (and backward) with nothing: one token scored
    on a one-token prompt, weighted 0."""
    device = next(model.parameters()).device
    ids = torch.zeros((1, 2), dtype=torch.long, device=device)
    logp, _ = _logprobs(model, ids, torch.ones_like(ids), 1, cfg)
    if backward:
        (logp.sum() * 0.0).backward()


def _fixed_logprobs(model, ref_model, ids, attn, start, cfg, micro, pad: int = 0) -> tuple:
    """Old log-probs (mu > 1 only) and reference log-probs (beta > 0 only), [N, C] each or None
    (None without micro-batches); `pad` zero-weighted micro-batches after each (--fsdp lockstep)."""
    from train.model import reference_context

    def score(m):
        parts = [_logprobs(m, ids[s], attn[s], start, cfg)[0] for s in micro]
        for _ in range(pad):
            _padding(m, cfg, backward=False)
        return torch.cat(parts) if parts else None

    with torch.no_grad():
        old = score(model) if cfg.iterations > 1 else None
        if cfg.beta <= 0:
            return old, None
        if ref_model is not None:
            return old, score(ref_model)
        with reference_context(model):  # the adapter switched off: the starting model
            return old, score(model)


def _trained_rows(adv, loss_mask, cfg: GRPOConfig):
    """Indices [n] of the completions whose loss can be non-zero. Without KL (beta 0) a completion
    with zero advantage (its group's rewards all equal) or no unmasked token adds exactly zero to
    the gradient, so it is left out of the forward and backward passes; it still counts in the
    loss's normaliser, so the update is the one the whole batch gives."""
    if cfg.beta > 0:
        return torch.arange(adv.shape[0], device=adv.device)
    return ((adv != 0) & (loss_mask.sum(dim=1) > 0)).nonzero().squeeze(1)


def optimise(
    model, ref_model, optimizer, batch: Batch, cfg: GRPOConfig, dist: Dist = SINGLE
) -> dict[str, float]:
    """mu optimiser steps on one batch of rollouts; returns the training stats (means over the steps;
    entropy over the completions trained on). Under torchrun the batch is this rank's share of the
    global one (None rollouts: this rank kept no group and adds zero gradients); the loss is
    normalised by the global batch and the gradients summed over the ranks, so the stats it
    returns are this rank's shares, to be summed (see `_merge`)."""
    from train.losses import policy_loss

    if batch.rollouts is None:
        return _idle_share(model, ref_model, optimizer, cfg, dist)
    r = batch.rollouts
    loss_mask = r.completion_mask.float()  # [N, C]
    if cfg.mask_truncated:
        loss_mask = loss_mask * (~torch.tensor(r.truncated, device=loss_mask.device))[:, None].float()
    adv = _advantages(batch.rewards, cfg, dist, loss_mask.device)  # [N]
    n, tokens = adv.shape[0], loss_mask.sum().clamp(min=1)  # the normalisers of the whole batch
    if dist.enabled:  # ... of the whole global batch: every rank's completions and tokens
        both = all_reduce_sum(
            torch.stack([torch.tensor(float(n), device=loss_mask.device), loss_mask.sum()]), dist
        )
        n, tokens = float(both[0]), both[1].clamp(min=1)
    # completions the reward can move: a non-zero advantage and a token with a loss
    signal = int(((adv != 0) & (loss_mask.sum(dim=1) > 0)).sum())
    rows = _trained_rows(adv, loss_mask, cfg)
    ids = torch.cat([r.prompt_ids, r.completion_ids], dim=1)[rows]  # [n, P+C]
    attn = torch.cat([r.prompt_mask, r.completion_mask], dim=1)[rows]  # [n, P+C]
    adv, loss_mask, start = adv[rows], loss_mask[rows], r.prompt_ids.shape[1]
    size = cfg.micro_batch_size or max(1, len(rows))
    micro = [slice(i, min(i + size, len(rows))) for i in range(0, len(rows), size)]
    # before any forward: a sharded model's parameters() name the gathered root weights until backward
    params = [p for p in model.parameters() if p.requires_grad]
    runs = _lockstep(len(micro), model, dist)  # --fsdp: every rank runs as many forwards
    pad = runs - len(micro)
    old, ref = _fixed_logprobs(model, ref_model, ids, attn, start, cfg, micro, pad) if runs else (None, None)
    stats: dict[str, float] = {"loss": 0.0, "clip_low_frac": 0.0, "clip_high_frac": 0.0}
    entropy = 0.0
    for it in range(cfg.iterations):
        for s in micro:
            logp, ent = _logprobs(model, ids[s], attn[s], start, cfg, with_entropy=it == 0)
            loss, values = policy_loss(logp, None if old is None else old[s], adv[s], loss_mask[s], loss=cfg.loss,
                                       eps_low=cfg.epsilon_low, eps_high=cfg.eps_high(), beta=cfg.beta,
                                       ref_logp=None if ref is None else ref[s], max_tokens=cfg.max_new_tokens)  # fmt: skip
            # each micro-batch's loss is normalised within it; weight it by its share of the whole
            share = float(loss_mask[s].sum() / tokens) if cfg.loss == "dapo" else (s.stop - s.start) / n
            (loss * share).backward()
            for k, v in {"loss": float(loss.detach()), **values}.items():
                stats[k] = stats.get(k, 0.0) + v * share / cfg.iterations
            if ent is not None:
                entropy += float((ent * attn[s, start:]).sum())
        for _ in range(pad):
            _padding(model, cfg, backward=True)
        if not runs:  # nothing to train on: a zero gradient, so AdamW steps as the full batch would
            for p in params:
                p.grad = torch.zeros_like(p)
        _step(params, optimizer, cfg, dist, stats)
    stats["trained_completions"] = float(len(rows))
    stats["nonzero_adv_completions"] = float(signal)
    if dist.enabled:  # the entropy over every rank's trained completions
        count = float(attn[:, start:].sum()) if micro else 0.0
        both = all_reduce_sum(torch.tensor([entropy, count], device=loss_mask.device), dist)
        entropy, count = both.tolist()
        if count:
            stats["entropy"] = entropy / max(1.0, count)
    elif micro:
        stats["entropy"] = entropy / max(1.0, float(attn[:, start:].sum()))
    return stats


def _advantages(rewards, cfg: GRPOConfig, dist: Dist, device) -> torch.Tensor:
    """Group-relative advantages [N], on device. Under torchrun scale_rewards "batch" divides by
    the std of the whole global batch (every rank's rewards, in one all-reduce that every rank
    joins, an idle one with none), so N processes divide as one process with that batch does."""
    from train.losses import EPS, group_advantages

    if cfg.scale_rewards != "batch" or not dist.enabled:
        return group_advantages(rewards, cfg.group_size, cfg.scale_rewards).to(device)
    std = global_std(rewards, dist, device).cpu()  # on the device for nccl
    return (group_advantages(rewards, cfg.group_size, "none") / (std + EPS)).to(device)


def _step(params, optimizer, cfg: GRPOConfig, dist: Dist, stats: dict[str, float]) -> None:
    """One optimiser step on the gradients summed over the torchrun ranks (every rank takes
    the same step); the clipped norm goes into stats, averaged over the iterations."""
    from train.fsdp import local_norm

    if not cfg.fsdp:  # sharded: FSDP summed them in backward (reduce-scatter)
        sum_gradients(params, dist)
    if cfg.max_grad_norm > 0:
        norm = float(local_norm(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)))
        stats["grad_norm"] = stats.get("grad_norm", 0.0) + norm / cfg.iterations
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _idle_share(model, ref_model, optimizer, cfg: GRPOConfig, dist: Dist) -> dict[str, float]:
    """A torchrun rank without a kept group: it joins optimise's collectives with nothing (zero
    completions, zero gradients) so the ranks that have groups can step; the optimizer steps on
    the summed gradients as theirs do, which keeps the weights identical on every rank. Under
    --fsdp it runs the others' number of micro-batches, zero-weighted."""
    if not dist.enabled:
        raise GRPOError("optimise: a batch without rollouts")
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.scale_rewards == "batch":  # the global batch's std, from the others' rewards
        global_std(torch.zeros(0), dist, params[0].device)
    all_reduce_sum(torch.zeros(2, device=params[0].device), dist)  # the normalisers
    runs = _lockstep(0, model, dist)
    if runs:  # --fsdp: the others' scoring passes (old, reference)
        empty = torch.zeros((0, 2), dtype=torch.long, device=params[0].device)
        _fixed_logprobs(model, ref_model, empty, empty, 1, cfg, [], runs)
    stats: dict[str, float] = {"loss": 0.0, "clip_low_frac": 0.0, "clip_high_frac": 0.0}
    for _ in range(cfg.iterations):
        for _ in range(runs):
            _padding(model, cfg, backward=True)
        if not runs:
            for p in params:
                p.grad = torch.zeros_like(p)
        _step(params, optimizer, cfg, dist, stats)
    entropy, count = all_reduce_sum(torch.zeros(2, device=params[0].device), dist).tolist()
    if count:
        stats["entropy"] = entropy / max(1.0, count)
    return stats | {"trained_completions": 0.0, "nonzero_adv_completions": 0.0}


def _merge(values: dict[str, float], dist: Dist) -> dict[str, float]:
    """One step's logged values of every rank merged into the run's (see `_combine`)."""
    if not dist.enabled:
        return values
    import torch.distributed as td

    every: list = [None] * dist.world_size
    td.all_gather_object(every, values)
    return _combine(every)


def _combine(every: list[dict[str, float]]) -> dict[str, float]:
    """The ranks' logged values of one step as those of the global batch: sums for counts and the
    loss shares, max for maxima, time for the slowest rank; the batch's reward and completion
    values weighted by each rank's groups (with dynamic sampling a rank may end a step short)
    and its reward stds pooled from the ranks' means and stds; else the mean of the ranks that
    have it."""
    groups = [v.get("groups/trained", 0.0) for v in every]
    merged: dict[str, float] = {}
    for key in dict.fromkeys(k for v in every for k in v):
        got = [(v[key], w) for v, w in zip(every, groups) if key in v]
        weight = sum(w for _, w in got)
        if key in _SUMMED:
            merged[key] = sum(x for x, _ in got)
        elif key.endswith("_max") or key.startswith("time/"):
            merged[key] = max(x for x, _ in got)
        elif key.startswith(("reward/", "completion/")) and weight > 0:
            merged[key] = sum(x * w for x, w in got) / weight
        else:
            merged[key] = sum(x for x, _ in got) / len(got)
    for key in merged:  # a std over the global batch: E[x^2] - mean^2, E[x^2] = std^2 + mean^2 per rank
        mean = key.removesuffix("_std") + "_mean"
        if key.startswith("reward/") and key.endswith("_std") and mean in merged:
            got = [(v[key], v[mean], w) for v, w in zip(every, groups) if key in v and mean in v and w > 0]
            if got:
                second = sum((s * s + m * m) * w for s, m, w in got) / sum(w for *_, w in got)
                merged[key] = math.sqrt(max(second - merged[mean] ** 2, 0.0))
    if "groups/zero_std_share" in merged:  # a share of all the prompts drawn, not a mean of shares
        drawn = [v.get("sampling/prompts_drawn", 0.0) for v in every]
        shares = [v.get("groups/zero_std_share", 0.0) for v in every]
        merged["groups/zero_std_share"] = sum(a * b for a, b in zip(drawn, shares)) / max(sum(drawn), 1.0)
    return merged


StepHook = Callable[[int, dict[str, float], int], None]  # (step, logged values, max_steps)


# --- the run -----------------------------------------------------------------------------------------


def _load(cfg: GRPOConfig, device: str | None = None, dist: Dist = SINGLE):
    """(model, tokenizer, frozen reference copy or None); with fsdp loaded on the CPU, then
    sharded (the reference too)."""
    from train.model import LoraSettings, load_model

    if cfg.fsdp:
        from train import fsdp

        fsdp.check(dist, cfg.model)
        precision, _ = fsdp.load_settings(dist, cfg.precision, False)
        model, tokenizer = load_model(cfg.model, device="cpu", precision=precision, lora=None)
        ref_model = copy.deepcopy(model).eval().requires_grad_(False) if cfg.beta > 0 else None
        ref_model = None if ref_model is None else fsdp.shard_model(ref_model, dist)
        return fsdp.shard_model(model, dist), tokenizer, ref_model

    modules = cfg.target_modules
    if modules != "all-linear":  # peft reads a plain string as a regex; a comma list means module names
        modules = [m.strip() for m in modules.split(",") if m.strip()]
    lora = None if not cfg.lora else LoraSettings(r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout,
                                                 target_modules=modules)  # fmt: skip
    model, tokenizer = load_model(cfg.model, device=device or cfg.device, precision=cfg.precision, lora=lora)
    ref_model = None
    if not cfg.lora and cfg.beta > 0:  # no adapter to switch off: the reference is a frozen copy
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    return model, tokenizer, ref_model


def _engine(cfg: GRPOConfig):
    """A vLLM engine for LoRA runs on CUDA where vllm is installed, else None (our own loop)."""
    from train.model import is_adapter_dir
    from train.rollout import VLLMRollouts, vllm_available

    if not cfg.vllm or not cfg.lora or is_adapter_dir(cfg.model) or not vllm_available():
        return None
    rank = max(8, 1 << (cfg.lora_r - 1).bit_length())  # vLLM takes power-of-two rank limits
    return VLLMRollouts(cfg.model, max_lora_rank=rank, seed=cfg.seed,
                        max_model_len=cfg.max_prompt_tokens + cfg.max_new_tokens)  # fmt: skip


def _resume(cfg: GRPOConfig, model, optimizer, scheduler, dist: Dist = SINGLE) -> dict:
    from train.checkpoint import latest_checkpoint, load_checkpoint

    ckpt = latest_checkpoint(cfg.out)
    if ckpt is None:
        raise GRPOError(f"--resume: no checkpoint under {cfg.out}")
    state = load_checkpoint(ckpt, model, optimizer, scheduler)
    if state["step"] >= cfg.max_steps:
        raise GRPOError(f"nothing to train: checkpoint at step {state['step']}, --max-steps {cfg.max_steps}")
    if state.get("world_size", 1) != dist.world_size:
        raise GRPOError(f"{ckpt}: trained by {state.get('world_size', 1)} process(es), each with its shard of the "
                        f"prompts, this run has {dist.world_size}; resume with the same number "
                        "(torchrun --nproc_per_node x --nnodes)")  # fmt: skip
    if dist.enabled:  # each rank continues its own shard's sampler
        state["sampler"] = state["samplers"][dist.rank]
    return state


def step_metrics(batch: Batch, stats: dict[str, float], cfg: GRPOConfig) -> dict[str, float]:
    r = batch.rollouts
    lengths = torch.tensor(r.lengths, dtype=torch.float32)
    values = {f"reward/{k}_mean": float(v.mean()) for k, v in batch.parts.items()}
    values |= {f"reward/{k}_std": float(v.std(unbiased=False)) for k, v in batch.parts.items()}
    groups = batch.rewards.view(-1, cfg.group_size)
    values |= {
        "reward/total_mean": float(batch.rewards.mean()),
        "reward/total_std": float(batch.rewards.std(unbiased=False)),
        "reward/group_std_mean": float(groups.std(dim=1).mean()),
        "groups/zero_std_share": batch.zero_std_groups / batch.drawn,
        "groups/trained": float(groups.shape[0]),
        "sampling/prompts_drawn": float(batch.drawn),
        "sampling/rounds": float(batch.rounds),
        "completion/length_mean": float(lengths.mean()),
        "completion/length_max": float(lengths.max()),
        "completion/truncated_share": sum(r.truncated) / len(r.truncated),
    }
    return values | {k if "/" in k else f"train/{k}": v for k, v in stats.items()}


def _sample_text(batch: Batch, cfg: GRPOConfig, k: int = 4) -> str:
    """The first prompt's question and up to k of its completions with their rewards."""
    prompt = batch.rows[0]["prompt"][-1]["content"]
    parts = [f"### prompt\n{prompt}"]
    for i in range(min(k, cfg.group_size)):
        parts.append(f"### completion {i} (reward {float(batch.rewards[i]):.3f})\n{batch.rollouts.texts[i]}")
    return "\n\n".join(parts)


def run_grpo(
    cfg: GRPOConfig,
    reward_fn: RewardFn | None = None,
    on_step: StepHook | None = None,
    note: Callable[[str], None] | None = None,
) -> GRPOResult:
    """Train; returns a GRPOResult (run, steps, last reward mean, final dir, completions trained).
    Writes out/final at the end.

    reward_fn replaces the verifier rewards (any callable like train.rewards.compute_rewards);
    on_step(step, values, max_steps) sees each step's logged values (the CLI prints them);
    note(text) is told, once per run, when a step trained no completion (default: a Python
    warning), since such a run otherwise ends as if it had learnt something.

    Under torchrun (RANK/WORLD_SIZE set) each rank trains prompts_per_step prompts of its shard
    of the pool, so a step holds prompts_per_step x world_size groups; rank 0 alone writes
    checkpoints, out/final, TensorBoard and the store's rows and calls on_step and note."""
    with session(cfg.device) as dist:
        if not dist.is_main:
            on_step, note = None, _quiet
        return _run(cfg, reward_fn, on_step, note, dist)


def _quiet(text: str) -> None: ...


def _run(cfg: GRPOConfig, reward_fn, on_step, note, dist: Dist) -> GRPOResult:
    from train import fsdp
    from train.checkpoint import save_checkpoint
    from train.metrics import NullLogger, RunLogger
    from train.model import save_model
    from train.schedule import make_optimizer, make_scheduler

    weights = check_config(cfg)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    started = time.perf_counter()
    out = Path(cfg.out)
    check_export(cfg.data, ("rl",), "train grpo")  # before the model loads: a wrong export fails fast
    model, tokenizer, ref_model = _load(cfg, dist.device if dist.enabled else cfg.device, dist)
    if not cfg.fsdp:  # sharded: every rank loaded the same file
        broadcast_parameters(model, dist)
    rows, prompts = load_prompts(cfg, tokenizer)
    if dist.enabled:  # this rank's shard of the pool: every world_size-th prompt from its rank
        rows, prompts = rows[dist.rank :: dist.world_size], prompts[dist.rank :: dist.world_size]
        if not rows:
            raise GRPOError(f"{cfg.data}: fewer usable prompts than the {dist.world_size} processes")
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    scheduler = make_scheduler(optimizer, cfg.warmup_steps, cfg.max_steps)
    state = _resume(cfg, model, optimizer, scheduler, dist) if cfg.resume else {"step": 0, "sampler": {}}
    sampler = PromptSampler(len(rows), cfg.seed, **state.get("sampler", {}))
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.model_dump(), indent=2))
        stored = cfg.model_dump() | ({"world_size": dist.world_size} if dist.enabled else {})
        logger = RunLogger(kind="grpo", out_dir=out, workspace=cfg.workspace, run=state.get("run") or cfg.run,
                           model=str(cfg.model), data=str(cfg.data), config=stored)  # fmt: skip
    else:
        logger = NullLogger(state.get("run") or cfg.run)
    reward_fn = reward_fn or verifier_rewards(weights, cfg)
    note = note or _warn
    model.train()
    last: dict[str, float] = {}
    trained = idle = 0
    engine = None
    try:
        with logger:  # an exception marks the run failed (interrupted on Ctrl-C) in `runs`
            engine = None if dist.enabled else _engine(cfg)  # under torchrun each rank samples itself
            for step in range(state["step"] + 1, cfg.max_steps + 1):
                last = _train_step(step, model, tokenizer, ref_model, optimizer, rows, prompts, sampler, cfg,
                                   reward_fn, engine, logger, dist)  # fmt: skip
                scheduler.step()
                count = int(last.get("train/nonzero_adv_completions", 0))
                trained += count
                if count == 0:
                    if not idle:
                        note(_idle_text(step, last, cfg))
                    idle += 1
                if on_step is not None:
                    on_step(step, last, cfg.max_steps)
                if step % cfg.save_every == 0 or step == cfg.max_steps:
                    keep = {"sampler": sampler.state(), "run": logger.run, "config": cfg.model_dump()}
                    if dist.enabled:  # every rank's sampler, so each resumes its own shard
                        import torch.distributed as td

                        samplers: list = [None] * dist.world_size
                        td.all_gather_object(samplers, sampler.state())
                        keep |= {"samplers": samplers, "world_size": dist.world_size}
                    if cfg.fsdp:  # every rank joins the gathering, rank 0 writes
                        fsdp.save_checkpoint(
                            out, step, model, optimizer, scheduler, {"step": step, **keep}, 2, dist
                        )
                    elif dist.is_main:
                        save_checkpoint(out, step, model, optimizer, scheduler, {"step": step, **keep})
            if cfg.fsdp:
                final = fsdp.save_model(model, tokenizer, out / "final", dist)
            else:
                final = save_model(model, tokenizer, out / "final") if dist.is_main else out / "final"
            result = GRPOResult(run=logger.run, steps=cfg.max_steps, final=final,
                                reward_mean=last.get("reward/total_mean"), trained_completions=trained,
                                idle_steps=idle, seconds=time.perf_counter() - started)  # fmt: skip
            summary = result.summary() | ({"world_size": dist.world_size} if dist.enabled else {})
            logger.finish("finished", summary)
    finally:
        if engine is not None:
            engine.close()
    return result


def _warn(text: str) -> None:
    warnings.warn(text, RuntimeWarning, stacklevel=4)  # _warn <- _run <- run_grpo <- its caller


def _idle_text(step: int, values: dict[str, float], cfg: GRPOConfig) -> str:
    reward = values.get("reward/total_mean")
    truncated = values.get("completion/truncated_share")
    return IDLE_STEP_WARNING.format(step=step, g=cfg.group_size, reward="-" if reward is None else f"{reward:.3g}",
                                    truncated="-" if truncated is None else f"{truncated:.0%}")  # fmt: skip


def _train_step(step, model, tokenizer, ref_model, optimizer, rows, prompts, sampler, cfg, reward_fn, engine,
                logger, dist: Dist = SINGLE) -> dict[str, float]:  # fmt: skip
    """One GRPO step: sample, score, optimise, log. Returns the logged values (merged over the ranks)."""
    t0 = time.perf_counter()
    # rank 0 samples as a single process does; the others from streams of their own
    generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step + dist.rank * 2**40)
    from train.fsdp import gathered

    with gathered(model):  # --fsdp: sampled with the whole model, no collective per token
        batch = collect_batch(model, tokenizer, rows, prompts, sampler, cfg, reward_fn, generator, engine)
    t1 = time.perf_counter()
    kept = batch.rollouts is not None
    if dist.enabled:  # the ranks train together if any of them kept a group
        kept = bool(all_reduce_sum(torch.tensor([float(kept)], device=next(model.parameters()).device), dist))
    if not kept:  # dynamic sampling found only all-equal groups: nothing to learn from
        values = {"groups/zero_std_share": 1.0, "groups/trained": 0.0, "sampling/prompts_drawn": float(batch.drawn),
                  "sampling/rounds": float(batch.rounds), "time/step_s": t1 - t0}  # fmt: skip
        values = _merge(values, dist)
        logger.log(step, values)
        return values
    stats = optimise(model, ref_model, optimizer, batch, cfg, dist)
    if batch.rollouts is None:  # a rank that kept nothing while others did: its training shares only
        values = {k if "/" in k else f"train/{k}": v for k, v in stats.items()}
        values |= {"sampling/prompts_drawn": float(batch.drawn), "sampling/rounds": float(batch.rounds),
                   "groups/zero_std_share": batch.zero_std_groups / max(batch.drawn, 1)}  # fmt: skip
    else:
        values = step_metrics(batch, stats, cfg)
    values |= {"train/lr": optimizer.param_groups[0]["lr"], "time/rollout_s": t1 - t0,
               "time/step_s": time.perf_counter() - t0}  # fmt: skip
    values = _merge(values, dist)
    logger.log(step, values)
    if batch.rollouts is not None and (step % cfg.sample_every == 0 or step == 1):
        logger.text(step, "completions", _sample_text(batch, cfg))
    return values
