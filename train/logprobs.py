"""Per-token log-probabilities of completions, computed in chunks.

GRPO needs log p(token | prefix) for every completion token, under the policy (with
grad), the old policy and the reference (without). The plain way, `model(...).logits`
then `log_softmax`, materialises a [B, T, V] float32 tensor (16 x 1024 x 151936 x 4
bytes is 10 GB for a Qwen2 vocabulary) and keeps it alive for backward. Here the
backbone runs to hidden states, only the completion positions that are real tokens
(not padding) are kept, and the lm_head + log-softmax runs on chunks of `chunk_size` of
those rows: at most [chunk_size, V] float32 logits exist at a time. With grad enabled and
more than one chunk, each chunk runs under `torch.utils.checkpoint`, so its logits are
freed after the forward and recomputed in backward. A single chunk is not checkpointed:
keeping its logits for backward costs the same [chunk_size, V] bound and saves the
recompute (the common case for short completions and on CPU).

With `share_prompts` (GRPO: G completions per prompt) each distinct prompt runs once and its
KV cache is copied to its rows, so the backbone's work on prompts drops G-fold.

Simplifications: the log-softmax is `gather - logsumexp` (no [rows, V] log-softmax
output); models that post-process logits support only Gemma-2 style soft-capping
(`config.final_logit_softcapping`); the entropy is computed on detached logits (it is
logged, never trained on).
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from train.model import unwrap


def sequence_logprobs(
    model,
    input_ids: Tensor,
    attention_mask: Tensor,
    completion_start: int,
    *,
    chunk_size: int = 1024,
    temperature: float = 1.0,
    with_entropy: bool = False,
    share_prompts: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """log p(input_ids[:, t] | input_ids[:, :t]) for t in [completion_start, T).

    input_ids, attention_mask: [B, T]; prompts left-padded to the common width
    P = completion_start, completions after them right-padded (mask 0). Returns float32
    log-probs [B, T-P] and, when `with_entropy`, the entropy of each position's
    next-token distribution [B, T-P] (else None); both are 0 where the mask is 0.
    LoRA layers are active unless the call runs inside `train.model.reference_context`.
    `share_prompts`: rows with the same prompt (a GRPO group) run it once (`_shared_prompt_states`).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 to score tokens, got {temperature}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    batch, width = input_ids.shape
    if not 0 < completion_start <= width:
        raise ValueError(f"completion_start {completion_start} must be in 1..{width}")
    base = unwrap(model)
    states = _shared_prompt_states if share_prompts else _full_states
    before = states(base, input_ids, attention_mask, completion_start)  # [B, C, H]

    valid = attention_mask[:, completion_start:].bool()  # [B, C] completion tokens that are real
    rows = before[valid]  # [n, H]: the state before each scored token
    targets = input_ids[:, completion_start:][valid]  # [n]
    head = base.get_output_embeddings()  # a module call, so a LoRA on lm_head would apply too
    scale = _Scale(temperature, getattr(base.config, "final_logit_softcapping", None))

    # checkpointing only pays when more than one chunk would keep its logits for backward
    recompute = torch.is_grad_enabled() and rows.requires_grad and rows.shape[0] > chunk_size
    logps, entropies = [], []
    for start in range(0, rows.shape[0], chunk_size):
        h, y = rows[start : start + chunk_size], targets[start : start + chunk_size]
        if recompute:
            logp, ent = checkpoint(_chunk, head, scale, h, y, with_entropy, use_reentrant=False)
        else:
            logp, ent = _chunk(head, scale, h, y, with_entropy)
        logps.append(logp)
        entropies.append(ent)

    out = _scatter(logps, valid)
    entropy = _scatter(entropies, valid).detach() if with_entropy else None
    return out, entropy


def _backbone(base):
    return getattr(base, base.base_model_prefix)  # Qwen2ForCausalLM.model: the decoder stack


def _full_states(base, input_ids: Tensor, attention_mask: Tensor, start: int) -> Tensor:
    """One pass over prompt + completion: the hidden state before each completion token [B, C, H]."""
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # [B, T] left padding: real tokens from 0
    hidden = _backbone(base)(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=False
    ).last_hidden_state  # [B, T, H]
    return hidden[:, start - 1 : -1]


