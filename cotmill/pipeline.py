"""`cotmill run pipeline.yaml`: generate -> verify -> curate -> mix -> export -> sft -> grpo
-> eval in one file.

Each stage's keys are those of its command's flags, read by the same pydantic model that
the CLI and the Python API use (datagen.config.GenerateConfig, cotmill.config's
VerifyConfig, CurateConfig, ExportConfig and EvalConfig, mixtures.spec.MixSpec,
train.sft_config.SFTConfig, train.grpo_config.GRPOConfig), so a stage can do what its
command can and every default lives in its model; an unknown key is an error naming the
stage and the key. The file's `workspace` is every stage's; export's `mixture` defaults
to the mix stage's name.

Each stage is resumable on its own (generate skips stored completions, verify
judges only what lacks a current verdict, curate and mix recompute the same result
for the same input), so a re-run is always safe. On top of that, a stage whose
fingerprint (its own settings chained with those of every stage before it)
matches the one recorded when it last finished is skipped outright; change a
setting and that stage and everything after it run again. Only the latest
settings of each stage are remembered, and an export whose output is gone (or was
replaced by another export), or a training run whose final/ model is gone, runs again.
The export directory is the pipeline's own: a re-run replaces its earlier export there
(see mixtures.export_dir).

    workspace: demo-workspace
    generate: {job: quickstart, tasks: math,code,logic, count: 60, samples: 2}
    verify: {}
    curate: {decontaminate: [bench.jsonl]}
    mix: {name: quickstart-mix, total: 60, ratios: {math: 0.5, code: 0.3, logic: 0.2}}
    export: {format: sft, as: parquet, out: exports/quickstart}
    sft: {model: models/base, data: exports/quickstart, out: runs/sft, max_steps: 100}
    eval: {model: runs/sft, data: exports/quickstart-rl}

Stages left out of the file are not run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from cotmill.config import EXECUTION_FIELDS
from datagen.config import ConfigError, describe, load_config, read_yaml
from datagen.records import content_hash
from datagen.store import Store, resolve_workspace

STAGES = ("generate", "verify", "curate", "mix", "export", "sft", "grpo", "eval")


class Pipeline(BaseModel):
    """The file as written: each stage a mapping of its command's keys (checked by stage())."""

    model_config = ConfigDict(extra="forbid")
    workspace: str | None = None
    generate: dict | None = None
    verify: dict | None = None
    curate: dict | None = None
    mix: dict | None = None
    export: dict | None = None
    sft: dict | None = None
    grpo: dict | None = None
    eval: dict | None = None

    def stage(self, name: str, where: str = "pipeline"):
        """The stage's settings as its command's model (GenerateConfig, MixSpec, ...); errors
        name the file, the stage and the key."""
        data = getattr(self, name)
        if data is None:
            return None
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
        label = f"{where} {name}"
        if name == "generate":
            return load_config(None, {**data, "workspace": self.workspace}, file_label=label)
        if name == "mix":
            from mixtures.spec import parse_spec

            return parse_spec(self.mix, label)
        model = _models()[name]
        if "workspace" in model.model_fields:  # training and eval runs are stored in the workspace
            data["workspace"] = str(resolve_workspace(self.workspace))
        if name == "export":
            # the pipeline owns its `out`: a re-run with other settings replaces its earlier
            # export (export_dir still refuses a directory that holds anything but an export)
            data = {"mixture": (self.mix or {}).get("name"), **data, "overwrite": True}
        try:
            return model(**data)
        except ValidationError as e:
            raise ConfigError(describe(e, label)) from None


def _models() -> dict[str, type[BaseModel]]:
    from cotmill.config import CurateConfig, EvalConfig, ExportConfig, VerifyConfig
    from train.grpo_config import GRPOConfig
    from train.sft_config import SFTConfig

    return {"verify": VerifyConfig, "curate": CurateConfig, "export": ExportConfig, "sft": SFTConfig,
            "grpo": GRPOConfig, "eval": EvalConfig}  # fmt: skip


def load_pipeline(path: str | Path, workspace: str | None = None) -> Pipeline:
    data = read_yaml(path)
    try:
        pipeline = Pipeline(**data)
    except ValidationError as e:
        raise ConfigError(describe(e, str(path))) from None
    if workspace:
        pipeline.workspace = workspace
    if pipeline.export is not None and not pipeline.mix and "mixture" not in pipeline.export:
        raise ConfigError(f"{path}: key 'export': needs a 'mix' stage to export (or a mixture key)")
    # check every stage now, not after an hour of generation
    for stage in STAGES:
        pipeline.stage(stage, str(path))
    return pipeline


