"""Rollouts: batched sampling with the model's KV cache, our own loop.

Why not `model.generate`: its per-token machinery (logits processors, stopping
criteria, cache bookkeeping, a host sync per step) costs more than a tiny model's
forward pass, and GRPO samples hundreds of tokens per step. This loop prefills the
left-padded prompts once, then feeds one token per row per step; sampling stays on
the device and the host checks "all rows done?" only every `_DONE_CHECK_EVERY` steps.

Simplifications: no repetition penalty, top-k or min-p (GRPO samples at the policy's
own temperature, optionally with top-p); a finished row keeps stepping with pad
tokens until the whole batch stops (its outputs are discarded).

The vLLM path (`VLLMRollouts`) is used only where vllm is installed and CUDA is present;
it serves the current LoRA adapter by saving it to a temp dir each step.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from train.decode import LeanDecoder, lean_supported

_DONE_CHECK_EVERY = 8  # steps between host syncs that ask whether every row has finished


@dataclass
class Rollouts:
    prompt_ids: Tensor  # [N, P] left-padded, N = prompts * n
    prompt_mask: Tensor  # [N, P]
    completion_ids: Tensor  # [N, C] right-padded with pad id, C = longest completion
    completion_mask: Tensor  # [N, C] 1 up to and including the eos token
    texts: list[str]  # decoded completions (no special tokens)
    lengths: list[int]
    truncated: list[bool]  # hit max_new_tokens without eos


def eos_ids(model, tokenizer) -> list[int]:
    """Every id that ends a completion: the tokenizer's eos and the generation config's."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen = getattr(model, "generation_config", None)
    configured = getattr(gen, "eos_token_id", None) if gen is not None else None
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if not ids:
        raise ValueError("the tokenizer and generation config name no eos token: completions would never end")
    return sorted(ids)


def pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return int(pad)


def left_pad(prompts: list[list[int]], pad: int, device) -> tuple[Tensor, Tensor]:
    """Token lists -> ids [N, P] and mask [N, P], padded on the left."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if p:
            ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p) :] = 1
    return ids.to(device), mask.to(device)


def _cache_kwarg(model) -> str:
    """transformers renamed `past_key_values` to `cache`; use whichever this version's forward takes."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _device_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """Sampling runs on the model's device; a CPU generator seeds a generator there so runs repeat."""
    if generator is None or generator.device.type == device.type:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def _mergeable_lora_layers(model) -> list:
    """LoRA Linear layers whose active adapters can be folded into a float weight; [] unless all can."""
    try:
        from peft.tuners.lora import Linear as LoraLinear
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return []
    tuners = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    for layer in tuners:
        adapters = [a for a in layer.active_adapters if a in getattr(layer, "lora_A", {})]
        weight = getattr(layer.get_base_layer(), "weight", None)
        if (not isinstance(layer, LoraLinear) or layer.disable_adapters or layer.merged or weight is None
                or not weight.dtype.is_floating_point or weight.dtype.itemsize < 2
                or any(layer.use_dora.get(a) or a in getattr(layer, "lora_variant", {}) for a in adapters)):  # fmt: skip
            return []
    return tuners


@contextmanager
def lora_merged(model):
    """Fold active LoRA adapters into the base weights while sampling, then put the originals back.

    Saves the adapter's two extra matmuls per linear layer on every decode step (about 1.6x on
    the tiny model on CPU). The original weight tensors are kept and restored as they were,
    not un-merged by subtraction, which in bf16 would drift the frozen base weights a little
    every step. Costs one extra copy of the adapted weights while active. Quantized, DoRA or
    already merged models are left alone.
    """
    layers = _mergeable_lora_layers(model)
    saved = []
    try:
        with torch.no_grad():
            for layer in layers:
                weight = layer.get_base_layer().weight
                adapters = [a for a in layer.active_adapters if a in layer.lora_A]
                saved.append((layer, weight.data, list(layer.merged_adapters)))
                merged = weight.data.clone()
                for a in adapters:
                    merged += layer.get_delta_weight(a).to(merged.dtype)
                weight.data = merged
                layer.merged_adapters = adapters  # peft's forward then calls only the base layer
        yield
    finally:
        for layer, data, merged_before in saved:
            layer.get_base_layer().weight.data = data
            layer.merged_adapters = merged_before


def sample_next(logits: Tensor, temperature: float, top_p: float, generator) -> Tensor:
    """logits [B, V] -> token ids [B]; greedy at temperature 0, nucleus when top_p < 1.

    Sampling is Gumbel-max (argmax of logits plus Gumbel noise), exact like multinomial and
    about 4x cheaper on CPU, where torch.multinomial costs more than a tiny model's decode step."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # drop a token when the tokens before it already cover top_p (the first token always stays)
        drop = probs.cumsum(dim=-1) - probs > top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_(min=1e-30)
    return (logits - torch.log(-torch.log(uniform))).argmax(dim=-1)


