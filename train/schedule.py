"""Optimizer and learning-rate schedule shared by SFT and GRPO: AdamW over the
trainable parameters, linear warmup then cosine decay to `min_lr_ratio` of the peak."""

from __future__ import annotations

import math

import torch


def make_optimizer(model, lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW over trainable parameters only (a LoRA adapter's, or all of a full model's).
    Biases and norm weights (1-d tensors) get no weight decay, as is usual. The fused
    kernel is used on CUDA: one launch for all parameters instead of several per tensor."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    fused = all(p.is_cuda for p in params)
    return torch.optim.AdamW(groups, lr=lr, fused=fused or None)


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> float:
    """Multiplier of the peak learning rate at optimizer step `step` (0-based): rises
    linearly to 1 over the warmup (the first step already trains at 1/warmup), then
    follows a half cosine from 1 down to min_lr_ratio at total_steps."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0):
    """Warmup + cosine as a LambdaLR (its state_dict holds the step count, so a checkpoint
    restores it; the shape comes from these arguments)."""
    if warmup_steps < 0 or total_steps < 1:
        raise ValueError(f"bad schedule: warmup_steps {warmup_steps}, total_steps {total_steps}")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must lie within 0-1, got {min_lr_ratio}")

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps, total_steps, min_lr_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def warmup_steps_for(total_steps: int, warmup_steps: int | None, warmup_ratio: float) -> int:
    """Explicit warmup steps win; else a share of the total (rounded up)."""
    if warmup_steps is not None:
        return min(warmup_steps, total_steps)
    return min(total_steps, math.ceil(warmup_ratio * total_steps))
