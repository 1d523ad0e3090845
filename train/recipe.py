"""A recipe's manifest: what ran (commit, library versions, threads, machine, every
setting), how long it took, and what it measured for each seed, with the spread
across seeds. The README's recipe table is generated from it, so what the README
says is what the recipe printed.

A result from one run is not a result: long training amplifies small float
differences between machines, so a claim is stated only when it holds for every
seed (each seed's paired 95% interval on the same side of zero).

Inputs, per seed S under the recipe's directory: `seed-S/{greedy,sampled}-MODEL.jsonl`,
the per-problem results of `cotmill eval --out` for each model the recipe compares, and
the `runs` rows named `RECIPE-KIND-sS` (with -a/-b for a two-model eval). Comparisons
are BEFORE:AFTER pairs of those MODEL names: tiny-rl compares a (after SFT) with b (after
GRPO), the default; smollm2-star compares base, sft-unverified, sft-verified and grpo.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from statistics import mean, stdev

from train.environment import environment
from train.evaluate import mean_ci95
from verifiers.errors import CotmillError

# (eval, metric in the per-problem results, label in the table)
METRICS = (
    ("sampled", "pass@1", "pass@1, 4 samples at temperature 1 (the policy GRPO trains)"),
    ("sampled", "maj@k", "maj@4"),
    ("sampled", "pass@k", "pass@4"),
    ("greedy", "pass@1", "greedy pass@1"),
)
# the labels of a many-model recipe's rows, where K and the temperature are its settings
GENERIC_LABELS = {
    ("sampled", "pass@1"): "sampled pass@1",
    ("sampled", "maj@k"): "sampled maj@K",
    ("sampled", "pass@k"): "sampled pass@K",
    ("greedy", "pass@1"): "greedy pass@1",
}
DEFAULT_COMPARISONS = (("a", "b"),)


class RecipeError(CotmillError, ValueError):
    pass


def per_problem(path: Path, metric: str) -> dict[str, float]:
    """problem_id -> the metric, from `cotmill eval --out` JSONL."""
    if not path.exists():
        raise RecipeError(f"{path}: missing; run the recipe's eval step (cotmill eval --out) first")
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if metric in row["metrics"]:
            values[row["problem_id"]] = row["metrics"][metric]
    return values


def paired(before: dict[str, float], after: dict[str, float]) -> dict:
    """Means before and after over the shared problems, the mean paired difference and
    the half-width of its 95% interval (normal approximation), as train.evaluate prints it."""
    shared = [pid for pid in before if pid in after]
    result = mean_ci95([after[p] - before[p] for p in shared])
    if result is None:
        raise RecipeError(f"only {len(shared)} problems were evaluated before and after")
    return {
        "n": len(shared),
        "before": mean(before[p] for p in shared),
        "after": mean(after[p] for p in shared),
        "delta": result[0],
        "ci95": result[1],
    }


def result_key(before: str, after: str, ev: str, metric: str) -> str:
    # the one-comparison recipe (tiny-rl's a -> b) keeps its plain keys
    return (
        f"{ev} {metric}" if (before, after) == DEFAULT_COMPARISONS[0] else f"{before}->{after} {ev} {metric}"
    )


def seed_results(directory: Path, comparisons=DEFAULT_COMPARISONS) -> dict[str, dict]:
    results = {}
    for before, after in comparisons:
        for ev, metric, _ in METRICS:
            results[result_key(before, after, ev, metric)] = paired(
                per_problem(directory / f"{ev}-{before}.jsonl", metric),
                per_problem(directory / f"{ev}-{after}.jsonl", metric),
            )
    return results


def spread(values: list[float]) -> dict:
    return {"mean": mean(values), "sd": stdev(values) if len(values) > 1 else 0.0}


def claim(per_seed: list[dict]) -> str:
    """'up' or 'down' when every seed's interval lies on that side of zero, else 'none'."""
    if all(r["delta"] - r["ci95"] > 0 for r in per_seed):
        return "up"
    if all(r["delta"] + r["ci95"] < 0 for r in per_seed):
        return "down"
    return "none"