@torch.no_grad()
def _generate_batch(model, ids: Tensor, mask: Tensor, *, stop: Tensor, pad: int, max_new_tokens: int,
                    temperature: float, top_p: float, generator, cache_kw: str,
                    repeat: int = 1, on_step=None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """One batch of left-padded prompts [B, P] -> completion ids and mask [B, steps].
    `on_step(steps)`: called at each decode step with the steps taken (no device sync); it
    may raise to stop the loop (a teacher told to stop)."""
    from transformers import DynamicCache

    batch, width = ids.shape
    device = ids.device
    # the mask for every position the loop can reach, allocated once; steps read a prefix of it
    full_mask = torch.ones((batch, width + max_new_tokens), dtype=mask.dtype, device=device)
    full_mask[:, :width] = mask
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, P] real tokens count from 0
    next_pos = positions[:, -1:] + 1  # [B, 1]
    out_ids = torch.full((batch, max_new_tokens), pad, dtype=torch.long, device=device)
    out_mask = torch.zeros((batch, max_new_tokens), dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    cache = DynamicCache(config=getattr(model, "config", None))
    # rows come in runs of `repeat` copies of one prompt: prefill each prompt once, then copy its cache
    one = slice(None, None, repeat)
    out = model(input_ids=ids[one], attention_mask=mask[one], position_ids=positions[one], use_cache=True,
                logits_to_keep=1, **{cache_kw: cache})  # fmt: skip
    logits = out.logits[:, -1, :]  # [B / repeat, V]
    if repeat > 1:
        cache.batch_repeat_interleave(repeat)
        logits = logits.repeat_interleave(repeat, dim=0)  # [B, V]
    lean = LeanDecoder(model, cache, batch, width + max_new_tokens) if lean_supported(model) else None
    real = full_mask.bool()
    steps = 0
    for t in range(max_new_tokens):
        token = sample_next(logits, temperature, top_p, generator)  # [B]
        token = token.masked_fill(done, pad)
        out_ids[:, t] = token
        out_mask[:, t] = (~done).long()
        if on_step is not None:
            on_step(t + 1)
        done = done | torch.isin(token, stop)
        steps = t + 1
        if steps == max_new_tokens or (steps % _DONE_CHECK_EVERY == 0 and bool(done.all())):
            break
        if lean is not None:
            logits = lean.step(token, next_pos, width + t, real[:, : width + steps])
        else:
            out = model(input_ids=token[:, None], attention_mask=full_mask[:, : width + steps], position_ids=next_pos,
                        use_cache=True, logits_to_keep=1, **{cache_kw: cache})  # fmt: skip
            logits = out.logits[:, -1, :]
        next_pos = next_pos + 1
    return out_ids[:, :steps], out_mask[:, :steps]


def generate(model, tokenizer, prompts: list[list[int]], *, n: int = 1, max_new_tokens: int = 256,
             temperature: float = 1.0, top_p: float = 1.0, generator: torch.Generator | None = None,
             batch_size: int | None = None, on_step=None) -> Rollouts:  # fmt: skip
    """Sample n completions per prompt (rows i*n .. i*n+n-1 belong to prompt i). `on_step`:
    see _generate_batch."""
    if not prompts:
        raise ValueError("generate needs at least one prompt")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    device = next(model.parameters()).device
    pad = pad_id(tokenizer)
    stop_ids = eos_ids(model, tokenizer)
    stop = torch.tensor(stop_ids, device=device)
    rows = [list(p) for p in prompts for _ in range(n)]
    prompt_ids, prompt_mask = left_pad(rows, pad, device)
    gen = _device_generator(generator, device)
    cache_kw = _cache_kwarg(model)
    size = max(n, (batch_size or len(rows)) // n * n)  # whole groups per batch: each prompt prefilled once
    was_training = model.training
    model.eval()
    parts: list[tuple[Tensor, Tensor]] = []
    try:
        with lora_merged(model):
            for start in range(0, len(rows), size):
                ids, mask = prompt_ids[start : start + size], prompt_mask[start : start + size]
                keep = int(mask.sum(0).nonzero()[0]) if mask.any() else 0  # skip all-padding columns
                parts.append(_generate_batch(model, ids[:, keep:], mask[:, keep:], stop=stop, pad=pad,
                                             max_new_tokens=max_new_tokens, temperature=temperature,
                                             top_p=top_p, generator=gen, cache_kw=cache_kw, repeat=n,
                                             on_step=on_step))  # fmt: skip
    finally:
        model.train(was_training)
    return _assemble(tokenizer, prompt_ids, prompt_mask, parts, pad, stop_ids, max_new_tokens)


def _assemble(tokenizer, prompt_ids, prompt_mask, parts, pad: int, stop_ids: list[int],
              max_new_tokens: int) -> Rollouts:  # fmt: skip
    """Per-batch outputs of different widths -> one Rollouts trimmed to the longest completion."""
    lengths = [int(x) for _, m in parts for x in m.sum(-1).tolist()]
    width = max(max(lengths), 1)
    ids = torch.full((len(lengths), width), pad, dtype=torch.long, device=prompt_ids.device)
    mask = torch.zeros_like(ids)
    row = 0
    for part_ids, part_mask in parts:
        w = min(width, part_ids.shape[1])
        ids[row : row + len(part_ids), :w] = part_ids[:, :w]
        mask[row : row + len(part_ids), :w] = part_mask[:, :w]
        row += len(part_ids)
    stop = set(stop_ids)
    id_rows = ids.tolist()
    # a row ended by eos has it as its last real token; a full-length row without one was cut off
    truncated = [n == max_new_tokens and (n == 0 or r[n - 1] not in stop) for r, n in zip(id_rows, lengths)]
    texts = tokenizer.batch_decode([r[:n] for r, n in zip(id_rows, lengths)], skip_special_tokens=True)
    return Rollouts(prompt_ids, prompt_mask, ids, mask, texts, lengths, truncated)


def vllm_available() -> bool:
    """vllm importable and a CUDA device present (the vLLM path is never used on CPU)."""
    if not torch.cuda.is_available():
        return False
    try:
        import vllm  # noqa: F401
    except Exception:  # a broken vllm install must not take the trainer down
        return False
    return True


def rollouts_from_tokens(tokenizer, prompts: list[list[int]], completions: list[list[int]], *, n: int,
                         stop_ids: list[int], pad: int, max_new_tokens: int, device) -> Rollouts:  # fmt: skip
    """Completions sampled elsewhere (vLLM), n per prompt in order -> Rollouts as `generate` builds them."""
    rows = [list(p) for p in prompts for _ in range(n)]
    prompt_ids, prompt_mask = left_pad(rows, pad, device)
    width = max(max((len(c) for c in completions), default=0), 1)
    ids = torch.full((len(completions), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, c in enumerate(completions):
        ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        mask[i, : len(c)] = 1
    parts = [(ids.to(device), mask.to(device))]
    return _assemble(tokenizer, prompt_ids, prompt_mask, parts, pad, stop_ids, max_new_tokens)


class VLLMRollouts:
    """Sampling through vLLM for a LoRA policy: the base model is loaded once into a vLLM engine and
    the current adapter is saved to a temp dir and served with a fresh LoRARequest on every call.

    Only for peft models (full fine-tuning would need a weight sync into the engine; those runs use
    `generate`). vLLM shares the GPU with the trainer, hence the modest memory share by default.
    """

    def __init__(self, base_path, *, max_lora_rank: int = 64, gpu_memory_utilization: float = 0.3,
                 max_model_len: int | None = None, seed: int = 0, dtype: str = "auto"):  # fmt: skip
        from vllm import LLM

        self.llm = LLM(model=str(base_path), enable_lora=True, max_lora_rank=max_lora_rank, max_loras=1,
                       gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, seed=seed,
                       dtype=dtype, enable_prefix_caching=True)  # fmt: skip
        self._tmp = tempfile.TemporaryDirectory(prefix="cotmill-vllm-lora-")
        self._version = 0

    def generate(self, model, tokenizer, prompts: list[list[int]], *, n: int = 1, max_new_tokens: int = 256,
                 temperature: float = 1.0, top_p: float = 1.0, seed: int | None = None) -> Rollouts:  # fmt: skip
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        self._version += 1
        adapter = Path(self._tmp.name) / f"v{self._version}"
        model.save_pretrained(adapter)  # the peft adapter only: small, written each step
        request = LoRARequest(f"policy-{self._version}", self._version, str(adapter))
        params = SamplingParams(n=n, max_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                                skip_special_tokens=True)  # fmt: skip
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params,
                                    lora_request=request, use_tqdm=False)  # fmt: skip
        completions = [list(o.token_ids) for out in outputs for o in out.outputs]
        if self._version > 1:  # the engine holds one adapter (max_loras=1); the previous one is evicted
            shutil.rmtree(Path(self._tmp.name) / f"v{self._version - 1}", ignore_errors=True)
        device = next(model.parameters()).device
        return rollouts_from_tokens(tokenizer, prompts, completions, n=n, stop_ids=eos_ids(model, tokenizer),
                                    pad=pad_id(tokenizer), max_new_tokens=max_new_tokens, device=device)  # fmt: skip

    def close(self) -> None:
        self._tmp.cleanup()
