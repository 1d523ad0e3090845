"""Shared fixtures of the training tests, registered in tests/conftest.py: one tiny
model and one workspace with sft and rl exports, each built once per session (a few seconds each)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

MIX = {"name": "train-mix", "total": 48, "ratios": {"math": 0.5, "code": 0.25, "logic": 0.25},
       "max_per_problem": 2, "max_upsample": 1.0, "split": {"val": 0.2}, "seed": 3,
       "on_shortfall": "redistribute"}  # fmt: skip


@dataclass(frozen=True)
class Exports:
    workspace: Path
    sft: Path  # sft export, parquet: train.parquet, val.parquet
    rl: Path  # rl export, jsonl: train.jsonl, val.jsonl

    def __getitem__(self, key: str) -> Path:  # fixture users may write exports["sft"]
        return getattr(self, key)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A "tiny" Qwen2 model (~1M parameters) with a tokenizer trained on the builtin corpus."""
    from train.tiny import build_tiny, builtin_corpus

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", "tiny", corpus=builtin_corpus(n_per_task=12))


@pytest.fixture(scope="session")
def workspace_exports(tmp_path_factory) -> Exports:
    """A builtin-teacher workspace (math, code, logic at difficulty 1-2, 60 problems x 4
    samples, error rate 0.3 so pass rates are mixed), verified, curated, mixed with a val
    split, and exported as sft (parquet) and rl (jsonl)."""
    from datagen.config import GenerateConfig
    from datagen.jobs import run_generate
    from datagen.store import Store
    from datagen.verify_runner import run_verify
    from mixtures.build import build_mixture
    from mixtures.curate import run_curate
    from mixtures.export import export_mixture
    from mixtures.spec import MixSpec

    root = tmp_path_factory.mktemp("exports")
    w = root / "ws"
    cfg = GenerateConfig(
        workspace=str(w), tasks="math,code,logic", count=60, difficulty="1-2", samples=4, error_rate=0.3
    )
    run_generate(cfg)
    run_verify(str(w))
    run_curate(str(w))
    with Store.open(w) as store:
        build_mixture(store, MixSpec(**MIX))
    export_mixture(w, MIX["name"], "sft", root / "sft", "parquet")
    export_mixture(w, MIX["name"], "rl", root / "rl", "jsonl")
    return Exports(workspace=w, sft=root / "sft", rl=root / "rl")
