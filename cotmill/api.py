"""The Python front door: one `Workspace` with a method per CLI command.

    from cotmill import Workspace

    ws = Workspace("W")
    ws.generate(job="j1", tasks=["math", "logic"], count=100, samples=4, teacher="builtin")
    ws.verify()
    ws.sql("select domain, avg(passed::int) from verdicts join problems using (problem_id) group by 1")

Each method is a thin call to the function its command calls, with the same defaults
(taken from the same place), so the API and the CLI cannot drift apart. Errors are the
library's own (ConfigError, WorkspaceError, SpecError, ExportError, SqlError, ...), all
`verifiers.errors.CotmillError`, with the messages the CLI prints; nothing here prints or exits.

Imports are lazy, as in the CLI: `import cotmill` loads none of DuckDB, numpy or torch.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path

from mixtures.defaults import EXPORT_FORMAT, EXPORT_WRITER


class Workspace:
    """A workspace directory holding cotmill.duckdb. `path`: as the CLI's --workspace
    (None: env COTMILL_WORKSPACE, else ./cotmill-workspace)."""

    def __init__(self, path: str | Path | None = None):
        from datagen.store import resolve_workspace

        self.path = resolve_workspace(path)

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # --- generate -------------------------------------------------------------------------------

    def generate_config(self, config=None, **kwargs):
        """The GenerateConfig that generate() runs: `config`'s settings, then `kwargs` (named
        like the CLI's flags, underscores for dashes; `tasks` may be a list). Unknown or bad
        keys raise ConfigError naming them."""
        from datagen.config import ConfigError, load_config
        from datagen.store import resolve_workspace

        # exclude_unset keeps which fields were given: price and count checks read it
        data = {**(config.model_dump(exclude_unset=True) if config is not None else {}), **kwargs}
        if isinstance(data.get("tasks"), (list, tuple)):
            data["tasks"] = ",".join(data["tasks"])
        given = data.get("workspace")
        if given is not None and resolve_workspace(given).resolve() != self.path.resolve():
            raise ConfigError(
                f"Workspace.generate: key 'workspace': {given} is not this workspace ({self.path})"
            )
        data["workspace"] = str(self.path)
        return load_config(None, data, file_label="Workspace.generate")

    def generate(self, config=None, /, **kwargs):
        """Run a generation job (resumable, as `cotmill generate`) and return its JobStats
        (`stats.failed`, `stats.fatal` say what the CLI's exit status says). Works in a
        script, in a worker thread, and inside a running event loop (Jupyter), where the
        job runs in a thread with a loop of its own; in async code, `await agenerate()`."""
        from datagen.jobs import arun_generate

        cfg = self.generate_config(config, **kwargs)
        return _run_coroutine(lambda: arun_generate(cfg))

    async def agenerate(self, config=None, /, **kwargs):
        """generate() on the running event loop."""
        from datagen.jobs import arun_generate

        cfg = self.generate_config(config, **kwargs)
        return await arun_generate(cfg)

    # --- verify, curate, mix, export ------------------------------------------------------------

    def verify(self, job: str | None = None, workers: int | None = None, vote: bool = False, verifier=None):
        """Judge the completions without a current verdict (`cotmill verify`); returns VerifyStats."""
        from datagen.store import Store
        from datagen.verify_runner import run_verify

        Store.open(self.path, read_only=True).close()  # a missing workspace is an error, as in the CLI
        return run_verify(self.path, job, verifier, workers, vote)

    def curate(self, job: str | None = None, decontaminate=(), **options):
        """Mark duplicates, contaminated problems and poor completions (`cotmill curate`);
        `decontaminate`: benchmark files (a list or comma-separated); `options`: text_field,
        ngram, near_dup_threshold, shingle, min_tokens, max_tokens, max_repetition,
        require_think. Returns CurateStats."""
        from dataclasses import fields

        from mixtures.curate import run_curate
        from mixtures.filters import FilterConfig

        if isinstance(decontaminate, str):
            decontaminate = [part.strip() for part in decontaminate.split(",") if part.strip()]
        names = {f.name for f in fields(FilterConfig)}
        filters = FilterConfig(**{k: v for k, v in options.items() if k in names})
        rest = {k: v for k, v in options.items() if k not in names}  # an unknown key: run_curate names it
        return run_curate(self.path, job=job, decontaminate=decontaminate, filters=filters, **rest)

    def mix(self, spec):
        """Build and store a mixture (`cotmill mix build`) from a MixSpec, a dict of its keys or
        a YAML file; a mixture of the same name is replaced. Returns (plan, items, replaced)."""
        from datagen.store import Store
        from mixtures.build import build_mixture
        from mixtures.spec import MixSpec, load_spec, parse_spec

        if isinstance(spec, dict):
            spec = parse_spec(spec, "mix spec")
        elif not isinstance(spec, MixSpec):
            spec = load_spec(spec)
        with Store.open(self.path, create=False) as store:
            return build_mixture(store, spec)

    def export(
        self,
        mixture: str,
        format: str = EXPORT_FORMAT,
        as_: str = EXPORT_WRITER,
        *,
        out,
        overwrite: bool = False,
        think_tags: bool = False,
        min_pass_rate: float | None = None,
        max_pass_rate: float | None = None,
    ):
        """Export a built mixture into the directory `out` (`cotmill export`); returns
        (split -> row count, split -> path)."""
        from mixtures.export import export_mixture

        rates = (min_pass_rate, max_pass_rate)
        return export_mixture(self.path, mixture, format, out, as_, think_tags, rates, overwrite)

    # --- queries --------------------------------------------------------------------------------

    def sql(self, query: str, allow_files: bool = False):
        """The query's result as a polars DataFrame, read-only (`cotmill sql` without --write);
        a statement without rows gives an empty frame."""
        import polars as pl

        from cotmill.sqlcmd import query_frame

        frame = query_frame(query, self.path, allow_files=allow_files)
        return pl.DataFrame() if frame is None else frame

    def table(self, name: str):
        """A whole table or view (problems, completions, verdicts, curated, ...) as a polars DataFrame."""
        return self.sql('SELECT * FROM "' + name.replace('"', '""') + '"')

    # --- train and eval (need the training extras, cotmill[train]) ------------------------------

    def train_sft(self, config=None, /, **kwargs):
        """`cotmill train sft`: an SFTConfig and/or its keys; metrics go to this workspace.
        Returns SFTResult."""
        from train.sft import load_sft_config, run_sft

        data = {**(config.model_dump(exclude_unset=True) if config is not None else {}), **kwargs}
        data.setdefault("workspace", str(self.path))
        return run_sft(load_sft_config(None, data))

    def train_grpo(self, config=None, /, **kwargs):
        """`cotmill train grpo`: a GRPOConfig and/or its keys; metrics go to this workspace.
        Returns the run's summary dict."""
        import dataclasses

        from train.grpo import config_from, run_grpo

        cfg = dataclasses.replace(config, **kwargs) if config is not None else config_from(None, kwargs)
        if cfg.workspace is None:
            cfg.workspace = str(self.path)
        return run_grpo(cfg)

    def eval(self, model, data, **kwargs):
        """`cotmill eval` of one model on an export (kwargs: split, samples, limit, max_new_tokens,
        temperature, batch_size, seed, run, out, precision); stored in this workspace. Returns EvalResult."""
        from train.evaluate import run_eval

        return run_eval(model, data, workspace=self.path, **kwargs)


def _run_coroutine(make):
    """Run the coroutine `make()` to its end from synchronous code. Without a running loop in
    this thread (a script, a worker thread), asyncio.run. With one (Jupyter), asyncio.run
    would refuse and the loop cannot be re-entered, so a fresh thread runs it on its own loop;
    Ctrl-C (a kernel interrupt) cancels the job there, which stores what has arrived."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    done: Future = Future()
    running: dict = {}

    async def main():
        running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
        return await make()

    def work():
        try:
            done.set_result(asyncio.run(main()))
        except BaseException as e:  # handed to the caller's thread, KeyboardInterrupt included
            done.set_exception(e)

    thread = threading.Thread(target=work, name="cotmill-job", daemon=True)
    thread.start()
    try:
        return done.result()
    except KeyboardInterrupt:
        if "task" in running:
            running["loop"].call_soon_threadsafe(running["task"].cancel)
        thread.join()
        raise
