"""Data-parallel training under torchrun: the process group, the device of each rank, and the
few collectives the trainers need.

`torchrun --nproc_per_node N -m cotmill train sft|grpo ...` starts N processes with RANK,
WORLD_SIZE and LOCAL_RANK set; `session` reads them, joins the process group (nccl on CUDA,
gloo on CPU) and gives each rank the device of its local rank. Without those variables (or
with WORLD_SIZE 1) nothing is initialised and the run is the single-process one, unchanged.

Gradients are synchronised by one all-reduce (sum) of the flattened gradients before the
optimizer step, which is what DistributedDataParallel does, done by hand because
- the trainers call the backbone and the LM head directly (the SFT loss gathers the trained
  positions before the head; GRPO scores shared prompts once), not `model.forward`, which DDP's
  reducer needs to see;
- the losses are normalised by the global batch (tokens of all ranks), so the gradients are
  summed, not averaged, and the update is the one a single process with the whole global
  batch makes;
- a GRPO rank may have nothing to train in a step (every advantage 0): it still joins the
  all-reduce with zero gradients, where DDP would wait for a backward that never comes.
For LoRA the flattened gradients are the adapter's (a few MB); for full fine-tunes of small
models one bucket of the model's size. Models that do not fit one device: train.fsdp (--fsdp).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from verifiers.errors import CotmillError

# how long a rank waits at a collective: the others wait there while rank 0 alone evaluates
# (greedy generation) and saves checkpoints, which can take minutes on a real model
TIMEOUT_MINUTES = 60


class DistributedError(CotmillError, ValueError):
    """The torchrun environment or the device asked for cannot run data-parallel."""


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank of world_size (1 and 0 for a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "auto"  # the device this rank trains on

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, metrics, runs and prints."""
        return self.rank == 0


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise DistributedError(
            f"environment variable {name}={raw!r} is not an integer (set by torchrun)"
        ) from None


def from_env() -> Dist:
    """The torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK); a single process without them."""
    world = _int_env("WORLD_SIZE", 1)
    rank, local = _int_env("RANK", 0), _int_env("LOCAL_RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} does not fit WORLD_SIZE={world} (set by torchrun)")
    return Dist(rank=rank, world_size=world, local_rank=local)


def is_main_process() -> bool:
    """Rank 0 or no torchrun at all; no torch import, for the CLI's printing."""
    return os.environ.get("RANK", "0") in ("", "0")


def rank_device(dist: Dist, device: str) -> str:
    """The device of this rank: with torchrun, "auto" and "cuda" mean cuda:LOCAL_RANK (one GPU
    per process), or cpu where there is no CUDA; a single process keeps what it was given."""
    if not dist.enabled:
        return device
    import torch

    if device not in ("auto", "cuda", "cpu"):
        raise DistributedError(f"--device {device}: under torchrun give auto, cuda or cpu; each process "
                               "takes the GPU of its LOCAL_RANK")  # fmt: skip
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        raise DistributedError("--device cuda asked for, but no CUDA device is available")
    if dist.local_rank >= torch.cuda.device_count():
        raise DistributedError(f"LOCAL_RANK {dist.local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                               "start at most that many processes per node (--nproc_per_node)")  # fmt: skip
    return f"cuda:{dist.local_rank}"


@contextmanager
def session(device: str = "auto") -> Iterator[Dist]:
    """The process group for the run's duration (joined unless already joined by the caller);
    yields this rank's Dist with its device. A run that ends normally waits for every rank
    before the group is left, so rank 0's last writes finish before the others exit."""
    base = from_env()
    dist = Dist(base.rank, base.world_size, base.local_rank, rank_device(base, device))
    if not dist.enabled:
        yield dist
        return
    import torch
    import torch.distributed as td

    created = not td.is_initialized()
    if created:
        cuda = dist.device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(torch.device(dist.device))
        td.init_process_group(backend="nccl" if cuda else "gloo", rank=dist.rank, world_size=dist.world_size,
                              timeout=datetime.timedelta(minutes=TIMEOUT_MINUTES),
                              **({"device_id": torch.device(dist.device)} if cuda else {}))  # fmt: skip
    elif td.get_world_size() != dist.world_size:
        raise DistributedError(
            f"the process group has {td.get_world_size()} ranks, WORLD_SIZE says {dist.world_size}"
        )
    ok = False
    try:
        yield dist
        ok = True
    finally:
        if ok:
            barrier(dist)
        if created:  # after a failure torchrun stops the other ranks; leaving is all that is left
            td.destroy_process_group()


def barrier(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as td

        td.barrier()


def all_reduce_sum(tensor, dist: Dist):
    """The element-wise sum over the ranks (in place, and returned)."""
    if dist.enabled:
        import torch.distributed as td

        td.all_reduce(tensor, op=td.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor, dist: Dist):
    """The element-wise mean over the ranks (a metric each rank measured on its own data)."""
    return all_reduce_sum(tensor, dist).div_(dist.world_size) if dist.enabled else tensor


def global_std(values, dist: Dist, device=None):
    """The unbiased std (as `Tensor.std`) of every rank's values together, a 0-d float32 tensor on
    device; a rank may have none. One all-reduce of (count, sum, sum of squares) in float64,
    where the cancellation of sum of squares minus squared sum stays far below float32's error."""
    import torch

    v = values.detach().to(device=device, dtype=torch.float64).reshape(-1)
    moments = all_reduce_sum(torch.stack([torch.tensor(float(v.numel()), dtype=torch.float64, device=v.device),
                                          v.sum(), (v * v).sum()]), dist)  # fmt: skip
    n, total, squares = moments.unbind()
    return ((squares - total * total / n) / (n - 1)).clamp(min=0).sqrt().float()


def sum_gradients(params: list, dist: Dist) -> None:
    """Every rank's gradients replaced by their sum over the ranks, in one all-reduce; a
    parameter without a gradient on a rank (nothing trained there) counts as zero."""
    if not dist.enabled or not params:
        return
    import torch

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    all_reduce_sum(flat, dist)
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def broadcast_parameters(model, dist: Dist) -> None:
    """Rank 0's trainable weights on every rank: the same start whatever each rank's RNG did."""
    if not dist.enabled:
        return
    import torch.distributed as td

    for p in model.parameters():
        if p.requires_grad:
            td.broadcast(p.data, src=0)


def shard(items: list, dist: Dist) -> list:
    """This rank's contiguous share of a global batch: rank r of N takes the r-th of N
    near-equal slices (the first len % N ranks one item more), so the shares in rank order
    are the batch."""
    n, k = divmod(len(items), dist.world_size)
    start = dist.rank * n + min(dist.rank, k)
    return items[start : start + n + (dist.rank < k)]
