"""train.data: reading exports, assistant-only labels, packing and collation."""

from __future__ import annotations

import json
import shutil

import pytest

from train.data import (
    IGNORE,
    DataError,
    Example,
    check_export,
    collate,
    describe_export,
    encode_prompt,
    encode_sft,
    pack_examples,
    read_export,
    rows_of,
    sft_examples,
)

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+3?"},
    {"role": "assistant", "content": "2+3=5. The answer is \\boxed{5}."},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


# --- reading exports ------------------------------------------------------------------------------


def test_read_export_parquet_dir(workspace_exports):
    train = read_export(workspace_exports.sft, "train")
    val = read_export(workspace_exports.sft, "val")
    assert train and val
    assert train[0]["messages"][-1]["role"] == "assistant"


def test_read_export_jsonl_dir_and_single_file(workspace_exports):
    rows = read_export(workspace_exports.rl, "train")
    assert rows and "reference" in rows[0]
    single = read_export(workspace_exports.rl / "train.jsonl")
    assert single == rows
    assert read_export(workspace_exports.rl / "train.jsonl", "val") == []


def test_read_export_hf_datasets_dir(workspace_exports, tmp_path):
    from datasets import Dataset, DatasetDict

    rows = read_export(workspace_exports.sft, "train")[:5]
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "hf"))
    assert read_export(tmp_path / "hf", "train") == rows
    assert read_export(tmp_path / "hf", "val") == []


def test_read_export_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_export(tmp_path / "absent")
    (tmp_path / "val.jsonl").write_text("{}\n")
    with pytest.raises(DataError, match="no train split"):
        read_export(tmp_path, "train")
    (tmp_path / "train.jsonl").write_text('{"messages": []}\nnot json\n')
    with pytest.raises(DataError, match=r"train\.jsonl line 2: invalid JSON"):
        read_export(tmp_path, "train")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="unknown file type"):
        read_export(tmp_path / "x.csv")


def test_read_export_reads_the_files_its_manifest_names(workspace_exports, tmp_path):
    exp = tmp_path / "rl"
    shutil.copytree(workspace_exports.rl, exp)
    shutil.copy(workspace_exports.sft / "train.parquet", exp)  # a file another tool left there
    rows = read_export(exp, "train")
    assert rows == read_export(workspace_exports.rl, "train") and "reference" in rows[0]
    lines = (exp / "train.jsonl").read_text().splitlines()
    (exp / "train.jsonl").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(
        DataError, match=rf"train\.jsonl: {len(lines) - 1} rows, but cotmill-export.json records"
    ):
        read_export(exp, "train")


def test_check_export_refuses_another_format_and_an_empty_export(workspace_exports, tmp_path):
    from mixtures.export_dir import write_export

    assert check_export(workspace_exports.rl, ("rl",), "train grpo").mixture == "train-mix"
    with pytest.raises(DataError, match=r"an rl export of mixture train-mix; train sft needs an sft export"):
        check_export(workspace_exports.rl, ("sft",), "train sft")
    empty = tmp_path / "empty"
    # cotmill refuses to export no rows (mixtures.export.why_empty); an empty export written
    # another way (an older version, by hand) is still refused by the trainer
    write_export(
        [], empty, "jsonl", {"mixture": "train-mix", "format": "rl", "workspace": "w", "options": {}}
    )
    with pytest.raises(DataError, match=rf"{empty}: an empty export: cotmill-export.json records 0 rows"):
        check_export(empty, ("rl",), "train grpo")
    bare = tmp_path / "bare"  # no manifest: made by another tool, still read
    bare.mkdir()
    (bare / "train.jsonl").write_text("")
    assert check_export(bare, ("sft",), "train sft") is None
    with pytest.raises(DataError, match=rf"{bare / 'train.jsonl'}: 0 rows"):
        read_export(bare, "train")
    line = describe_export(workspace_exports.sft)
    train, val = (
        len(read_export(workspace_exports.sft, "train")),
        len(read_export(workspace_exports.sft, "val")),
    )
    assert line.startswith(
        f"data: mixture train-mix, format sft, {train} train / {val} val rows (exported 20"
    )
    assert describe_export(bare) == f"data: {bare} (no cotmill-export.json)"


# --- tokenization ---------------------------------------------------------------------------------


def test_labels_cover_exactly_the_assistant_turn(tokenizer):
    ex = encode_sft(CHAT, tokenizer, max_length=512)
    prompt = encode_prompt(CHAT[:-1], tokenizer)
    assert ex.input_ids[: len(prompt)] == prompt
    assert all(label == IGNORE for label in ex.labels[: len(prompt)])
    trained = [t for t, label in zip(ex.input_ids, ex.labels) if label != IGNORE]
    assert trained == ex.input_ids[len(prompt) :]
    assert tokenizer.decode(trained) == CHAT[-1]["content"] + "<|im_end|>"
    assert ex.input_ids[-1] == tokenizer.eos_token_id  # the template's trailing newline is cut


