"""`cotmill curate`: a thin shell over `mixtures.curate.run_curate`."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from cotmill.config import CurateConfig
from cotmill.options import WORKSPACE, build, from_model, ray_options


@from_model(CurateConfig)
@click.command()
@WORKSPACE
@click.option("--job", help="Filter and dedup only the completions of this job. [default: all jobs]")
@click.option(
    "--decontaminate",
    metavar="FILE[,FILE...]",
    help="Benchmarks (JSONL/CSV/Parquet/datasets directory): mark problems sharing a word n-gram with them.",
)
@click.option(
    "--field", "text_field", help="Benchmark text field. [default: question, problem, prompt or text]"
)
@click.option("--ngram", type=click.IntRange(min=1), help="Words per n-gram.")
@click.option(
    "--near-dup-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    help="Estimated Jaccard similarity above which two texts are near-duplicates.",
)
@click.option(
    "--shingle",
    type=click.IntRange(min=1),
    help="Tokens per shingle.",
)
@click.option("--min-tokens", type=int, help="Mark completions with fewer completion tokens.")
@click.option("--max-tokens", type=int, help="Mark completions with more completion tokens.")
@click.option(
    "--max-repetition",
    type=click.FloatRange(0, 1),
    help="Largest share of repeated word 8-grams before a completion counts as looping.",
)
@click.option("--require-think", is_flag=True, help="Mark completions without a <think>...</think> block.")
@ray_options(
    "normalising, MinHash signing and benchmark matching as Ray tasks", "problems or completions", 4096
)
def curate(workspace, **flags) -> None:
    """Mark duplicates, benchmark-contaminated problems and poor completions, and rate difficulty.

    Nothing is deleted: marks land in curation_marks with a reason, and the `curated`
    view holds what is left for mixing. Re-running replaces the marks it recomputes."""
    from rich.table import Table

    from cotmill.api import Workspace

    # a CotmillError (a bad workspace, benchmark file or setting) is one line: see cotmill.cli
    stats = Workspace(workspace).curate(build(curate, flags))
    click.echo(
        f"curated {stats.problems:,} problems and {stats.completions:,} completions in {stats.elapsed:.1f} s; "
        f"{stats.rated:,} problems rated; {stats.curated:,} completions eligible for mixing"
    )
    table = Table(title="curation marks by reason")
    for col in ("kind", "reason", "marked"):
        table.add_column(col, justify="right" if col == "marked" else "left")
    for (kind, reason), count in sorted(stats.marks.items()):
        table.add_row(kind, reason, f"{count:,}")
    Console(width=None if sys.stdout.isatty() else 160).print(table)
