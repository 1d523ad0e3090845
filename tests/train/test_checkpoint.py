"""Checkpoints resume exactly: training on from a checkpoint gives bit-identical losses
to the run that never stopped (dropout makes that depend on the restored RNG)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from train.model import LoraSettings, ModelError, load_model

LORA = LoraSettings(r=4, alpha=8, dropout=0.2)  # dropout: the restored RNG decides the masks


def _setup(model_dir, lora):
    torch.manual_seed(0)
    model, _ = load_model(model_dir, device="cpu", lora=lora)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1 + s))
    return model, optimizer, scheduler


def _attention_dropout(model, p: float) -> None:
    for module in model.modules():
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = p


def _step(model, optimizer, scheduler) -> float:
    # data drawn from every RNG a trainer might use, so each must be restored
    offset = random.randrange(3) + int(np.random.randint(3))
    ids = torch.randint(3, 2048, (2, 12)) + offset  # [2, 12]
    loss = model(ids, labels=ids, use_cache=False).loss
    loss.backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return loss.item()


@pytest.mark.parametrize("lora", [LORA, None], ids=["lora", "full"])
def test_resume_reproduces_the_uninterrupted_run(tiny_model_dir, tmp_path, lora):
    model, optimizer, scheduler = _setup(tiny_model_dir, lora)
    if lora is None:  # full fine-tuning: dropout from the attention instead
        _attention_dropout(model, 0.2)
    random.seed(1), np.random.seed(1)
    _step(model, optimizer, scheduler)
    ckpt = save_checkpoint(tmp_path, 1, model, optimizer, scheduler, {"epoch": 0, "position": 4, "run": "r1"})
    expected = [_step(model, optimizer, scheduler) for _ in range(2)]

    # a fresh process's view: new model and optimizer, RNGs elsewhere
    model, optimizer, scheduler = _setup(tiny_model_dir, lora)
    if lora is None:
        _attention_dropout(model, 0.2)
    torch.manual_seed(123), random.seed(123), np.random.seed(123)
    state = load_checkpoint(ckpt, model, optimizer, scheduler)
    assert state == {"epoch": 0, "position": 4, "run": "r1", "step": 1}
    assert scheduler.last_epoch == 1
    assert [_step(model, optimizer, scheduler) for _ in range(2)] == expected


def test_lora_checkpoint_holds_only_the_adapter(tiny_model_dir, tmp_path):
    model, optimizer, scheduler = _setup(tiny_model_dir, LORA)
    ckpt = save_checkpoint(tmp_path, 1, model, optimizer, scheduler, {})
    names = {p.name for p in ckpt.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt",
            "state.json"} <= names  # fmt: skip
    assert "model.safetensors" not in names
    assert (ckpt / "adapter_model.safetensors").stat().st_size < 200_000  # the base is ~4 MB


def test_keeps_the_last_checkpoints_and_finds_the_latest(tiny_model_dir, tmp_path):
    model, optimizer, scheduler = _setup(tiny_model_dir, LORA)
    assert latest_checkpoint(tmp_path) is None and latest_checkpoint(tmp_path / "absent") is None
    (tmp_path / ".tmp-checkpoint-000009").mkdir()  # a save killed half way
    for step in (5, 10, 15, 20):
        save_checkpoint(tmp_path, step, model, optimizer, scheduler, {"seen": step}, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint-000015",
        "checkpoint-000020",
    ]
    assert latest_checkpoint(tmp_path).name == "checkpoint-000020"
    assert not list(tmp_path.glob(".tmp-checkpoint-000020"))
    save_checkpoint(tmp_path, 20, model, optimizer, scheduler, {"seen": "again"})  # same step: replaced
    assert json.loads((tmp_path / "checkpoint-000020" / "state.json").read_text())["seen"] == "again"
    # step 100 sorts after step 20 (numbers, not names)
    save_checkpoint(tmp_path, 100, model, optimizer, scheduler, {}, keep=0)
    assert latest_checkpoint(tmp_path).name == "checkpoint-000100"
    assert len(list(tmp_path.glob("checkpoint-*"))) == 3  # keep=0 keeps all


def test_mismatches_are_clear_errors(tiny_model_dir, tmp_path):
    lora_model, optimizer, scheduler = _setup(tiny_model_dir, LORA)
    adapter_ckpt = save_checkpoint(tmp_path / "a", 1, lora_model, optimizer, scheduler, {})
    full_model, full_opt, full_sched = _setup(tiny_model_dir, None)
    with pytest.raises(ModelError, match="holds a LoRA adapter, but the model has none"):
        load_checkpoint(adapter_ckpt, full_model, full_opt, full_sched)
    with pytest.raises(ModelError, match="no state.json"):
        load_checkpoint(tiny_model_dir, full_model, full_opt, full_sched)
