"""Sampling throughput on a real model: the `hf:` teacher's decode loop (train.rollout.generate,
its lean KV-cache step) versus transformers' `model.generate`, tokens per second, same run.

Both decode the same prompts (builtin addition and arithmetic problems in the model's chat
template, as `cotmill generate --teacher hf:DIR` sends them) in the same batches, greedily, to
the same --new-tokens, on the same device and threads, at each precision of --precisions
(fp32, what both do by default on a CPU, and bf16, what `--precision bf16` selects). Greedy, so
at one precision both must produce the same tokens: the script prints how many rows agree (a
lean step that computed something else would show here, not as speed). Tokens are the
generated tokens up to and including each row's end token; both stop a batch when every row
has ended. One untimed warm-up batch of each first; rounds alternate the order; medians.
Goal: ours at least 2x model.generate's default (fp32); the ratios at equal precision are
printed too, since most of a 135M model's decode step is matmul time that no loop removes.

    python bench/hf_generate.py [--model models/SmolLM2-135M-Instruct] [--batch 32] [--prompts 64]
                                [--new-tokens 128] [--rounds 2] [--threads N] [--precisions fp32,bf16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(REPO / "models" / "SmolLM2-135M-Instruct"),
                   help="A local Hugging Face model directory (make smollm2 imports the default).")  # fmt: skip
    p.add_argument("--batch", type=int, default=32, help="Rows decoded at once.")
    p.add_argument("--prompts", type=int, default=64, help="Prompts per timed round (a multiple of --batch).")
    p.add_argument("--new-tokens", type=int, default=128, help="Longest completion.")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch threads [default: torch's choice]")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precisions", default="fp32,bf16", help="Precisions to measure, comma-separated.")
    args = p.parse_args(argv)
    args.precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
    if not args.precisions or set(args.precisions) - {"fp32", "bf16"}:
        p.error("--precisions: fp32 and/or bf16")
    from model_arg import check_model

    args.model = str(check_model(p, Path(args.model)))
    if args.prompts < 1 or args.batch < 1 or args.new_tokens < 1 or args.rounds < 1:
        p.error("--prompts, --batch, --new-tokens and --rounds must be at least 1")
    return args


def prompts(tokenizer, count: int) -> list[list[int]]:
    from datagen.prompts import load_template, render_messages
    from datagen.tasks import make_problem
    from train.data import encode_prompt

    template = load_template("cot")
    out = []
    for i in range(count):
        task, level = ("addition", 1 + i % 3) if i % 2 else ("arithmetic", 1 + i % 2)
        problem = make_problem(task, seed=5, index=i, difficulty=level)
        out.append(encode_prompt(render_messages(template, problem.prompt, "math"), tokenizer))
    return out


def ours(model, tokenizer, rows, args) -> tuple[float, list[list[int]]]:
    from train.rollout import generate

    start = time.perf_counter()
    out = generate(model, tokenizer, rows, n=1, max_new_tokens=args.new_tokens, temperature=0.0,
                   batch_size=args.batch)  # fmt: skip
    elapsed = time.perf_counter() - start
    return elapsed, [ids[:length] for ids, length in zip(out.completion_ids.tolist(), out.lengths)]


def theirs(model, tokenizer, rows, args) -> tuple[float, list[list[int]]]:
    import torch

    from train.rollout import eos_ids, left_pad, pad_id

    pad, stops = pad_id(tokenizer), set(eos_ids(model, tokenizer))
    completions = []
    start = time.perf_counter()
    for b in range(0, len(rows), args.batch):
        ids, mask = left_pad(rows[b : b + args.batch], pad, model.device)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=args.new_tokens,
                                 do_sample=False, pad_token_id=pad, eos_token_id=sorted(stops))  # fmt: skip
        for row in out[:, ids.shape[1] :].tolist():
            end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            completions.append(row[:end])
    return time.perf_counter() - start, completions


def measure(args, precision: str) -> tuple[dict, bool, float]:
    """Both loops at one precision: ({name: (median seconds, tokens, completions)}, whether the lean
    decode step applies, millions of parameters)."""
    from train.model import load_model
    from train.rollout import lean_supported

    model, tokenizer = load_model(args.model, device=args.device, precision=precision, trainable=False)
    model.generation_config.do_sample = False  # greedy on both sides; no sampling flags warn
    for name in ("temperature", "top_p", "top_k"):
        setattr(model.generation_config, name, None)
    rows = prompts(tokenizer, args.prompts)
    warm = rows[: args.batch]
    ours(model, tokenizer, warm, args)
    theirs(model, tokenizer, warm, args)
    times: dict[str, list[float]] = {"ours": [], "model.generate": []}
    results = {}
    for r in range(args.rounds):
        order = [("ours", ours), ("model.generate", theirs)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            elapsed, completions = fn(model, tokenizer, rows, args)
            times[name].append(elapsed)
            results[name] = completions
    out = {name: (statistics.median(times[name]), sum(len(c) for c in results[name]), results[name])
           for name in times}  # fmt: skip
    return out, lean_supported(model), sum(p.numel() for p in model.parameters()) / 1e6


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    measured = {}
    for precision in args.precisions:
        measured[precision], lean, size = measure(args, precision)
    print(f"model {args.model}: {size:.1f}M parameters, lean decode step: {'yes' if lean else 'no'}; "
          f"device {args.device}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{args.prompts} prompts, batch {args.batch}, up to {args.new_tokens} new tokens, greedy")
    print(f"{'':22} {'tokens':>8} {'median s':>9} {'tokens/s':>9}  agree")
    rate = {}
    for precision, result in measured.items():
        agree = sum(a == b for a, b in zip(result["ours"][2], result["model.generate"][2]))
        for name, (median, tokens, _) in result.items():
            rate[name, precision] = tokens / median
            print(f"{name + ' ' + precision:22} {tokens:>8} {median:>9.2f} {rate[name, precision]:>9.1f}  "
                  f"{agree}/{args.prompts}")  # fmt: skip
    for precision in args.precisions:
        print(
            f"ours / model.generate, both {precision}: {rate['ours', precision] / rate['model.generate', precision]:.2f}x"
        )
    if "fp32" in args.precisions:
        best = max(args.precisions, key=lambda p: rate["ours", p])
        ratio = rate["ours", best] / rate["model.generate", "fp32"]
        print(
            f"ours ({best}) / model.generate (fp32, its default on a CPU): {ratio:.2f}x tokens/s "
            f"(goal >= 2x): {'met' if ratio >= 2 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
