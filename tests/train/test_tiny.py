"""The tiny-model builder: a Hugging Face directory that the Auto classes load, a
tokenizer that reads digits one at a time, and Qwen2's ChatML template."""

from __future__ import annotations

import pytest

from train.model_check import ModelError
from train.tiny import SIZES, build_tiny, builtin_corpus, train_tokenizer


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_saved_in_hugging_face_format(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    for required in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "generation_config.json"]:  # fmt: skip
        assert required in names


def test_auto_classes_load_a_qwen2_with_chatml_special_tokens(loaded):
    model, tokenizer = loaded
    assert model.config.model_type == "qwen2"
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.config.vocab_size == len(tokenizer) == 2048
    assert 1_000_000 <= sum(p.numel() for p in model.parameters()) <= 3_000_000


def test_chat_template_is_chatml(loaded):
    _, tokenizer = loaded
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    full = messages + [{"role": "assistant", "content": "4"}]
    text = tokenizer.apply_chat_template(full, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n4<|im_end|>\n")
    ids = tokenizer.apply_chat_template(full, return_dict=False)
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3
    assert ids.count(tokenizer.eos_token_id) == 3


def test_assistant_mask_from_generation_markers(loaded):
    _, tokenizer = loaded
    messages = [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    out = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    trained = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tokenizer.decode(trained) == "2<|im_end|>"


def test_digits_are_single_tokens_and_text_round_trips(loaded):
    _, tokenizer = loaded
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("x = 1234567890 + 42")["input_ids"])
    digits = [t.lstrip("Ġ") for t in tokens if any(c.isdigit() for c in t)]
    assert digits == list("1234567890") + ["4", "2"]
    text = "héllo  wörld\n\n\\boxed{3/4} ```python\n    return x  # ✓\n```"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert tokenizer.unk_token is None  # byte-level: nothing is unknown


def test_corpus_covers_all_domains_rendered_as_prompts():
    corpus = builtin_corpus(n_per_task=2)
    joined = "\n".join(corpus)
    assert "Think step by step" in joined and "\\boxed{" in joined and "```python" in joined
    assert len(corpus) > 16 * 2 * 2  # prompt + solution per problem, plus the fixed wording


def test_build_is_reproducible_and_seeded(tmp_path):
    import torch
    from safetensors.torch import load_file

    corpus = builtin_corpus(n_per_task=2)
    a = load_file(build_tiny(tmp_path / "a", corpus=corpus, vocab_size=512, seed=1) / "model.safetensors")
    b = load_file(build_tiny(tmp_path / "b", corpus=corpus, vocab_size=512, seed=1) / "model.safetensors")
    c = load_file(build_tiny(tmp_path / "c", corpus=corpus, vocab_size=512, seed=2) / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()


def test_bad_arguments_are_clear(tmp_path):
    # ModelErrors: CotmillErrors, which the CLI prints as one line
    with pytest.raises(ModelError, match="unknown size 'huge'"):
        build_tiny(tmp_path, size="huge", corpus=["x"])
    with pytest.raises(ModelError, match="vocab_size must be at least"):
        train_tokenizer(["x"], vocab_size=100)


def test_sizes_have_qwen2_shapes():
    assert SIZES["0.5b"]["hidden_size"] == 896 and SIZES["0.5b"]["num_hidden_layers"] == 24
    assert SIZES["0.5b"]["vocab_size"] == 151936 and SIZES["0.5b"]["tie_word_embeddings"]
    for shape in SIZES.values():
        assert shape["hidden_size"] % shape["num_attention_heads"] == 0
        assert shape["num_attention_heads"] % shape["num_key_value_heads"] == 0
