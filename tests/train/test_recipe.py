"""The recipe manifest: results per seed from `cotmill eval --out` files, the spread across
seeds, the machine and settings, stored in the workspace and `runs`, and the README's table
regenerated from it."""

from __future__ import annotations

import json
import shutil
from statistics import mean

from tests.conftest import query, run_cli
from train.recipe import claim, paired


def test_paired_delta_and_the_claim_across_seeds():
    before, after = (
        {"p1": 0.0, "p2": 1.0, "p3": 0.0, "p4": 0.5},
        {"p1": 1.0, "p2": 1.0, "p3": 0.0, "p4": 1.0, "x": 1.0},
    )
    r = paired(before, after)
    assert r["n"] == 4 and r["before"] == 0.375 and r["after"] == 0.75 and r["delta"] == 0.375
    assert 0 < r["ci95"] < 1
    up, flat = {"delta": 0.03, "ci95": 0.01}, {"delta": 0.01, "ci95": 0.02}
    assert claim([up, up]) == "up" and claim([up, flat]) == "none"
    assert claim([{"delta": -0.05, "ci95": 0.01}]) == "down"


def test_manifest_from_two_seeds_regenerates_the_readme_table(tiny_model_dir, workspace_exports, tmp_path):
    ws, out = tmp_path / "w", tmp_path / "recipe"
    shutil.copytree(workspace_exports.workspace, ws, ignore=shutil.ignore_patterns("cotmill.lock"))
    model = str(tiny_model_dir)
    for seed in (0, 1):
        d = out / f"seed-{seed}"
        d.mkdir(parents=True)
        for name, extra in (("greedy", []), ("sampled", ["--samples", "4", "--temperature", "1.0"])):
            result = run_cli("eval", "--model", model, "--model", model, "--data", str(workspace_exports.rl),
                             "--limit", "6", "--max-new-tokens", "8", "--workspace", str(ws), "--seed", str(seed),
                             "--run", f"demo-{name}-s{seed}", "--out", str(d / f"{name}.jsonl"), *extra)  # fmt: skip
            assert result.returncode == 0, result.stderr
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- recipe:demo:start -->\nold table\n<!-- recipe:demo:end -->\nafter\n")
    result = run_cli("train", "manifest", "--recipe", "demo", "--dir", str(out), "--seeds", "0,1", "--wall-s", "90",
                     "--setting", "sft_epochs=16", "--workspace", str(ws), "--readme", str(readme))  # fmt: skip
    assert result.returncode == 0, result.stderr

    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["seeds"] == [0, 1]
        and manifest["settings"] == {"sft_epochs": "16"}
        and manifest["wall_s"] == 90
    )
    assert manifest["env"]["threads"] >= 1 and manifest["env"]["versions"]["torch"]
    for seed in manifest["per_seed"]:
        assert set(seed["runs"]) == {
            "greedy-a",
            "greedy-b",
            "sampled-a",
            "sampled-b",
        }  # no sft/grpo runs here
        assert seed["runs"]["greedy-a"]["env"]["cpu"]
        # the same model twice, greedy: no change
        assert seed["results"]["greedy pass@1"]["delta"] == 0.0
        rows = [
            json.loads(line)
            for line in (out / f"seed-{seed['seed']}" / "sampled-b.jsonl").read_text().splitlines()
        ]
        assert seed["results"]["sampled pass@1"]["after"] == mean(r["metrics"]["pass@1"] for r in rows)
    deltas = [s["results"]["sampled pass@1"]["delta"] for s in manifest["per_seed"]]
    assert manifest["summary"]["sampled pass@1"]["delta"]["mean"] == mean(deltas)

    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("after\n")
    assert (
        "| greedy pass@1 |" in text and "over 2 seed(s)" in text and "s0: +0.0 ± 0.0; s1: +0.0 ± 0.0" in text
    )
    assert text.count("<!-- recipe:demo:start -->") == 1
    assert query(ws, "select count(*) from runs where kind = 'recipe'") == [(1,)]
    assert len(list((ws / "recipes").glob("demo-*.json"))) == 1
    assert "| maj@4 |" in result.stdout  # and the table is printed


def test_missing_eval_files_are_one_line(workspace_exports, tmp_path):
    result = run_cli("train", "manifest", "--recipe", "demo", "--dir", str(tmp_path), "--seeds", "0",
                     "--workspace", str(workspace_exports.workspace))  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{tmp_path}/seed-0/sampled-a.jsonl: missing" in result.stderr


def test_many_models_compared_in_pairs(tmp_path):
    # smollm2-star's shape: several models per seed, compared BEFORE:AFTER, one table row per pair
    from datagen.store import Store
    from train.recipe import build_manifest, table

    with Store.open(tmp_path / "w"):
        pass
    right = {"base": [1, 0, 0, 0, 1, 0], "sft": [1, 1, 1, 0, 1, 1], "grpo": [1, 1, 1, 1, 1, 1]}
    d = tmp_path / "recipe" / "seed-0"
    d.mkdir(parents=True)
    for model, values in right.items():
        for ev in ("greedy", "sampled"):
            metrics = (
                (lambda v: {"pass@1": v})
                if ev == "greedy"
                else (lambda v: {"pass@1": v, "maj@k": v, "pass@k": v})
            )
            lines = [json.dumps({"problem_id": f"p{i}", "metrics": metrics(v)}) for i, v in enumerate(values)]
            (d / f"{ev}-{model}.jsonl").write_text("\n".join(lines) + "\n")
    manifest = build_manifest("star", tmp_path / "w", tmp_path / "recipe", [0], 60.0, {},
                              [("base", "sft"), ("sft", "grpo")])  # fmt: skip
    assert manifest["comparisons"] == [["base", "sft"], ["sft", "grpo"]]
    r = manifest["per_seed"][0]["results"]["base->sft greedy pass@1"]
    assert (r["before"], r["after"], r["n"]) == (2 / 6, 5 / 6, 6) and r["delta"] == 0.5
    assert manifest["summary"]["sft->grpo sampled maj@k"]["after"]["mean"] == 1.0
    text = table(manifest)
    assert "| base → sft | greedy pass@1 | 33.3% | 83.3% | +50.0 ± 0.0 |" in text
    assert "| sft → grpo | sampled maj@K |" in text and "holds for every seed" in text
    result = run_cli("train", "manifest", "--recipe", "star", "--dir", str(tmp_path / "recipe"), "--seeds", "0",
                     "--compare", "base", "--workspace", str(tmp_path / "w"))  # fmt: skip
    assert result.returncode == 1 and "--compare expects BEFORE:AFTER" in result.stderr
