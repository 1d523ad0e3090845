"""`cotmill eval`: a thin shell over `train.evaluate.run_eval`; with two models, a before/after table."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from cotmill.config import EvalConfig
from cotmill.options import PRECISIONS, WORKSPACE, UserError, build, from_model


def _label(scores) -> list[tuple[str, str, str]]:
    return [(s.domain, s.task, s.metric) for s in scores]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def results_table(results) -> Table:
    """One row per (domain, task, metric); a column per model, and a delta column for two."""
    from train.evaluate import paired_delta

    names = [f"{'AB'[i]}: {r.model}" if len(results) > 1 else r.model for i, r in enumerate(results)]
    title = f"eval on {results[0].data} ({results[0].split}, {results[0].samples} sample(s) per problem)"
    table = Table(title=title)
    # the delta is paired per problem, with its 95% interval: is the change more than noise?
    for col in ("domain", "task", "metric", *names, *(["delta (95% CI)"] if len(results) == 2 else []), "n"):
        table.add_column(col, justify="left" if col in ("domain", "task", "metric") else "right")
    keys = list(dict.fromkeys(key for r in results for key in _label(r.scores)))
    for domain, task, metric in keys:
        values = [r.value(metric, domain, task) for r in results]
        n = next(
            s.n for r in results for s in r.scores if (s.domain, s.task, s.metric) == (domain, task, metric)
        )
        delta = []
        if len(results) == 2:
            paired = paired_delta(*results, metric, domain, task)
            delta = ["-" if paired is None else f"{paired[0]:+.1%} ± {paired[1]:.1%}"]
        label = metric.replace("@k", f"@{results[0].samples}")
        table.add_row(domain, task, label, *map(_fmt, values), *delta, f"{n:,}")
    return table


@from_model(EvalConfig, rename={"models": "model", "run_name": "run"})
@click.command(name="eval")
@click.option("--model", "models", multiple=True, type=click.Path(exists=False),
              help="Model or LoRA adapter directory; give two for a before/after table.")  # fmt: skip
@click.option("--data", type=click.Path(), help="An rl (or sft) export directory or file.")
@click.option("--split", type=click.Choice(["val", "train"]), help="The export's split to evaluate on.")
@click.option("--samples", type=int, help="Samples per problem (K).")
@click.option("--limit", type=int, help="Evaluate the first N problems only.")
@click.option(
    "--max-new-tokens", type=int, help="Longest completion; a longer one is cut off and judged as it is."
)
@click.option(
    "--temperature", type=float, help="Sampling temperature. [default: greedy for 1 sample, else 0.7]"
)
@click.option("--batch-size", type=int, help="Sequences generated at once.")
@click.option("--seed", type=int, help="Seed of the sampling (with --samples > 1 or a --temperature).")
@click.option("--precision", type=PRECISIONS,
              help="auto: bf16 on a GPU, fp32 on a CPU; bf16 on a CPU with AVX512-BF16 or AMX decodes "
                   "about 3x faster.")  # fmt: skip
@WORKSPACE
@click.option("--run", "run_name", help="Run id in the runs/evals tables (two models: NAME-a, NAME-b).")
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Per-problem results as JSONL (two models: both)."
)
def eval_command(**params) -> None:
    """Evaluate models on an export's problems: pass@1, pass@K and maj@K per domain and task,
    judged by the verifiers and stored in the workspace's runs and evals tables."""
    params["models"] = list(params["models"]) or None
    config = build(eval_command, params)
    try:
        from cotmill.api import run_evals
        from train.data import describe_export
    except ImportError as e:
        raise UserError(
            f"cotmill eval needs the training extras (pip install 'cotmill[train]'): {e}"
        ) from None
    # a CotmillError (a bad export, model, workspace or row) is one line: see cotmill.cli
    click.echo(describe_export(config.data), err=True)

    def stored(result, file) -> None:
        click.echo(
            f"stored run {result.run}: {len(result.problems):,} problems" + (f"; {file}" if file else "")
        )

    try:
        results = run_evals(config, on_result=stored)
    except OSError as e:
        raise UserError(f"{e.filename or config.out}: {e.strerror or e}") from None
    Console(width=None if sys.stdout.isatty() else 160).print(results_table(results))
