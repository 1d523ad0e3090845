"""`cotmill train tiny` and `cotmill train merge` as a user runs them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cotmill.cli import main
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from train.tiny import build_tiny, builtin_corpus

    return build_tiny(tmp_path_factory.mktemp("tiny"), corpus=builtin_corpus(n_per_task=4), vocab_size=512)


def _invoke(*args: str):
    return CliRunner().invoke(main, ["train", *args])


def test_tiny_builds_a_loadable_model_and_says_where(tmp_path):
    out = tmp_path / "tiny"
    result = run_cli("train", "tiny", "--out", str(out), "--vocab-size", "1024", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "built a tiny Qwen2 model: " in result.stdout and f"saved to {out}" in result.stdout
    assert "Loading weights" not in result.stderr  # no progress bars
    params = int(result.stdout.split("model: ")[1].split(" parameters")[0].replace(",", ""))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out)
    assert params == sum(p.numel() for p in model.parameters())
    assert len(AutoTokenizer.from_pretrained(out)) == 1024 == model.config.vocab_size


def test_tiny_trains_the_tokenizer_on_a_workspace(tmp_path):
    from datagen.store import Store

    w = tmp_path / "ws"
    rows = [{"problem_id": f"p{i}", "domain": "math", "task": "t", "source": "file", "verifier": "math",
             "prompt": f"How many quuxfrobs are in {i} zorblats of quuxfrobs?"} for i in range(50)]  # fmt: skip
    with Store.open(w) as store:
        store.insert_rows("problems", rows)
    result = _invoke("tiny", "--out", str(tmp_path / "m"), "--workspace", str(w), "--vocab-size", "400")
    assert result.exit_code == 0, result.output
    assert "trained on" in result.output and f"from workspace {w}" in result.output
    from transformers import AutoTokenizer

    # words only this workspace has, learned as one token each
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert tokenizer.tokenize(" quuxfrobs zorblats") == ["Ġquuxfrobs", "Ġzorblats"]
    empty = tmp_path / "empty"
    Store.open(empty).close()
    result = _invoke("tiny", "--out", str(tmp_path / "m2"), "--workspace", str(empty))
    assert result.exit_code == 1 and "has no problems or completions" in result.output


def test_tiny_errors_are_one_clear_line(tmp_path):
    result = _invoke("tiny", "--out", str(tmp_path / "m"), "--workspace", str(tmp_path / "nowhere"))
    assert result.exit_code == 1 and "error: no workspace at" in result.output
    result = _invoke("tiny", "--out", str(tmp_path / "m"), "--vocab-size", "10")
    assert result.exit_code == 1 and "vocab_size must be at least" in result.output
    result = _invoke("tiny", "--out", str(tmp_path / "m"), "--size", "huge")
    assert result.exit_code == 2 and "huge" in result.output


def test_merge_writes_a_full_model(tiny_model_dir, tmp_path):
    import torch

    from train.model import LoraSettings, load_model, save_model

    model, tokenizer = load_model(tiny_model_dir, lora=LoraSettings(r=4, dropout=0.0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    adapter = save_model(model, tokenizer, tmp_path / "adapter")
    x = torch.arange(3, 15)[None]  # [1, 12]
    with torch.no_grad():
        expected = model.eval()(x).logits
    result = _invoke("merge", "--adapter", str(adapter), "--out", str(tmp_path / "merged"))
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        f"wrote a merged model to {tmp_path / 'merged'}: base {tiny_model_dir.resolve()} + adapter {adapter}"
        in said
    )
    assert "the adapter itself is unchanged" in said  # not a line that reads as if the run changed
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    with torch.no_grad():
        torch.testing.assert_close(merged(x).logits, expected, atol=1e-5, rtol=1e-4)
    result = _invoke("merge", "--adapter", str(tiny_model_dir), "--out", str(tmp_path / "m2"))
    assert result.exit_code == 1 and "no adapter_config.json" in result.output
    result = _invoke(
        "merge", "--adapter", str(adapter), "--out", str(tmp_path / "m3"), "--base", str(tmp_path)
    )
    assert result.exit_code == 1 and "error:" in result.output
