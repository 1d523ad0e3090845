"""Building mixtures from a real generated-and-verified workspace, and exporting them.

One workspace serves the whole module (generation and verification take ~15 s);
each test builds mixtures of its own name in it."""

from __future__ import annotations

import json
from collections import Counter

import datasets
import pytest
from click.testing import CliRunner

from cotmill.cli import main
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.store import Store
from datagen.verify_runner import run_verify
from mixtures.build import build_mixture, plan_mixture
from mixtures.difficulty import update_difficulty
from mixtures.export import ExportError, export_mixture, export_rows, split_reasoning
from mixtures.planner import ShortfallError
from mixtures.spec import MixSpec, SpecError
from tests.conftest import query

SPEC = {"name": "demo-mix", "total": 600, "ratios": {"math": 0.5, "code": 0.3, "logic": 0.2},
        "max_per_problem": 1, "max_upsample": 1.0, "split": {"val": 0.1}, "seed": 7}  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    w = tmp_path_factory.mktemp("mix") / "ws"
    run_generate(
        GenerateConfig(workspace=str(w), tasks="math,code,logic", count=1200, samples=2, error_rate=0.2)
    )
    run_verify(str(w), workers=1)
    return w


def _build(workspace, **overrides):
    spec = MixSpec(**{**SPEC, **overrides})
    with Store.open(workspace) as store:
        return build_mixture(store, spec)


def _write_spec(tmp_path, **overrides):
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, **overrides}))
    return path


