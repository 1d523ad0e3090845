"""How a job turns `--tasks/--count/--difficulty` into problems."""

from __future__ import annotations

from collections import Counter

import pytest

from datagen.jobs import JobError, split_evenly, task_problems
from datagen.tasks import TASKS


def test_count_splits_evenly_over_named_groups_then_tasks():
    problems = task_problems("math,code,logic", 300, (1, 5), 0)
    assert len(problems) == 300 == len({p.problem_id for p in problems})
    assert Counter(p.domain for p in problems) == {"math": 100, "code": 100, "logic": 100}
    code_tasks = Counter(p.task for p in problems if p.domain == "code")
    assert sorted(code_tasks.values()) == sorted(split_evenly(100, len(code_tasks)))
    two = task_problems("arithmetic,sudoku4", 10, (1, 5), 0)
    assert Counter(p.task for p in two) == {"arithmetic": 5, "sudoku4": 5}


def test_difficulties_cycle_within_each_task_and_stay_in_range():
    problems = task_problems("logic", 60, (2, 4), 3)
    for task in {p.task for p in problems}:
        levels = Counter(p.difficulty for p in problems if p.task == task)
        assert set(levels) == {2, 3, 4} and max(levels.values()) - min(levels.values()) <= 1


def test_problems_are_reproducible_and_seeded():
    first = [p.problem_id for p in task_problems("all", 50, (1, 5), 1)]
    assert first == [p.problem_id for p in task_problems("all", 50, (1, 5), 1)]
    assert first != [p.problem_id for p in task_problems("all", 50, (1, 5), 2)]
    assert {p.task for p in task_problems("all", 50, (1, 5), 1)} == set(TASKS)


def test_asking_for_more_distinct_problems_than_a_task_has(monkeypatch):
    import datagen.jobs as jobs

    real = jobs.make_problem
    monkeypatch.setattr(
        jobs, "make_problem", lambda name, seed, index, level: real(name, seed, index % 3, level)
    )
    with pytest.raises(JobError, match="yields only"):
        task_problems("arithmetic", 50, (1, 1), 0)


def _covered(workspace) -> dict[str, set[str]]:
    from datagen.store import Store

    with Store.open(workspace, read_only=True) as store:
        pairs = store.con.execute("SELECT job, completion_id FROM job_completions").fetchall()
    out: dict[str, set[str]] = {}
    for job, cid in pairs:
        out.setdefault(job, set()).add(cid)
    return out


def test_every_job_lists_the_completions_it_covers_reused_or_new(tmp_path):
    """Completion ids name the request, not the job: a second job over the same requests
    reuses what the first stored. `completions.job` names the first job only;
    `job_completions` lists every completion of each job."""
    from datagen.config import GenerateConfig
    from datagen.jobs import run_generate
    from datagen.store import Store

    ws = str(tmp_path / "w")
    first = run_generate(GenerateConfig(workspace=ws, job="first", tasks="math,logic", count=6, samples=1))
    assert (first.stored, first.already_stored) == (6, 0)
    second = run_generate(GenerateConfig(workspace=ws, job="second", tasks="math,logic", count=6, samples=2))
    assert (second.stored, second.already_stored) == (6, 6)  # the first sample of each problem is reused
    with Store.open(ws, read_only=True) as store:
        stored_by = dict(store.con.execute("SELECT completion_id, job FROM completions").fetchall())
    covered = _covered(ws)
    assert len(covered["first"]) == 6 and len(covered["second"]) == 12
    assert covered["first"] < covered["second"]
    assert {stored_by[c] for c in covered["first"]} == {"first"}
    assert {stored_by[c] for c in covered["second"] - covered["first"]} == {"second"}
    run_generate(GenerateConfig(workspace=ws, job="first", tasks="math,logic", count=6, samples=1))
    assert _covered(ws) == covered  # a re-run adds nothing twice


def test_a_job_selects_the_completions_it_reused(tmp_path):
    """verify --job, curate --job, voting and a mix spec's jobs/exclude_jobs select a job's
    completions through job_completions: a job that reused another's stored replies has them."""
    from cotmill.api import Workspace
    from datagen.config import GenerateConfig
    from datagen.jobs import run_generate
    from datagen.store import Store
    from mixtures.build import load_pool

    ws = str(tmp_path / "w")
    run_generate(GenerateConfig(workspace=ws, job="first", tasks="math,logic", count=6, samples=1))
    run_generate(GenerateConfig(workspace=ws, job="second", tasks="math,logic", count=6, samples=2))
    assert Workspace(ws).verify(job="second").judged == 12  # 6 of them stored by "first"
    assert Workspace(ws).verify(job="first").judged == 0  # all judged already
    assert Workspace(ws).curate(job="second").completions == 12
    with Store.open(ws, read_only=True) as store:
        domains = ["math", "logic"]
        problems = {r[0] for r in store.con.execute("SELECT problem_id FROM problems").fetchall()}
        for job in ("first", "second"):  # the kept completion of each problem is one both jobs cover
            assert {i.problem_id for i in load_pool(store, domains, jobs=[job])} == problems
        # every problem of "first" is a problem of "second": excluding either leaves nothing
        assert load_pool(store, domains, exclude_jobs=["second"]) == []
        assert load_pool(store, domains, exclude_jobs=["first"]) == []
