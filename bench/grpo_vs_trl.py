"""GRPO step time: ours (train.grpo.run_grpo) versus TRL's GRPOTrainer, same run.

Both train the same locally built tiny Qwen2 model (train.tiny, random weights) on the
same two prompts (an rl export of the builtin teacher's math problems) with the same
settings: 2 prompts x group 8 per optimizer step (TRL: num_generations 8, per-device
batch 16, one gradient-accumulation step), 64 new tokens at temperature 1.0, LoRA r=8
(alpha 16, no dropout) on all linear layers, beta 0 (no reference pass), one policy
iteration per batch (mu = 1), clip epsilon 0.2 both sides, DAPO token-level loss, the
same learning rate, fp32 on CPU and no gradient checkpointing (TRL defaults to bf16 and
checkpointing; ours uses fp32 without checkpointing on CPU, so TRL is set the same).

Reward: train.rewards.verifier_reward plus a tie-breaker, 1e-3 x the share of distinct
characters in the completion, the same function for both (ours gets it by swapping
train.rewards.verifier_reward for the run). Why the tie-breaker: a random model almost never
answers right, so the verifier alone leaves nearly every group with equal rewards and zero
advantages, and ours (rightly: with beta 0 they add nothing to the gradient) skips the
forward/backward of such completions while TRL computes them. A curated RL pool holds
problems with mixed outcomes, so the realistic case is groups with spread; the tie-breaker
gives every group spread and both trainers the full policy-gradient work.
`--pure-verifier` runs the verifier alone (the random-model case, where ours skips most of
the training pass).

Lengths: both stop a row at eos and the batch when every row has stopped. A random model
samples eos about once in vocab-size tokens, so in practice every batch runs the full 64
steps in both; the mean completion length and batch width of each are printed to show it.

Time: marginal seconds per optimizer step, (t_N - t_M) / (N - M), where t_K is the wall
time of a whole K-step run (load, build the trainer, train, save), so start-up cancels.
One untimed warm-up run of each first; rounds alternate the two; medians are reported.
Goal: ours at most 0.5x TRL's seconds per step.

--model DIR benchmarks a local Hugging Face model directory instead of the tiny model (e.g.
models/SmolLM2-135M-Instruct, which `make smollm2` imports): its weights (loaded in fp32 by
both), its tokenizer and chat template (both render the same prompt messages with it), the
same LoRA and settings as above on both sides. A trained model stops at its eos well before
64 tokens at times, and the two trainers sample different completions, so their mean length
and batch width can differ: the table shows both, and more steps even them out. A 135M model
does far more work per step than the tiny one, so --model changes two defaults: --steps 6
(not 12) and --base-steps 2 (not 4); the others stay (2 prompts x 8, 64 new tokens, 2 rounds).
A DIR without config.json is refused (exit 2).

On a machine busy with other work pass --threads 1: with more torch threads than free
cores, OpenMP's spin-waiting makes both trainers many times slower and the ratio noise.
The line above the table prints the load average the run saw.

    python bench/grpo_vs_trl.py [--model DIR] [--steps 12] [--base-steps 4] [--rounds 2] [--size tiny]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from model_arg import check_model  # noqa: E402 - bench/ is the script's own folder

try:
    import trl  # noqa: F401
except ImportError:
    print("bench/grpo_vs_trl.py: trl is not installed; skipping.")
    print("  install it with: pip install -e '.[bench]'   (or: pip install trl)")
    sys.exit(0)

PROMPTS = 2
GROUP = 8
LORA_R, LORA_ALPHA = 8, 16
EPSILON = 0.2
# defaults of the options left unset: the tiny model's, and a real one's under --model
DEFAULTS = {"steps": 12, "base_steps": 4}
MODEL_DEFAULTS = {"steps": 6, "base_steps": 2}


def verifier_with_tie_breaker(row: dict, text: str) -> float:
    return VERIFIER(row, text) + 1e-3 * len(set(text)) / max(len(text), 1)


def _verifier(row: dict, text: str) -> float:
    return VERIFIER(row, text)


VERIFIER = None  # train.rewards.verifier_reward, set in main (train is imported lazily)
REWARD = verifier_with_tie_breaker  # what both trainers score completions with


ROW_COLUMNS = ("reference", "verifier", "domain", "task", "meta")  # what verifier_reward reads


def build_inputs(root: Path, size: str, model: Path | None = None) -> tuple[Path, Path, list[dict]]:
    """A tiny model (or `model`) and the 2 prompt rows of an rl export (builtin teacher, math) in a
    file of their own; returns (model, that file, the rows)."""
    from train.tiny import build_tiny, builtin_corpus

    model_dir = model or build_tiny(root / "model", size, corpus=builtin_corpus(n_per_task=20))
    export = build_rl_export(root)
    rows = [json.loads(line) for line in (export / "train.jsonl").read_text().splitlines()]
    # two fixed prompts: every step of both trainers sees the same ones, so per-step work is equal.
    # A file beside the export, not the export's train.jsonl cut short: train.data refuses an
    # export whose rows disagree with the count its manifest records
    rows = rows[:PROMPTS]
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return model_dir, prompts, rows


def build_rl_export(root: Path) -> Path:
    import yaml

    from cotmill.pipeline import run_pipeline
    from mixtures.export import export_mixture

    spec = {
        "workspace": str(root / "workspace"),
        "generate": {
            "job": "bench",
            "tasks": "math",
            "count": 40,
            "samples": 4,
            "error_rate": 0.3,
            "seed": 3,
            "difficulty": "1-2",
        },  # fmt: skip
        "verify": {"workers": 1},
        "curate": {},
        "mix": {"name": "bench", "total": 30, "ratios": {"math": 1.0}, "seed": 1},
    }
    (root / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    run_pipeline(root / "pipeline.yaml", say=lambda _line: None)
    export_mixture(root / "workspace", "bench", "rl", root / "rl", "jsonl")
    return root / "rl"


# -- TRL ---------------------------------------------------------------------------


def trl_run(model_dir: Path, rows: list[dict], steps: int, lr: float, new_tokens: int, out: Path) -> tuple[float, dict]:  # fmt: skip
    """One whole TRL GRPO run of `steps` optimizer steps; returns (seconds, stats)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    def reward(prompts, completions, **columns) -> list[float]:
        # TRL passes the dataset's other columns as lists, one entry per completion
        texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        lists = {k: columns[k] for k in ROW_COLUMNS}
        return [REWARD({k: v[i] for k, v in lists.items()}, t) for i, t in enumerate(texts)]

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    args = GRPOConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=PROMPTS * GROUP,
        num_generations=GROUP, gradient_accumulation_steps=1, num_iterations=1, max_completion_length=new_tokens,
        learning_rate=lr, beta=0.0, epsilon=EPSILON, loss_type="dapo", temperature=1.0, top_p=1.0,
        bf16=False, gradient_checkpointing=False, use_cpu=True, report_to="none", save_strategy="no",
        logging_steps=steps, disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    lora = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")  # fmt: skip
    columns = [{"prompt": r["prompt"], **{k: r[k] for k in ROW_COLUMNS}} for r in rows]
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=Dataset.from_list(columns),
                              processing_class=tokenizer, peft_config=lora)  # fmt: skip
        trainer.train()
    trainer.save_model(str(out / "final"))
    seconds = time.perf_counter() - start
    logs = [entry for entry in trainer.state.log_history if "completions/mean_length" in entry]
    stats = {
        "mean_length": float(logs[-1]["completions/mean_length"]),
        "batch_width": float(logs[-1]["completions/max_length"]),
        "reward_mean": float(logs[-1]["reward"]),
    }
    return seconds, stats


