"""Loading, LoRA, adapters (saved, chained, merged), the reference context, and the
block-diagonal attention of packed sequences that SFT packing relies on."""

from __future__ import annotations

import json

import pytest
import torch

from train.model import (
    LoraSettings,
    ModelError,
    load_model,
    merge_adapter,
    pick_device,
    pick_dtype,
    reference_context,
    save_model,
    unwrap,
)

LORA = LoraSettings(r=4, alpha=8, dropout=0.0)


def _ids(n: int, seed: int) -> torch.Tensor:
    return torch.randint(3, 2048, (1, n), generator=torch.Generator().manual_seed(seed))  # [1, n]


def _perturb(model, seed: int = 0) -> None:
    """LoRA B starts at zero (the adapter is a no-op); give the trainable weights noise so
    an adapter changes the output, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_sequences_attend_only_within_themselves(tiny_model_dir, attn):
    """position_ids that restart at 0 and no attention_mask give a block-diagonal causal
    mask: each packed sequence's logits equal those of the sequence run alone. Note
    use_cache=False: with a cache (the default in a plain forward) transformers does not
    look for packed sequences."""
    model, _ = load_model(tiny_model_dir, device="cpu", trainable=False, attn_implementation=attn)
    a, b, c = _ids(7, 0), _ids(5, 1), _ids(9, 2)
    with torch.no_grad():
        alone = [model(x, use_cache=False).logits for x in (a, b, c)]  # each [1, n, V]
        row0 = torch.cat([a, b], 1)  # [1, 12]
        row1 = torch.cat([c, a[:, :3]], 1)  # [1, 12]
        pos = torch.tensor([[*range(7), *range(5)], [*range(9), *range(3)]])  # [2, 12]
        packed = model(torch.cat([row0, row1]), position_ids=pos, use_cache=False).logits  # [2, 12, V]
        unpacked = model(row0, use_cache=False).logits
    torch.testing.assert_close(packed[0, :7], alone[0][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[0, 7:], alone[1][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[1, :9], alone[2][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[1, 9:], alone[0][0, :3], atol=1e-5, rtol=1e-4)
    # without the position reset the second sequence sees the first: the check can fail
    assert (unpacked[0, 7:] - alone[1][0]).abs().max() > 1e-2


def test_packing_holds_in_training_mode_through_lora(tiny_model_dir):
    model, _ = load_model(tiny_model_dir, device="cpu", lora=LORA)
    _perturb(model)
    a, b = _ids(6, 3), _ids(4, 4)
    pos = torch.tensor([[*range(6), *range(4)]])
    packed = model(torch.cat([a, b], 1), position_ids=pos, use_cache=False).logits
    alone = model(b, use_cache=False).logits
    torch.testing.assert_close(packed[0, 6:], alone[0], atol=1e-5, rtol=1e-4)


def test_plain_load_on_cpu_is_fp32_and_frozen_when_not_trainable(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir, trainable=False)
    assert next(model.parameters()).dtype == torch.float32
    assert next(model.parameters()).device.type == "cpu"
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training
    assert tokenizer.pad_token_id is not None
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    full, _ = load_model(tiny_model_dir)
    assert all(p.requires_grad for p in full.parameters()) and full.training


def test_lora_trains_only_the_adapter_on_all_linear_layers(tiny_model_dir):
    model, _ = load_model(tiny_model_dir, lora=LORA)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    targeted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable}
    assert targeted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert type(unwrap(model)).__name__ == "Qwen2ForCausalLM"
    assert unwrap(model) is model.get_base_model()


def test_reference_context_disables_the_adapter(tiny_model_dir):
    model, _ = load_model(tiny_model_dir, lora=LORA, trainable=True)
    base, _ = load_model(tiny_model_dir, trainable=False)
    _perturb(model)
    x = _ids(8, 5)
    with torch.no_grad():
        policy = model(x).logits
        with reference_context(model):
            reference = model(x).logits
        after = model(x).logits
        plain = base(x).logits
    torch.testing.assert_close(reference, plain)
    torch.testing.assert_close(after, policy)
    assert (policy - reference).abs().max() > 1e-3
    with pytest.raises(ModelError, match="no LoRA adapter"):
        reference_context(base)


def test_adapter_save_load_and_merge_give_the_same_logits(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(tiny_model_dir, lora=LORA)
    _perturb(model)
    model.eval()
    x = _ids(10, 6)
    with torch.no_grad():
        expected = model(x).logits
    out = save_model(model, tokenizer, tmp_path / "adapter")
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    assert (out / "tokenizer.json").is_file()
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        tiny_model_dir.resolve()
    )
    loaded, tok = load_model(out, trainable=False)  # an adapter dir alone: base + adapter
    assert tok.eos_token == "<|im_end|>"
    merged_dir = merge_adapter(out, tmp_path / "merged")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert AutoTokenizer.from_pretrained(merged_dir).eos_token == "<|im_end|>"
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(merged(x).logits, expected, atol=1e-5, rtol=1e-4)
    # loading the adapter for more training keeps it trainable
    again, _ = load_model(tiny_model_dir, adapter=out, trainable=True)
    assert any(p.requires_grad for p in again.parameters())


def test_new_lora_on_an_adapter_dir_trains_on_the_merged_model(tiny_model_dir, tmp_path):
    """GRPO after SFT: the SFT adapter is merged into the base, a fresh adapter goes on
    top, its reference is the SFT model, and the saved GRPO adapter reloads on that chain."""
    sft, tokenizer = load_model(tiny_model_dir, lora=LORA)
    _perturb(sft, seed=1)
    sft_dir = save_model(sft, tokenizer, tmp_path / "sft")
    x = _ids(8, 7)
    grpo, _ = load_model(sft_dir, lora=LORA)
    grpo.eval()
    with torch.no_grad():
        sft_logits = sft.eval()(x).logits
        with reference_context(grpo):
            torch.testing.assert_close(grpo(x).logits, sft_logits, atol=1e-5, rtol=1e-4)
    _perturb(grpo, seed=2)
    with torch.no_grad():
        expected = grpo(x).logits
    grpo_dir = save_model(grpo, tokenizer, tmp_path / "grpo")
    assert json.loads((grpo_dir / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        sft_dir.resolve()
    )
    reloaded, _ = load_model(grpo_dir, trainable=False)
    merged, _ = load_model(merge_adapter(grpo_dir, tmp_path / "merged"), trainable=False)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x).logits, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(merged(x).logits, expected, atol=1e-5, rtol=1e-4)


def test_merge_with_an_explicit_base_when_the_recorded_one_moved(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(tiny_model_dir, lora=LORA)
    out = save_model(model, tokenizer, tmp_path / "adapter")
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "moved-away")
    (out / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="not a local directory; pass the base path"):
        merge_adapter(out, tmp_path / "m1")
    assert (merge_adapter(out, tmp_path / "m2", base=str(tiny_model_dir)) / "config.json").is_file()


def test_bad_paths_and_settings_are_clear_errors(tiny_model_dir, tmp_path):
    with pytest.raises(ModelError, match="no such directory"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        load_model(tmp_path / "empty")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ):  # the tokenizer loads first
        (tmp_path / "bert" / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(ModelError, match="bert.*causal language model"):
        load_model(tmp_path / "bert")
    with pytest.raises(ModelError, match="not both"):
        load_model(tiny_model_dir, lora=LORA, adapter=tmp_path)
    with pytest.raises(ModelError, match="no adapter_config.json"):
        merge_adapter(tiny_model_dir, tmp_path / "m")
    with pytest.raises(ModelError, match="unknown precision"):
        pick_dtype("cpu", "fp8")


def _broken(tiny_model_dir, tmp_path, name, config=None, truncate=False, remove=()):
    """A copy of the tiny model with one thing wrong, as a user's download or edit leaves it."""
    import shutil

    path = tmp_path / name
    shutil.copytree(tiny_model_dir, path)
    if config:
        data = json.loads((path / "config.json").read_text())
        (path / "config.json").write_text(json.dumps({**data, **config}))
    if truncate:
        weights = path / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for file in remove:
        (path / file).unlink()
    return path


