"""Fully sharded full fine-tuning under torchrun (`--fsdp`): torch FSDP2 (`fully_shard`) for
models whose weights, gradients and optimizer state do not fit one device.

Each decoder layer (the model's `_no_split_modules` classes) is one FSDP unit; the root unit
is the whole *ForCausalLM and holds what is left: the embeddings, the final norm and the LM
head, so a head tied to the embeddings shares its one parameter within one unit. A rank holds
1/N of every parameter, gradient and Adam moment; a unit's full weights exist only while it
computes.

Why a root "forward method": the trainers call the backbone and the head directly (the loss
gathers the trained positions before the head), never `model.forward`, which is what FSDP
hooks to gather the root's weights (and to reduce their gradients in backward). `call`
runs such a computation as a method that FSDP treats as the root's forward.

Gradients are summed over the ranks, not averaged (FSDP's default): the losses are already
normalised by the tokens of the global batch, as in the data-parallel path (train.distributed).

Every rank must join every forward (each unit's all-gather is a collective): evaluation runs
on all ranks, and a rank whose share of a micro-batch is empty computes a zero-weighted one.
Checkpoints: every rank joins the gathering of the full state dicts (on the CPU), rank 0 alone
writes them, in the single-process layout (model.safetensors, optimizer.pt keyed by
parameter name), so `out/final` is an ordinary Hugging Face model directory.

Each rank loads the full model into host memory before it is sharded (host memory: N x the
model in its precision); the device holds only the shards.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import MethodType

from train.distributed import Dist, DistributedError

_METHOD = "_cotmill_call"


def check(dist: Dist, model_path) -> None:
    """--fsdp needs a full model and torchrun with 2+ processes (the config refuses LoRA)."""
    from pathlib import Path

    from train.model import is_adapter_dir, run_model_dir

    path = run_model_dir(Path(model_path).resolve())
    if is_adapter_dir(path):
        raise DistributedError(f"--fsdp trains a full model, and {path} is a LoRA adapter: merge it into its "
                               "base first (cotmill train merge) and train that")  # fmt: skip
    if not dist.enabled:
        raise DistributedError("--fsdp shards the model over torchrun's processes: start the run with "
                               "torchrun --nproc_per_node N (N >= 2)")  # fmt: skip


def load_settings(dist: Dist, precision: str, gradient_checkpointing: bool | None) -> tuple[str, bool]:
    """The (precision, gradient checkpointing) the rank's device would get, for a model loaded
    on the CPU first (where "auto" would mean fp32 and no checkpointing)."""
    import torch

    from train.model import pick_dtype

    cuda = dist.device.startswith("cuda")
    if precision == "auto":
        precision = "bf16" if pick_dtype(dist.device, "auto") == torch.bfloat16 else "fp32"
    return precision, cuda if gradient_checkpointing is None else gradient_checkpointing


def shard_model(model, dist: Dist):
    """Shard `model` (a full *ForCausalLM, on the CPU or the rank's device) over the ranks, onto
    the rank's device; returns it (the same object, now an FSDP module)."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    device = torch.device(dist.device)
    mesh = init_device_mesh(device.type, (dist.world_size,))
    kinds = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in kinds]
    if not layers:
        raise DistributedError(f"--fsdp: {type(model).__name__} names no decoder layer class "
                               "(_no_split_modules) to shard by")  # fmt: skip
    units = [fully_shard(layer, mesh=mesh) for layer in layers]
    units.append(fully_shard(model, mesh=mesh))
    for unit in units:  # sum: the losses are normalised by the global batch already
        unit.set_gradient_divide_factor(1.0)
        unit.set_force_sum_reduction_for_comms(True)  # a plain SUM (gloo has no PREMUL_SUM)
    setattr(model, _METHOD, MethodType(lambda self, fn, *args: fn(*args), model))
    register_fsdp_forward_method(model, _METHOD)
    return model


def is_sharded(model) -> bool:
    return hasattr(model, _METHOD)


def call(model, fn, *args):
    """fn(*args) as the root's forward of a sharded model (its weights gathered, its gradients
    reduced in backward); a plain call otherwise."""
    method = getattr(model, _METHOD, None)
    return method(fn, *args) if method is not None else fn(*args)


@contextmanager
def gathered(model):
    """The whole model's weights on every rank for the duration: each unit all-gathered once on
    entry (the same collectives in the same order on every rank), none resharded after a forward
    inside, so no forward inside is a collective and ranks may run different numbers of them
    (GRPO sampling: completions of different lengths, dynamic-sampling rounds; the lean decoder
    reads the gathered weights directly). The full model must fit one device meanwhile (as with
    ZeRO-3's "gather for generation"). A plain model: nothing to do."""
    from torch.distributed.fsdp import FSDPModule

    if not is_sharded(model):
        yield model
        return
    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    model.set_reshard_after_forward(False)  # recursive: every unit
    try:
        for unit in units:
            unit.unshard()
        yield model
    finally:
        for unit in units:
            unit.reshard()
        model.set_reshard_after_forward(True)  # fully_shard's defaults: the layers reshard, the root not
        model.set_reshard_after_forward(False, recurse=False)


def local_norm(norm):
    """clip_grad_norm_'s total norm as a plain tensor (a DTensor for sharded gradients)."""
    full = getattr(norm, "full_tensor", None)
    return full() if full is not None else norm


def full_state(model, optimizer=None) -> tuple[dict, dict | None]:
    """The full model (and optimizer) state dicts on rank 0's CPU, keyed as the unsharded model's;
    empty on the other ranks. A collective: every rank calls it."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=options)
    optim = get_optimizer_state_dict(model, optimizer, options=options) if optimizer is not None else None
    return weights, optim


def save_model(model, tokenizer, out, dist: Dist):
    """`out` as train.model.save_model writes it, gathered from the shards; every rank calls it,
    rank 0 writes. Returns the path."""
    from pathlib import Path

    from train.model import save_model as save

    weights, _ = full_state(model)
    if dist.is_main:
        save(model, tokenizer, out, state_dict=weights)
    return Path(out)


def save_checkpoint(out_dir, step: int, model, optimizer, scheduler, state: dict, keep: int, dist: Dist):
    """train.checkpoint.save_checkpoint for a sharded model: every rank joins the gathering,
    rank 0 writes (the same files as a single process's checkpoint)."""
    from train.checkpoint import save_checkpoint as save

    weights, optim = full_state(model, optimizer)
    if dist.is_main:
        save(out_dir, step, model, optimizer, scheduler, state, keep=keep, model_state=weights,
             optimizer_state=optim)  # fmt: skip


def load_state(ckpt, weights: dict, model, optimizer, optimizer_state) -> None:
    """A full checkpoint's weights and optimizer state (read by rank 0 alone; the others pass
    empty dicts) into the shards of every rank. A head tied to the embeddings is saved once,
    under the embeddings' name: it is filled in from there."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    from train.model import ModelError

    names = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    if weights:
        tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
        if tied:
            head = next(n for n, m in model.named_modules() if m is model.get_output_embeddings())
            embed = next(n for n, m in model.named_modules() if m is model.get_input_embeddings())
            weights.setdefault(f"{head}.weight", weights.get(f"{embed}.weight"))
        missing = sorted(n for n in names if weights.get(n) is None)
        if missing:
            raise ModelError(f"checkpoint {ckpt} does not fit the model: missing {missing[:5]}")
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, weights, options=options)
    if optimizer is not None:
        set_optimizer_state_dict(model, optimizer, optimizer_state or {}, options=options)
