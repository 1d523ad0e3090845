"""`cotmill`: a thin command line over the Python API (datagen, verifiers, ...).

Each command parses flags, calls one API function and prints; errors a user can
fix are printed as one clear message (no traceback) with a non-zero exit code.
"""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from cotmill import __version__
from cotmill.cmd_curate import curate
from cotmill.cmd_eval import eval_command
from cotmill.cmd_generate import generate, interrupted
from cotmill.cmd_mix import export, mix
from cotmill.cmd_models import models
from cotmill.cmd_train import train
from cotmill.config import VerifyConfig
from cotmill.options import WORKSPACE, RegistryChoice, UserError, build, from_model, ray_options, task_domains
from verifiers.errors import CotmillError


class _Cotmill(click.Group):
    """A CotmillError (a mistake the user can fix) from any command is told here as one
    line; any other exception is a bug and keeps its traceback. Damage to the store
    shows only when a command reads the spoiled block, deep inside any of them: it is
    told here too, once for all commands, as one line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException:  # UserError among them: click prints them as they are
            raise
        except CotmillError as e:
            raise UserError(str(e)) from None
        except Exception as e:
            store = sys.modules.get("datagen.store")  # not imported: no store was opened
            damaged = store.damage(e) if store else None
            if damaged is None:
                raise
            raise UserError(str(damaged)) from None

    def main(self, *args, **kwargs):
        """Under torchrun (WORLD_SIZE > 1) a rank leaves with os._exit once its command is
        done: the process group is already destroyed, and the C++ teardown of torch's
        distributed threads at interpreter exit now and then aborts a rank that finished
        ("terminate called without an active exception", seen in CI), which torchrun
        reports as a failed run. A single process exits as usual."""
        if os.environ.get("WORLD_SIZE", "1") in ("", "1"):
            return super().main(*args, **kwargs)
        try:
            super().main(*args, **kwargs)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@click.group(cls=_Cotmill, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cotmill")
def main() -> None:
    """cotmill: synthetic chain-of-thought data. Teachers write solutions, verifiers
    keep what is right, and everything lands in one DuckDB workspace you can query."""


@main.command()
@click.argument("query")
@WORKSPACE
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write to this file instead of standard output (required for parquet).",
)
@click.option("--write", is_flag=True, help="Open the workspace for writing (UPDATE, DELETE, CREATE ...).")
@click.option("--force", is_flag=True, help="With --write: let the query drop or alter cotmill's own tables.")
@click.option(
    "--allow-files",
    is_flag=True,
    help="Let a read-only query read and write files (COPY ... TO, read_parquet, read_text).",
)
@click.option("--max-rows", type=int, default=100, show_default=True, help="Rows shown in table format.")
def sql(query, workspace, fmt, out, write, force, allow_files, max_rows) -> None:
    """Run a SQL QUERY against the workspace (read-only unless --write).

    A read-only query sees the workspace and no other file unless --allow-files;
    --out and --format parquet always write. --write refuses to drop or alter the
    tables cotmill's commands need unless --force."""
    from cotmill.sqlcmd import run_sql

    # a SqlError or WorkspaceError is a CotmillError: one line, see _Cotmill
    run_sql(query, workspace, fmt, out, write, max_rows, force, allow_files)


