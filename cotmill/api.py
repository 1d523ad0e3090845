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


class Workspace:
    """A workspace directory holding cotmill.duckdb. `path`: as the CLI's --workspace
    (None: env COTMILL_WORKSPACE, else ./cotmill-workspace)."""

    def __init__(self, path: str | Path | None = None):
        from datagen.store import resolve_workspace

        self.path = resolve_workspace(path)

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    def _own(self, data: dict, where: str) -> None:
        """Settings that carry a `workspace` (generate, train, eval) run in this one: unset
        means this workspace, another one is a ConfigError (the same rule for every method,
        rather than one silently winning)."""
        from datagen.config import ConfigError
        from datagen.store import resolve_workspace

        given = data.get("workspace")
        if given is not None and resolve_workspace(given).resolve() != self.path.resolve():
            raise ConfigError(f"{where}: key 'workspace': {given} is not this workspace ({self.path})")
        data["workspace"] = str(self.path)

    # --- generate -------------------------------------------------------------------------------

    def generate_config(self, config=None, **kwargs):
        """The GenerateConfig that generate() runs: `config`'s settings, then `kwargs` (named
        like the CLI's flags, underscores for dashes; `tasks` may be a list). Unknown or bad
        keys raise ConfigError naming them."""
        from datagen.config import GenerateConfig, load_config

        # exclude_unset keeps which fields were given: price and count checks read it
        data = _values(GenerateConfig, config, kwargs, "Workspace.generate")
        if isinstance(data.get("tasks"), (list, tuple)):
            data["tasks"] = ",".join(data["tasks"])
        self._own(data, "Workspace.generate")
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

    def verify(self, config=None, /, **kwargs):
        """Judge the completions without a current verdict (`cotmill verify`): a VerifyConfig
        and/or its keys (job, verifier, workers, vote, executor "local" or "ray", ray_address,
        shard_rows). Returns VerifyStats."""
        from cotmill.config import VerifyConfig
        from datagen.store import Store
        from datagen.verify_runner import run_verify

        cfg = _config(VerifyConfig, config, kwargs, "Workspace.verify")
        Store.open(self.path, read_only=True).close()  # a missing workspace is an error, as in the CLI
        return run_verify(self.path, cfg.job, cfg.verifier, cfg.workers, cfg.vote, executor=cfg.executor,
                          ray_address=cfg.ray_address, shard_rows=cfg.shard_rows)  # fmt: skip

    def ingest(self, *paths):
        """Merge shards (files, or directories searched for them) and whole workspaces (a
        directory holding cotmill.duckdb, made by another machine or a Slurm task; opened
        read-only) into this workspace (`cotmill ingest`), adding only rows it lacks; with a
        workspace among `paths`, this one is created if it does not exist. Returns an Ingested:
        `shards` read and the `rows` they added, and per workspace a Merged (`added`: rows per
        table, `replaced`: error rows replaced by successes, `recounted`: jobs)."""
        from datagen.merge import classify, ingest_paths
        from datagen.store import Store

        workspaces, shard_paths = classify(paths, self.path)
        with Store.open(self.path, create=bool(workspaces)) as store:
            return ingest_paths(store, workspaces, shard_paths)

    def curate(self, config=None, /, **kwargs):
        """Mark duplicates, contaminated problems and poor completions (`cotmill curate`): a
        CurateConfig and/or its keys (job, decontaminate: a list or comma-separated, text_field,
        ngram, near_dup_threshold, shingle, min_tokens, max_tokens, max_repetition,
        require_think, executor "local" or "ray", ray_address, shard_rows). Returns CurateStats."""
        from cotmill.config import CurateConfig
        from mixtures.curate import run_curate

        cfg = _config(CurateConfig, config, kwargs, "Workspace.curate")
        return run_curate(self.path, job=cfg.job, decontaminate=cfg.decontaminate, text_field=cfg.text_field,
                          ngram=cfg.ngram, near_dup_threshold=cfg.near_dup_threshold, shingle=cfg.shingle,
                          filters=cfg.filters(), executor=cfg.executor, ray_address=cfg.ray_address,
                          shard_rows=cfg.shard_rows)  # fmt: skip

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

    def export(self, config=None, /, **kwargs):
        """Export a built mixture into the directory `out` (`cotmill export`): an ExportConfig
        and/or its keys (mixture, format, as_ or "as", out, think_tags, min_pass_rate,
        max_pass_rate, overwrite); `config` may also be the mixture's name. Returns
        (split -> row count, split -> path)."""
        from cotmill.config import ExportConfig
        from mixtures.export import export_mixture

        if isinstance(config, str):
            config, kwargs = None, {"mixture": config, **kwargs}
        cfg = _config(ExportConfig, config, {k: str(v) if k == "out" else v for k, v in kwargs.items()},
                      "Workspace.export")  # fmt: skip
        rates = (cfg.min_pass_rate, cfg.max_pass_rate)
        return export_mixture(self.path, cfg.mixture, cfg.format, cfg.out, cfg.as_, cfg.think_tags, rates,
                              cfg.overwrite)  # fmt: skip

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
        from train.sft import SFTConfig, load_sft_config, run_sft

        data = _values(SFTConfig, config, kwargs, "Workspace.train_sft")
        self._own(data, "Workspace.train_sft")
        return run_sft(load_sft_config(None, data))

    def train_grpo(self, config=None, /, **kwargs):
        """`cotmill train grpo`: a GRPOConfig and/or its keys; metrics go to this workspace.
        Returns GRPOResult (`trained_completions` 0 means the run learnt nothing: every
        group's rewards were equal; a RuntimeWarning says so when it happens)."""
        from train.grpo import run_grpo
        from train.grpo_config import GRPOConfig, load_grpo_config

        data = _values(GRPOConfig, config, kwargs, "Workspace.train_grpo")
        self._own(data, "Workspace.train_grpo")
        return run_grpo(load_grpo_config(None, data))

    def eval(self, config=None, data=None, /, **kwargs):
        """`cotmill eval`: an EvalConfig and/or its keys (model, data, split, samples, limit,
        max_new_tokens, temperature, batch_size, seed, run, out, precision), or
        `eval(model, data, **keys)`; stored in this workspace. Returns EvalResult, or a list
        of two for two models."""
        from cotmill.config import EvalConfig

        if config is not None and not isinstance(config, EvalConfig):
            config, kwargs = None, {"model": [str(m) for m in _listed(config)], **kwargs}
        if data is not None:
            kwargs["data"] = data
        kwargs = {k: str(v) if k in ("data", "out") and v is not None else v for k, v in kwargs.items()}
        data = _values(EvalConfig, config, kwargs, "Workspace.eval")
        self._own(data, "Workspace.eval")
        cfg = _config(EvalConfig, None, data, "Workspace.eval")
        results = run_evals(cfg)
        return results[0] if len(results) == 1 else results


