"""GPU-marked tests (`make test-gpu` on a CUDA machine; skipped where there is none):
bf16 LoRA SFT with gradient checkpointing learns, GRPO runs on the GPU with our own
sampling loop (and through vLLM where it is installed), QLoRA loads in 4 bits and trains
(where bitsandbytes is installed)."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.gpu


def _sft_config(model, data, out, **kw):
    from train.sft import SFTConfig

    base = dict(model=str(model), data=str(data), out=str(out), max_steps=20, batch_size=4, max_length=256,
                lr=3e-3, log_every=1, eval_samples=0, warmup_steps=2, device="cuda")  # fmt: skip
    return SFTConfig(**{**base, **kw})


def _learned(losses: list[float]) -> bool:
    """LoRA on a random tiny model learns slowly: ~0.6 nats in 20 steps at lr 3e-3 on a CPU
    (fp32); steps scatter by ~0.1, so a fall of 0.3 is learning, not noise."""
    head, tail = losses[:3], losses[-5:]
    return all(math.isfinite(x) for x in losses) and sum(tail) / 5 < sum(head) / 3 - 0.3


def test_cuda_defaults_are_bf16_with_gradient_checkpointing(tiny_model_dir):
    from train.model import LoraSettings, load_model, unwrap

    model, _ = load_model(tiny_model_dir, device="cuda", lora=LoraSettings(r=8))
    base = unwrap(model)
    assert next(base.parameters()).device.type == "cuda"
    if torch.cuda.is_bf16_supported():
        assert base.get_input_embeddings().weight.dtype == torch.bfloat16
    assert base.is_gradient_checkpointing
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.device.type == "cuda" for p in trainable)


def test_bf16_lora_sft_loss_decreases_on_cuda(tiny_model_dir, workspace_exports, tmp_path):
    from train.sft import run_sft

    result = run_sft(_sft_config(tiny_model_dir, workspace_exports.sft, tmp_path / "sft"))
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert len(losses) == 20
    assert _learned(losses), losses
    assert (result.final / "adapter_config.json").exists()
    assert result.tokens > 0


def test_grpo_two_steps_on_cuda(tiny_model_dir, workspace_exports, tmp_path):
    from train.grpo import GRPOConfig, run_grpo

    out = tmp_path / "grpo"
    cfg = GRPOConfig(model=str(tiny_model_dir), data=str(workspace_exports.rl), out=str(out), max_steps=2,
                     prompts_per_step=2, group_size=4, max_new_tokens=32, lora_r=8, device="cuda", vllm=False,
                     seed=0)  # fmt: skip
    result = run_grpo(cfg)
    assert result.steps == 2 and result.trained_completions > 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "train/loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all(math.isfinite(r["train/loss"]) and math.isfinite(r["train/grad_norm"]) for r in steps)
    assert all(0 < r["completion/length_mean"] <= 32 for r in steps)
    assert (out / "final" / "adapter_config.json").exists()


def test_grpo_samples_through_vllm_when_installed(tiny_model_dir, workspace_exports, tmp_path):
    pytest.importorskip("vllm")
    from train.grpo import GRPOConfig, run_grpo

    out = tmp_path / "grpo-vllm"
    cfg = GRPOConfig(model=str(tiny_model_dir), data=str(workspace_exports.rl), out=str(out), max_steps=2,
                     prompts_per_step=2, group_size=4, max_new_tokens=32, lora_r=8, device="cuda", vllm=True,
                     seed=0)  # fmt: skip
    run_grpo(cfg)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train/loss" in r] == [1, 2]


def test_qlora_loads_in_4_bits_and_trains(tiny_model_dir, workspace_exports, tmp_path):
    pytest.importorskip("bitsandbytes")
    from train.model import LoraSettings, load_model
    from train.sft import run_sft

    model, tokenizer = load_model(tiny_model_dir, device="cuda", qlora=True, lora=LoraSettings(r=8))
    quantized = [m for m in model.modules() if type(m).__name__ == "Linear4bit"]
    assert quantized, "no 4-bit linear layer: the base was not quantized"
    ids = torch.tensor([tokenizer.encode("What is 2 + 3? The answer is 5.")], device="cuda")
    model.train()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    # and a short QLoRA SFT run learns
    result = run_sft(_sft_config(tiny_model_dir, workspace_exports.sft, tmp_path / "qlora", qlora=True))
    assert _learned([h["loss"] for h in result.history if "loss" in h])