def _runs(store, recipe: str, seed: int) -> dict[str, dict]:
    """The seed's runs by kind: RECIPE-KIND-sS (a two-model eval's RECIPE-KIND-sS-a is KIND-a)."""
    name = re.compile(rf"{re.escape(recipe)}-(.+)-s{seed}(-[ab])?")
    rows = store.con.execute(
        "SELECT run, kind, model, data, config, env, status, summary, started_at, finished_at FROM runs "
        "WHERE starts_with(run, ?) AND kind <> 'recipe'",
        [f"{recipe}-"],
    ).fetchall()
    found = {}
    for run, kind, model, data, config, env, status, summary, started, finished in rows:
        match = name.fullmatch(run)
        if match is None:
            continue
        found[match.group(1) + (match.group(2) or "")] = {
            "run": run, "kind": kind, "model": model, "data": data, "status": status,
            "config": json.loads(config or "{}"), "env": json.loads(env or "null"),
            "summary": json.loads(summary or "null"),
            "seconds": (finished - started).total_seconds() if started and finished else None,
        }  # fmt: skip
    return found


def build_manifest(recipe: str, workspace, directory, seeds: list[int], wall_s: float | None,
                   settings: dict, comparisons=DEFAULT_COMPARISONS) -> dict:  # fmt: skip
    from datagen.store import Store

    directory = Path(directory)
    comparisons = [tuple(c) for c in comparisons]
    per_seed = []
    with Store.open(workspace, read_only=True) as store:
        for seed in seeds:
            per_seed.append(
                {
                    "seed": seed,
                    "results": seed_results(directory / f"seed-{seed}", comparisons),
                    "runs": _runs(store, recipe, seed),
                }
            )
    summary = {}
    for key in per_seed[0]["results"]:
        rows = [s["results"][key] for s in per_seed]
        summary[key] = {
            "before": spread([r["before"] for r in rows]),
            "after": spread([r["after"] for r in rows]),
            "delta": spread([r["delta"] for r in rows]),
            "claim": claim(rows),
            "n": rows[0]["n"],
        }
    env = environment()
    return {
        "recipe": recipe, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "comparisons": [list(c) for c in comparisons],
        "commit": env["commit"], "env": env, "settings": settings, "seeds": seeds, "wall_s": wall_s,
        "per_seed": per_seed, "summary": summary,
    }  # fmt: skip


def store_manifest(manifest: dict, workspace, directory) -> Path:
    """OUT/manifest.json, a copy under W/recipes/, and a `runs` row of kind 'recipe'."""
    from datagen.store import Store, resolve_workspace

    text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
    path = Path(directory) / "manifest.json"
    path.write_text(text + "\n", encoding="utf-8")
    stamp = manifest["created_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    run = f"{manifest['recipe']}-{stamp}"
    copy = resolve_workspace(workspace) / "recipes" / f"{run}.json"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text + "\n", encoding="utf-8")
    row = {"run": run, "kind": "recipe", "model": "", "data": str(directory), "out": str(path),
           "config": json.dumps({"settings": manifest["settings"], "seeds": manifest["seeds"]}, sort_keys=True),
           "status": "finished", "summary": json.dumps(manifest["summary"], sort_keys=True),
           "env": json.dumps(manifest["env"], sort_keys=True), "finished_at": dt.datetime.now()}  # fmt: skip
    with Store.open(workspace) as store:
        store.insert_rows("runs", [row], "REPLACE")
    return path


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _per_seed(manifest: dict, key: str) -> str:
    return "; ".join(
        f"s{p['seed']}: {100 * p['results'][key]['delta']:+.1f} ± {100 * p['results'][key]['ci95']:.1f}"
        for p in manifest["per_seed"]
    )


