"""Engine throughput: cotmill's generate versus a plain AsyncOpenAI loop.

Both send the same prompts (task problems written to a JSONL file, which cotmill
loads as a source) to the same local OpenAI-compatible server (tests/openai_server.py,
in its own process) at the same concurrency, in the same run. cotmill's time is the
whole job: loading the file, building prompts, hashing request ids, the resume
lookup, and committing every completion to DuckDB. Goal: at least 0.85 of the plain
client's throughput.

    python bench/engine.py [--requests 2000] [--concurrency 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datagen.config import GenerateConfig  # noqa: E402
from datagen.jobs import run_generate, task_problems  # noqa: E402
from datagen.prompts import STRATEGIES, render_messages  # noqa: E402


def start_server(delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "openai_server.py"), "--delay", str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    return proc, proc.stdout.readline().strip()


async def plain_client(base_url: str, prompts: list[str], concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    sem = asyncio.Semaphore(concurrency)
    texts: list[str] = []

    async def one(prompt: str) -> None:
        async with sem:
            r = await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": prompt}], temperature=0.7, max_tokens=256
            )
            texts.append(r.choices[0].message.content)

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in prompts))
    elapsed = time.perf_counter() - start
    await client.close()
    assert len(texts) == len(prompts)
    return elapsed


def cotmill_run(base_url: str, source: Path, n: int, concurrency: int, workdir: Path) -> float:
    cfg = GenerateConfig(
        workspace=str(workdir),
        job="bench",
        source=str(source),
        samples=1,
        teacher="openai:bench",
        base_url=base_url,
        concurrency=concurrency,
        max_tokens=256,
    )
    start = time.perf_counter()
    stats = run_generate(cfg)
    elapsed = time.perf_counter() - start
    assert stats.stored == n and stats.failed == 0, stats
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.0, help="server-side seconds per reply")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", default="math,code,logic")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")

    problems = task_problems(args.tasks, args.requests, (1, 5), 0)
    prompts = [render_messages(STRATEGIES["cot"], p.prompt, "math")[0]["content"] for p in problems]
    source = Path(tempfile.mkdtemp()) / "problems.jsonl"
    source.write_text("".join(json.dumps({"prompt": p.prompt}) + "\n" for p in problems))
    server, base_url = start_server(args.delay)
    try:
        plain, ours = [], []
        for round_ in range(args.rounds):
            plain.append(asyncio.run(plain_client(base_url, prompts, args.concurrency)))
            with tempfile.TemporaryDirectory() as tmp:
                ours.append(cotmill_run(base_url, source, args.requests, args.concurrency, Path(tmp)))
            print(
                f"round {round_ + 1}: plain {args.requests / plain[-1]:.0f} req/s, "
                f"cotmill {args.requests / ours[-1]:.0f} req/s"
            )
    finally:
        server.stdin.close()
        server.wait(10)
    # rounds alternate plain and cotmill, so a noisy moment hits both: compare the
    # median of per-round ratios rather than two separate bests
    ratios = sorted(p / o for p, o in zip(plain, ours))
    ratio = (
        ratios[len(ratios) // 2]
        if len(ratios) % 2
        else sum(ratios[len(ratios) // 2 - 1 : len(ratios) // 2 + 1]) / 2
    )
    print(
        f"requests={args.requests} concurrency={args.concurrency} server_delay={args.delay}s rounds={args.rounds}"
    )
    print(f"plain AsyncOpenAI: {args.requests / statistics.median(plain):.0f} req/s (median)")
    print(
        f"cotmill generate:  {args.requests / statistics.median(ours):.0f} req/s (median, stored in DuckDB)"
    )
    print(f"throughput ratio cotmill/plain: {ratio:.2f} (median of rounds; goal >= 0.85)")


if __name__ == "__main__":
    main()