def test_labels_with_another_chat_template(tokenizer):
    """Prefix matching needs no generation markers: a Llama-style template works too."""
    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>[{{ m['role'] }}] {{ m['content'] }}{% if m['role'] == 'assistant' %}"
        "<|im_end|>{% else %}<|endoftext|>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>[assistant] {% endif %}"
    )
    ex = encode_sft(CHAT, tok, max_length=512)
    trained = [t for t, label in zip(ex.input_ids, ex.labels) if label != IGNORE]
    assert tok.decode(trained) == CHAT[-1]["content"] + "<|im_end|>"


def test_truncation_and_too_long_prompts(tokenizer):
    full = encode_sft(CHAT, tokenizer, max_length=512)
    prompt_len = len(encode_prompt(CHAT[:-1], tokenizer))
    cut = encode_sft(CHAT, tokenizer, max_length=prompt_len + 3)
    assert cut.input_ids == full.input_ids[: prompt_len + 3]
    assert sum(label != IGNORE for label in cut.labels) == 3
    assert encode_sft(CHAT, tokenizer, max_length=prompt_len) is None


def test_sft_examples_checks_rows(tokenizer):
    examples, dropped = sft_examples([{"messages": CHAT}] * 2, tokenizer, 512)
    assert len(examples) == 2 and dropped == 0
    _, dropped = sft_examples([{"messages": CHAT}], tokenizer, 8)
    assert dropped == 1
    with pytest.raises(DataError, match="f.parquet row 2: no 'messages'"):
        sft_examples([{"messages": CHAT}, {"prompt": "x"}], tokenizer, 512, "f.parquet")
    with pytest.raises(DataError, match="row 1: the last message must be the assistant's"):
        sft_examples([{"messages": CHAT[:-1]}], tokenizer, 512)


# --- packing and batches --------------------------------------------------------------------------


def _examples(lengths: list[int]) -> list[Example]:
    out = []
    for n, length in enumerate(lengths):
        ids = [100 + n] * length
        out.append(Example(ids, [IGNORE] * (length // 2) + ids[length // 2 :]))
    return out


def test_pack_best_fit_keeps_every_example_once():
    lengths = [7, 3, 5, 5, 2, 9, 1, 4, 6, 8]
    rows = pack_examples(_examples(lengths), max_length=10)
    assert all(len(r["input_ids"]) <= 10 for r in rows)
    assert len(rows) == 5  # 50 tokens in rows of 10: best fit leaves no gap here
    seen = sorted((r["input_ids"][i], n) for r in rows for i, n in _spans(r["position_ids"]))
    assert seen == sorted((100 + i, n) for i, n in enumerate(lengths))
    for r in rows:  # labels travel with their tokens
        assert len(r["labels"]) == len(r["input_ids"]) == len(r["position_ids"])
    assert pack_examples(_examples(lengths), 10) == rows  # deterministic


def _spans(positions: list[int]) -> list[tuple[int, int]]:
    """(start, length) of each example in a packed row, from the position resets."""
    starts = [i for i, p in enumerate(positions) if p == 0] + [len(positions)]
    return [(a, b - a) for a, b in zip(starts, starts[1:])]


def test_collate_packed_has_positions_and_no_mask():
    rows = pack_examples(_examples([4, 3, 6]), max_length=7)
    batch = collate(rows, pad_id=0, packed=True)
    assert "attention_mask" not in batch
    B, T = batch["input_ids"].shape
    assert (B, T) == (2, 7)
    for b, row in enumerate(rows):
        n = len(row["input_ids"])
        assert batch["position_ids"][b, :n].tolist() == row["position_ids"]
        assert batch["position_ids"][b, n:].tolist() == list(range(T - n))  # padding: its own sequence
    flat = batch["input_ids"].reshape(-1)
    # every target is the token right after the position it is predicted from
    assert flat[batch["target_index"] + 1].tolist() == batch["targets"].tolist()
    assert batch["n_targets"] == sum(
        len(ex.input_ids) - len(ex.input_ids) // 2 for ex in _examples([4, 3, 6])
    )
    assert batch["n_tokens"] == 13


def test_collate_padded_has_mask():
    rows = rows_of(_examples([4, 2]))
    batch = collate(rows, pad_id=0, packed=False)
    assert "position_ids" not in batch
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["targets"].tolist() == [100, 100, 101]
    assert batch["target_index"].tolist() == [1, 2, 4]


def test_real_export_packs_densely(workspace_exports, tokenizer):
    rows = read_export(workspace_exports.sft, "train")
    examples, _ = sft_examples(rows, tokenizer, 512)
    packed = pack_examples(examples, 512)
    tokens = sum(len(e.input_ids) for e in examples)
    assert len(packed) < len(examples)
    assert tokens / (len(packed) * 512) > 0.8, json.dumps([len(r["input_ids"]) for r in packed])
