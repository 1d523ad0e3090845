"""Supervised fine-tuning on an `sft` export: LoRA (or full) training on the assistant
tokens, packed rows, warmup + cosine, eval loss and verifier accuracy on the val split,
checkpoints that resume bit for bit.

Why not `model(..., labels=...)`: it computes logits for every position and upcasts
[B, T, V] to float32. Only the trained positions need logits, so the backbone runs to
hidden states, the trained positions are gathered, and lm_head + cross-entropy run on
those in chunks (recomputed in backward) so the float32 logits stay small.

The step loop keeps the host ahead of the device: per-step loss and grad norm stay on
the device and are read back once per `log_every` steps; token counts come from the
host-side batches. The loss of an optimizer step is the mean over all its trained tokens
(across micro-batches and packed examples alike), so packing changes no gradient.

Metrics (TensorBoard, metrics.jsonl, the `metrics` table; GRPO's naming): train/loss,
train/lr, train/grad_norm, train/tokens_per_s every step (read back every `log_every`),
eval/loss and eval/accuracy (greedy, verifier-judged, on at most `eval_samples` val
problems; sft rows get their reference from the workspace) every `eval_every` steps and at
the end.

Resume: the data order of an epoch is a function of (seed, epoch), so a checkpoint
stores the cursor (epoch, micro-batch position) next to the model, optimizer,
scheduler and RNG states, and the resumed run sees the same batches and dropout masks.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from train.data import (
    IGNORE,
    check_export,
    collate,
    export_source,
    pack_examples,
    read_export,
    rows_of,
    sft_examples,
)
from train.distributed import Dist, all_reduce_sum, broadcast_parameters, session, shard, sum_gradients
from train.sft_config import SFTConfig, SFTError, SFTEvents, SFTResult, load_sft_config

_CE_CHUNK_ELEMENTS = 2**28  # logits per cross-entropy chunk (1 GiB in float32)
SINGLE = Dist()  # a run without torchrun

__all__ = ["SFTConfig", "SFTError", "SFTEvents", "SFTResult", "load_sft_config", "run_sft", "token_loss_sum"]


# --- loss ----------------------------------------------------------------------------------------


def _ce_chunk(head, h, y, softcap):
    logits = head(h).float()  # [n, V]
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits, y, reduction="sum")


def token_loss_sum(model, batch: dict) -> torch.Tensor:
    """Sum of the cross-entropy over the batch's trained tokens (a 0-d tensor)."""
    from train.fsdp import call

    return call(model, _token_loss_sum, model, batch)  # a sharded model gathers its root's weights