_VERDICT = {"up": "yes, up", "down": "yes, down", "none": "no"}


def _footer(manifest: dict) -> str:
    env = manifest["env"]
    wall = f"{manifest['wall_s'] / 60:.0f} min" if manifest.get("wall_s") else "unknown"
    # the commit the runs trained at (their own env), which may predate the manifest's
    trained = sorted({(r.get("env") or {}).get("commit") or "unknown" for p in manifest["per_seed"]
                      for r in p["runs"].values()})  # fmt: skip
    return (
        f"Generated from `{manifest['recipe']}` manifest of {manifest['created_at']}: runs at commit "
        f"{', '.join(c[:12] for c in trained) or 'unknown'}, {env['cpu']}, {env['threads']} threads, torch "
        f"{env['versions']['torch']}, transformers {env['versions']['transformers']}; wall time {wall} for "
        f"{len(manifest['seeds'])} seed(s). Percentages are points; ± after a mean is the sd across seeds."
    )


def comparisons_table(manifest: dict) -> str:
    """Many models: one row per (comparison, metric)."""
    seeds = manifest["seeds"]
    n = manifest["summary"][next(iter(manifest["summary"]))]["n"]
    lines = [
        f"| step ({n:,} held-out problems) | metric | before | after | delta, mean ± sd over {len(seeds)} "
        f"seed(s) | per seed: delta ± 95% CI | holds for every seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for before, after in manifest["comparisons"]:
        for ev, metric, _ in METRICS:
            key = result_key(before, after, ev, metric)
            s = manifest["summary"][key]
            lines.append(
                f"| {before} → {after} | {GENERIC_LABELS[(ev, metric)]} | {_pct(s['before']['mean'])} "
                f"| {_pct(s['after']['mean'])} | {100 * s['delta']['mean']:+.1f} ± {100 * s['delta']['sd']:.1f} "
                f"| {_per_seed(manifest, key)} | {_VERDICT[s['claim']]} |"
            )
    return "\n".join([*lines, "", _footer(manifest)])


def table(manifest: dict) -> str:
    """The README's table: mean ± sd across seeds, each seed's paired delta, the claim."""
    if [tuple(c) for c in manifest.get("comparisons", DEFAULT_COMPARISONS)] != list(DEFAULT_COMPARISONS):
        return comparisons_table(manifest)
    seeds = manifest["seeds"]
    lines = [
        f"| held-out metric ({manifest['summary'][next(iter(manifest['summary']))]['n']:,} problems) "
        f"| after SFT | after GRPO | delta, mean ± sd over {len(seeds)} seed(s) "
        f"| per seed: delta ± 95% CI | holds for every seed |",
        "|---|---|---|---|---|---|",
    ]
    for ev, metric, label in METRICS:
        key = f"{ev} {metric}"
        s = manifest["summary"][key]
        per = _per_seed(manifest, key)
        verdict = _VERDICT[s["claim"]]
        lines.append(
            f"| {label} | {_pct(s['before']['mean'])} ± {100 * s['before']['sd']:.1f} "
            f"| {_pct(s['after']['mean'])} ± {100 * s['after']['sd']:.1f} "
            f"| {100 * s['delta']['mean']:+.1f} ± {100 * s['delta']['sd']:.1f} | {per} | {verdict} |"
        )
    lines.append("")
    lines.append(_footer(manifest))
    return "\n".join(lines)


def update_readme(readme, manifest: dict) -> None:
    """Replace the text between `<!-- recipe:NAME:start -->` and `<!-- recipe:NAME:end -->`."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    start, end = f"<!-- recipe:{manifest['recipe']}:start -->", f"<!-- recipe:{manifest['recipe']}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise RecipeError(f"{readme}: no {start} ... {end} markers")
    readme.write_text(pattern.sub(lambda _: f"{start}\n{table(manifest)}\n{end}", text), encoding="utf-8")