def test_acceptance_sft_parquet_600_rows(workspace, tmp_path):
    result = CliRunner().invoke(main, ["mix", "build", str(_write_spec(tmp_path)), "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "sft"
    args = ["export", "--mixture", "demo-mix", "--format", "sft", "--out", str(out), "--as", "parquet"]
    result = CliRunner().invoke(main, [*args, "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    files = {"train": str(out / "train.parquet"), "val": str(out / "val.parquet")}
    ds = datasets.load_dataset("parquet", data_files=files)
    rows = [*ds["train"], *ds["val"]]
    assert len(rows) == 600 and len(ds["val"]) == 60
    assert Counter(r["domain"] for r in rows) == {"math": 300, "code": 180, "logic": 120}
    assert len({r["problem_id"] for r in rows}) == 600  # one per problem
    assert not {r["problem_id"] for r in ds["train"]} & {r["problem_id"] for r in ds["val"]}
    passing = {r[0] for r in query(workspace, "SELECT completion_id FROM curated")}
    assert all(r["completion_id"] in passing for r in rows)
    texts = dict(query(workspace, "SELECT completion_id, text FROM completions"))
    for r in rows[:50]:
        roles = [m["role"] for m in r["messages"]]
        assert roles == ["user", "assistant"]
        assert r["messages"][1]["content"] == texts[r["completion_id"]]
        assert "Think step by step" in r["messages"][0]["content"]
    stored = query(workspace, "SELECT total, plan FROM mixtures WHERE name = 'demo-mix'")[0]
    assert stored[0] == 600
    assert json.loads(stored[1])["domains"]["math"]["chosen_tokens"] > 0


def test_hf_and_jsonl_writers(workspace, tmp_path):
    _build(workspace, name="hf-mix", total=60)
    export_mixture(workspace, "hf-mix", "sft", tmp_path / "hf", "hf", think_tags=True)
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert len(loaded["train"]) + len(loaded["val"]) == 60
    content = loaded["train"][0]["messages"][-1]["content"]
    assert content.startswith("<think>\n") and "\n</think>\n\n" in content
    with Store.open(workspace) as store:
        update_difficulty(store)  # rl rows come from the measured pass rates
    counts, paths = export_mixture(workspace, "hf-mix", "rl", tmp_path / "jl", "jsonl", pass_rates=(0.0, 1.0))
    lines = [json.loads(x) for x in paths["train"].read_text().splitlines()]
    assert len(lines) == counts["train"] and sum(counts.values()) == 60
    assert {"prompt", "reference", "verifier", "problem_id", "domain", "task", "difficulty"} <= set(lines[0])


def test_same_seed_same_items_other_seed_other_items(workspace):
    spec = MixSpec(**{**SPEC, "total": 60})
    with Store.open(workspace, read_only=True) as store:
        first = [(i.completion_id, i.split, i.position) for i in plan_mixture(store, spec)[1]]
        again = [(i.completion_id, i.split, i.position) for i in plan_mixture(store, spec)[1]]
        other = [
            (i.completion_id, i.split, i.position)
            for i in plan_mixture(store, spec.model_copy(update={"seed": 8}))[1]
        ]
    assert first == again
    assert {c for c, *_ in first} != {c for c, *_ in other}


def test_within_domain_difficulty_weights(workspace):
    within = {"math": {"by": "difficulty", "weights": {1: 0.2, 3: 0.3, 5: 0.5}}}
    _plan, items, _ = _build(workspace, name="hard-math", total=100, ratios={"math": 1.0}, within=within)
    levels = dict(query(workspace, "SELECT problem_id, difficulty FROM problems"))
    assert Counter(levels[i.problem_id] for i in items) == {1: 20, 3: 30, 5: 50}
    rows = query(
        workspace, "SELECT bucket, count(*) FROM mixture_items WHERE mixture = 'hard-math' GROUP BY 1"
    )
    assert dict(rows) == {"math/difficulty=1": 20, "math/difficulty=3": 30, "math/difficulty=5": 50}


def test_shortfall_error_names_the_bucket(workspace, tmp_path):
    spec = _write_spec(tmp_path, name="too-big", total=5000)
    result = CliRunner().invoke(main, ["mix", "build", str(spec), "-w", str(workspace)])
    assert result.exit_code == 1
    assert "bucket math:" in result.output and "2,500 needed" in result.output
    assert "available" in result.output
    assert not query(workspace, "SELECT * FROM mixtures WHERE name = 'too-big'")


def test_plan_prints_without_writing(workspace, tmp_path):
    spec = _write_spec(tmp_path, name="only-planned", total=60)
    result = CliRunner().invoke(main, ["mix", "plan", str(spec), "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "math" in result.output and "30" in result.output and "nothing written" in result.output
    assert not query(workspace, "SELECT * FROM mixtures WHERE name = 'only-planned'")


def test_upsampling_repeats_items_up_to_the_cap(workspace):
    with Store.open(workspace, read_only=True) as store:
        spec = MixSpec(**{**SPEC, "name": "up", "total": 700, "ratios": {"math": 1.0}, "max_upsample": 2.0})
        _plan, items = plan_mixture(store, spec)
        assert len(items) == 700 and max(i.repeat for i in items) == 1
        by_problem: dict[str, set] = {}
        for i in items:
            by_problem.setdefault(i.problem_id, set()).add(i.split)
        assert all(len(s) == 1 for s in by_problem.values())  # repeats stay in their problem's split
        with pytest.raises(ShortfallError, match="bucket math"):
            plan_mixture(store, spec.model_copy(update={"max_upsample": 1.0}))


def test_token_budget(workspace):
    spec = MixSpec(**{**{k: v for k, v in SPEC.items() if k != "total"}, "name": "tok", "tokens": 60_000})
    with Store.open(workspace, read_only=True) as store:
        plan, items = plan_mixture(store, spec)
    domains = plan.domains()
    assert sum(d["target"] for d in domains.values()) == 60_000
    for name, share in SPEC["ratios"].items():
        assert domains[name]["target"] == 60_000 * share
        # within a few tokens: items too long for what is left are passed over, not the end
        assert 0.98 * domains[name]["target"] < domains[name]["chosen_tokens"] <= domains[name]["target"]


def test_dpo_pairs_come_from_one_problem(workspace):
    _build(workspace, name="dpo-mix", total=60)
    with Store.open(workspace, read_only=True) as store:
        rows = export_rows(store, "dpo-mix", "dpo")
    assert rows
    passed = dict(query(workspace, "SELECT completion_id, passed FROM verdicts"))
    problem_of = dict(query(workspace, "SELECT completion_id, problem_id FROM completions"))
    for r in rows:
        assert passed[r["chosen_id"]] and not passed[r["rejected_id"]]
        assert problem_of[r["chosen_id"]] == problem_of[r["rejected_id"]] == r["problem_id"]
        assert (
            r["chosen"][0]["role"] == "assistant" and r["chosen"][0]["content"] != r["rejected"][0]["content"]
        )


def test_prm_labels_follow_the_step_checker(workspace):
    _build(workspace, name="prm-mix", total=200)
    with Store.open(workspace, read_only=True) as store:
        rows = export_rows(store, "prm-mix", "prm")
    steps = {
        cid: json.loads(s)
        for cid, s in query(workspace, "SELECT completion_id, steps FROM verdicts WHERE steps IS NOT NULL")
    }
    assert rows and any(not all(r["labels"]) for r in rows)  # failing completions bring wrong steps
    for r in rows:
        expected = steps[r["completion_id"]]
        assert r["completions"] == [s["text"] for s in expected]
        assert r["labels"] == [s["label"] != "wrong" for s in expected]
        assert isinstance(r["prompt"], str) and r["domain"] == "math"


def test_rl_is_one_row_per_problem_from_the_rl_pool(workspace):
    _build(workspace, name="rl-mix", total=90, max_per_problem=2)
    with Store.open(workspace) as store:
        update_difficulty(store)  # measured pass rates; no curation marks, so `curated` is unchanged
    with Store.open(workspace, read_only=True) as store:
        everything = export_rows(store, "rl-mix", "rl", pass_rates=(0.0, 1.0))
        default = export_rows(store, "rl-mix", "rl")
    problems = {
        r[0] for r in query(workspace, "SELECT problem_id FROM mixture_items WHERE mixture = 'rl-mix'")
    }
    assert len(everything) == len(problems) and {r["problem_id"] for r in everything} == problems
    # by default only groups with mixed outcomes, the ones that give GRPO a signal
    assert default and len(default) < len(everything)
    assert all(0 < r["pass_rate"] < 1 for r in default)


def test_unknown_mixture_is_a_clear_error(workspace, tmp_path):
    args = ["export", "--mixture", "nope", "--out", str(tmp_path / "x"), "-w", str(workspace)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "no mixture named 'nope'" in result.output


def test_unknown_format_is_a_clear_error(workspace):
    # the API's check, which the CLI's --format choices and the pipeline's export.format share
    with (
        Store.open(workspace, read_only=True) as store,
        pytest.raises(ExportError, match="unknown export format 'x'; use one of sft, rl, prm, dpo"),
    ):
        export_rows(store, "nope", "x")


def test_split_reasoning_keeps_the_final_code_block_as_answer():
    text = "Step 1: plan.\n\nHere it is:\n\n```python\ndef f():\n\n    return 1\n```"
    think, answer = split_reasoning(text, None)
    assert answer == "```python\ndef f():\n\n    return 1\n```" and think.endswith("Here it is:")
    assert split_reasoning("a\n\nThe answer is 3.", None) == ("a", "The answer is 3.")
    assert split_reasoning("x", "why") == ("why", "x")


def test_within_domain_task_weights(workspace):
    within = {"code": {"by": "task", "weights": {"assert_tests": 0.25, "function_synthesis": 0.75}}}
    with Store.open(workspace, read_only=True) as store:
        spec = MixSpec(**{**SPEC, "name": "by-task", "total": 40, "ratios": {"code": 1.0}, "within": within})
        _plan, items = plan_mixture(store, spec)
    tasks = dict(query(workspace, "SELECT problem_id, task FROM problems"))
    assert Counter(tasks[i.problem_id] for i in items) == {"assert_tests": 10, "function_synthesis": 30}


def test_plan_of_a_short_pool_shows_the_table_then_the_error(workspace, tmp_path):
    spec = _write_spec(tmp_path, name="short-plan", total=5000)
    result = CliRunner().invoke(main, ["mix", "plan", str(spec), "-w", str(workspace)])
    assert result.exit_code == 1
    assert "2,500" in result.output.split("error:")[0]  # the table, with math's need
    assert "bucket math: 391 available, 2,500 needed" in result.output


def test_prompt_is_rendered_as_the_job_sent_it(tmp_path):
    w, template = tmp_path / "ws", tmp_path / "t.txt"
    template.write_text("Q: {problem}\n{answer_format}")
    cfg = GenerateConfig(
        workspace=str(w), tasks="arithmetic", count=6, system="Be brief.", template=str(template)
    )
    run_generate(cfg)
    run_verify(str(w), workers=1)
    spec = {**SPEC, "name": "sys", "total": 3, "ratios": {"math": 1.0}, "split": {"val": 0.0}}
    with Store.open(w) as store:
        build_mixture(store, MixSpec(**spec))
    with Store.open(w, read_only=True) as store:
        rows = export_rows(store, "sys", "sft")
        prompts = dict(store.con.execute("SELECT problem_id, prompt FROM problems").fetchall())
    assert len(rows) == 3 and {r["split"] for r in rows} == {"train"}
    system, user, _ = rows[0]["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert (
        user["content"] == f"Q: {prompts[rows[0]['problem_id']]}\nPut your final answer within \\boxed{{}}."
    )
    template.write_text("Changed: {problem}")
    with Store.open(w, read_only=True) as store, pytest.raises(ExportError, match="changed since generation"):
        export_rows(store, "sys", "sft")


def test_exclude_leaves_out_every_problem_of_another_mixture(workspace, tmp_path):
    # an RL pool disjoint from the SFT mixture, val split included
    _build(workspace, name="sft-part", total=150, ratios={"math": 1.0})
    _plan, pool, _ = _build(workspace, name="rl-part", total=150, ratios={"math": 1.0}, exclude=["sft-part"])
    sft_problems = {
        r[0] for r in query(workspace, "SELECT problem_id FROM mixture_items WHERE mixture = 'sft-part'")
    }
    assert len(pool) == 150 and not sft_problems & {i.problem_id for i in pool}
    without = plan_mixture_items(workspace, name="rl-part", total=150, ratios={"math": 1.0})
    assert sft_problems & {i.problem_id for i in without}  # the same spec without exclude overlaps

    spec = _write_spec(tmp_path, name="rl-part", total=30, exclude=["no-such-mix"])
    result = CliRunner().invoke(main, ["mix", "plan", str(spec), "-w", str(workspace)])
    assert result.exit_code == 1 and "no-such-mix" in result.output and "not built" in result.output
    spec = _write_spec(tmp_path, name="rl-part", total=30, exclude=["rl-part"])
    result = CliRunner().invoke(main, ["mix", "plan", str(spec), "-w", str(workspace)])
    assert result.exit_code == 1 and "exclude names the mixture itself" in result.output


def plan_mixture_items(workspace, **overrides):
    with Store.open(workspace, read_only=True) as store:
        return plan_mixture(store, MixSpec(**{**SPEC, **overrides}))[1]


def test_jobs_exclude_jobs_and_an_unverified_control(tmp_path):
    # STaR's mixtures (examples/smollm2_star.sh): one job's samples, verified or not, and a
    # held-out set that shares no problem with that job
    w = str(tmp_path / "w")
    run_generate(
        GenerateConfig(workspace=w, job="sample", tasks="arithmetic", count=60, samples=2, error_rate=0.5)
    )
    run_generate(GenerateConfig(workspace=w, job="other", tasks="arithmetic", count=120, seed=0))
    run_verify(w, workers=1)
    with Store.open(w) as store:
        verified = build_mixture(store, MixSpec(name="v", total=40, ratios={"math": 1.0}, jobs=["sample"],
                                                max_per_problem=2))[1]  # fmt: skip
        unverified = build_mixture(store, MixSpec(name="u", total=100, ratios={"math": 1.0}, jobs=["sample"],
                                                  max_per_problem=2, verified=False))[1]  # fmt: skip
        heldout = build_mixture(store, MixSpec(name="h", total=20, ratios={"math": 1.0}, jobs=["other"],
                                               exclude_jobs=["sample"]))[1]  # fmt: skip
        with pytest.raises(
            SpecError, match="jobs names job.s. with no completions: nope .jobs: other, sample."
        ):
            plan_mixture(store, MixSpec(name="x", total=1, ratios={"math": 1.0}, jobs=["nope"]))
    passed = dict(
        query(w, "select c.completion_id, v.passed from completions c join verdicts v using (completion_id)")
    )
    job = dict(query(w, "select completion_id, job from completions"))
    assert {job[i.completion_id] for i in verified + unverified} == {"sample"}
    assert all(passed[i.completion_id] for i in verified)
    # the control takes every sample of the job (all 100 here), failing ones included
    assert len(unverified) == 100 and 0 < sum(not passed[i.completion_id] for i in unverified) < 100
    sampled = {p for (p,) in query(w, "select problem_id from completions where job = 'sample'")}
    assert len(heldout) == 20 and not {i.problem_id for i in heldout} & sampled
    # an unverified mixture exports (its failing rows are what it is for), an sft row each
    counts, _ = export_mixture(w, "u", "sft", tmp_path / "u", "jsonl")
    assert counts == {"train": 100}


def test_mix_help_describes_every_spec_key():
    for command in ("plan", "build"):
        shown = CliRunner().invoke(main, ["mix", command, "--help"]).output
        keys = {
            line.split(":")[0].strip()
            for line in shown.splitlines()
            if line.startswith("    ") and ":" in line
        }
        assert set(MixSpec.model_fields) <= keys | {"tokens"} and "tokens: N" in shown, shown