def _token_loss_sum(model, batch: dict) -> torch.Tensor:
    from train.model import unwrap

    base = unwrap(model)
    device = base.get_output_embeddings().weight.device
    inputs = {k: batch[k].to(device, non_blocking=True) for k in ("input_ids", "position_ids", "attention_mask")
              if k in batch}  # fmt: skip
    hidden = base.get_decoder()(**inputs, use_cache=False).last_hidden_state  # [B, T, H]
    index = batch["target_index"].to(device, non_blocking=True)  # [N]
    targets = batch["targets"].to(device, non_blocking=True)  # [N]
    h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, index)  # [N, H]
    head = base.get_output_embeddings()
    softcap = getattr(base.config, "final_logit_softcapping", None)
    rows = max(1, _CE_CHUNK_ELEMENTS // head.weight.shape[0])
    if h.shape[0] <= rows:
        return _ce_chunk(head, h, targets, softcap)
    total = hidden.new_zeros((), dtype=torch.float32)
    for s in range(0, h.shape[0], rows):
        part = (head, h[s : s + rows], targets[s : s + rows], softcap)
        total = total + (checkpoint(_ce_chunk, *part, use_reentrant=False) if torch.is_grad_enabled()
                         else _ce_chunk(*part))  # fmt: skip
    return total


# --- data ----------------------------------------------------------------------------------------


@dataclass
class _Data:
    train: list[dict]  # rows: packed (several examples each) or one example each
    val: list[dict]
    val_raw: list[dict]  # the val split's export rows, for verifier accuracy
    examples: int
    dropped: int


def _prepare(config: SFTConfig, tokenizer, rows: list[dict], val_raw: list[dict]) -> _Data:
    train, dropped = sft_examples(rows, tokenizer, config.max_length, export_source(config.data, "train"))
    if not train:
        raise SFTError(f"{config.data}: no train example fits --max-length {config.max_length}")
    val, _ = sft_examples(val_raw, tokenizer, config.max_length, export_source(config.data, "val"))
    as_rows = (lambda ex: pack_examples(ex, config.max_length)) if config.packing else rows_of
    return _Data(as_rows(train), as_rows(val) if val else [], val_raw, len(train), dropped)


def _groups(n_rows: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The (global) micro-batches of an epoch: a seeded shuffle of the rows, cut into batch_size."""
    order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
    return [order[i : i + batch_size] for i in range(0, n_rows, batch_size)]


def _stream(rows: list[dict], config: SFTConfig, pad: int, epoch: int, position: int, dist: Dist = SINGLE,
            row_targets: list[int] | None = None) -> Iterator:  # fmt: skip
    """Endless micro-batches from the cursor (epoch, position): yields (cursor after it, this
    rank's batch, the global micro-batch's (trained tokens, tokens)). Under torchrun a global micro-batch
    holds batch_size x world_size rows and each rank collates its shard of it (None where the
    epoch's last, short micro-batch leaves it no row); the cursor is the same on every rank."""
    while True:
        groups = _groups(len(rows), config.batch_size * dist.world_size, config.seed, epoch)
        for pos in range(position, len(groups)):
            mine = shard(groups[pos], dist)
            batch = collate([rows[i] for i in mine], pad, config.packing) if mine else None
            if not dist.enabled:
                yield (epoch, pos + 1), batch, (batch["n_targets"], batch["n_tokens"])
            else:  # the normaliser counts every rank's tokens, from the host-side rows (no sync)
                counts = (
                    sum(row_targets[i] for i in groups[pos]),
                    sum(len(rows[i]["input_ids"]) for i in groups[pos]),
                )
                yield (epoch, pos + 1), batch, counts
        epoch, position = epoch + 1, 0


def _row_targets(rows: list[dict]) -> list[int]:
    """Trained tokens per row, as `collate` counts them (labels after the first position)."""
    return [sum(1 for t in r["labels"][1:] if t != IGNORE) for r in rows]


def _total_steps(config: SFTConfig, n_rows: int, world_size: int = 1) -> int:
    if config.max_steps is not None:
        return config.max_steps
    micro = math.ceil(n_rows / (config.batch_size * world_size))
    return max(1, math.ceil(config.epochs * micro / config.grad_accum))


# --- evaluation ----------------------------------------------------------------------------------


def eval_loss(model, rows: list[dict], batch_size: int, pad: int, packed: bool) -> float:
    """Mean cross-entropy per trained token over the rows (one device sync)."""
    was_training = model.training
    model.eval()
    total, count = None, 0
    with torch.no_grad():
        for s in range(0, len(rows), batch_size):
            batch = collate(rows[s : s + batch_size], pad, packed)
            part = token_loss_sum(model, batch)
            total = part if total is None else total + part
            count += batch["n_targets"]
    model.train(was_training)
    return float(total) / max(count, 1) if total is not None else float("nan")


def _accuracy_rows(config: SFTConfig, val_raw: list[dict], events: SFTEvents) -> list[dict]:
    """The val problems (with reference and verifier) verifier accuracy is measured on."""
    if not config.eval_samples or not val_raw:
        return []
    try:
        from train.evaluate import EvalError, problem_rows
    except ImportError as e:  # the evaluation module is part of the same package; kept optional
        events.note(f"no verifier accuracy: {e}")
        return []
    import duckdb

    try:
        return problem_rows(val_raw, config.workspace, export_source(config.data, "val"), config.eval_samples)
    except (EvalError, duckdb.Error) as e:  # no such problems, or a workspace another process holds
        events.note(f"no verifier accuracy: {e}")
        return []


def eval_accuracy(model, tokenizer, problems: list[dict], config: SFTConfig) -> tuple[float, list]:
    """Share of the problems whose greedy completion the verifier passes; the global RNG is
    left as it was, so evaluating changes no later dropout mask."""
    from train.evaluate import evaluate

    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        result = evaluate(model, tokenizer, problems, samples=1, max_new_tokens=config.eval_max_new_tokens,
                          batch_size=config.eval_batch_size, seed=config.seed)  # fmt: skip
    return result.value("pass@1") or 0.0, result.problems


# --- the run -------------------------------------------------------------------------------------


def _load(config: SFTConfig, dist: Dist = SINGLE):
    """(model, tokenizer) on the rank's device; with fsdp loaded on the CPU, then sharded."""
    from train.model import LoraSettings, load_model

    lora = None
    if config.lora:
        targets = config.target_modules
        if targets != "all-linear":
            targets = [t.strip() for t in targets.split(",") if t.strip()]
        lora = LoraSettings(r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                            target_modules=targets)  # fmt: skip
    if config.fsdp:
        from train import fsdp

        fsdp.check(dist, config.model)
        precision, checkpointing = fsdp.load_settings(dist, config.precision, config.gradient_checkpointing)
        model, tokenizer = load_model(config.model, device="cpu", precision=precision, lora=None,
                                      gradient_checkpointing=checkpointing)  # fmt: skip
        return fsdp.shard_model(model, dist), tokenizer
    device = dist.device if dist.enabled else config.device
    return load_model(config.model, device=device, precision=config.precision, lora=lora,
                      qlora=config.qlora, gradient_checkpointing=config.gradient_checkpointing)  # fmt: skip


def _seed(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Trainer:
    """State of one run; `run_sft` is its outline."""

    def __init__(self, config: SFTConfig, events: SFTEvents, dist: Dist = SINGLE):
        from train.schedule import make_optimizer, make_scheduler, warmup_steps_for

        self.config, self.events, self.dist = config, events, dist
        self.out = Path(config.out)
        check_export(config.data, ("sft",), "train sft")
        raw = (
            read_export(config.data, "train"),
            read_export(config.data, "val"),
        )  # bad data fails before loading
        _seed(config.seed)
        self.model, self.tokenizer = _load(config, dist)
        if not config.fsdp:  # sharded: every rank loaded the same file, there is no random init
            broadcast_parameters(self.model, dist)
        if dist.rank:  # dropout masks of their own; rank 0 keeps the single-process stream
            _seed(config.seed + dist.rank)
        self.pad = self.tokenizer.pad_token_id
        self.data = _prepare(config, self.tokenizer, *raw)
        self.row_targets = _row_targets(self.data.train) if dist.enabled else None
        self.total = _total_steps(config, len(self.data.train), dist.world_size)
        self.warmup = warmup_steps_for(self.total, config.warmup_steps, config.warmup_ratio)
        self.optimizer = make_optimizer(self.model, config.lr, config.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, self.warmup, self.total, config.min_lr_ratio)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # the workspace is read by rank 0 alone (it alone evaluates); sharded, no accuracy
        accuracy = dist.is_main and not config.fsdp
        self.problems = _accuracy_rows(config, self.data.val_raw, events) if accuracy else []
        if config.fsdp and config.eval_samples:
            events.note("--fsdp: no verifier accuracy (greedy generation needs the whole model on one "
                        "device); eval loss only")  # fmt: skip
        # fsdp: a rank with no row of a micro-batch still joins its forward, on this row, weighted 0
        self.idle = collate(self.data.train[:1], self.pad, config.packing) if config.fsdp else None
        self.step, self.cursor, self.tokens, self.run = 0, (0, 0), 0, config.run
        self.history: list[dict] = []
        self.seconds = 0.0  # training time (logging windows; evaluation and saving left out)
        self._resume_or_refuse()

    def _resume_or_refuse(self) -> None:
        from train.checkpoint import latest_checkpoint, load_checkpoint

        ckpt = latest_checkpoint(self.out) if self.out.exists() else None
        if not self.config.resume:
            if ckpt is not None:
                raise SFTError(f"{self.out} holds checkpoints of an earlier run ({ckpt.name}); "
                               "pass --resume to continue it, or choose another --out")  # fmt: skip
            return
        if ckpt is None:
            raise SFTError(f"--resume: no checkpoint in {self.out}")
        state = load_checkpoint(ckpt, self.model, self.optimizer, self.scheduler)
        if state["step"] >= self.total:
            raise SFTError(f"nothing to train: checkpoint at step {state['step']}, --max-steps {self.total}")
        if state.get("world_size", 1) != self.dist.world_size:
            raise SFTError(f"{ckpt}: trained by {state.get('world_size', 1)} process(es) (a global micro-batch of "
                           f"batch_size x {state.get('world_size', 1)} rows), this run has {self.dist.world_size}; "
                           f"resume with the same number (torchrun --nproc_per_node x --nnodes)")  # fmt: skip
        if state.get("train_rows") != len(self.data.train):
            raise SFTError(f"{ckpt}: trained on {state.get('train_rows')} rows, the data now gives "
                           f"{len(self.data.train)}; resume with the same --data, --max-length and packing")  # fmt: skip
        self.step, self.cursor, self.tokens = state["step"], tuple(state["cursor"]), state.get("tokens", 0)
        self.run = self.config.run or state.get("run")
        if self.dist.rank:  # the checkpoint holds rank 0's RNG; the others reseed from (seed, rank, step)
            _seed(self.config.seed + self.dist.rank + 1_000_003 * self.step)
        self.events.note(f"resumed from {ckpt} at step {self.step}")

    def state(self) -> dict:
        state = {"step": self.step, "cursor": list(self.cursor), "tokens": self.tokens, "run": self.run,
                 "train_rows": len(self.data.train), "config": self.config.model_dump(mode="json")}  # fmt: skip
        return state | ({"world_size": self.dist.world_size} if self.dist.enabled else {})

    def optimizer_step(self, stream) -> tuple[torch.Tensor, torch.Tensor, int]:
        """grad_accum micro-batches, one update; (loss, grad norm) stay on the device. Under
        torchrun the loss is this rank's share (its tokens over all ranks' tokens) and the
        gradients are summed over the ranks: the update of the whole global batch."""
        micro, n_targets, n_tokens = [], 0, 0
        for _ in range(self.config.grad_accum):
            self.cursor, batch, (targets, tokens) = next(stream)
            micro.append(batch)
            n_targets, n_tokens = n_targets + targets, n_tokens + tokens
        loss = None
        for batch in micro:
            if batch is None:  # this rank's share of a short last micro-batch is empty
                if self.idle is not None:  # sharded: every rank joins every forward and backward
                    (token_loss_sum(self.model, self.idle) * 0.0).backward()
                continue
            part = token_loss_sum(self.model, batch) / n_targets
            part.backward()
            loss = part.detach() if loss is None else loss + part.detach()
        if loss is None:
            loss = torch.zeros((), device=self.params[0].device)
        if not self.config.fsdp:  # sharded: FSDP summed them in backward (reduce-scatter)
            sum_gradients(self.params, self.dist)
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        if self.config.fsdp:
            from train.fsdp import local_norm

            norm = local_norm(norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss, norm, n_tokens


def _log_window(trainer: _Trainer, logger, pending: list, started: float) -> float:
    """Read back the window's losses and norms in one sync and log every step of it (under
    torchrun: each rank's share of the losses summed over the ranks, in one all-reduce)."""
    stacked = torch.stack([torch.stack([loss.float(), norm.float()]) for _, loss, norm, _, _ in pending])
    if trainer.dist.enabled:  # the norm is global already (taken after the gradients were summed)
        stacked = torch.stack(
            [all_reduce_sum(stacked[:, 0].contiguous(), trainer.dist), stacked[:, 1]], dim=1
        )
    values = stacked.tolist()
    now = time.perf_counter()
    trainer.seconds += now - started
    rate = sum(p[4] for p in pending) / max(now - started, 1e-9)
    for (step, _, _, lr, _), (loss, norm) in zip(pending, values):
        row = {"loss": loss, "grad_norm": norm, "lr": lr, "tokens_per_s": rate}
        logger.log(step, {f"train/{k}": v for k, v in row.items()})  # GRPO's names: train/loss, ...
        trainer.history.append({"step": step, **row})
    trainer.events.step(pending[-1][0], trainer.history[-1])
    pending.clear()
    return now


def _evaluate(trainer: _Trainer, logger) -> dict[str, float]:
    config, values = trainer.config, {}
    # rank 0 evaluates, the others wait at the next collective; sharded, every rank computes the
    # eval loss (each forward is a collective)
    if not trainer.dist.is_main and not config.fsdp:
        return values
    if trainer.data.val:
        values["eval_loss"] = eval_loss(trainer.model, trainer.data.val, config.batch_size, trainer.pad,
                                        config.packing)  # fmt: skip
    if trainer.problems:
        acc, problems = eval_accuracy(trainer.model, trainer.tokenizer, trainer.problems, config)
        values["eval_accuracy"] = acc
        for p in problems[:2]:
            logger.text(trainer.step, "eval_sample", f"{p.problem_id} score={p.scores[0]}\n{p.texts[0]}")
    if values:
        logger.log(trainer.step, {k.replace("eval_", "eval/"): v for k, v in values.items()})
        trainer.events.step(trainer.step, values)
    return values


def _finish(trainer: _Trainer, result: SFTResult) -> None:
    from train.model import merge_adapter, save_model

    if trainer.config.fsdp:  # every rank gathers, rank 0 writes
        from train import fsdp

        result.final = fsdp.save_model(trainer.model, trainer.tokenizer, trainer.out / "final", trainer.dist)
        return
    result.final = save_model(trainer.model, trainer.tokenizer, trainer.out / "final")
    if trainer.config.merge:
        result.merged = merge_adapter(result.final, trainer.out / "merged")


def _train(trainer: _Trainer, logger) -> dict[str, float]:
    """Steps from the trainer's step to its total, logging, evaluating and checkpointing on
    the way; returns the last evaluation's values."""
    from train.checkpoint import save_checkpoint

    config = trainer.config
    stream = _stream(
        trainer.data.train, config, trainer.pad, *trainer.cursor, trainer.dist, trainer.row_targets
    )
    pending: list = []
    last_eval: dict[str, float] = {}
    window = time.perf_counter()
    while trainer.step < trainer.total:
        lr = trainer.scheduler.get_last_lr()[0]
        loss, norm, tokens = trainer.optimizer_step(stream)
        trainer.step += 1
        trainer.tokens += tokens
        pending.append((trainer.step, loss, norm, lr, tokens))
        last = trainer.step == trainer.total
        if last or trainer.step % config.log_every == 0:
            window = _log_window(trainer, logger, pending, window)
        if config.eval_every and (last or trainer.step % config.eval_every == 0):
            last_eval = _evaluate(trainer, logger)
            window = time.perf_counter()  # evaluation time is not training time
        saving = last or (config.save_every and trainer.step % config.save_every == 0)
        if saving and config.fsdp:  # every rank joins the gathering, rank 0 writes
            from train import fsdp

            fsdp.save_checkpoint(trainer.out, trainer.step, trainer.model, trainer.optimizer, trainer.scheduler,
                                 trainer.state(), config.keep_checkpoints, trainer.dist)  # fmt: skip
            window = time.perf_counter()
        elif saving and trainer.dist.is_main:
            save_checkpoint(trainer.out, trainer.step, trainer.model, trainer.optimizer, trainer.scheduler,
                            trainer.state(), keep=config.keep_checkpoints)  # fmt: skip
            window = time.perf_counter()
    return last_eval if config.eval_every else _evaluate(trainer, logger)


def run_sft(config: SFTConfig, events: SFTEvents | None = None) -> SFTResult:
    """Train, evaluate, checkpoint and save `out/final` (and `out/merged` with merge).

    Under torchrun (RANK/WORLD_SIZE set) every rank trains on its shard of each global
    micro-batch (batch_size rows per rank, so batch_size x world_size x grad_accum rows per
    step); rank 0 alone evaluates, writes checkpoints, out/final, TensorBoard and the store's
    rows, and reports to `events` (the others' results carry the same losses)."""
    with session(config.device) as dist:
        return _run(config, (events or SFTEvents()) if dist.is_main else SFTEvents(), dist)


def _run(config: SFTConfig, events: SFTEvents, dist: Dist) -> SFTResult:
    from train.metrics import NullLogger, RunLogger

    trainer = _Trainer(config, events, dist)
    out, data = trainer.out, trainer.data
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
        stored = config.model_dump(mode="json") | ({"world_size": dist.world_size} if dist.enabled else {})
        logger = RunLogger(kind="sft", out_dir=out, workspace=config.workspace, run=trainer.run, model=config.model,
                           data=config.data, config=stored)  # fmt: skip
    else:
        logger = NullLogger(trainer.run)
    trainer.run = logger.run
    events.start(trainer.total, trainer.step, {"run": logger.run, "examples": data.examples, "rows": len(data.train),
                 "val_rows": len(data.val), "dropped": data.dropped, "warmup": trainer.warmup})  # fmt: skip
    result = SFTResult(run=logger.run, steps=trainer.total, final=out / "final", history=trainer.history)
    start_tokens = trainer.tokens
    try:
        last_eval = _train(trainer, logger)
        if dist.is_main or config.fsdp:
            _finish(trainer, result)
    except BaseException as e:
        logger.finish("interrupted" if isinstance(e, KeyboardInterrupt) else "failed")
        raise
    tail = [h["loss"] for h in trainer.history[-config.log_every :]]
    result.train_loss = sum(tail) / len(tail) if tail else None
    result.eval_loss, result.eval_accuracy = last_eval.get("eval_loss"), last_eval.get("eval_accuracy")
    result.tokens, result.seconds = trainer.tokens - start_tokens, trainer.seconds
    summary = {"steps": trainer.step, "train_loss": result.train_loss, "eval_loss": result.eval_loss,
               "eval_accuracy": result.eval_accuracy, "tokens": trainer.tokens,
               "tokens_per_s": result.tokens_per_s, "final": str(result.final)}  # fmt: skip
    if dist.enabled:
        summary["world_size"] = dist.world_size
    logger.finish("finished", {k: v for k, v in summary.items() if v is not None})
    return result
