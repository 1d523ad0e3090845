"""SFT throughput: ours (train.sft.run_sft) versus TRL's SFTTrainer, tokens per second, same run.

Both train the same locally built tiny Qwen2 model (train.tiny, random weights) on the same
examples (an sft export of the builtin teacher: math, code and logic chain-of-thought
solutions), the same max_length, LoRA r=8 (alpha 16, no dropout) on all linear layers, the
same learning rate, fp32 on CPU without gradient checkpointing (TRL defaults to bf16 and
checkpointing; ours uses fp32 without checkpointing on CPU, so TRL is set the same).

TRL runs with its defaults otherwise: no packing (padding_free off), each batch padded to
its longest example, loss on the assistant tokens (assistant_only_loss, as ours; it
changes which positions carry a label, not the work), per_device_train_batch_size =
--batch-size examples. Ours runs twice:
- "ours": its defaults, i.e. packing on (best-fit decreasing into rows of max_length,
  position_ids reset per example, so no attention crosses examples), with as many rows per
  micro-batch as hold about --batch-size examples' worth of tokens;
- "ours-unpacked": packing off, --batch-size examples per micro-batch, exactly TRL's batch.

Tokens are the non-pad tokens each trainer fed through forward and backward (ours counts
them per batch, TRL reports num_tokens). Throughput is marginal: (tokens_N - tokens_M) /
(t_N - t_M), with t_K the wall time of a whole K-step run (load, tokenize, train, save), so
start-up cancels. One untimed warm-up run of each first; rounds rotate the order; medians.
Goal: ours at least 1.5x TRL's tokens per second.

--model DIR benchmarks a local Hugging Face model directory instead of the tiny model (e.g.
models/SmolLM2-135M-Instruct, which `make smollm2` imports): its weights (loaded in fp32 by
both), its tokenizer and chat template, the same LoRA and settings as above on both sides,
the same export rows tokenized with that tokenizer. TRL's assistant_only_loss needs a chat
template with {% generation %} markers; where the directory's has none (SmolLM2's, most
models'), TRL gets each chat as a conversational prompt (every message but the last) and
completion (the last) and trains the completion only (its completion_only_loss), which is
what ours trains (the tokens after the rendered prompt; TRL also feeds and trains the newline
SmolLM2's template puts after the end token, one token per example, which ours drops). A
135M model does far more work per token than the tiny one, so --model changes three
defaults: --batch-size 4 (not 8), --steps 6 (not 12), --base-steps 2 (not 4); the others
stay (64 examples, max_length 512, 2 rounds). A DIR without config.json is refused (exit 2).

On a machine busy with other work pass --threads 1: with more torch threads than free
cores, OpenMP's spin-waiting makes both trainers many times slower and the ratio noise.
The line above the table prints the load average the run saw.

    python bench/sft_vs_trl.py [--model DIR] [--steps 12] [--base-steps 4] [--rounds 2] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
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
    print("bench/sft_vs_trl.py: trl is not installed; skipping.")
    print("  install it with: pip install -e '.[bench]'   (or: pip install trl)")
    sys.exit(0)

LORA_R, LORA_ALPHA = 8, 16
# defaults of the options left unset: the tiny model's, and a real one's under --model
DEFAULTS = {"steps": 12, "base_steps": 4, "batch_size": 8}
MODEL_DEFAULTS = {"steps": 6, "base_steps": 2, "batch_size": 4}


def build_inputs(root: Path, size: str, examples: int, model: Path | None = None) -> tuple[Path, Path, list[dict]]:  # fmt: skip
    """A tiny model (or `model`) and an sft export of `examples` rows; returns (model, export dir, rows)."""
    import pyarrow.parquet as pq
    import yaml

    from cotmill.pipeline import run_pipeline
    from train.tiny import build_tiny, builtin_corpus

    model_dir = model or build_tiny(root / "model", size, corpus=builtin_corpus(n_per_task=20))
    spec = {
        "workspace": str(root / "workspace"),
        "generate": {
            "job": "bench",
            "tasks": "math,code,logic",
            "count": 2 * examples,
            "samples": 1,
            "error_rate": 0.0,
            "seed": 5,
            "difficulty": "1-3",
        },  # fmt: skip
        "verify": {"workers": 1},
        "curate": {},
        "mix": {
            "name": "bench",
            "total": examples,
            "ratios": {"math": 0.5, "code": 0.25, "logic": 0.25},
            "seed": 1,
            "on_shortfall": "redistribute",
        },  # fmt: skip
        "export": {"format": "sft", "as": "parquet", "out": str(root / "sft")},
    }
    (root / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    run_pipeline(root / "pipeline.yaml", say=lambda _line: None)
    rows = pq.read_table(root / "sft" / "train.parquet").to_pylist()
    return model_dir, root / "sft", rows


def has_generation_markers(tokenizer) -> bool:
    """Whether the chat template marks the assistant turn ({% generation %}), as TRL's assistant_only_loss needs."""
    return bool(re.search(r"\{%-?\s*generation\s*-?%\}", str(tokenizer.chat_template or "")))


# -- TRL ---------------------------------------------------------------------------


