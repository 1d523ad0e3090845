"""Checkpoints that resume a run exactly: weights (the adapter alone for LoRA), optimizer,
scheduler, every RNG, and the trainer's own state (step, epoch, sampler position, ...).

    out/checkpoint-000200/
        adapter_model.safetensors + adapter_config.json   (LoRA)  or  model.safetensors + config.json
        optimizer.pt  scheduler.pt  rng.pt  state.json

A checkpoint is written to a hidden temporary directory and renamed into place, so a
run killed mid-save leaves the previous checkpoints intact and never a half one.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

from train.model import ModelError, is_adapter_dir, save_model, unwrap

_NAME = re.compile(r"^checkpoint-(\d+)$")


def _checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    if not out_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out_dir.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return sorted(found)


def latest_checkpoint(out_dir) -> Path | None:
    """The checkpoint with the highest step under `out_dir`, or None."""
    found = _checkpoints(Path(out_dir))
    return found[-1][1] if found else None


def _rng_state() -> dict:
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        # numpy's key array as a tensor so the file loads with weights_only=True
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import numpy as np
    import torch

    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(out_dir, step: int, model, optimizer, scheduler, state: dict, keep: int = 2, *,
                    model_state: dict | None = None, optimizer_state: dict | None = None) -> Path:  # fmt: skip
    """Write out_dir/checkpoint-{step:06d} atomically and keep the last `keep` checkpoints
    (keep <= 0 keeps all). `state` must be JSON-serialisable; its `step` is set to `step`.
    `model_state`, `optimizer_state`: full state dicts gathered from a sharded model (train.fsdp),
    written in place of the model's and optimizer's own."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"checkpoint-{step:06d}"
    tmp = out_dir / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)  # left by a run killed mid-save
    save_model(model, None, tmp, state_dict=model_state)
    if optimizer is not None:
        torch.save(
            optimizer.state_dict() if optimizer_state is None else optimizer_state, tmp / "optimizer.pt"
        )
    if scheduler is not None:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(_rng_state(), tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=2, default=str))
    if final.exists():  # the same step saved again (a resumed run): the new one wins
        shutil.rmtree(final)
    tmp.rename(final)
    if keep > 0:
        for _, old in _checkpoints(out_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _load_full_weights(ckpt: Path, model) -> None:
    """A full checkpoint's safetensors (one file or shards) into `model`. Keys missing
    from the file are allowed only for weights tied to one that is there (lm_head)."""
    from safetensors.torch import load_file

    files = sorted(ckpt.glob("*.safetensors"))
    if not files:
        raise ModelError(f"checkpoint {ckpt}: no adapter_config.json and no *.safetensors weights")
    weights = {}
    for f in files:
        weights.update(load_file(str(f)))
    target = unwrap(model)
    result = target.load_state_dict(weights, strict=False)
    params = dict(target.named_parameters(remove_duplicate=False))
    loaded = {params[k].data_ptr() for k in weights if k in params}
    missing = [k for k in result.missing_keys if k not in params or params[k].data_ptr() not in loaded]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"checkpoint {ckpt} does not fit the model: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )


def _load_adapter_weights(ckpt: Path, model) -> None:
    from peft import PeftModel, set_peft_model_state_dict
    from peft.utils import load_peft_weights

    target = getattr(model, "_orig_mod", model)
    if not isinstance(target, PeftModel):
        raise ModelError(
            f"checkpoint {ckpt} holds a LoRA adapter, but the model has none (was --no-lora given?)"
        )
    device = next(target.parameters()).device
    result = set_peft_model_state_dict(target, load_peft_weights(str(ckpt), device=str(device)))
    if result.unexpected_keys:
        raise ModelError(
            f"checkpoint {ckpt} does not fit the adapter: unexpected {result.unexpected_keys[:5]}"
        )


def _load_sharded(ckpt: Path, model, optimizer) -> None:
    """A full checkpoint into a sharded (FSDP) model: rank 0 reads the files, every rank takes
    its shards (a collective)."""
    import torch
    import torch.distributed as td
    from safetensors.torch import load_file

    from train.fsdp import load_state

    weights, optim = {}, None
    if td.get_rank() == 0:
        files = sorted(ckpt.glob("*.safetensors"))
        if not files:  # the other ranks fail at the collective, torchrun stops them
            raise ModelError(
                f"checkpoint {ckpt}: no *.safetensors weights (a sharded run saves a full model)"
            )
        for f in files:
            weights.update(load_file(str(f)))
        if optimizer is not None:
            optim = torch.load(ckpt / "optimizer.pt", weights_only=True)
    load_state(ckpt, weights, model, optimizer, optim)


def load_checkpoint(ckpt, model, optimizer, scheduler) -> dict:
    """Restore weights, optimizer, scheduler and RNG from `ckpt`; returns the saved state."""
    import torch

    ckpt = Path(ckpt)
    if not (ckpt / "state.json").is_file():
        raise ModelError(f"checkpoint {ckpt}: no state.json; not a checkpoint this trainer wrote")
    from train.fsdp import is_sharded

    if is_sharded(model):
        _load_sharded(ckpt, model, optimizer)
    elif is_adapter_dir(ckpt):
        _load_adapter_weights(ckpt, model)
    else:
        _load_full_weights(ckpt, model)
    if optimizer is not None and not is_sharded(model):
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    if scheduler is not None:
        scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
    _set_rng_state(torch.load(ckpt / "rng.pt", weights_only=True))
    return json.loads((ckpt / "state.json").read_text())
