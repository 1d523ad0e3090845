"""train.sft: the loss, a short run end to end, exact resume, merge, full fine-tuning, config."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.conftest import query
from train.sft import SFTConfig, SFTError, SFTEvents, load_sft_config, run_sft, token_loss_sum


class Notes(SFTEvents):
    def __init__(self):
        self.notes, self.steps = [], []

    def note(self, text):
        self.notes.append(text)

    def step(self, step, values):
        self.steps.append((step, values))


def _config(model, data, out, **kw) -> SFTConfig:
    base = dict(model=str(model), data=str(data), out=str(out), max_steps=4, batch_size=2, max_length=256,
                lr=3e-3, log_every=1, eval_samples=0, warmup_steps=1)  # fmt: skip
    return SFTConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def workspace(workspace_exports, tmp_path_factory):
    """A copy of the shared workspace, so the runs and metrics written here stay here."""
    dest = tmp_path_factory.mktemp("sft-ws") / "ws"
    shutil.copytree(workspace_exports.workspace, dest, ignore=shutil.ignore_patterns("cotmill.lock"))
    return dest


@pytest.fixture(scope="module")
def six_steps(tiny_model_dir, workspace_exports, tmp_path_factory):
    """An uninterrupted 4-step run with checkpoints at 2 and 4 (dropout on, so RNG matters)."""
    out = tmp_path_factory.mktemp("sft") / "a"
    config = _config(tiny_model_dir, workspace_exports.sft, out, max_steps=4, save_every=2, lora_dropout=0.1)
    return config, run_sft(config)


def test_packed_loss_equals_unpacked_loss(tiny_model_dir, workspace_exports):
    """Packed rows (position resets, no mask) give every example the loss it has alone:
    attention does not cross example boundaries."""
    from train.data import collate, pack_examples, read_export, rows_of, sft_examples
    from train.model import load_model

    model, tok = load_model(tiny_model_dir, device="cpu", trainable=False)
    examples, _ = sft_examples(read_export(workspace_exports.sft, "val")[:4], tok, 256)
    packed = pack_examples(examples, 256 * 3)
    assert len(packed) < len(examples)  # several examples share a row
    with torch.no_grad():
        a = collate(packed, tok.pad_token_id, packed=True)
        b = collate(rows_of(examples), tok.pad_token_id, packed=False)
        assert a["n_targets"] == b["n_targets"]
        loss_packed = token_loss_sum(model, a) / a["n_targets"]
        loss_padded = token_loss_sum(model, b) / b["n_targets"]
        alone = sum(token_loss_sum(model, collate(rows_of([e]), tok.pad_token_id, False)) for e in examples)
    assert loss_packed.item() == pytest.approx(loss_padded.item(), rel=1e-5)
    assert loss_packed.item() == pytest.approx(alone.item() / a["n_targets"], rel=1e-5)
    # and the packed loss is not just any number: one example's loss alone differs from the mean
    first = token_loss_sum(model, collate(rows_of(examples[:1]), tok.pad_token_id, False))
    assert first.item() / len([x for x in examples[0].labels if x != -100]) != pytest.approx(
        loss_packed.item()
    )


def test_chunked_cross_entropy_matches_one_chunk(tiny_model_dir, workspace_exports, monkeypatch):
    """Large batches compute lm_head + cross-entropy in checkpointed chunks: same loss, same grads."""
    import train.sft as sft
    from train.data import collate, pack_examples, read_export, sft_examples
    from train.model import LoraSettings, load_model

    model, tok = load_model(tiny_model_dir, device="cpu", lora=LoraSettings(r=4, dropout=0.0))
    examples, _ = sft_examples(read_export(workspace_exports.sft, "train")[:4], tok, 256)
    batch = collate(pack_examples(examples, 512), tok.pad_token_id, packed=True)

    def loss_and_grads():
        model.zero_grad()
        loss = token_loss_sum(model, batch)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    whole, grads = loss_and_grads()
    vocab = model.get_output_embeddings().weight.shape[0]
    monkeypatch.setattr(sft, "_CE_CHUNK_ELEMENTS", vocab * 37)  # rows of 37 targets
    assert batch["n_targets"] > 3 * 37
    chunked, chunked_grads = loss_and_grads()
    assert chunked == pytest.approx(whole, rel=1e-5)
    worst = max(float(((a - b).abs() / (b.abs() + 1e-3)).max()) for a, b in zip(grads, chunked_grads))
    assert worst < 1e-3, worst


def test_run_learns_and_writes_everything(tiny_model_dir, workspace_exports, workspace, tmp_path):
    out = tmp_path / "run"
    events = Notes()
    config = _config(tiny_model_dir, workspace_exports.sft, out, max_steps=6, lr=2e-2, eval_every=3,
                     eval_samples=3, eval_max_new_tokens=16, workspace=str(workspace), run="sft-test")  # fmt: skip
    result = run_sft(config, events)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 6
    evals = [v["eval_loss"] for _, v in events.steps if "eval_loss" in v]
    assert evals[1] < evals[0] < losses[0] - 0.2, (losses, evals)  # held-out loss falls as it trains
    assert result.eval_accuracy is not None and 0.0 <= result.eval_accuracy <= 1.0
    assert result.tokens > 0 and result.tokens_per_s > 0
    assert (out / "final" / "adapter_config.json").exists()
    assert (out / "final" / "tokenizer_config.json").exists()
    assert (out / "checkpoint-000006" / "state.json").exists()
    assert json.loads((out / "config.json").read_text())["max_steps"] == 6
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    names = {k for line in lines for k in line} - {"step", "time"}
    assert names == {
        "train/loss",
        "train/lr",
        "train/grad_norm",
        "train/tokens_per_s",
        "eval/loss",
        "eval/accuracy",
    }
    assert [line["step"] for line in lines if "eval/loss" in line] == [3, 6]
    stored = dict(query(workspace, "SELECT name, count(*) FROM metrics WHERE run = 'sft-test' GROUP BY name"))
    assert stored["train/loss"] == 6 and stored["eval/accuracy"] == 2
    status, summary = query(workspace, "SELECT status, summary FROM runs WHERE run = 'sft-test'")[0]
    assert status == "finished" and json.loads(summary)["steps"] == 6
    assert [s for s, _ in events.steps if "eval_loss" in _] == [3, 6]


def test_resume_reproduces_an_uninterrupted_run(six_steps, tmp_path):
    config, full = six_steps
    out = tmp_path / "b"
    out.mkdir()
    shutil.copytree(config.out + "/checkpoint-000002", out / "checkpoint-000002")  # as if killed after step 2
    resumed = run_sft(config.model_copy(update={"out": str(out), "resume": True}))
    assert [h["step"] for h in resumed.history] == [3, 4]
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in full.history[2:]], rel=1e-6
    )
    assert [h["lr"] for h in resumed.history] == pytest.approx([h["lr"] for h in full.history[2:]])
    assert resumed.eval_loss == pytest.approx(full.eval_loss, rel=1e-6)
    from safetensors.torch import load_file

    a = load_file(f"{config.out}/final/adapter_model.safetensors")
    b = load_file(str(out / "final" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-7) for k in a)


def test_resume_that_trains_nothing_fails_loudly(six_steps, tmp_path):
    config, _ = six_steps
    with pytest.raises(SFTError, match="nothing to train: checkpoint at step 4, --max-steps 4"):
        run_sft(config.model_copy(update={"resume": True}))
    with pytest.raises(SFTError, match="holds checkpoints of an earlier run"):
        run_sft(config)
    with pytest.raises(SFTError, match="--resume: no checkpoint in"):
        run_sft(config.model_copy(update={"out": str(tmp_path / "empty"), "resume": True}))


def test_merge_writes_a_loadable_full_model(tiny_model_dir, workspace_exports, tmp_path):
    from transformers import AutoModelForCausalLM

    from train.model import load_model

    config = _config(tiny_model_dir, workspace_exports.sft, tmp_path / "m", max_steps=2, lr=5e-2, merge=True)
    result = run_sft(config)
    assert result.merged == tmp_path / "m" / "merged"
    merged = AutoModelForCausalLM.from_pretrained(str(result.merged))
    adapted, _ = load_model(result.final, device="cpu", trainable=False)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    ids = torch.tensor([[5, 9, 14, 30, 7]])
    with torch.no_grad():
        got, want, before = merged(ids).logits, adapted(ids).logits, base(ids).logits
    assert torch.allclose(got, want, atol=1e-4)
    assert not torch.allclose(got, before, atol=1e-4)  # the adapter did change the model


def test_full_fine_tuning_saves_a_full_model(tiny_model_dir, workspace_exports, tmp_path):
    config = _config(tiny_model_dir, workspace_exports.sft, tmp_path / "f", max_steps=2, lora=False, lr=1e-3,
                     packing=False, max_length=128)  # fmt: skip
    result = run_sft(config)
    assert (result.final / "model.safetensors").exists() and not (
        result.final / "adapter_config.json"
    ).exists()
    assert len(result.history) == 2 and all(h["grad_norm"] > 0 for h in result.history)


def test_accuracy_without_references_is_skipped_with_a_note(
    tiny_model_dir, workspace_exports, workspace, tmp_path
):
    """sft rows carry no reference: problems the workspace lacks give eval loss but no accuracy."""
    from train.data import read_export

    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "val"):
        rows = [
            {**r, "problem_id": "elsewhere-" + r["problem_id"]}
            for r in read_export(workspace_exports.sft, split)
        ]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    events = Notes()
    config = _config(
        tiny_model_dir, data, tmp_path / "n", max_steps=1, eval_samples=2, workspace=str(workspace)
    )
    result = run_sft(config, events)
    assert result.eval_accuracy is None and result.eval_loss is not None
    assert any("no verifier accuracy" in n and "not in workspace" in n for n in events.notes), events.notes


def test_config_file_errors_name_the_key_and_file(tmp_path):
    from datagen.config import ConfigError

    good = tmp_path / "sft.yaml"
    good.write_text("model: m\ndata: d\nout: o\nlora-r: 8\nmax_steps: 5\n")
    config = load_sft_config(good, {"max_steps": 7})
    assert (config.lora_r, config.max_steps) == (8, 7)  # flags win over the file
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\ndata: d\nout: o\nlora_rank: 8\nbatch_size: 0\n")
    with pytest.raises(ConfigError) as e:
        load_sft_config(bad, {})
    assert f"{bad}: key 'lora_rank': unknown key" in str(e.value)
    assert f"{bad}: key 'batch_size'" in str(e.value)
    with pytest.raises(ConfigError, match="merge needs LoRA"):
        load_sft_config(None, {"model": "m", "data": "d", "out": "o", "lora": False, "merge": True})


def test_steps_from_epochs_and_named_target_modules(tiny_model_dir):
    from train.sft import _load, _total_steps

    config = SFTConfig(model=str(tiny_model_dir), data="d", out="o", epochs=1.5, batch_size=4, grad_accum=2,
                       target_modules="q_proj, v_proj", lora_r=4)  # fmt: skip
    assert _total_steps(config, n_rows=20) == 4  # 5 micro-batches an epoch, 7.5 -> 4 steps of 2
    assert _total_steps(config.model_copy(update={"max_steps": 9}), n_rows=20) == 9
    model, _ = _load(config)
    assert set(model.peft_config["default"].target_modules) == {"q_proj", "v_proj"}
    trained = {n.split(".")[-4] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"q_proj", "v_proj"}
