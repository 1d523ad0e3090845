"""The live progress bar and the end-of-job summary for `cotmill generate`."""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from datagen.engine import JobStats


class GenerateProgress:
    """A rich progress bar on stderr: done/total, rate, tokens, cost, errors and pauses.
    When stderr is not a terminal (logs, pipes) the bar is off and a status line is
    printed every `status_every` seconds instead, so a job that waits (a hung request,
    a Retry-After pause) still shows it is alive and why, and a line when the plan is known.
    `detail`: what the teacher is doing, for those lines (a local model decoding a batch)."""

    def __init__(self, job: str, status_every: float = 30.0, detail=None):
        self.console = Console(stderr=True)
        self.job = job
        self.tty = sys.stderr.isatty()
        self.status_every = status_every
        self.detail = detail
        self.stats: JobStats | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.progress = Progress(
            TextColumn(f"[bold]{job}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f}/s  tok {task.fields[tokens]:,}  ${task.fields[cost]:.4f}"),
            TextColumn("[red]err {task.fields[errors]}  retries {task.fields[retries]}{task.fields[paused]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.tty,
        )
        self.task = None

    def __enter__(self) -> GenerateProgress:
        self.progress.start()
        if not self.tty and self.status_every > 0:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join()
        self.progress.stop()

    def _tick(self) -> None:
        while not self._stop.wait(self.status_every):
            if self.stats is not None:
                more = self.detail() if self.detail else ""
                line = status_line(self.stats) + (f"; {more}" if more else "")
                print(f"{self.job}: {line}", file=sys.stderr, flush=True)

    def notice(self, message: str) -> None:
        """Something the job has to say now; above the bar on a terminal."""
        if self.tty:
            self.progress.console.print(f"[yellow]{message}", highlight=False)
        else:
            print(f"{self.job}: {message}", file=sys.stderr, flush=True)

    def plan(self, total: int) -> None:
        if not self.tty and self.status_every > 0:
            print(f"{self.job}: {total:,} completions (stored ones are skipped)", file=sys.stderr, flush=True)
        self.task = self.progress.add_task(
            "generate", total=total, rate=0.0, tokens=0, cost=0.0, errors=0, retries=0, paused=""
        )

    def update(self, stats: JobStats) -> None:
        self.stats = stats
        if self.task is None:
            return
        elapsed = max(stats.elapsed, 1e-9)
        self.progress.update(
            self.task,
            total=stats.requested or None,
            completed=stats.already_stored + stats.stored + stats.failed,
            rate=stats.stored / elapsed,
            tokens=stats.prompt_tokens + stats.completion_tokens,
            cost=stats.cost_usd,
            errors=stats.failed,
            retries=stats.retries,
            paused=_paused(stats),
        )


def _paused(stats: JobStats) -> str:
    left = stats.paused_until - time.monotonic()
    waits = f"  waits {stats.waits}" if stats.waits else ""
    return f"{waits}  paused {left:.0f} s (Retry-After)" if left > 0.5 else waits


def status_line(stats: JobStats) -> str:
    """One line for logs: counts, rate and what the job is waiting for."""
    done = stats.already_stored + stats.stored + stats.failed
    total = f"{done:,}/{stats.requested:,}" if stats.requested else f"{done:,}"
    rate = stats.stored / max(stats.elapsed, 1e-9)
    return (
        f"{total} done (stored {stats.already_stored + stats.stored:,}, failed {stats.failed:,}), "
        f"{rate:.1f}/s, retries {stats.retries:,}{_paused(stats)}, elapsed {stats.elapsed:.0f} s"
    )


def summary_table(job: str, stats: JobStats) -> Table:
    table = Table(title=f"job {job}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("completions requested", f"{stats.requested:,}"),
        ("already stored (resumed)", f"{stats.already_stored:,}"),
        ("stored in this run", f"{stats.stored:,}"),
        ("failed", f"{stats.failed:,}"),
        ("retries", f"{stats.retries:,}"),
        ("prompt / completion tokens", f"{stats.prompt_tokens:,} / {stats.completion_tokens:,}"),
        ("cost (USD)", f"{stats.cost_usd:.4f}"),
        ("elapsed", f"{stats.elapsed:.1f} s"),
        ("throughput", f"{stats.stored / max(stats.elapsed, 1e-9):.1f} completions/s"),
    ]
    if stats.unstored or stats.reingested:
        rows.append(("kept in unstored.jsonl", f"{stats.unstored:,}"))
        rows.append(("re-stored from unstored.jsonl", f"{stats.reingested:,}"))
    if stats.lost:
        rows.append(("lost (neither stored nor kept)", f"{stats.lost:,}"))
    if stats.waits:
        rows.append(("Retry-After pauses", f"{stats.waits:,}"))
    if stats.errors:
        rows.append(
            ("transient errors seen", ", ".join(f"{k} x{v}" for k, v in sorted(stats.errors.items())))
        )
    for name, value in rows:
        table.add_row(name, value)
    return table
