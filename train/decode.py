"""A lean decode step for Llama-shaped models (Qwen2, Llama), used by `train.rollout`.

Why: sampling feeds one token per row per step, and for small models the Hugging Face module
stack (mask building, cache objects, dozens of module calls and output dataclasses per step)
costs more than the arithmetic. This step does the same arithmetic with plain tensor calls:
q/k/v as one matmul, the KV cache in buffers allocated once (with left padding every row
writes the same column), attention for the one new query written out (`_attend`) with a boolean
padding mask. Prefill still runs the Hugging Face forward (one call), whose cache is copied in.

Simplifications: only model types in LEAN_TYPES with SiLU MLPs, no sliding window, no
attention logit soft-capping or q/k norms, float weights (a LoRA adapter must be merged first,
as `rollout.lora_merged` does); anything else uses the Hugging Face forward. Rotary embeddings
come from the model's own rotary module, so its scaling variants apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LEAN_TYPES = ("qwen2", "llama")


def _base(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _weight(module) -> Tensor:
    """A linear layer's weight; through a (merged) peft LoRA layer, its base layer's."""
    return (module.get_base_layer() if hasattr(module, "get_base_layer") else module).weight


def _bias(module) -> Tensor | None:
    return (module.get_base_layer() if hasattr(module, "get_base_layer") else module).bias


def lean_supported(model) -> bool:
    """The model is one this step reproduces exactly, and every adapter is merged or absent."""
    base = _base(model)
    cfg = base.config
    if getattr(cfg, "model_type", None) not in LEAN_TYPES or getattr(cfg, "hidden_act", None) != "silu":
        return False
    if getattr(cfg, "mlp_bias", False) or getattr(cfg, "pretraining_tp", 1) > 1:
        return False
    if getattr(cfg, "use_sliding_window", False) or getattr(cfg, "attn_logit_softcapping", None):
        return False
    if (
        getattr(cfg, "final_logit_softcapping", None)
        or getattr(base.get_output_embeddings(), "bias", None) is not None
    ):
        return False
    for m in base.modules():
        if hasattr(m, "merged_adapters") and hasattr(m, "get_base_layer") and not m.disable_adapters:
            if m.active_adapters and not m.merged:  # an unmerged adapter would be skipped here
                return False
    return all(p.dtype.is_floating_point for p in base.parameters())


@dataclass
class _Layer:
    ln1: Tensor
    eps1: float
    wqkv: Tensor  # [(heads + 2 * kv_heads) * head_dim, hidden]
    bqkv: Tensor | None
    wo: Tensor
    bo: Tensor | None
    ln2: Tensor
    eps2: float
    wg: Tensor
    wu: Tensor
    wd: Tensor
    k: Tensor  # [B, kv_heads, max_len, head_dim]
    v: Tensor


def _rms(h: Tensor, w: Tensor, eps: float) -> Tensor:
    x = h.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return w * x.to(h.dtype)


def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class LeanDecoder:
    """Holds the fused weights and the KV buffers of one sampling batch."""

    def __init__(self, model, cache, batch: int, max_len: int):
        base = _base(model)
        decoder = getattr(base, base.base_model_prefix)
        attn0 = decoder.layers[0].self_attn
        cfg = base.config
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim, self.scaling = attn0.head_dim, attn0.scaling
        self.embed, self.rotary = decoder.embed_tokens.weight, decoder.rotary_emb
        self.norm, self.norm_eps = decoder.norm.weight, decoder.norm.variance_epsilon
        self.head = base.get_output_embeddings().weight
        self.layers = []
        for i, layer in enumerate(decoder.layers):
            a, mlp = layer.self_attn, layer.mlp
            biases = [_bias(a.q_proj), _bias(a.k_proj), _bias(a.v_proj)]
            prefill_k, prefill_v = cache.layers[i].keys, cache.layers[i].values  # [B, kv_heads, P, head_dim]
            k = prefill_k.new_zeros(batch, self.kv_heads, max_len, self.head_dim)
            v = torch.zeros_like(k)
            k[:, :, : prefill_k.shape[2]] = prefill_k
            v[:, :, : prefill_v.shape[2]] = prefill_v
            self.layers.append(_Layer(
                ln1=layer.input_layernorm.weight, eps1=layer.input_layernorm.variance_epsilon,
                wqkv=torch.cat([_weight(a.q_proj), _weight(a.k_proj), _weight(a.v_proj)]),
                bqkv=None if biases[0] is None else torch.cat(biases), wo=_weight(a.o_proj), bo=_bias(a.o_proj),
                ln2=layer.post_attention_layernorm.weight, eps2=layer.post_attention_layernorm.variance_epsilon,
                wg=_weight(mlp.gate_proj), wu=_weight(mlp.up_proj), wd=_weight(mlp.down_proj), k=k, v=v,
            ))  # fmt: skip

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        """One query per row against the cache: q [B, heads, 1, D], k/v [B, kv_heads, L, D] (a
        strided prefix of the buffers), mask [B, 1, 1, L] -> [B, 1, heads * D]. By hand rather than
        scaled_dot_product_attention, whose CPU kernel copies the cache prefix (and with grouped
        query attention expands it to every head) at every step: in bf16 those copies cost more
        than the matmuls. Each kv head's query heads are one matrix, so nothing is expanded."""
        batch, group, d = q.shape[0], self.heads // self.kv_heads, self.head_dim
        q = q.reshape(batch, self.kv_heads, group, d)
        scores = torch.matmul(q, k.transpose(-1, -2)).float() * self.scaling  # [B, kv, group, L]
        scores = scores.masked_fill(~mask, float("-inf"))
        probs = scores.softmax(dim=-1).to(v.dtype)
        return torch.matmul(probs, v).reshape(batch, 1, self.heads * d)  # [B, kv, group, D] -> heads

    def step(self, token: Tensor, position: Tensor, column: int, mask: Tensor) -> Tensor:
        """token [B], position [B, 1] -> next-token logits [B, V]. The token's K/V go to `column`;
        mask [B, column + 1] (bool) says which cached positions are real tokens."""
        batch, d = token.shape[0], self.head_dim
        h = F.embedding(token[:, None], self.embed)  # [B, 1, H]
        cos, sin = self.rotary(h, position)  # [B, 1, D]
        cos, sin = cos[:, None], sin[:, None]  # [B, 1, 1, D]
        attn_mask = mask[:, None, None, :]  # [B, 1, 1, L]
        sizes = [self.heads * d, self.kv_heads * d, self.kv_heads * d]
        for layer in self.layers:
            q, k, v = F.linear(_rms(h, layer.ln1, layer.eps1), layer.wqkv, layer.bqkv).split(sizes, dim=-1)
            q = _rope(q.view(batch, 1, self.heads, d).transpose(1, 2), cos, sin)  # [B, heads, 1, D]
            layer.k[:, :, column] = _rope(k.view(batch, 1, self.kv_heads, d).transpose(1, 2), cos, sin)[
                :, :, 0
            ]
            layer.v[:, :, column] = v.view(batch, self.kv_heads, d)
            out = self._attend(q, layer.k[:, :, : column + 1], layer.v[:, :, : column + 1], attn_mask)
            h = h + F.linear(out, layer.wo, layer.bo)
            x = _rms(h, layer.ln2, layer.eps2)
            h = h + F.linear(F.silu(F.linear(x, layer.wg)) * F.linear(x, layer.wu), layer.wd)
        return F.linear(_rms(h, self.norm, self.norm_eps)[:, 0], self.head)  # [B, V]
