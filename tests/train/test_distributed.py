"""train.distributed: `cotmill train sft|grpo` under torchrun with 2 CPU processes (gloo), against
a single process given the same global batch; rank 0 alone writes; resume with the same number
of processes, refusal with another.

Tolerances: float32, dropout off, same seed. The two runs differ only in the order of float
additions (the gradient is a sum over two ranks' shares instead of one pass), so losses agree to
about 1e-6; 1e-4 (absolute, losses near 7) leaves room for other CPUs' kernels while a wrong
normaliser (a mean of the ranks' means) or a missing gradient sum moves them by far more."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, query

LOSS_TOL = 1e-4
WORKER = Path(__file__).with_name("grpo_ddp_worker.py")


def _torchrun(*args: str, timeout: float = 300, path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 ARGS` (as `python -m torch.distributed.run`),
    with the directories of path on PYTHONPATH after the repository."""
    pythonpath = os.pathsep.join(str(p) for p in (REPO, *path))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _losses(out: Path) -> list[tuple[int, float]]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(line["step"], line["train/loss"]) for line in lines if "train/loss" in line]


@pytest.fixture(scope="module")
def workspace(workspace_exports, tmp_path_factory):
    dest = tmp_path_factory.mktemp("ddp-ws") / "ws"
    shutil.copytree(workspace_exports.workspace, dest, ignore=shutil.ignore_patterns("cotmill.lock"))
    return dest


SFT_FLAGS = ("--max-steps", "4", "--max-length", "256", "--lr", "3e-3", "--log-every", "1", "--eval-samples", "0",
             "--warmup-steps", "1", "--lora-dropout", "0", "--precision", "fp32", "--device", "cpu", "--save-every",
             "2")  # fmt: skip


def test_sft_on_two_processes_matches_one_with_the_same_global_batch(
    tiny_model_dir, workspace_exports, workspace, tmp_path
):
    from train.sft import SFTConfig, SFTError, run_sft

    two = tmp_path / "two"
    common = (
        "-m",
        "cotmill",
        "train",
        "sft",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(workspace_exports.sft),
    )
    done = _torchrun(
        *common, "--out", str(two), "--batch-size", "2", *SFT_FLAGS, "--workspace", str(workspace)
    )
    # rank 0 alone prints, checkpoints and stores
    assert done.stdout.count("final:") == 1, done.stdout
    assert sorted(p.name for p in two.iterdir() if p.name.startswith(("checkpoint", ".tmp"))) == [
        "checkpoint-000002",
        "checkpoint-000004",
    ]
    assert json.loads((two / "checkpoint-000004" / "state.json").read_text())["world_size"] == 2
    # (no --run NAME: torchrun's own parser takes --run for its --run-path; see the README)
    run, config, summary, status = query(
        workspace, f"SELECT run, config, summary, status FROM runs WHERE out = '{two}'"
    )[0]
    assert status == "finished"
    assert json.loads(config)["world_size"] == 2 and json.loads(summary)["world_size"] == 2
    stored = query(workspace, f"SELECT step, count(*) FROM metrics WHERE run = '{run}' AND name = 'train/loss' "
                              "GROUP BY step ORDER BY step")  # fmt: skip
    assert stored == [(1, 1), (2, 1), (3, 1), (4, 1)]  # one row per step, not one per rank

    # one process, batch 4 = 2 per rank x 2 ranks: the same global batches, the same losses
    one = run_sft(SFTConfig(model=str(tiny_model_dir), data=str(workspace_exports.sft), out=str(tmp_path / "one"),
                            max_steps=4, batch_size=4, max_length=256, lr=3e-3, log_every=1, eval_samples=0,
                            warmup_steps=1, lora_dropout=0.0, precision="fp32", device="cpu"))  # fmt: skip
    single = [(h["step"], h["loss"]) for h in one.history]
    ddp = _losses(two)
    assert [s for s, _ in ddp] == [1, 2, 3, 4]
    diffs = [abs(a - b) for (_, a), (_, b) in zip(ddp, single)]
    assert max(diffs) < LOSS_TOL, (ddp, single)
    assert single[-1][1] < single[0][1] - 0.05  # it trained: the comparison is not of constants

    # resume on 2 processes from step 2 gives the uninterrupted steps 3 and 4
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(two / "checkpoint-000002", resumed / "checkpoint-000002")
    shutil.copy(two / "config.json", resumed / "config.json")
    _torchrun(*common, "--out", str(resumed), "--batch-size", "2", *SFT_FLAGS, "--resume")
    again = _losses(resumed)
    assert [s for s, _ in again] == [3, 4]
    assert max(abs(a - b) for (_, a), (_, b) in zip(again, ddp[2:])) < LOSS_TOL, (again, ddp)

    # a checkpoint of 2 processes does not resume on 1: its cursor counts micro-batches of 2 ranks
    with pytest.raises(SFTError, match="trained by 2 process"):
        run_sft(SFTConfig(model=str(tiny_model_dir), data=str(workspace_exports.sft), out=str(two), max_steps=6,
                          batch_size=2, max_length=256, device="cpu", eval_samples=0, resume=True))  # fmt: skip