def test_broken_model_dirs_are_one_line_errors_naming_the_file(tiny_model_dir, tmp_path):
    cases = [
        (dict(config={"hidden_size": -1}), r"config\.json: hidden_size is -1; it must be a positive integer"),
        (dict(config={"vocab_size": 0}), r"config\.json: vocab_size is 0; it must be a positive integer"),
        (dict(config={"num_hidden_layers": "2"}), r"config\.json: num_hidden_layers is '2'; it must be a positive"),
        (dict(truncate=True), r"model\.safetensors: cannot read the weights \(.*\); the file is truncated or damaged"),
        (dict(remove=["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"]),
         r"no tokenizer files \(tokenizer\.json, tokenizer\.model, vocab\.json or vocab\.txt\)"),
        (dict(remove=["chat_template.jinja"]), r"its tokenizer has no chat template"),
    ]  # fmt: skip
    for i, (change, message) in enumerate(cases):
        path = _broken(tiny_model_dir, tmp_path, f"m{i}", **change)
        with pytest.raises(ModelError, match=message) as caught:
            load_model(path, device="cpu")
        assert str(path) in str(caught.value) and "\n" not in str(caught.value), caught.value
    (tmp_path / "m0" / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"m0/config\.json: invalid JSON"):
        load_model(tmp_path / "m0")


