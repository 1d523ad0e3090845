"""train.logprobs: chunked log-probs against the plain full-logits computation.

The model is a small Qwen2 built in memory (not the `tiny_model_dir` fixture) because
these tests choose the vocabulary size: the memory test needs V large next to B x T.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from train.logprobs import sequence_logprobs
from train.model import reference_context

VOCAB = 512
PROMPT = 6  # padded prompt width P


def qwen2(vocab: int = VOCAB, seed: int = 0):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
    )
    return Qwen2ForCausalLM(config).float().eval()


def with_lora(model):
    from peft import LoraConfig, get_peft_model

    # init_lora_weights=False: B is random, so the adapter really changes the outputs
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    return get_peft_model(model, config)


def batch(vocab: int = VOCAB, completion: int = 8, seed: int = 1):
    """3 rows: prompts of 6, 4 and 2 real tokens (left-padded), completions of 8, 5, 1
    real tokens (right-padded)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (3, PROMPT + completion), generator=g)
    mask = torch.ones_like(ids)
    for row, (prompt_len, completion_len) in enumerate([(6, completion), (4, 5), (2, 1)]):
        mask[row, : PROMPT - prompt_len] = 0
        mask[row, PROMPT + completion_len :] = 0
    ids = ids.masked_fill(mask == 0, 0)
    return ids, mask