def test_full_fine_tune_on_two_processes_matches_one(tiny_model_dir, workspace_exports, tmp_path):
    """--no-lora: every weight's gradient is summed over the ranks; rank 0 saves the full model."""
    from train.sft import SFTConfig, run_sft

    two = tmp_path / "two"
    _torchrun("-m", "cotmill", "train", "sft", "--model", str(tiny_model_dir), "--data", str(workspace_exports.sft),
              "--out", str(two), "--batch-size", "2", "--no-lora", *SFT_FLAGS[:-2], "--max-steps", "2")  # fmt: skip
    assert (two / "final" / "model.safetensors").is_file() and not (
        two / "final" / "adapter_config.json"
    ).exists()
    one = run_sft(SFTConfig(model=str(tiny_model_dir), data=str(workspace_exports.sft), out=str(tmp_path / "one"),
                            max_steps=2, batch_size=4, max_length=256, lr=3e-3, log_every=1, eval_samples=0,
                            warmup_steps=1, lora=False, precision="fp32", device="cpu"))  # fmt: skip
    single = [h["loss"] for h in one.history]
    ddp = [loss for _, loss in _losses(two)]
    assert len(ddp) == 2 and single[1] < single[0]
    assert max(abs(a - b) for a, b in zip(ddp, single)) < LOSS_TOL, (ddp, single)


def same_steps(case: str, got: dict, want: dict) -> None:
    """Each optimise call of 2 ranks (`got`) logged what one process (`want`) logged on the
    same global batch: loss, grad norm, and a batch that trained something."""
    for a, b in zip(got["stats"], want["stats"]):
        assert a["train/loss"] == pytest.approx(b["train/loss"], abs=LOSS_TOL), (
            case,
            got["stats"],
            want["stats"],
        )
        assert a["train/grad_norm"] == pytest.approx(b["train/grad_norm"], rel=1e-4)
        assert a["train/trained_completions"] == b["train/trained_completions"] > 0


def test_grpo_update_on_two_processes_matches_one(tiny_model_dir, workspace_exports, tmp_path):
    """The same global batch of 4 groups (2 per rank), 2 optimise calls of 2 iterations each (the
    second iteration's ratio is not 1, so the loss depends on the weights), for the dapo
    (token-level) and grpo (per-sequence) losses: loss, grad norm and the trained LoRA weights
    of 2 processes match those of one. So do they with --scale-rewards batch (the advantages
    divided by the std of the global batch, not of each rank's) on 3 groups (2 and 1 per rank)
    and on 1 group (rank 1 idle, joining the collectives with nothing)."""
    sys.path.insert(0, str(WORKER.parent))
    from grpo_ddp_worker import run

    single = run(str(tiny_model_dir), str(workspace_exports.rl), str(tmp_path / "one.json"))
    _torchrun(str(WORKER), str(tiny_model_dir), str(workspace_exports.rl), str(tmp_path / "two.json"))
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["world_size"] == 2 and two["mean_rank"] == 0.5  # all_reduce_mean: a metric's mean over ranks
    assert set(single) == {"dapo", "grpo", "batch-std", "batch-std-idle-rank"}
    for loss, want in single.items():
        got = two["results"][loss]
        assert got["rewards"] == want["rewards"] and len(set(want["rewards"])) > 2  # a batch that teaches
        same_steps(loss, got, want)
        worst = max(
            abs(x - y) for name in want["params"] for x, y in zip(got["params"][name], want["params"][name])
        )
        moved = max(abs(y) for name in want["params"] if "lora_B" in name for y in want["params"][name])
        # B starts at 0: the updates are compared. Adam divides by sqrt(v), which turns float-order
        # differences of near-zero gradients into ~1e-4 of a step; 1e-3 is a tenth of one step
        # (lr 1e-2), where a rank stepping on its own gradients alone is off by about a whole one
        assert moved > 1e-2 and worst < 1e-3, (loss, worst, moved)