def _shared_prompt_states(base, input_ids: Tensor, attention_mask: Tensor, start: int) -> Tensor:
    """As `_full_states`, running each distinct prompt once.

    GRPO scores G completions per prompt, so one pass over all rows runs every prompt G times.
    Here the K distinct prompts (ids and mask alike) run once with a KV cache, the cache is
    gathered out to the B rows (an index, so autograd sums the rows' gradients back into
    each prompt's keys and values), and the completions run on top of it with the positions
    the full pass would give them. The same arithmetic up to float rounding. It falls back
    to the one pass when no prompt repeats, there is no completion, or gradient
    checkpointing is on (a recomputed layer would append to the cache a second time). With
    dropout in training mode the rows of a prompt share its one dropout draw.
    """
    from transformers import DynamicCache

    batch, width = input_ids.shape
    prompts = torch.cat([input_ids[:, :start], attention_mask[:, :start]], dim=1)  # [B, 2P]
    distinct, index = torch.unique(prompts, dim=0, return_inverse=True)  # [K, 2P], [B]
    if distinct.shape[0] == batch or start == width or _checkpointing(base):
        return _full_states(base, input_ids, attention_mask, start)
    backbone = _backbone(base)
    ids, mask = distinct[:, :start], distinct[:, start:]  # [K, P] each
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # [B, T] as the full pass numbers them
    cache = DynamicCache(config=base.config)
    kw = {_cache_kwarg(backbone): cache, "use_cache": True}
    prompt_positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [K, P]
    last = backbone(
        input_ids=ids, attention_mask=mask, position_ids=prompt_positions, **kw
    ).last_hidden_state[:, -1]  # [K, H]: the state before each prompt's first completion token
    cache.batch_select_indices(index)  # each layer's keys/values [K, kv, P, D] -> [B, kv, P, D]
    hidden = backbone(
        input_ids=input_ids[:, start:], attention_mask=attention_mask, position_ids=positions[:, start:], **kw
    ).last_hidden_state  # [B, C, H]
    return torch.cat([last[index, None], hidden[:, :-1]], dim=1)  # [B, C, H]


def _checkpointing(base) -> bool:
    """Gradient (activation) checkpointing is on; transformers 5 renamed the property."""
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if isinstance(getattr(type(base), name, None), property):  # the class's: no deprecation warning
            return bool(getattr(base, name))
    return False


def _cache_kwarg(backbone) -> str:
    """transformers renamed the forward's `past_key_values` to `cache`; use the name this one takes."""
    return "cache" if "cache" in inspect.signature(backbone.forward).parameters else "past_key_values"


class _Scale:
    """What sampling does to the lm_head's logits: soft-cap (if the model does), then temperature."""

    def __init__(self, temperature: float, softcap: float | None):
        self.temperature, self.softcap = temperature, softcap

    def __call__(self, logits: Tensor) -> Tensor:
        logits = logits.float()  # [n, V]
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits / self.temperature if self.temperature != 1.0 else logits


def _chunk(head, scale: _Scale, h: Tensor, y: Tensor, with_entropy: bool) -> tuple[Tensor, Tensor | None]:
    """h [n, H], y [n] -> log p(y) [n] float32 and, optionally, the entropy [n]."""
    logits = scale(head(h))  # [n, V] float32: the only vocabulary-wide tensors live here
    lse = torch.logsumexp(logits, dim=-1)  # [n]
    logp = logits.gather(-1, y[:, None]).squeeze(-1) - lse  # [n]
    if not with_entropy:
        return logp, None
    with torch.no_grad():
        detached = logits.detach()
        probs = torch.softmax(detached, dim=-1)  # [n, V]
        entropy = lse.detach() - (probs * detached).sum(-1)  # H = logsumexp - E_p[logit]
    return logp, entropy


def _scatter(parts: list[Tensor | None], valid: Tensor) -> Tensor:
    """Concatenated per-row values [n] back to [B, C], 0 where `valid` is False."""
    out = torch.zeros(valid.shape, dtype=torch.float32, device=valid.device)  # [B, C]
    if parts:
        out = out.masked_scatter(valid, torch.cat(parts))
    return out


__all__ = ["sequence_logprobs"]