def naive(model, ids, mask, temperature=1.0):
    """Full logits -> log_softmax -> gather: the [B, T, V] way."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits  # [B, T, V]
    logp_all = torch.log_softmax(logits[:, PROMPT - 1 : -1].float() / temperature, dim=-1)
    logp = logp_all.gather(-1, ids[:, PROMPT:, None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    keep = mask[:, PROMPT:].bool()
    return logp.masked_fill(~keep, 0), entropy.masked_fill(~keep, 0)


def grads(model, logp, mask):
    weights = torch.linspace(-1.0, 2.0, logp.numel()).view_as(logp)
    model.zero_grad()
    (logp * weights * mask[:, PROMPT:]).sum().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("chunk_size", [3, 1024])  # many checkpointed chunks; one plain chunk
@pytest.mark.parametrize("lora", [False, True])
def test_values_entropy_and_gradients_match_full_logits(chunk_size, lora):
    model = qwen2()
    if lora:
        model = with_lora(model)
    ids, mask = batch()
    want_logp, want_entropy = naive(model, ids, mask, temperature=0.7)
    want_grads = grads(model, want_logp, mask)

    logp, entropy = sequence_logprobs(
        model, ids, mask, PROMPT, chunk_size=chunk_size, temperature=0.7, with_entropy=True
    )
    assert logp.shape == entropy.shape == (3, ids.shape[1] - PROMPT)
    assert logp.dtype == entropy.dtype == torch.float32
    torch.testing.assert_close(logp, want_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy, want_entropy, atol=1e-5, rtol=0)
    assert not entropy.requires_grad
    got_grads = grads(model, logp, mask)
    assert got_grads.keys() == want_grads.keys()
    if lora:
        assert all("lora_" in name for name in got_grads)
    for name, want in want_grads.items():
        torch.testing.assert_close(got_grads[name], want, atol=1e-5, rtol=1e-4, msg=name)
    # padding positions are exactly 0
    assert (logp[mask[:, PROMPT:] == 0] == 0).all()


def test_reference_context_scores_the_base_model():
    base = qwen2()
    ids, mask = batch()
    with torch.no_grad():
        want, _ = naive(base, ids, mask)
        model = with_lora(base)
        adapted, _ = sequence_logprobs(model, ids, mask, PROMPT)
        with reference_context(model):
            reference, _ = sequence_logprobs(model, ids, mask, PROMPT)
    torch.testing.assert_close(reference, want, atol=1e-5, rtol=0)
    assert (adapted - reference).abs().max() > 1e-3  # the adapter was active outside the context


def test_left_padding_does_not_change_a_row():
    """position_ids come from the mask: a row scores the same alone and left-padded in a batch."""
    model = qwen2()
    ids, mask = batch()
    row = 1  # prompt of 4 real tokens behind 2 pads, completion of 5
    alone_ids = ids[row : row + 1, 2 : PROMPT + 5]
    alone_mask = torch.ones_like(alone_ids)
    with torch.no_grad():
        padded, _ = sequence_logprobs(model, ids, mask, PROMPT)
        alone, _ = sequence_logprobs(model, alone_ids, alone_mask, 4)
    torch.testing.assert_close(padded[row, :5], alone[0], atol=1e-5, rtol=0)


def grouped_batch(vocab: int = VOCAB, completion: int = 8, seed: int = 2):
    """6 rows, GRPO-style: 2 prompts (6 and 3 real tokens, left-padded) x 3 completions each,
    rows interleaved (0, 1, 0, 1, ...) and completions of ragged lengths (right-padded)."""
    g = torch.Generator().manual_seed(seed)
    prompts = torch.randint(1, vocab, (2, PROMPT), generator=g)
    prompts[1, : PROMPT - 3] = 0
    prompt_mask = (prompts != 0).long()
    rows = torch.tensor([0, 1, 0, 1, 0, 1])
    completions = torch.randint(1, vocab, (6, completion), generator=g)
    completion_mask = torch.ones_like(completions)
    for row, length in enumerate([completion, 5, 1, completion, 3, 6]):
        completion_mask[row, length:] = 0
    ids = torch.cat([prompts[rows], completions.masked_fill(completion_mask == 0, 0)], dim=1)
    return ids, torch.cat([prompt_mask[rows], completion_mask], dim=1)


class PromptWidths:
    """Records the [rows, tokens] of every input the decoder stack embeds."""

    def __init__(self, model):
        self.shapes = []
        embed = model.get_input_embeddings()
        self.handle = embed.register_forward_hook(
            lambda _m, args, _out: self.shapes.append(tuple(args[0].shape))
        )


@pytest.mark.parametrize("chunk_size", [3, 1024])
@pytest.mark.parametrize("lora", [False, True])
def test_shared_prompts_run_each_prompt_once_and_match_the_full_pass(chunk_size, lora):
    model = qwen2()
    if lora:
        model = with_lora(model)
    ids, mask = grouped_batch()
    want_logp, want_entropy = naive(model, ids, mask, temperature=0.7)
    want_grads = grads(model, want_logp, mask)

    calls = PromptWidths(model)
    logp, entropy = sequence_logprobs(
        model,
        ids,
        mask,
        PROMPT,
        chunk_size=chunk_size,
        temperature=0.7,
        with_entropy=True,
        share_prompts=True,
    )
    assert calls.shapes == [(2, PROMPT), (6, ids.shape[1] - PROMPT)]  # the 2 prompts once, then completions
    torch.testing.assert_close(logp, want_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy, want_entropy, atol=1e-5, rtol=0)
    assert (logp[mask[:, PROMPT:] == 0] == 0).all()
    got_grads = grads(model, logp, mask)
    assert got_grads.keys() == want_grads.keys()
    for name, want in want_grads.items():
        torch.testing.assert_close(got_grads[name], want, atol=1e-5, rtol=1e-4, msg=name)


def test_shared_prompts_fall_back_to_one_pass_when_no_prompt_repeats_or_layers_recompute():
    model = with_lora(qwen2())
    ids, mask = batch()  # 3 different prompts
    calls = PromptWidths(model)
    with torch.no_grad():
        shared, _ = sequence_logprobs(model, ids, mask, PROMPT, share_prompts=True)
        plain, _ = sequence_logprobs(model, ids, mask, PROMPT)
    assert calls.shapes == [tuple(ids.shape)] * 2
    assert torch.equal(shared, plain)
    # gradient checkpointing reruns each layer in backward, which would append to a KV cache again
    model.base_model.model.activation_checkpointing_enable(
        activation_checkpointing_kwargs={"use_reentrant": False}
    )
    ids, mask = grouped_batch()
    calls.shapes.clear()
    sequence_logprobs(model.train(), ids, mask, PROMPT, share_prompts=True)[0].sum().backward()
    assert calls.shapes[0] == tuple(ids.shape)


def test_shared_prompts_score_the_reference_inside_reference_context():
    base = qwen2()
    ids, mask = grouped_batch()
    with torch.no_grad():
        want, _ = naive(base, ids, mask)
        model = with_lora(base)
        with reference_context(model):
            reference, _ = sequence_logprobs(model, ids, mask, PROMPT, share_prompts=True)
    torch.testing.assert_close(reference, want, atol=1e-5, rtol=0)


class LargestTensor(TorchDispatchMode):
    """Records the largest new storage any aten op returns (forward, checkpoint recompute and
    backward all dispatch through here). A [B, C, V] float32 tensor, or anything holding
    one, must be allocated as the output of some op, so the largest output storage bounds
    what was materialised. Outputs that share an input's storage (views such as the
    transposed lm_head weight, in-place ops) allocate nothing and are skipped."""

    def __init__(self):
        super().__init__()
        self.largest, self.ops = 0, set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.add(str(func))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if _dense(t)}
        for t in tree_flatten(out)[0]:
            # views and in-place results share an input's storage: nothing new was allocated
            if _dense(t) and t.untyped_storage().data_ptr() not in inputs:
                self.largest = max(self.largest, t.untyped_storage().nbytes())
        return out


def _dense(t) -> bool:
    return isinstance(t, torch.Tensor) and t.layout == torch.strided


@pytest.mark.parametrize("share_prompts", [False, True])
def test_never_materialises_batch_by_length_by_vocab(share_prompts):
    vocab, chunk = 8192, 8
    model = with_lora(qwen2(vocab))
    ids, mask = (grouped_batch if share_prompts else batch)(vocab, completion=24)
    full = ids.shape[0] * (ids.shape[1] - PROMPT) * vocab * 4  # bytes of [B, C, V] float32

    probe = LargestTensor()
    with probe:
        logp, _ = sequence_logprobs(
            model, ids, mask, PROMPT, chunk_size=chunk, with_entropy=True, share_prompts=share_prompts
        )
        (logp * mask[:, PROMPT:]).sum().backward()
    assert any("backward" in op for op in probe.ops)  # the probe saw the backward pass
    assert any(p.grad is not None for p in model.parameters())
    assert probe.largest <= chunk * vocab * 4  # one chunk's [chunk, V] float32 logits at most

    naive_probe = LargestTensor()  # the probe does catch the plain way
    with naive_probe:
        want, _ = naive(model, ids, mask)
        (want * mask[:, PROMPT:]).sum().backward()
    assert naive_probe.largest >= full


def test_rejects_bad_arguments():
    model = qwen2()
    ids, mask = batch()
    with pytest.raises(ValueError, match="temperature"):
        sequence_logprobs(model, ids, mask, PROMPT, temperature=0)
    with pytest.raises(ValueError, match="completion_start"):
        sequence_logprobs(model, ids, mask, 0)


def test_a_model_from_load_model(tiny_model_dir):
    """The real loading path: a tiny model dir with a fresh LoRA adapter from train.model."""
    from train.model import LoraSettings, load_model

    model, tokenizer = load_model(tiny_model_dir, device="cpu", lora=LoraSettings(r=4, dropout=0.0))
    vocab = model.get_output_embeddings().weight.shape[0]
    ids, mask = batch(vocab)
    want, _ = naive(model, ids, mask)
    logp, _ = sequence_logprobs(model, ids, mask, PROMPT, chunk_size=4)
    torch.testing.assert_close(logp, want, atol=1e-5, rtol=0)
    (logp * mask[:, PROMPT:]).sum().backward()
    trained = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert trained and all("lora_" in n for n in trained)