def run_evals(cfg, on_result=None) -> list:
    """Evaluate each model of an EvalConfig (two: runs RUN-a/RUN-b, files OUT-a/OUT-b);
    on_result(result, out file) after each. The CLI and the pipeline's eval stage run this."""
    from train.evaluate import run_eval

    results = []
    for model, run, out in cfg.runs():
        result = run_eval(model, cfg.data, split=cfg.split, samples=cfg.samples, limit=cfg.limit,
                          max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                          batch_size=cfg.batch_size, seed=cfg.seed, workspace=cfg.workspace, run=run, out=out,
                          precision=cfg.precision)  # fmt: skip
        if on_result is not None:
            on_result(result, out)
        results.append(result)
    return results


def _listed(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _values(model, config, kwargs: dict, where: str) -> dict:
    """The fields set in `config` (a `model`, or None) with the keyword arguments on top;
    ConfigError when `config` is something else (a dict, another command's settings)."""
    from datagen.config import ConfigError

    if config is not None and not isinstance(config, model):
        raise ConfigError(f"{where}: expected a {model.__name__}, got {type(config).__name__}")
    return {**(config.model_dump(exclude_unset=True) if config is not None else {}), **kwargs}


def _config(model, config, kwargs: dict, where: str):
    """`model` from a config object (its set fields) with keyword arguments on top; a bad or
    unknown key raises ConfigError naming it, as the pipeline file's errors do."""
    from pydantic import ValidationError

    from datagen.config import ConfigError, describe

    data = _values(model, config, kwargs, where)
    try:
        return model(**data)
    except ValidationError as e:
        raise ConfigError(describe(e, where)) from None


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
