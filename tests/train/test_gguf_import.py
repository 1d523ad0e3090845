"""`cotmill models import`: a GGUF file becomes a plain Hugging Face directory whose model
computes what the GGUF model computes, with its chat template, and bad input is one line."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SMOLLM2_GGUF, run_cli


def test_not_a_gguf_file_and_a_taken_out_are_clear(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip, not a model")
    result = run_cli("models", "import", str(fake), "--out", str(tmp_path / "m"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{fake}: not a GGUF file" in result.stderr
    result = run_cli("models", "import", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "m"))
    assert result.returncode == 1 and "nope.gguf: no such file" in result.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    fake.write_bytes(b"GGUF\x03\x00\x00\x00 truncated")
    result = run_cli("models", "import", str(fake), "--out", str(taken))
    assert result.returncode == 1 and "exists and is not empty (--overwrite replaces it)" in result.stderr
    assert (taken / "keep.txt").read_text() == "mine"
    # a file with GGUF's magic but nothing readable after it
    result = run_cli("models", "import", str(fake), "--out", str(tmp_path / "m"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "transformers cannot read this GGUF model" in result.stderr
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.import-*"))


def test_imported_directory_computes_what_the_gguf_model_computes(tmp_path):
    if not SMOLLM2_GGUF.is_file():
        pytest.skip(f"{SMOLLM2_GGUF} is absent: run `make smollm2`")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "smol"
    result = run_cli("models", "import", str(SMOLLM2_GGUF), "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr
    assert "LlamaForCausalLM, 134.5M parameters, float32" in result.stdout
    assert "chat template yes" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config  # a plain model, loadable without gguf
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == 2

    tokenizer = AutoTokenizer.from_pretrained(out)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], tokenize=False,
                                         add_generation_prompt=True)  # fmt: skip
    assert text.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nWhat is 2 + 3?<|im_end|>" in text
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        imported = AutoModelForCausalLM.from_pretrained(out).eval()
        got = imported(ids).logits
        del imported
        original = AutoModelForCausalLM.from_pretrained(
            SMOLLM2_GGUF.parent, gguf_file=SMOLLM2_GGUF.name
        ).eval()
        want = original(ids).logits
    assert torch.equal(got, want)
