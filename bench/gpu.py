"""GPU benchmark: LoRA SFT tokens/s and MFU, GRPO seconds per step, on a ~0.5B Qwen2-shaped model.

The model is train.tiny's "0.5b" size: Qwen2-0.5B's shape (24 layers, hidden 896, MLP
4864, 14 heads, 2 KV heads, tied embeddings, vocabulary 151,936) with random weights and a
tokenizer trained here, so nothing is downloaded. The data is an sft and an rl export of
the builtin teacher (math, logic and code). Both trainers run with their CUDA defaults:
bf16, gradient checkpointing, LoRA on all linear layers; SFT packs examples into rows.

SFT: tokens/s is marginal, (tokens_N - tokens_M) / (t_N - t_M) over two whole runs of N and
M steps, so loading, compiling and saving cancel; tokens are non-pad tokens.

MFU = model FLOPs per second / the GPU's peak dense bf16 FLOPs (H100 SXM: 989 TFLOPs).
Model FLOPs per token for LoRA on frozen weights, counting each multiply-add as 2 FLOPs:
- frozen linear weights (N_body, every layer's q/k/v/o/gate/up/down): 2*N_body forward +
  2*N_body backward for the input gradients (no weight gradients: they are frozen) = 4*N_body;
- LoRA weights (N_lora): the usual 6*N_lora (forward, input and weight gradients);
- attention scores and values: 4*L*d*c forward + 8*L*d*c backward, c = the token's causal
  context within its own example (packing keeps examples apart);
- lm_head (V*d, tied): 4*V*d, counted only on trained (assistant) tokens, the only positions
  whose logits our SFT computes.
The recomputation of gradient checkpointing is not counted (MFU, not hardware FLOPs
utilisation). For comparison, full fine-tuning would be 6*N per token.

GRPO: 2 prompts x group 8, 256 new tokens, LoRA r=8, beta 0: marginal seconds per step over
two runs (and the in-loop rollout share from the run's metrics).

    python bench/gpu.py                                  # CUDA only: the 0.5b model
    python bench/gpu.py --size tiny --device cpu         # a dry run of the same code on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# peak dense bf16 tensor-core TFLOPs (vendor data sheets, no sparsity); the first match wins
PEAK_BF16_TFLOPS = [
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM (HBM3)
    ("H200", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
]


def peak_tflops(device_name: str) -> float | None:
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops
    return None


# -- inputs ------------------------------------------------------------------------


def build_exports(root: Path, problems: int) -> tuple[Path, Path]:
    """A workspace from the builtin teacher, exported as sft (parquet) and rl (jsonl)."""
    import yaml

    from cotmill.pipeline import run_pipeline
    from mixtures.export import export_mixture

    spec = {
        "workspace": str(root / "workspace"),
        "generate": {
            "job": "gpu",
            "tasks": "math,logic,code",
            "count": problems,
            "samples": 2,
            "error_rate": 0.3,
            "seed": 11,
            "difficulty": "1-3",
        },  # fmt: skip
        "verify": {},
        "curate": {},
        "mix": {
            "name": "gpu",
            "total": problems // 2,
            "ratios": {"math": 0.5, "logic": 0.3, "code": 0.2},
            "seed": 1,
            "on_shortfall": "redistribute",
        },  # fmt: skip
        "export": {"format": "sft", "as": "parquet", "out": str(root / "sft")},
    }
    (root / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    run_pipeline(root / "pipeline.yaml", say=lambda line: print(f"  {line}"))
    export_mixture(root / "workspace", "gpu", "rl", root / "rl", "jsonl")
    return root / "sft", root / "rl"


# -- model FLOPs -------------------------------------------------------------------


def lora_flops_per_token(model_dir: Path, sft_dir: Path, max_length: int, lora_r: int) -> tuple[float, dict]:
    """Mean model FLOPs per non-pad token of the sft examples (see the module docstring)."""
    from train.data import encode_sft, read_export
    from train.model import load_tokenizer

    c = json.loads((model_dir / "config.json").read_text())
    d, inter, layers, vocab = (
        c["hidden_size"],
        c["intermediate_size"],
        c["num_hidden_layers"],
        c["vocab_size"],
    )
    kv = c["num_key_value_heads"] * (c.get("head_dim") or d // c["num_attention_heads"])
    shapes = [(d, d), (d, kv), (d, kv), (d, d), (d, inter), (d, inter), (inter, d)]  # q k v o gate up down
    n_body = layers * sum(i * o for i, o in shapes)
    n_lora = layers * sum(lora_r * (i + o) for i, o in shapes)
    tokenizer = load_tokenizer(model_dir)
    tokens = trained = context = 0
    for row in read_export(sft_dir, "train"):
        ex = encode_sft(row["messages"], tokenizer, max_length)
        if ex is None:
            continue
        n = len(ex.input_ids)
        tokens += n
        trained += sum(1 for label in ex.labels if label != -100)
        context += n * (n + 1) // 2  # sum over tokens of their causal context
    per_token = (
        (4 * n_body + 6 * n_lora) + 12 * layers * d * context / tokens + 4 * vocab * d * trained / tokens
    )
    return per_token, {"n_body": n_body, "n_lora": n_lora, "mean_context": context / tokens,
                       "trained_share": trained / tokens}  # fmt: skip


# -- the runs ----------------------------------------------------------------------


def sft_run(model_dir: Path, sft_dir: Path, steps: int, args, out: Path) -> tuple[float, int]:
    from train.sft import SFTConfig, run_sft

    start = time.perf_counter()
    config = SFTConfig(
        model=str(model_dir), data=str(sft_dir), out=str(out), max_steps=steps, batch_size=args.batch_size,
        max_length=args.max_length, packing=True, lora_r=args.lora_r, lora_alpha=2 * args.lora_r,
        device=args.device, eval_samples=0, log_every=max(1, steps), seed=0,
    )  # fmt: skip
    result = run_sft(config)
    _sync(args.device)
    return time.perf_counter() - start, int(result.tokens)


def grpo_run(model_dir: Path, rl_dir: Path, steps: int, args, out: Path) -> tuple[float, dict]:
    from train.grpo import GRPOConfig, run_grpo

    start = time.perf_counter()
    config = GRPOConfig(
        model=str(model_dir), data=str(rl_dir), out=str(out), max_steps=steps, prompts_per_step=2, group_size=8,
        max_new_tokens=args.new_tokens, temperature=1.0, lr=1e-5, lora_r=8, lora_alpha=16, beta=0.0,
        loss="dapo", device=args.device, seed=0, save_every=10_000, sample_every=10_000,
    )  # fmt: skip
    run_grpo(config)
    _sync(args.device)
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "time/step_s" in r]
    return seconds, {
        "rollout_s": statistics.fmean(r.get("time/rollout_s", float("nan")) for r in rows),
        "step_s": statistics.fmean(r["time/step_s"] for r in rows),
        "length": statistics.fmean(r.get("completion/length_mean", float("nan")) for r in rows),
    }


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def marginal(long: tuple[float, float], short: tuple[float, float]) -> tuple[float, float]:
    """(seconds, amount) of the long run minus the short one."""
    return long[0] - short[0], long[1] - short[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="0.5b", help="train.tiny size (tiny for a dry run)")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu for a dry run")
    ap.add_argument("--problems", type=int, default=400, help="problems generated for the exports")
    ap.add_argument("--batch-size", type=int, default=16, help="packed rows per SFT step")
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--lora-r", type=int, default=16, help="SFT LoRA rank (GRPO uses 8)")
    ap.add_argument("--sft-steps", type=int, default=30, help="N for SFT (M = N / 3)")
    ap.add_argument("--grpo-steps", type=int, default=6, help="N for GRPO (M = N / 3)")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument(
        "--peak-tflops", type=float, default=None, help="override the GPU's peak dense bf16 TFLOPs"
    )
    ap.add_argument("--skip-grpo", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(
            "bench/gpu.py: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine,\n"
            "  or try the code path on a CPU with: python bench/gpu.py --size tiny --device cpu"
        )
    from train.tiny import build_tiny

    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        peak = args.peak_tflops or peak_tflops(name)
    else:
        name, peak = f"CPU ({os.cpu_count()} cores, dry run)", args.peak_tflops
    root = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    print(f"building the {args.size} model and the exports under {root}")
    t = time.perf_counter()
    model_dir = build_tiny(root / "model", args.size)
    sft_dir, rl_dir = build_exports(root, args.problems)
    print(f"  built in {time.perf_counter() - t:.0f} s")
    flops_token, shape = lora_flops_per_token(model_dir, sft_dir, args.max_length, args.lora_r)

    n_sft, m_sft = args.sft_steps, max(1, args.sft_steps // 3)
    sft = {k: sft_run(model_dir, sft_dir, k, args, root / f"sft-{k}") for k in (m_sft, n_sft)}
    seconds, tokens = marginal(sft[n_sft], sft[m_sft])
    tok_s = tokens / seconds
    achieved = tok_s * flops_token / 1e12
    rows = [
        ("LoRA SFT tokens/s", f"{tok_s:,.0f}"),
        ("LoRA SFT model TFLOPs/s", f"{achieved:,.1f}"),
        ("MFU", f"{100 * achieved / peak:.1f}%" if peak else "n/a (unknown peak: --peak-tflops)"),
    ]
    if not args.skip_grpo:
        n_rl, m_rl = args.grpo_steps, max(1, args.grpo_steps // 3)
        grpo = {k: grpo_run(model_dir, rl_dir, k, args, root / f"grpo-{k}") for k in (m_rl, n_rl)}
        per_step = (grpo[n_rl][0] - grpo[m_rl][0]) / (n_rl - m_rl)
        stats = grpo[n_rl][1]
        rows += [
            (f"GRPO s/step (2x8, {args.new_tokens} new)", f"{per_step:.2f}"),
            ("  in-loop step / rollout s", f"{stats['step_s']:.2f} / {stats['rollout_s']:.2f}"),
            ("  mean completion length", f"{stats['length']:.0f}"),
        ]
    params = shape["n_body"] / 1e6
    print(
        f"\ndevice: {name}; peak bf16 dense: {f'{peak:g} TFLOPs' if peak else 'unknown'}; torch {torch.__version__}"
    )
    print(f"model: {args.size} ({params:.0f}M linear weights in the layers, LoRA r={args.lora_r}: "
          f"{shape['n_lora'] / 1e6:.1f}M); SFT: {args.batch_size} packed rows x {args.max_length}, "
          f"N={n_sft} M={m_sft}; mean context {shape['mean_context']:.0f}, trained share "
          f"{shape['trained_share']:.2f}; model FLOPs/token {flops_token / 1e9:.2f} G")  # fmt: skip
    width = max(len(k) for k, _ in rows) + 2
    print(f"{'metric':<{width}}value")
    for key, value in rows:
        print(f"{key:<{width}}{value}")


if __name__ == "__main__":
    main()