def test_grpo_cli_on_two_processes_writes_once(tiny_model_dir, workspace_exports, workspace, tmp_path):
    out = tmp_path / "grpo"
    done = _torchrun("-m", "cotmill", "train", "grpo", "--model", str(tiny_model_dir), "--data",
                     str(workspace_exports.rl), "--out", str(out), "--max-steps", "2", "--save-every", "1",
                     "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8", "--precision", "fp32",
                     "--device", "cpu", "--workspace", str(workspace))  # fmt: skip
    assert done.stdout.count("final:") == 1 and (done.stdout + done.stderr).count("step 2/2 ") == 1, (
        done.stdout
    )
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint-000001",
        "checkpoint-000002",
    ]
    state = json.loads((out / "checkpoint-000002" / "state.json").read_text())
    assert state["world_size"] == 2 and len(state["samplers"]) == 2
    run, config, summary = query(workspace, f"SELECT run, config, summary FROM runs WHERE out = '{out}'")[0]
    assert json.loads(config)["world_size"] == 2 and json.loads(summary)["world_size"] == 2
    # a step trains the groups of both ranks: 2 prompts each
    drawn = query(
        workspace, f"SELECT value FROM metrics WHERE run = '{run}' AND name = 'sampling/prompts_drawn'"
    )
    assert [v for (v,) in drawn] == [4.0, 4.0]


# reward plugins (an installed distribution's entry points): math prompts get the number of distinct
# characters (a group's rewards differ), the others 0 for every completion (a group dynamic sampling drops)
REWARD_PLUGIN = """
import os


def math_only(rows, texts, lengths, settings):
    return [float(len(set(t))) if r["domain"] == "math" else 0.0 for r, t in zip(rows, texts)]


def math_on_rank_0(rows, texts, lengths, settings):  # rank 1 never finds a group that differs
    return math_only(rows, texts, lengths, settings) if os.environ["RANK"] == "0" else [0.0] * len(rows)
"""