def _fingerprints(pipeline: Pipeline, where: str) -> dict[str, str]:
    chained, out = "", {}
    for stage in STAGES:
        value = getattr(pipeline, stage)
        if value is None:
            continue
        if stage not in ("generate", "mix"):  # as the model reads it: defaults count
            value = pipeline.stage(stage, where).model_dump(
                mode="json", by_alias=True, exclude={"workspace", *EXECUTION_FIELDS}
            )
        chained = content_hash(chained, stage, json.dumps(value, sort_keys=True, default=str))
        out[stage] = chained
    return out


def _run_stage(stage: str, pipeline: Pipeline, where: str, say: Callable[[str], None]) -> str:
    """Run one stage; returns a one-line summary."""
    from cotmill.api import Workspace

    ws = Workspace(pipeline.workspace)
    cfg = pipeline.stage(stage, where)
    if stage == "generate":
        from datagen.jobs import JobError, run_generate

        stats = run_generate(cfg)  # not ws.generate: Ctrl-C stops a long setup at once
        if stats.fatal or stats.failed:
            raise JobError(
                f"generate: {stats.fatal or f'{stats.failed} completion(s) failed'}; re-run to resume"
            )
        return f"{stats.already_stored + stats.stored:,} completions stored ({stats.stored:,} new)"
    if stage == "verify":
        stats = ws.verify(cfg)
        return f"{stats.judged:,} completions judged ({stats.passed:,} passed)"
    if stage == "curate":
        stats = ws.curate(cfg)
        marks = ", ".join(f"{kind} {reason} {n:,}" for (kind, reason), n in sorted(stats.marks.items()))
        return f"{stats.curated:,} completions eligible for mixing; marked: {marks or 'nothing'}"
    if stage == "mix":
        _, items, _ = ws.mix(cfg)
        return f"mixture {cfg.name}: {len(items):,} items"
    if stage == "export":
        counts, paths = ws.export(cfg)
        return ", ".join(f"{split} {counts.get(split, 0):,} rows -> {path}" for split, path in paths.items())
    if stage == "sft":
        result = ws.train_sft(cfg)
        loss = "-" if result.train_loss is None else f"{result.train_loss:.4f}"
        return f"run {result.run}: {result.steps} steps, train loss {loss}; final: {result.final}"
    if stage == "grpo":
        from train.grpo import run_grpo

        result = run_grpo(cfg, note=lambda text: say(f"grpo: warning: {text}"))
        reward = "-" if result.reward_mean is None else f"{result.reward_mean:.4f}"
        return (f"run {result.run}: {result.steps} steps, last reward mean {reward}, "
                f"{result.trained_completions:,} completions trained; final: {result.final}")  # fmt: skip
    from cotmill.api import run_evals

    results = run_evals(cfg)
    return "; ".join(f"run {r.run}: {len(r.problems):,} problems" for r in results)


def _output_gone(stage: str, pipeline: Pipeline, where: str) -> bool:
    """Whether what a finished stage made is gone, so that it must run again."""
    if stage == "export":
        return not _export_in_place(pipeline.stage("export", where))
    if stage in ("sft", "grpo"):
        return not (Path(pipeline.stage(stage, where).out) / "final").is_dir()
    return False


def _export_in_place(e) -> bool:
    """Whether the export directory still holds this pipeline's export (not deleted, nor
    replaced by a hand-made export of something else)."""
    from datagen.manifest import ManifestError, read_manifest

    try:
        manifest = read_manifest(e.out)
    except ManifestError:
        return False
    return manifest is not None and (manifest.mixture, manifest.format, manifest.layout) == (
        e.mixture,
        e.format,
        e.as_,
    )


def run_pipeline(
    path: str | Path, workspace: str | None = None, say: Callable[[str], None] = print
) -> Pipeline:
    pipeline = load_pipeline(path, workspace)
    where = str(path)
    fingerprints = _fingerprints(pipeline, where)
    for stage, fingerprint in fingerprints.items():
        with Store.open(pipeline.workspace) as store:
            done = store.con.execute(
                "SELECT finished_at FROM pipeline_stages WHERE stage = ? AND fingerprint = ?",
                [stage, fingerprint],
            ).fetchall()
        if done and not _output_gone(stage, pipeline, where):
            say(f"{stage}: finished {done[0][0]:%Y-%m-%d %H:%M}, skipped")
            continue
        say(f"{stage}: {_run_stage(stage, pipeline, where, say)}")
        with Store.open(pipeline.workspace) as store:
            store.con.execute(
                "INSERT OR REPLACE INTO pipeline_stages VALUES (?, ?, ?)",
                [stage, fingerprint, dt.datetime.now()],
            )
    return pipeline