# -- ours --------------------------------------------------------------------------


def ours_run(model_dir: Path, export: Path, steps: int, lr: float, new_tokens: int, out: Path) -> tuple[float, dict]:  # fmt: skip
    """One whole run of our GRPO (train.grpo.run_grpo); returns (seconds, stats)."""
    from train.grpo import GRPOConfig, run_grpo

    start = time.perf_counter()
    config = GRPOConfig(
        model=str(model_dir), data=str(export), out=str(out), max_steps=steps, prompts_per_step=PROMPTS,
        group_size=GROUP, max_new_tokens=new_tokens, temperature=1.0, top_p=1.0, lr=lr, lora_r=LORA_R,
        lora_alpha=LORA_ALPHA, lora_dropout=0.0, beta=0.0, epsilon_low=EPSILON, epsilon_high=EPSILON,
        loss="dapo", iterations=1, reward_weights="verifier=1", seed=0, vllm=False,
    )  # fmt: skip
    import train.rewards

    train.rewards.verifier_reward = REWARD  # ours scores through train.rewards' module global
    try:
        run_grpo(config)
    finally:
        train.rewards.verifier_reward = VERIFIER
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "completion/length_mean" in r]
    stats = {
        "mean_length": statistics.fmean(r["completion/length_mean"] for r in rows),
        "batch_width": statistics.fmean(r["completion/length_max"] for r in rows),
        "reward_mean": statistics.fmean(r["reward/total_mean"] for r in rows),
    }
    return seconds, stats