def trl_run(model_dir: Path, rows: list[dict], steps: int, cfg: argparse.Namespace, out: Path) -> tuple[float, int]:  # fmt: skip
    """One whole TRL SFT run of `steps` optimizer steps; returns (seconds, non-pad tokens trained)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    marked = has_generation_markers(tokenizer)
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=1, learning_rate=cfg.lr, max_length=cfg.max_length, assistant_only_loss=marked,
        bf16=False, gradient_checkpointing=False, use_cpu=True, report_to="none", save_strategy="no",
        logging_steps=steps, disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    lora = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")  # fmt: skip
    if marked:  # loss on the assistant turn the template marks
        data = Dataset.from_list([{"messages": r["messages"]} for r in rows])
    else:  # no markers (a --model template): loss on the completion, the last message
        data = Dataset.from_list(
            [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
        )
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=lora
        )
        trainer.train()
    trainer.save_model(str(out / "final"))
    seconds = time.perf_counter() - start
    tokens = [e["num_tokens"] for e in trainer.state.log_history if "num_tokens" in e]
    return seconds, int(tokens[-1])


# -- ours --------------------------------------------------------------------------


def ours_run(model_dir: Path, export: Path, steps: int, cfg: argparse.Namespace, out: Path, packing: bool,
             batch_size: int) -> tuple[float, int]:  # fmt: skip
    """One whole run of our SFT; returns (seconds, non-pad tokens trained)."""
    from train.sft import SFTConfig, run_sft

    start = time.perf_counter()
    config = SFTConfig(
        model=str(model_dir), data=str(export), out=str(out), max_steps=steps, lr=cfg.lr, batch_size=batch_size,
        grad_accum=1, max_length=cfg.max_length, packing=packing, lora_r=LORA_R, lora_alpha=LORA_ALPHA,
        lora_dropout=0.0, eval_samples=0, seed=0,
    )  # fmt: skip
    result = run_sft(config)
    return time.perf_counter() - start, int(result.tokens)


def packed_rows_per_batch(model_dir: Path, rows: list[dict], cfg: argparse.Namespace) -> tuple[int, float]:
    """Packed rows per micro-batch holding about --batch-size examples' tokens; and the mean example length."""
    from train.data import encode_sft
    from train.model import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    lengths = [
        len(ex.input_ids) for r in rows if (ex := encode_sft(r["messages"], tokenizer, cfg.max_length))
    ]
    mean = statistics.fmean(lengths)
    return max(1, math.floor(cfg.batch_size * mean / cfg.max_length + 0.5)), mean


# -- the comparison ----------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, metavar="DIR",
                    help="a local Hugging Face model directory to benchmark (with LoRA) instead of the tiny "
                         "random model, e.g. models/SmolLM2-135M-Instruct; lowers the defaults of --steps, "
                         "--base-steps and --batch-size")  # fmt: skip
    ap.add_argument("--steps", type=int, help="N: steps of the long run (default 12; 6 with --model)")
    ap.add_argument("--base-steps", type=int, help="M: steps of the short run (default 4; 2 with --model)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", default="tiny", help="train.tiny size (without --model)")
    ap.add_argument("--examples", type=int, default=64, help="rows of the sft export")
    ap.add_argument("--batch-size", type=int, help="examples per optimizer step (default 8; 4 with --model)")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
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
    root = Path(tempfile.mkdtemp(prefix="sft-bench-"))
    model_dir, export, rows = build_inputs(root, args.size, args.examples, args.model)
    packed_batch, mean_len = packed_rows_per_batch(model_dir, rows, args)
    runners = {
        "trl": lambda k, out: trl_run(model_dir, rows, k, args, out),
        "ours": lambda k, out: ours_run(model_dir, export, k, args, out, True, packed_batch),
        "ours-unpacked": lambda k, out: ours_run(model_dir, export, k, args, out, False, args.batch_size),
    }
    runs: dict[str, dict[int, list[tuple[float, int]]]] = {
        n: {args.steps: [], args.base_steps: []} for n in runners
    }
    for name, run in runners.items():  # warm-up: imports, first-call kernels
        run(1, root / f"warm-{name}")
    names = list(runners)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            for k in (args.base_steps, args.steps):
                runs[name][k].append(runners[name](k, root / f"{name}-{round_}-{k}"))
        print(
            f"round {round_ + 1}: " + ", ".join(f"{n} {rate(runs[n], args, -1):,.0f} tok/s" for n in runners)
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    what = f"model={args.model.name}" if args.model else f"size={args.size}"
    print(f"\n{what} examples={len(rows)} (mean {mean_len:.0f} tokens) batch={args.batch_size} examples "
          f"(ours packed: {packed_batch} rows of <= {args.max_length}) max_length={args.max_length} lora_r={LORA_R} "
          f"N={args.steps} M={args.base_steps} rounds={args.rounds} threads={torch.get_num_threads()} "
          f"load={load:.1f}")  # fmt: skip
    print(f"{'trainer':<15}{'t_M (s)':>9}{'t_N (s)':>9}{'tokens M..N':>13}{'tok/s':>10}")
    rates = {}
    for name in runners:
        t_m = statistics.median(s for s, _ in runs[name][args.base_steps])
        t_n = statistics.median(s for s, _ in runs[name][args.steps])
        tokens = statistics.median(n for _, n in runs[name][args.steps]) - statistics.median(
            n for _, n in runs[name][args.base_steps]
        )
        rates[name] = tokens / (t_n - t_m)
        print(f"{name:<15}{t_m:>9.2f}{t_n:>9.2f}{tokens:>13,.0f}{rates[name]:>10,.0f}")
    print(f"ratio ours/TRL tokens per second: {rates['ours'] / rates['trl']:.2f} (goal >= 1.5)")
    print(f"ratio ours-unpacked/TRL (same padded batches): {rates['ours-unpacked'] / rates['trl']:.2f}")


def rate(runs: dict[int, list[tuple[float, int]]], args: argparse.Namespace, index: int) -> float:
    (t_n, n_n), (t_m, n_m) = runs[args.steps][index], runs[args.base_steps][index]
    return (n_n - n_m) / (t_n - t_m)


if __name__ == "__main__":
    main()
