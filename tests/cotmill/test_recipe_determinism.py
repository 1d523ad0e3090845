"""The learning recipe is deterministic on one machine: its data, tokenizer and initial
model are byte-identical when built twice, and SFT gives the same losses twice. What
differs between two runs on one machine is then a bug; between two machines, their
float kernels (recorded in `runs.env`). A smaller copy of examples/tiny_rl.yaml keeps
this fast; every step is the recipe's own command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from tests.conftest import REPO, run_cli


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(root: Path) -> dict[str, str]:
    spec = yaml.safe_load((REPO / "examples" / "tiny_rl.yaml").read_text())
    spec["generate"]["count"] = 400
    spec["mix"]["total"] = 200
    spec["export"]["out"] = str(root / "sft")
    root.mkdir(parents=True)
    (root / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    ws = root / "ws"
    for args in (
        ("run", str(root / "pipeline.yaml"), "--workspace", str(ws)),
        ("train", "tiny", "--workspace", str(ws), "--out", str(root / "model"), "--seed", "0"),
        ("train", "sft", "--model", str(root / "model"), "--data", str(root / "sft"), "--out", str(root / "run"),
         "--no-lora", "--lr", "3e-3", "--max-length", "512", "--batch-size", "8", "--max-steps", "6",
         "--eval-samples", "0", "--seed", "0"),
    ):  # fmt: skip
        result = run_cli(*args, timeout=300)
        assert result.returncode == 0, result.stderr
    files = [root / "sft" / "train.parquet", root / "sft" / "val.parquet", root / "model" / "tokenizer.json",
             root / "model" / "model.safetensors"]  # fmt: skip
    hashes = {p.relative_to(root).as_posix(): _sha(p) for p in files}
    losses = [
        json.loads(line)["train/loss"]
        for line in (root / "run" / "metrics.jsonl").read_text().splitlines()
        if "train/loss" in json.loads(line)
    ]
    return {**hashes, "losses": losses}


def test_the_recipe_builds_the_same_data_tokenizer_model_and_losses_twice(tmp_path):
    first, second = _build(tmp_path / "a"), _build(tmp_path / "b")
    assert len(first["losses"]) >= 1
    assert first == second