# -- the comparison ----------------------------------------------------------------


def marginal(times: dict[int, list[float]], n: int, m: int) -> float:
    return (statistics.median(times[n]) - statistics.median(times[m])) / (n - m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, metavar="DIR",
                    help="a local Hugging Face model directory to benchmark (with LoRA) instead of the tiny "
                         "random model, e.g. models/SmolLM2-135M-Instruct; lowers the defaults of --steps "
                         "and --base-steps")  # fmt: skip
    ap.add_argument("--steps", type=int, help="N: steps of the long run (default 12; 6 with --model)")
    ap.add_argument("--base-steps", type=int, help="M: steps of the short run (default 4; 2 with --model)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", default="tiny", help="train.tiny size (without --model)")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--pure-verifier", action="store_true", help="the verifier reward alone, no tie-breaker")
    args = ap.parse_args()
    for key, value in (MODEL_DEFAULTS if args.model else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.steps <= args.base_steps:
        ap.error("--steps must be larger than --base-steps")
    if args.model is not None:
        args.model = check_model(ap, args.model)
    warnings.filterwarnings("ignore")
    import datasets
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    if args.threads:
        torch.set_num_threads(args.threads)
    global VERIFIER, REWARD
    from train.rewards import verifier_reward

    VERIFIER = verifier_reward
    REWARD = _verifier if args.pure_verifier else verifier_with_tie_breaker
    root = Path(tempfile.mkdtemp(prefix="grpo-bench-"))
    model_dir, export, rows = build_inputs(root, args.size, args.model)
    runners = {
        "trl": lambda k, out: trl_run(model_dir, rows, k, args.lr, args.new_tokens, out),
        "ours": lambda k, out: ours_run(model_dir, export, k, args.lr, args.new_tokens, out),
    }
    times: dict[str, dict[int, list[float]]] = {
        name: {args.steps: [], args.base_steps: []} for name in runners
    }
    stats: dict[str, dict] = {}
    for name, run in runners.items():  # warm-up: imports, first-call kernels
        run(1, root / f"warm-{name}")
    for round_ in range(args.rounds):
        order = list(runners) if round_ % 2 == 0 else list(reversed(runners))
        for name in order:
            for k in (args.base_steps, args.steps):
                seconds, stats[name] = runners[name](k, root / f"{name}-{round_}-{k}")
                times[name][k].append(seconds)
        print(f"round {round_ + 1}: " + ", ".join(
            f"{name} {times[name][args.base_steps][-1]:.2f} s / {times[name][args.steps][-1]:.2f} s"
            for name in runners))  # fmt: skip
    per_step = {name: marginal(times[name], args.steps, args.base_steps) for name in runners}
    what = f"model={args.model.name}" if args.model else f"size={args.size}"
    print(f"\n{what} prompts={PROMPTS} group={GROUP} new_tokens={args.new_tokens} lora_r={LORA_R} "
          f"beta=0 reward={'verifier' if args.pure_verifier else 'verifier+tie-breaker'} N={args.steps} M={args.base_steps} rounds={args.rounds} threads={torch.get_num_threads()} load={os.getloadavg()[0]:.1f}")  # fmt: skip
    print(
        f"{'trainer':<8}{'t_M (s)':>10}{'t_N (s)':>10}{'s/step':>10}{'mean len':>10}{'width':>8}{'reward mean':>12}"
    )
    for name in runners:
        s = stats[name]
        print(
            f"{name:<8}{statistics.median(times[name][args.base_steps]):>10.2f}"
            f"{statistics.median(times[name][args.steps]):>10.2f}{per_step[name]:>10.3f}"
            f"{s['mean_length']:>10.1f}{s['batch_width']:>8.0f}{s['reward_mean']:>12.4f}"
        )
    ratio = per_step["ours"] / per_step["trl"]
    print(f"ratio ours/TRL seconds per step: {ratio:.2f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