def test_device_and_dtype_defaults():
    assert pick_device("cpu").type == "cpu"
    assert pick_dtype("cpu") == torch.float32
    assert pick_dtype("cpu", "bf16") == torch.bfloat16
    if not torch.cuda.is_available():
        assert pick_device().type == "cpu"
        with pytest.raises(ModelError, match="no CUDA device"):
            pick_device("cuda")


def test_qlora_without_cuda_is_a_clear_error(tiny_model_dir):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the GPU test covers QLoRA")
    with pytest.raises(ModelError, match="QLoRA needs a CUDA device"):
        load_model(tiny_model_dir, lora=LORA, qlora=True)


@pytest.mark.gpu
def test_qlora_loads_4bit_and_trains_the_adapter(tiny_model_dir):
    pytest.importorskip("bitsandbytes")
    model, _ = load_model(tiny_model_dir, lora=LORA, qlora=True)
    assert any("4bit" in type(m).__name__ for m in unwrap(model).modules())
    x = _ids(8, 8).cuda()
    loss = model(x, labels=x).loss
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)


@pytest.mark.gpu
def test_cuda_defaults_bf16_and_gradient_checkpointing(tiny_model_dir):
    model, _ = load_model(tiny_model_dir, lora=LORA)
    assert next(unwrap(model).parameters()).dtype == torch.bfloat16
    assert (
        getattr(unwrap(model), "is_activation_checkpointing", None) or unwrap(model).is_gradient_checkpointing
    )


def test_a_training_run_dir_stands_for_its_final_model(tiny_model_dir, tmp_path):
    """`cotmill eval --model runs/sft` failed with "Unrecognized model" (the run's own
    config.json has no model_type): a run directory means its final/ model."""
    import shutil

    from train.model import load_model, run_model_dir

    run = tmp_path / "runs" / "sft"
    shutil.copytree(tiny_model_dir, run / "final")
    (run / "config.json").write_text(json.dumps({"lr": 0.0002, "max_steps": 30}))
    assert run_model_dir(run) == run / "final"
    model, _ = load_model(run, trainable=False)
    assert model.config.model_type == json.loads((tiny_model_dir / "config.json").read_text())["model_type"]
    # a model directory that happens to hold a final/ folder is itself
    assert run_model_dir(run / "final") == run / "final"
    shutil.copytree(tiny_model_dir, tmp_path / "m")
    shutil.copytree(tiny_model_dir, tmp_path / "m" / "final")
    assert run_model_dir(tmp_path / "m") == tmp_path / "m"


def test_transformers_deprecation_warning_does_not_reach_users(tiny_model_dir, tmp_path):
    """peft reads transformers' deprecated is_gradient_checkpointing when it wraps or merges a
    model; a user's own script (a fresh interpreter, Python's default filters) sees nothing of
    it, on the first load or any later one, and train.model adds its filter only once."""
    import subprocess
    import sys

    script = f"""
import warnings
from train.model import LoraSettings, load_model, merge_adapter, save_model
for _ in range(2):
    model, tok = load_model({str(tiny_model_dir)!r}, lora=LoraSettings(r=4))
adapter = save_model(model, tok, {str(tmp_path / "adapter")!r})
merge_adapter(adapter, {str(tmp_path / "merged")!r})
load_model(adapter, trainable=False)
ours = [f for f in warnings.filters if f[1] is not None and "is_gradient_checkpointing" in f[1].pattern]
print("filters:", len(ours))
"""
    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "is_gradient_checkpointing" not in done.stderr, done.stderr[-2000:]
    assert "filters: 1" in done.stdout
