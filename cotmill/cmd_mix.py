"""`cotmill mix plan|build SPEC` and `cotmill export`: thin shells over
`mixtures.build` and `mixtures.export`."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from cotmill.config import ExportConfig
from cotmill.options import WORKSPACE, RegistryChoice, UserError, from_model
from cotmill.options import build as build_config  # `build` is `mix build` here


def _formats() -> list[str]:
    from mixtures.export import FORMATS  # registered formats, plugins' included

    return FORMATS.names()


def _plan_table(plan, items) -> Table:
    unit = plan.unit
    table = Table(title=f"mixture plan ({plan.budget:,} {unit})")
    for col in ("bucket", "share", "available", "needed", "chosen", "tokens", "val"):
        table.add_column(col, justify="left" if col == "bucket" else "right")
    budget = plan.budget or 1
    for b in plan.buckets:
        table.add_row(b.name, f"{b.target / budget:.1%}", f"{b.available:,}", f"{b.target:,}",
                      f"{b.chosen:,}", f"{b.chosen_tokens:,}", f"{b.val:,}")  # fmt: skip
    table.add_row("total", "", "", f"{sum(b.target for b in plan.buckets):,}", f"{len(items):,}",
                  f"{sum(i.tokens for i in items):,}", f"{sum(b.val for b in plan.buckets):,}")  # fmt: skip
    return table


def _run(spec_file: str, workspace, write: bool) -> None:
    from datagen.store import Store
    from mixtures.build import build_mixture, plan_mixture
    from mixtures.planner import ShortfallError
    from mixtures.spec import load_spec

    try:  # any other CotmillError (a bad spec, no workspace) is one line: see cotmill.cli
        spec = load_spec(spec_file)
        if write:
            with Store.open(workspace, create=False) as store:
                plan, items, replaced = build_mixture(store, spec)
        else:
            with Store.open(workspace, read_only=True) as store:
                plan, items = plan_mixture(store, spec)
    except ShortfallError as e:
        if not write and e.plan is not None:  # the table shows what is short next to the rest
            Console(width=None if sys.stdout.isatty() else 160).print(_plan_table(e.plan, []))
        raise UserError(str(e)) from None
    Console(width=None if sys.stdout.isatty() else 160).print(_plan_table(plan, items))
    if write:
        click.echo(f"{'replaced' if replaced else 'stored'} mixture {spec.name}: {len(items):,} items")
    else:
        click.echo("plan only: nothing written (run `cotmill mix build` to store it)")


# the spec's keys (mixtures.spec.MixSpec), shown by `mix plan --help` and `mix build --help`;
# \b keeps click from rewrapping the lines
SPEC_KEYS = """SPEC is a YAML file (examples/mix.yaml):

\b
  name: demo-mix              the mixture's name (export --mixture NAME)
  total: 150                  examples; or tokens: N, a budget of prompt + completion tokens
  ratios: {math: 0.5, code: 0.3, logic: 0.2}   domain shares, summing to 1
  within: {math: {by: difficulty, weights: {1: 0.2, 3: 0.8}}}   shares inside a domain
                              (by difficulty or task) [default: as available]
  max_per_problem: 1          distinct completions of one problem [default: 1]
  max_upsample: 1.0           >1: a bucket may repeat items, up to this factor [default: 1.0]
  temperature: 1.0            over sources within a bucket; 1: proportional [default: 1.0]
  split: {val: 0.1}           the share held out as the val split [default: none]
  seed: 7                     the same seed gives the same items [default: 0]
  on_shortfall: error         or redistribute a short bucket's count to the others [default: error]
  exclude: [sft-mix]          leave out every problem of these built mixtures (an RL pool)
  jobs: [j1]                  only completions of these generate jobs [default: all]
  exclude_jobs: [j1]          leave out every problem these jobs answered (a held-out set)
  verified: true              false: completions passing or not (a control) [default: true]
"""


@click.group()
def mix() -> None:
    """Plan and build mixtures of curated completions from a spec file."""


@mix.command(epilog=SPEC_KEYS)
@click.argument("spec", type=click.Path(dir_okay=False))
@WORKSPACE
def plan(spec, workspace) -> None:
    """Print the plan for SPEC (counts per bucket, what is available) without writing."""
    _run(spec, workspace, write=False)


@mix.command(epilog=SPEC_KEYS)
@click.argument("spec", type=click.Path(dir_okay=False))
@WORKSPACE
def build(spec, workspace) -> None:
    """Build the mixture of SPEC and store it (a mixture of the same name is replaced)."""
    _run(spec, workspace, write=True)


@from_model(ExportConfig, rename={"fmt": "format", "writer": "as_"})
@click.command()
@click.option("--mixture", required=True, help="Name of a built mixture.")
@click.option("--format", "fmt", type=RegistryChoice(_formats), help="Row format.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--as", "writer", type=click.Choice(["parquet", "jsonl", "hf"]),
              help="parquet/jsonl: train and val files; hf: a datasets directory.")  # fmt: skip
@click.option(
    "--think-tags", is_flag=True, help="sft: put the reasoning in <think></think> before the answer."
)
@click.option(
    "--min-pass-rate",
    type=float,
    help="rl: keep problems whose measured pass rate is at least this. [default: > 0]",
)
@click.option(
    "--max-pass-rate",
    type=float,
    help="rl: keep problems whose measured pass rate is at most this. [default: < 1]",
)
@click.option("--overwrite", is_flag=True,
              help="Replace the earlier export in --out (written aside, then renamed into place).")  # fmt: skip
@WORKSPACE
def export(workspace, **flags) -> None:
    """Export a built mixture as training data with train/val splits into --out, which the
    export owns: a non-empty directory is refused unless --overwrite. cotmill-export.json there
    records the mixture, format, row counts and time; `cotmill train` reads and prints it."""
    from cotmill.api import Workspace
    from mixtures.export_dir import check_out

    config = build_config(export, flags)
    out = config.out
    try:  # a CotmillError (no such mixture, a bad --out, no workspace) is one line: see cotmill.cli
        replaced = check_out(out, config.overwrite)
        counts, paths = Workspace(workspace).export(config)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    if replaced is not None:
        click.echo(f"replaced the export of mixture {replaced.mixture} ({replaced.format}, {replaced.layout}) "
                   f"made {replaced.when}")  # fmt: skip
    for split in sorted(counts):
        click.echo(f"{split}: {counts[split]:,} rows -> {paths[split]}")
