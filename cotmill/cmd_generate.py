"""`cotmill generate`: a thin shell over `datagen.jobs.run_generate`, with the progress
display and the exit status of a job (see the README's Reliability section)."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from cotmill.options import (
    PRECISIONS,
    WORKSPACE,
    RegistryChoice,
    UserError,
    from_model,
    ray_options,
    task_domains,
)
from datagen.config import GenerateConfig


def _fields(values: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for item in values:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours or not theirs:
            raise UserError(f"--field expects NAME=COLUMN, got {item!r}")
        mapping[ours.strip()] = theirs.strip()
    return mapping


@from_model(
    GenerateConfig,
    not_exposed=("prices", "flush_interval"),
    explained=("price_in", "price_out", "max_tokens", "ray_address", "shard_rows"),
)
@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Job YAML with the same keys as these flags (flags win).",
)
@WORKSPACE
@click.option("--job", help="Job name; re-running a job resumes it.")
@click.option("--tasks", help="Task or domain names, comma-separated (e.g. math,code,logic or sudoku4).")
@click.option("--count", type=int, help="Number of distinct problems to generate from the tasks.")
@click.option("--difficulty", help="Difficulty level or range, e.g. 3 or 1-5.")
@click.option("--source", help="Problems from a JSONL/CSV/Parquet file, a datasets directory or a hub name.")
@click.option(
    "--preset", type=click.Choice(["gsm8k", "math", "humaneval"]), help="Field layout of the source."
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="Map a field onto a column: NAME=COLUMN (prompt, answer, task, difficulty, solution). Repeatable.",
)
@click.option(
    "--domain",
    type=RegistryChoice(task_domains),
    help="Domain of source problems without a preset. [default: math]",
)
@click.option("--split", help="Split to read from a datasets directory or hub dataset.")
@click.option("--limit", type=int, help="Read at most this many problems from the source.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    default=None,
    help="Put bad source rows in the rejects table instead of stopping.",
)
@click.option("--samples", type=int, help="Completions per problem.")
@click.option(
    "--n-per-request",
    type=int,
    help="Samples asked for in one request through the API's n (1: separate requests). [default: all samples]",
)
@click.option(
    "--teacher",
    help="builtin (a simulator), openai:MODEL (an OpenAI-compatible endpoint) or hf:PATH (a local "
    "transformers model or adapter directory, batched on this machine).",
)
@click.option("--base-url", help="Base URL of an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.")
@click.option("--api-key-env", help="Environment variable holding the API key.")
@click.option("--strategy", help="Prompt strategy: cot, least_to_most or step_back.")
@click.option(
    "--template",
    type=click.Path(dir_okay=False),
    help="File with a user-message template ({problem} and {answer_format} placeholders).",
)
@click.option("--system", help="A system message sent before the prompt.")
@click.option("--temperature", type=float, help="Sampling temperature.")
@click.option("--top-p", type=float, help="Nucleus sampling.")
@click.option("--max-tokens", type=int, help="Maximum completion tokens. [default: 2048; hf: teachers 512]")
@click.option(
    "--extra-body",
    callback=lambda ctx, param, value: _json_object(value),
    metavar="JSON",
    help="openai: teachers: extra fields sent with every request, a JSON object, e.g. "
    '\'{"top_k": 20}\' (vLLM) or \'{"generation_config": "{\\"do_sample\\": true}"}\' (transformers serve, '
    "which otherwise decodes greedily at any temperature). Part of the resume key.",
)
@click.option(
    "--precision",
    type=PRECISIONS,
    help="hf: teachers: precision of the weights. auto: bf16 on a GPU, fp32 on a CPU; bf16 on a CPU with "
    "AVX512-BF16 or AMX samples about 3x faster. Not part of the resume key: samples stored at one "
    "precision count as done for another.",
)
@click.option("--concurrency", type=int, help="Requests in flight at once.")
@click.option("--rpm", type=float, help="Requests-per-minute limit.")
@click.option("--tpm", type=float, help="Tokens-per-minute limit.")
@click.option("--timeout", type=float, help="Seconds before a request times out (then retried).")
@click.option("--max-retries", type=int, help="Retries of a transient failure before it counts as failed.")
@click.option(
    "--retry-base-delay",
    type=float,
    help="First retry delay in seconds, doubled each retry, with jitter.",
)
@click.option("--retry-max-delay", type=float, help="Longest delay between retries in seconds.")
@click.option(
    "--max-retry-after",
    type=float,
    help="Longest pause in seconds that a server's Retry-After may impose on the job.",
)
@click.option("--seed", type=int, help="Seed of the task generators.")
@click.option("--error-rate", type=float, help="builtin teacher: share of solutions with a planted slip.")
@click.option(
    "--price-in",
    type=float,
    help="USD per 1M prompt tokens, for the cost column. [default: the prices table's, else 0]",
)
@click.option(
    "--price-out",
    type=float,
    help="USD per 1M completion tokens, for the cost column. [default: the prices table's, else 0]",
)
@ray_options(
    "Ray actors over shards of problems, an hf: teacher one per GPU; --concurrency is then per actor and --rpm/--tpm are shared out",
    "problems",
    256,
)
@click.option(
    "--status-every",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between status lines on stderr when it is not a terminal (logs); 0: none.",
)
@click.pass_context
def generate(ctx: click.Context, config_file, fields, status_every, **flags) -> None:
    """Generate completions for task problems or a source file, resumably.

    Re-running the same command skips every completion already stored and retries
    only the missing or failed ones. Exits 0 when every completion is stored, 1 when
    some failed (re-run to retry them; replies the store refused stay in
    W/unstored.jsonl and are not paid for again), 2 when the job was stopped
    (authentication failed, disk full), 130 on Ctrl-C and 143 on SIGTERM."""
    from cotmill.progress import GenerateProgress, summary_table
    from datagen.config import load_config
    from datagen.jobs import make_job_teacher, run_generate
    from datagen.unstored import is_disk_full

    overrides = {
        k: v
        for k, v in flags.items()
        if v is not None and ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT
    }
    if fields:
        overrides["fields"] = _fields(fields)
    progress = cfg = None  # Ctrl-C may come while the config or the teacher loads
    try:
        cfg = load_config(config_file, overrides)
        teacher = make_job_teacher(cfg)  # here, so that its status (an hf: model's decoding) shows
        progress = GenerateProgress(cfg.job, status_every, detail=getattr(teacher, "status", None))
        with progress:
            stats = run_generate(
                cfg,
                on_update=progress.update,
                on_plan=progress.plan,
                on_notice=progress.notice,
                teacher=teacher,
            )
    except KeyboardInterrupt as e:  # a CotmillError is one line: see cotmill.cli
        _not_stored(getattr(progress, "stats", None), cfg)
        interrupted(e)
    except Exception as e:
        if not is_disk_full(e):
            raise
        click.echo(f"error: disk full: {e}", err=True)
        sys.exit(2)
    Console().print(summary_table(cfg.job, stats))
    _not_stored(stats, cfg)
    if stats.identical_problems:
        click.echo(
            f"warning: {stats.identical_problems} of {stats.sampled_problems} problems got identical "
            f"samples at temperature {cfg.temperature:g}"
            + (
                ": the server seems to ignore sampling"
                if stats.identical_problems == stats.sampled_problems
                else ""
            ),
            err=True,
        )
    if stats.fatal:
        click.echo(f"job stopped: {stats.fatal}", err=True)
        sys.exit(2)
    if stats.failed:
        click.echo(f"{stats.failed} completion(s) failed; re-run the command to retry them", err=True)
        sys.exit(1)


def _json_object(value: str | None) -> dict | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON: {e}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def _not_stored(stats, cfg) -> None:
    """Say where the replies are that the store did not take."""
    if stats is None:
        return
    if stats.unstored:
        click.echo(
            f"{stats.unstored} received repl{'y' if stats.unstored == 1 else 'ies'} could not be stored: "
            f"kept in {_unstored_path(cfg)}, which the next run stores first; they are never paid for again",
            err=True,
        )
    if stats.lost:
        click.echo(
            f"{stats.lost} received replies are LOST: the store refused them and {stats.lost_reason}",
            err=True,
        )


def interrupted(e: KeyboardInterrupt) -> None:
    """Ctrl-C exits 130 and SIGTERM 143 (128 + the signal), as shells report them."""
    click.echo(
        "interrupted: the replies received so far are stored (or kept, as said above); re-run the same command to resume",
        err=True,
    )
    sys.exit(143 if e.args == ("SIGTERM",) else 130)


def _unstored_path(cfg) -> str:
    from datagen.store import resolve_workspace
    from datagen.unstored import FILE

    return str(resolve_workspace(cfg.workspace) / FILE)
