"""train.fsdp: `torchrun ... cotmill train sft --no-lora --fsdp` shards a full fine-tune with torch
FSDP2 (2 CPU processes, gloo), against one unsharded process given the same global batch; rank 0
alone writes a full model that loads as any other; resume with the same number of processes;
the settings it refuses.

Tolerance as in test_distributed.py (float32, dropout off): the sharded run differs only in the
order of float additions (gradients reduce-scattered over two ranks' shares), so losses agree to
about 1e-6; 1e-4 leaves room, while a rank that steps on its own half of the batch moves them by
far more. The grad norms are compared too: FSDP's default averaging of the gradients (in place of
the sum the global-batch normaliser needs) halves them, which Adam's update alone would hide."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.train.test_distributed import LOSS_TOL, SFT_FLAGS, _losses, _torchrun, same_steps

FLAGS = ("--batch-size", "2", "--no-lora", "--fsdp", *SFT_FLAGS)  # 4 steps, a checkpoint every 2


def _one_process(
    tiny_model_dir, data, out: Path, batch_size: int = 4, max_length: int = 256, grad_accum: int = 1
):
    from train.sft import SFTConfig, run_sft

    return run_sft(SFTConfig(model=str(tiny_model_dir), data=str(data), out=str(out), max_steps=4,
                             batch_size=batch_size, grad_accum=grad_accum, max_length=max_length, lr=3e-3, log_every=1, eval_samples=0,
                             warmup_steps=1, lora=False, precision="fp32", device="cpu"))  # fmt: skip


def test_fsdp_full_fine_tune_on_two_processes_matches_one(tiny_model_dir, workspace_exports, tmp_path):
    import torch
    from safetensors.torch import load_file

    from train.model import load_model

    two = tmp_path / "two"
    common = ("-m", "cotmill", "train", "sft", "--model", str(tiny_model_dir), "--data",
              str(workspace_exports.sft))  # fmt: skip
    done = _torchrun(*common, "--out", str(two), *FLAGS)
    assert done.stdout.count("final:") == 1, done.stdout  # rank 0 alone prints and writes
    assert sorted(p.name for p in two.iterdir() if p.name.startswith(("checkpoint", ".tmp"))) == [
        "checkpoint-000002",
        "checkpoint-000004",
    ]
    assert json.loads((two / "config.json").read_text())["fsdp"] is True

    one = _one_process(tiny_model_dir, workspace_exports.sft, tmp_path / "one")
    single = [(h["step"], h["loss"]) for h in one.history]
    sharded = _losses(two)
    assert [s for s, _ in sharded] == [1, 2, 3, 4]
    assert max(abs(a - b) for (_, a), (_, b) in zip(sharded, single)) < LOSS_TOL, (sharded, single)
    assert single[-1][1] < single[0][1] - 0.05  # it trained: the comparison is not of constants
    lines = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    norms = [line["train/grad_norm"] for line in lines if "train/grad_norm" in line]
    assert norms == pytest.approx([h["grad_norm"] for h in one.history], rel=1e-4)
    # every rank computed the eval loss (each forward of a sharded model is a collective)
    evals = [line["eval/loss"] for line in lines if "eval/loss" in line]
    assert evals == [pytest.approx(one.eval_loss, abs=LOSS_TOL)]

    # out/final is a full model (the gathered shards), in the single-process layout: it loads
    # with the trainer's loader and its weights are those one process trained
    final = two / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    assert json.loads((final / "config.json").read_text())["architectures"] == ["Qwen2ForCausalLM"]
    model, _ = load_model(final, device="cpu", precision="fp32", trainable=False)
    want = load_file(str(tmp_path / "one" / "final" / "model.safetensors"))
    got = model.state_dict()
    assert set(want) <= set(got)
    # Adam's step turns float-order differences of near-zero gradients into ~5e-5 of a weight
    # here (lr 3e-3, 4 steps moving weights by up to ~1e-2)
    worst = max((got[k] - want[k]).abs().max().item() for k in want)
    start = load_file(str(tiny_model_dir / "model.safetensors"))
    moved = max((want[k] - v).abs().max().item() for k, v in start.items() if k in want)
    assert moved > 5e-3 and worst < 5e-4, (worst, moved)
    assert torch.equal(got["lm_head.weight"], got["model.embed_tokens.weight"])  # still tied

    # resume on 2 processes from step 2 (model and Adam state into the shards) gives steps 3 and 4
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(two / "checkpoint-000002", resumed / "checkpoint-000002")
    shutil.copy(two / "config.json", resumed / "config.json")
    _torchrun(*common, "--out", str(resumed), "--resume")  # --fsdp and the rest from config.json
    again = _losses(resumed)
    assert [s for s, _ in again] == [3, 4]
    assert max(abs(a - b) for (_, a), (_, b) in zip(again, sharded[2:])) < LOSS_TOL, (again, sharded)


def test_fsdp_rank_without_a_row_grad_accum_and_checkpointing(tiny_model_dir, workspace_exports, tmp_path):
    """--max-length 512 packs the train split into 19 rows: with 3 rows a rank, an epoch's 4th
    global micro-batch holds one, so rank 1 has none and computes a zero-weighted one (else rank 0
    would wait for it at the first all-gather forever). With --grad-accum 2 over 4 steps that is
    twice (two epochs); with --gradient-checkpointing (the CUDA default) each layer all-gathers
    again for its recompute in backward. The losses are still those of one plain process."""
    from train.data import export_source, pack_examples, read_export, sft_examples
    from train.model import load_tokenizer

    data = workspace_exports.sft
    examples, _ = sft_examples(read_export(data, "train"), load_tokenizer(tiny_model_dir), 512,
                               export_source(data, "train"))  # fmt: skip
    assert len(pack_examples(examples, 512)) == 19  # 6 + 6 + 6 + 1
    two = tmp_path / "two"
    _torchrun("-m", "cotmill", "train", "sft", "--model", str(tiny_model_dir), "--data", str(data), "--out",
              str(two), "--batch-size", "3", "--no-lora", "--fsdp", *SFT_FLAGS[:-2], "--max-length", "512",
              "--grad-accum", "2", "--gradient-checkpointing")  # fmt: skip
    one = _one_process(tiny_model_dir, data, tmp_path / "one", batch_size=6, max_length=512, grad_accum=2)
    sharded = _losses(two)
    assert [s for s, _ in sharded] == [1, 2, 3, 4]
    single = [h["loss"] for h in one.history]
    assert max(abs(a - b) for (_, a), b in zip(sharded, single)) < LOSS_TOL, (sharded, single)


def _refused(command: str, model, data, run, config, tmp_path) -> None:
    """`train COMMAND --fsdp` with LoRA (the default) is refused by the CLI in one line, and
    --no-lora --fsdp outside torchrun by the trainer; neither leaves a run behind."""
    from click.testing import CliRunner

    from cotmill.cli import main
    from train.distributed import DistributedError

    args = ["train", command, "--model", str(model), "--data", str(data), "--out", str(tmp_path / "out"),
            "--max-steps", "1", "--device", "cpu", "--fsdp"]  # fmt: skip
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0
    assert "fsdp shards a full fine-tune: give lora: false (--no-lora)" in refused.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(DistributedError, match="start the run with torchrun --nproc_per_node N"):
        run(config(model=str(model), data=str(data), out=str(tmp_path / "out"), max_steps=1, lora=False, fsdp=True,
                   device="cpu"))  # fmt: skip
    assert not (tmp_path / "out" / "final").exists()


def test_fsdp_is_refused_with_lora_and_without_torchrun(tiny_model_dir, workspace_exports, tmp_path):
    from train.distributed import DistributedError
    from train.sft import SFTConfig, run_sft

    _refused("sft", tiny_model_dir, workspace_exports.sft, run_sft, SFTConfig, tmp_path)

    adapter = tmp_path / "adapter"  # what `cotmill train sft` (LoRA) leaves in OUT/final
    shutil.copytree(tiny_model_dir, adapter)
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(DistributedError, match="is a LoRA adapter: merge it into its base first"):
        run_sft(SFTConfig(model=str(adapter), data=str(workspace_exports.sft), out=str(tmp_path / "out"),
                          max_steps=1, lora=False, fsdp=True, device="cpu"))  # fmt: skip


@pytest.mark.gpu
def test_fsdp_on_two_gpus_with_nccl_matches_one(tiny_model_dir, workspace_exports, tmp_path):
    """The same comparison on CUDA (nccl, fp32, gradient checkpointing on: the CUDA default);
    `make test-gpu` on a machine with 2 GPUs, skipped with fewer. Tolerance 1e-3: cuBLAS may
    pick other kernels for the sharded and unsharded shapes."""
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA devices")
    from train.sft import SFTConfig, run_sft

    flags = [f if f != "cpu" else "cuda" for f in SFT_FLAGS]  # --device cuda
    two = tmp_path / "two"
    _torchrun("-m", "cotmill", "train", "sft", "--model", str(tiny_model_dir), "--data", str(workspace_exports.sft),
              "--out", str(two), "--batch-size", "2", "--no-lora", "--fsdp", *flags)  # fmt: skip
    one = run_sft(SFTConfig(model=str(tiny_model_dir), data=str(workspace_exports.sft), out=str(tmp_path / "one"),
                            max_steps=4, batch_size=4, max_length=256, lr=3e-3, log_every=1, eval_samples=0,
                            warmup_steps=1, lora=False, precision="fp32", device="cuda"))  # fmt: skip
    sharded = [loss for _, loss in _losses(two)]
    single = [h["loss"] for h in one.history]
    assert len(sharded) == 4 and max(abs(a - b) for a, b in zip(sharded, single)) < 1e-3, (sharded, single)
    assert (two / "final" / "model.safetensors").is_file()


GRPO_WORKER = Path(__file__).with_name("grpo_fsdp_worker.py")


def test_fsdp_grpo_update_on_two_processes_matches_one(tiny_model_dir, workspace_exports, tmp_path):
    """A full-model GRPO update sharded over 2 processes (--fsdp) matches one plain process on the
    same global batch, while the ranks run different numbers of forwards: 3 groups split 2 and 1
    (3 and 2 micro-batches of 3 completions), scored for old log-probs (iterations 2) and against
    a sharded frozen reference (beta > 0); and 1 group with rank 1 idle. Without the padding to
    the same count a rank waits at an all-gather forever (the timeout fails the test)."""
    import sys

    sys.path.insert(0, str(GRPO_WORKER.parent))
    from grpo_fsdp_worker import run

    single = run(str(tiny_model_dir), str(workspace_exports.rl), str(tmp_path / "one.json"))
    _torchrun(str(GRPO_WORKER), str(tiny_model_dir), str(workspace_exports.rl), str(tmp_path / "two.json"),
              timeout=300)  # fmt: skip
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["world_size"] == 2 and set(two["results"]) == set(single) == {"uneven-kl", "idle-rank"}
    for case, want in single.items():
        got = two["results"][case]
        assert got["rewards"] == want["rewards"] and len(set(want["rewards"])) > 2  # a batch that teaches
        same_steps(case, got, want)
        start = load_file(str(tiny_model_dir / "model.safetensors"))
        worst = max(
            abs(x - y) for name in want["params"] for x, y in zip(got["params"][name], want["params"][name])
        )
        moved = max(
            abs(y - x)
            for name, t in start.items()
            for x, y in zip(t.reshape(-1).tolist(), want["params"][name])
        )
        assert moved > 2e-3 and worst < 2e-4, (case, worst, moved)


@pytest.fixture
def workspace(workspace_exports, tmp_path):
    dest = tmp_path / "ws"
    shutil.copytree(workspace_exports.workspace, dest, ignore=shutil.ignore_patterns("cotmill.lock"))
    return dest


def test_fsdp_grpo_cli_with_dynamic_sampling_an_idle_rank_and_resume(
    tiny_model_dir, workspace_exports, workspace, tmp_path
):
    """`torchrun ... train grpo --no-lora --fsdp` end to end: every rank samples on the gathered
    weights, so ranks take different numbers of dynamic-sampling rounds (decode passes) without a
    collective between them; rank 1 never finds a group that differs (math_on_rank_0) and joins
    each step's forwards idle, for old log-probs (iterations 2), the sharded reference (beta > 0)
    and the training passes. A deadlock fails on _torchrun's timeout. Rank 0 alone writes the
    checkpoints and a full final model; resuming from step 2 on 2 processes repeats step 3."""
    import torch

    from tests.conftest import query
    from train.model import load_model

    plugin = _reward_plugin(tmp_path)
    out = tmp_path / "grpo"
    flags = ("--max-steps", "3", "--save-every", "1", "--prompts-per-step", "2", "--group-size", "2",
             "--max-new-tokens", "8", "--precision", "fp32", "--device", "cpu", "--no-lora", "--fsdp", "--beta", "0.1",
             "--iterations", "2", "--micro-batch-size", "1", "--dynamic-sampling", "--max-sampling-rounds", "4",
             "--reward-weights", "math_on_rank_0=1", "--lr", "1e-3")  # fmt: skip
    done = _torchrun("-m", "cotmill", "train", "grpo", "--model", str(tiny_model_dir), "--data",
                     str(workspace_exports.rl), "--out", str(out), *flags, "--workspace", str(workspace),
                     path=(plugin,), timeout=300)  # fmt: skip
    assert done.stdout.count("final:") == 1, done.stdout
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint-000002",
        "checkpoint-000003",
    ]
    run, config, summary = query(workspace, f"SELECT run, config, summary FROM runs WHERE out = '{out}'")[0]
    config, summary = json.loads(config), json.loads(summary)
    assert config["world_size"] == summary["world_size"] == 2 and config["fsdp"] and not config["lora"]
    rows = query(workspace, f"SELECT step, name, value FROM metrics WHERE run = '{run}' ORDER BY step")
    metrics = {name: [v for _, n, v in rows if n == name] for name in {n for _, n, _ in rows}}
    assert metrics["groups/trained"] == [2.0, 2.0, 2.0]  # rank 0's groups; rank 1 kept none
    assert metrics["train/trained_completions"] == [4.0, 4.0, 4.0]
    assert all(r > 1 for r in metrics["sampling/rounds"])  # the mean over ranks: rank 1 took every round
    assert metrics["train/kl"][-1] > 0  # the policy moved away from the sharded reference

    model, _ = load_model(out / "final", device="cpu", precision="fp32", trainable=False)
    got, start = model.state_dict(), load_file(str(tiny_model_dir / "model.safetensors"))
    assert max((got[k] - v).abs().max().item() for k, v in start.items()) > 1e-3  # full weights trained
    assert torch.equal(got["lm_head.weight"], got["model.embed_tokens.weight"])

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(out / "checkpoint-000002", resumed / "checkpoint-000002")
    shutil.copy(out / "config.json", resumed / "config.json")
    _torchrun(
        "-m", "cotmill", "train", "grpo", "--out", str(resumed), "--resume", path=(plugin,), timeout=300
    )
    again = _losses(resumed)
    assert [s for s, _ in again] == [3] and again[0][1] == pytest.approx(_losses(out)[2][1], abs=LOSS_TOL)


def _reward_plugin(tmp_path: Path) -> Path:
    """test_distributed's reward plugins (math_only, math_on_rank_0) as an installed distribution."""
    from tests.train.test_distributed import REWARD_PLUGIN

    plugin = tmp_path / "plugin"
    info = plugin / "ddp_toy_reward-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ddp-toy-reward\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[cotmill.rewards]\nmath_only = ddp_toy_reward:math_only\nmath_on_rank_0 = ddp_toy_reward:math_on_rank_0\n"
    )
    (plugin / "ddp_toy_reward.py").write_text(REWARD_PLUGIN)
    return plugin


def test_fsdp_grpo_is_refused_with_lora_and_without_torchrun(tiny_model_dir, workspace_exports, tmp_path):
    from train.grpo import GRPOConfig, run_grpo

    _refused("grpo", tiny_model_dir, workspace_exports.rl, run_grpo, GRPOConfig, tmp_path)
