"""The live progress bar and the end-of-job summary for `cotmill generate`."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from datagen.engine import JobStats


class GenerateProgress:
    """A rich progress bar on stderr: done/total, rate, tokens, cost and errors.
    Off when stderr is not a terminal (CI logs, pipes): the summary says it all."""

    def __init__(self, job: str):
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn(f"[bold]{job}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f}/s  tok {task.fields[tokens]:,}  ${task.fields[cost]:.4f}"),
            TextColumn("[red]err {task.fields[errors]}  retries {task.fields[retries]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not sys.stderr.isatty(),
        )
        self.task = None

    def __enter__(self) -> GenerateProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def plan(self, total: int) -> None:
        self.task = self.progress.add_task(
            "generate", total=total, rate=0.0, tokens=0, cost=0.0, errors=0, retries=0
        )

    def update(self, stats: JobStats) -> None:
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
        )


def summary_table(job: str, stats: JobStats) -> Table:
    table = Table(title=f"job {job}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("completions requested", f"{stats.requested:,}"),
        ("already stored (resumed)", f"{stats.already_stored:,}"),
        ("stored in this run", f"{stats.stored:,}"),
        ("failed permanently", f"{stats.failed:,}"),
        ("retries", f"{stats.retries:,}"),
        ("prompt / completion tokens", f"{stats.prompt_tokens:,} / {stats.completion_tokens:,}"),
        ("cost (USD)", f"{stats.cost_usd:.4f}"),
        ("elapsed", f"{stats.elapsed:.1f} s"),
        ("throughput", f"{stats.stored / max(stats.elapsed, 1e-9):.1f} completions/s"),
    ]
    if stats.errors:
        rows.append(
            ("transient errors seen", ", ".join(f"{k} x{v}" for k, v in sorted(stats.errors.items())))
        )
    for name, value in rows:
        table.add_row(name, value)
    return table