@from_model(VerifyConfig)
@click.command()
@WORKSPACE
@click.option("--job", help="Only completions of this job. [default: all jobs]")
@click.option(
    "--verifier",
    help="Only completions of problems judged by this verifier (e.g. math, code, logic.sudoku4).",
)
@click.option("--workers", type=int, help="Processes (and sandboxes) to use. [default: all cores]")
@click.option(
    "--vote",
    is_flag=True,
    help="Give problems without a reference a pseudo-label by majority vote of their samples.",
)
@ray_options("Ray tasks over shards of completions", "completions", 512)
def verify(workspace, job, verifier, workers, vote, executor, ray_address, shard_rows) -> None:
    """Judge stored completions and write verdicts; prints pass rates by domain, task and teacher.

    Only completions without a verdict for the current version of their verifier are
    judged, so re-running is cheap and a changed verifier re-judges."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from datagen.store import Store
    from datagen.verify_runner import pass_rates, run_verify

    progress = Progress(
        TextColumn("[bold]verify"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=not sys.stderr.isatty(),
    )  # fmt: skip
    task = progress.add_task("verify", total=None)

    def update(stats) -> None:
        progress.update(task, total=stats.pending, completed=stats.judged)

    cfg = build(verify, {"job": job, "verifier": verifier, "workers": workers, "vote": vote,
                         "executor": executor, "ray_address": ray_address, "shard_rows": shard_rows})  # fmt: skip
    Store.open(workspace, read_only=True).close()  # a missing workspace is an error, not a new one
    with progress:
        stats = run_verify(workspace, cfg.job, cfg.verifier, cfg.workers, cfg.vote, on_progress=update,
                           executor=cfg.executor, ray_address=cfg.ray_address, shard_rows=cfg.shard_rows)  # fmt: skip
    with Store.open(workspace, read_only=True) as store:
        rates = pass_rates(store, job)
    click.echo(
        f"judged {stats.judged:,} completions in {stats.elapsed:.1f} s "
        f"({stats.passed:,} passed){'; ' + str(stats.pseudo_labels) + ' pseudo-labels' if vote else ''}"
    )
    if stats.resumed:
        click.echo(f"ingested {stats.resumed:,} verdicts from the shards of an interrupted run")
    table = Table(title="pass rate (current verifier versions)")
    for col in ("domain", "task", "teacher", "judged", "passed", "pass rate"):
        table.add_column(col, justify="right" if col in ("judged", "passed", "pass rate") else "left")
    for domain, task_name, teacher, judged, passed, rate in rates:
        table.add_row(domain, task_name, teacher, f"{judged:,}", f"{passed:,}", f"{rate:.1%}")
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    for name, count in stats.unknown.items():
        click.echo(f"warning: {count} completion(s) name the unknown verifier {name!r}; not judged", err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@WORKSPACE
def ingest(paths, workspace) -> None:
    """Merge shard files (or directories of them) and whole workspaces into the workspace.

    Shards are the Parquet files that Ray workers, Slurm array tasks or other machines
    write instead of opening the store (W/shards/...). A workspace is a directory holding
    cotmill.duckdb that another machine or task generated and verified into; it is opened
    read-only. Only rows the store lacks are added, so ingesting twice adds nothing; a
    completion stored as an error row is replaced by the other's success."""
    from cotmill.api import Workspace

    done = Workspace(workspace).ingest(*paths)
    for merged in done.workspaces:
        click.echo(merged.summary())
    if done.shards or not done.workspaces:
        click.echo(f"ingested {done.shards:,} shard(s): {done.rows:,} new row(s)")


@main.command()
def doctor() -> None:
    """Report the code sandbox's isolation and the verifiers' versions."""
    import verifiers
    from verifiers import sandbox

    info = sandbox.isolation()
    secure = "" if info.get("secure", True) else "  (NOT isolated: install bubblewrap)"
    click.echo(f"code sandbox isolation: {info.get('mode')}{secure}")
    for key, value in (info.get("guarantees") or {}).items():
        click.echo(f"  {key}: {value}")
    click.echo(f"  sandbox workers: {info.get('workers')}")
    click.echo("verifiers: " + ", ".join(f"{n} {verifiers.version(n)}" for n in verifiers.names()))


@main.command()
@click.option("--domain", type=RegistryChoice(task_domains), help="Only tasks of this domain.")
def tasks(domain) -> None:
    """List the procedural tasks with domain, difficulty range and an example."""
    from rich.table import Table

    from datagen.tasks import TASKS, make_problem

    table = Table(show_lines=True)
    for col in ("task", "domain", "difficulty", "verifier", "example (difficulty 1)"):
        table.add_column(col)
    for name, task in TASKS.items():
        if domain and task.domain != domain:
            continue
        example = make_problem(name, 0, 0, 1).prompt
        example = example if len(example) <= 240 else example[:237] + "..."
        table.add_row(name, task.domain, "1-5", task.verifier, example)
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@main.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@WORKSPACE
def run(pipeline_file, workspace) -> None:
    """Run a pipeline file: generate -> verify -> curate -> mix -> export -> sft -> grpo -> eval.

    Each stage takes the keys of its command's flags (`cotmill COMMAND --help`). A re-run
    skips the stages that finished with the same settings and resumes the rest; see
    examples/quickstart.yaml."""
    from cotmill.pipeline import run_pipeline

    try:  # a CotmillError is one line (see _Cotmill); anything else a bug with its traceback
        run_pipeline(pipeline_file, workspace, say=click.echo)
    except ImportError as e:  # torch and co. for the sft, grpo and eval stages
        raise UserError(
            f"this pipeline needs the training extras (pip install 'cotmill[train]'): {e}"
        ) from None
    except KeyboardInterrupt as e:
        interrupted(e)


@main.command()
@WORKSPACE
@click.option(
    "--out",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)
def report(workspace, out) -> None:
    """Write one self-contained HTML page: pass rates by domain, task, difficulty and
    teacher; completion lengths; cost; mixture composition; training runs and their
    curves; evals before and after."""
    from cotmill.report import write_report

    try:  # a WorkspaceError is a CotmillError: one line, see _Cotmill
        path = write_report(workspace, out)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    click.echo(f"report: {path}")


main.add_command(verify)
# commands that live in modules of their own
main.add_command(generate)
main.add_command(curate)
main.add_command(mix)
main.add_command(export)
main.add_command(train)
main.add_command(eval_command)
main.add_command(models)


if __name__ == "__main__":
    main()