def test_grpo_dynamic_sampling_on_two_processes(tiny_model_dir, workspace_exports, workspace, tmp_path):
    """--dynamic-sampling under torchrun: each rank draws from its own shard until it has
    --prompts-per-step groups whose rewards differ, taking as many rounds as its shard needs
    (about half the pool is math; rank 0's shard has twice rank 1's share), while the other
    waits at the step's first collective; every step trains 2 x 2 groups, none of them all-equal.
    A rank that finds no such group within the rounds joins the step idle while the other trains."""
    plugin = tmp_path / "plugin"
    info = plugin / "ddp_toy_reward-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ddp-toy-reward\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[cotmill.rewards]\nmath_only = ddp_toy_reward:math_only\nmath_on_rank_0 = ddp_toy_reward:math_on_rank_0\n"
    )
    (plugin / "ddp_toy_reward.py").write_text(REWARD_PLUGIN)

    def train(name: str, steps: int, reward: str, rounds: int) -> dict[str, list[float]]:
        out = tmp_path / name
        _torchrun("-m", "cotmill", "train", "grpo", "--model", str(tiny_model_dir), "--data",
                  str(workspace_exports.rl), "--out", str(out), "--max-steps", str(steps), "--prompts-per-step", "2",
                  "--group-size", "2", "--max-new-tokens", "8", "--precision", "fp32", "--device", "cpu",
                  "--dynamic-sampling", "--max-sampling-rounds", str(rounds), "--reward-weights", f"{reward}=1",
                  "--scale-rewards", "batch", "--workspace", str(workspace), path=(plugin,))  # fmt: skip
        [(run, config, summary)] = query(
            workspace, f"SELECT run, config, summary FROM runs WHERE out = '{out}'"
        )
        config, summary = json.loads(config), json.loads(summary)
        assert config["world_size"] == summary["world_size"] == 2 and config["dynamic_sampling"]
        rows = query(workspace, f"SELECT step, name, value FROM metrics WHERE run = '{run}' ORDER BY step")
        return {name: [v for s, n, v in rows if n == name] for name in {n for _, n, _ in rows}}

    metrics = train("grpo", 3, "math_only", 8)
    assert metrics["groups/trained"] == [4.0, 4.0, 4.0]  # 2 per rank, every step
    assert metrics["train/trained_completions"] == [8.0, 8.0, 8.0]
    # prompts were drawn beyond the 4 a step trains, and the ranks needed different numbers of
    # rounds in some step (the logged rounds are the ranks' mean)
    assert sum(metrics["sampling/prompts_drawn"]) > 12 and max(metrics["groups/zero_std_share"]) > 0
    assert any(r != int(r) for r in metrics["sampling/rounds"]), metrics["sampling/rounds"]

    idle = train("rank-1-idle", 2, "math_on_rank_0", 4)
    assert idle["groups/trained"] == [2.0, 2.0] and idle["train/trained_completions"] == [4.0, 4.0]
    assert min(idle["groups/zero_std_share"]) > 0.5  # rank 1's draws all flat, rank 0's half at most


def test_logged_values_of_uneven_ranks_are_those_of_the_global_batch():
    """Two ranks' step metrics (2 groups and 1, as when dynamic sampling leaves a rank short)
    merge into those of one process with the 3 groups: reward means and stds, completion
    lengths and shares, counts, the all-equal share of the prompts drawn."""
    from types import SimpleNamespace

    import torch

    from train.grpo import GRPOConfig, _combine, step_metrics
    from train.grpo_batch import Batch

    cfg = GRPOConfig(model="m", data="d", out="o", group_size=2)

    def batch(rewards, parts, lengths, truncated, drawn, zero_std):
        rollouts = SimpleNamespace(lengths=lengths, truncated=truncated)
        return Batch([], rollouts, torch.tensor(rewards), {"a": torch.tensor(parts)}, drawn, 1, zero_std)

    first = batch([1.0, 0.0, 3.0, 1.0], [0.5, 0.0, 1.0, 1.0], [4, 6, 8, 8], [False, False, True, True], 5, 3)
    second = batch([7.0, 2.0], [0.0, 1.0], [2, 3], [False, False], 3, 2)
    whole = batch([1.0, 0.0, 3.0, 1.0, 7.0, 2.0], [0.5, 0.0, 1.0, 1.0, 0.0, 1.0], [4, 6, 8, 8, 2, 3],
                  [False, False, True, True, False, False], 8, 5)  # fmt: skip
    merged = _combine([step_metrics(first, {}, cfg), step_metrics(second, {}, cfg)])
    want = step_metrics(whole, {}, cfg)
    assert set(merged) == set(want)
    for key, value in want.items():
        assert merged[key] == pytest.approx(value, abs=1e-6), key


def test_shard_splits_a_batch_in_rank_order():
    from train.distributed import Dist, shard

    items = list(range(7))
    parts = [shard(items, Dist(rank=r, world_size=3)) for r in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]]
    assert shard(items, Dist()) == items
    assert shard([0], Dist(rank=1, world_size=2)) == []


def test_torchrun_environment_is_read_and_checked(monkeypatch):
    from train.distributed import DistributedError, from_env, rank_device

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    dist = from_env()
    assert (dist.rank, dist.world_size, dist.enabled, dist.is_main) == (1, 2, True, False)
    assert rank_device(dist, "cpu") == "cpu"
    with pytest.raises(DistributedError, match="--device cuda:3"):
        rank_device(dist, "cuda:3")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(DistributedError, match="RANK=2 does not fit WORLD_SIZE=2"):
        from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(DistributedError, match="RANK='x'"):
        from_env()
