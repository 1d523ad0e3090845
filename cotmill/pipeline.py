"""`cotmill run pipeline.yaml`: generate -> verify -> curate -> mix -> export in one file.

Each stage is resumable on its own (generate skips stored completions, verify
judges only what lacks a current verdict, curate and mix recompute the same result
for the same input), so a re-run is always safe. On top of that, a stage whose
fingerprint (its own settings chained with those of every stage before it)
matches the one recorded when it last finished is skipped outright; change a
setting and that stage and everything after it run again. Only the latest
settings of each stage are remembered, and an export whose output is gone (or was
replaced by another export) is written again. The export directory is the pipeline's own:
a re-run replaces its earlier export there (see mixtures.export_dir).

    workspace: demo-workspace
    generate: {job: quickstart, tasks: math,code,logic, count: 60, samples: 2}
    verify: {}
    curate: {decontaminate: [bench.jsonl]}
    mix: {name: quickstart-mix, total: 60, ratios: {math: 0.5, code: 0.3, logic: 0.2}}
    export: {format: sft, as: parquet, out: exports/quickstart}

Stages left out of the file are not run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from datagen.config import ConfigError, describe, load_config, read_yaml
from datagen.records import content_hash
from datagen.store import Store
from mixtures.defaults import EXPORT_FORMAT, EXPORT_WRITER, NEAR_DUP_THRESHOLD, NGRAM, SHINGLE

STAGES = ("generate", "verify", "curate", "mix", "export")


class VerifyStage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workers: int | None = Field(default=None, ge=1)
    vote: bool = False


class CurateStage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decontaminate: list[str] = Field(default_factory=list)
    text_field: str | None = None
    ngram: int = Field(default=NGRAM, ge=1)
    near_dup_threshold: float = Field(default=NEAR_DUP_THRESHOLD, gt=0, le=1)
    shingle: int = Field(default=SHINGLE, ge=1)


class ExportStage(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    format: str = EXPORT_FORMAT  # a registered export format (mixtures.export.FORMATS)
    as_: Literal["parquet", "jsonl", "hf"] = Field(default=EXPORT_WRITER, alias="as")
    out: str
    think_tags: bool = False

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        from mixtures.export import FORMATS

        if value not in FORMATS:
            raise ValueError(f"unknown export format {value!r}; use one of {', '.join(FORMATS.names())}")
        return value


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspace: str | None = None
    generate: dict | None = None  # GenerateConfig keys
    verify: VerifyStage | None = None
    curate: CurateStage | None = None
    mix: dict | None = None  # MixSpec keys
    export: ExportStage | None = None


def load_pipeline(path: str | Path, workspace: str | None = None) -> Pipeline:
    data = read_yaml(path)
    try:
        pipeline = Pipeline(**data)
    except ValidationError as e:
        raise ConfigError(describe(e, str(path))) from None
    if workspace:
        pipeline.workspace = workspace
    if pipeline.export and not pipeline.mix:
        raise ConfigError(f"{path}: key 'export': needs a 'mix' stage to export")
    # check the nested configs now, not after an hour of generation
    _generate_config(pipeline, str(path))
    _mix_spec(pipeline, str(path))
    return pipeline


def _generate_config(pipeline: Pipeline, where: str):
    if pipeline.generate is None:
        return None
    data = {k.replace("-", "_"): v for k, v in pipeline.generate.items()}
    return load_config(None, {**data, "workspace": pipeline.workspace}, file_label=f"{where} generate")


def _mix_spec(pipeline: Pipeline, where: str):
    if pipeline.mix is None:
        return None
    from mixtures.spec import parse_spec

    return parse_spec(pipeline.mix, f"{where} mix")


def _fingerprints(pipeline: Pipeline) -> dict[str, str]:
    chained, out = "", {}
    for stage in STAGES:
        value = getattr(pipeline, stage)
        if value is None:
            continue
        settings = value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value
        chained = content_hash(chained, stage, json.dumps(settings, sort_keys=True, default=str))
        out[stage] = chained
    return out


def _run_stage(stage: str, pipeline: Pipeline, where: str) -> str:
    """Run one stage; returns a one-line summary."""
    ws = pipeline.workspace
    if stage == "generate":
        from datagen.jobs import JobError, run_generate

        cfg = _generate_config(pipeline, where)
        stats = run_generate(cfg)
        if stats.fatal or stats.failed:
            raise JobError(
                f"generate: {stats.fatal or f'{stats.failed} completion(s) failed'}; re-run to resume"
            )
        return f"{stats.already_stored + stats.stored:,} completions stored ({stats.stored:,} new)"
    if stage == "verify":
        from datagen.verify_runner import run_verify

        stats = run_verify(ws, workers=pipeline.verify.workers, vote=pipeline.verify.vote)
        return f"{stats.judged:,} completions judged ({stats.passed:,} passed)"
    if stage == "curate":
        from mixtures.curate import run_curate

        c = pipeline.curate
        stats = run_curate(ws, decontaminate=c.decontaminate, text_field=c.text_field, ngram=c.ngram,
                           near_dup_threshold=c.near_dup_threshold, shingle=c.shingle)  # fmt: skip
        marks = ", ".join(f"{kind} {reason} {n:,}" for (kind, reason), n in sorted(stats.marks.items()))
        return f"{stats.curated:,} completions eligible for mixing; marked: {marks or 'nothing'}"
    if stage == "mix":
        from mixtures.build import build_mixture

        spec = _mix_spec(pipeline, where)
        with Store.open(ws) as store:
            _, items, _ = build_mixture(store, spec)
        return f"mixture {spec.name}: {len(items):,} items"
    from mixtures.export import export_mixture

    e = pipeline.export
    # the pipeline owns its `out`: a re-run with other settings replaces its earlier export
    # (export_dir still refuses a directory that holds anything but an export)
    counts, paths = export_mixture(
        ws, pipeline.mix["name"], e.format, e.out, e.as_, e.think_tags, overwrite=True
    )
    return ", ".join(f"{split} {counts.get(split, 0):,} rows -> {path}" for split, path in paths.items())


def _export_in_place(pipeline: Pipeline) -> bool:
    """Whether the export directory still holds this pipeline's export (not deleted, nor
    replaced by a hand-made export of something else)."""
    from datagen.manifest import ManifestError, read_manifest

    e = pipeline.export
    try:
        manifest = read_manifest(e.out)
    except ManifestError:
        return False
    return manifest is not None and (manifest.mixture, manifest.format, manifest.layout) == (
        pipeline.mix["name"], e.format, e.as_)  # fmt: skip


def run_pipeline(
    path: str | Path, workspace: str | None = None, say: Callable[[str], None] = print
) -> Pipeline:
    pipeline = load_pipeline(path, workspace)
    where = str(path)
    fingerprints = _fingerprints(pipeline)
    for stage, fingerprint in fingerprints.items():
        with Store.open(pipeline.workspace) as store:
            done = store.con.execute(
                "SELECT finished_at FROM pipeline_stages WHERE stage = ? AND fingerprint = ?",
                [stage, fingerprint],
            ).fetchall()
        output_gone = stage == "export" and not _export_in_place(pipeline)
        if done and not output_gone:
            say(f"{stage}: finished {done[0][0]:%Y-%m-%d %H:%M}, skipped")
            continue
        say(f"{stage}: {_run_stage(stage, pipeline, where)}")
        with Store.open(pipeline.workspace) as store:
            store.con.execute(
                "INSERT OR REPLACE INTO pipeline_stages VALUES (?, ?, ?)",
                [stage, fingerprint, dt.datetime.now()],
            )
    return pipeline
