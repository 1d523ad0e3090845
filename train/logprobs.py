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

Simplifications: the log-softmax is `gather - logsumexp` (no [rows, V] log-softmax
output); models that post-process logits support only Gemma-2 style soft-capping
(`config.final_logit_softcapping`); the entropy is computed on detached logits (it is
logged, never trained on).
"""

from __future__ import annotations

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
) -> tuple[Tensor, Tensor | None]:
    """log p(input_ids[:, t] | input_ids[:, :t]) for t in [completion_start, T).

    input_ids, attention_mask: [B, T]; prompts left-padded to the common width
    P = completion_start, completions after them right-padded (mask 0). Returns float32
    log-probs [B, T-P] and, when `with_entropy`, the entropy of each position's
    next-token distribution [B, T-P] (else None); both are 0 where the mask is 0.
    LoRA layers are active unless the call runs inside `train.model.reference_context`.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 to score tokens, got {temperature}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    batch, width = input_ids.shape
    if not 0 < completion_start <= width:
        raise ValueError(f"completion_start {completion_start} must be in 1..{width}")
    base = unwrap(model)
    backbone = getattr(base, base.base_model_prefix)  # Qwen2ForCausalLM.model: the decoder stack
    head = base.get_output_embeddings()  # a module call, so a LoRA on lm_head would apply too
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # [B, T] left padding: real tokens from 0
    hidden = backbone(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=False
    ).last_hidden_state  # [B, T, H]

    valid = attention_mask[:, completion_start:].bool()  # [B, C] completion tokens that are real
    rows = hidden[:, completion_start - 1 : -1][valid]  # [n, H]: the state before each scored token
    targets = input_ids[:, completion_start:][valid]  # [n]
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
