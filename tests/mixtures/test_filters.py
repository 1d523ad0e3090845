"""Quality filters: each flags what it should and leaves normal CoT alone."""

from __future__ import annotations

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.store import Store
from mixtures.filters import FilterConfig, make_filters, repetition_ratio

LOOP = "Step 1: " + "Wait, let me reconsider the value of x in this equation. " * 20


def _reasons(row: dict, cfg: FilterConfig = FilterConfig()) -> set[str]:
    return {reason for reason, check in make_filters(cfg).items() if check(row) is not None}


def _row(text: str, domain: str = "math", **kw) -> dict:
    return {"text": text, "domain": domain, "finish_reason": "stop", "completion_tokens": 100, **kw}


def test_final_answers_by_domain():
    assert _reasons(_row("so the answer is \\boxed{7}.")) == set()
    assert _reasons(_row("#### 7")) == set()
    assert _reasons(_row("I think it is probably 7")) == {"no_answer"}  # no fallbacks
    assert _reasons(_row("```python\ndef f():\n    return 1\n```", "code")) == set()
    assert _reasons(_row("def f():\n    return 1", "code")) == {"no_answer"}
    assert _reasons(_row("```python\ndef f():\n", "code")) == {"no_answer"}  # cut off inside the block
    assert _reasons(_row("Answer: A is a knight", "logic")) == set()
    assert _reasons(_row("A is a knight, I believe", "logic")) == {"no_answer"}


def test_truncated_length_and_format():
    assert "truncated" in _reasons(_row("\\boxed{1}", finish_reason="length"))
    bounds = FilterConfig(min_tokens=50, max_tokens=150)
    assert _reasons(_row("\\boxed{1}", completion_tokens=40), bounds) == {"length"}
    assert _reasons(_row("\\boxed{1}", completion_tokens=151), bounds) == {"length"}
    assert _reasons(_row("\\boxed{1}", completion_tokens=None), bounds) == set()
    think = FilterConfig(require_think=True)
    assert _reasons(_row("<think>2+2=4</think> \\boxed{4}"), think) == set()
    assert _reasons(_row("<think></think> \\boxed{4}"), think) == {"format"}
    assert _reasons(_row("\\boxed{4}"), think) == {"format"}


def test_repetition_flags_a_loop():
    assert repetition_ratio(LOOP) > 0.9
    assert _reasons(_row(LOOP + " \\boxed{1}")) == {"repetition"}
    assert _reasons(_row(LOOP + " \\boxed{1}"), FilterConfig(max_repetition=0.99)) == set()


def test_no_filter_flags_the_builtin_teachers_correct_solutions(tmp_path):
    """Every task at every difficulty, no planted slips: nothing may be flagged."""
    cfg = GenerateConfig(workspace=str(tmp_path / "w"), tasks="math,code,logic", count=450, error_rate=0.0)
    run_generate(cfg)
    with Store.open(cfg.workspace, read_only=True) as store:
        cursor = store.con.execute(
            "SELECT c.text, c.finish_reason, c.completion_tokens, p.domain, p.task "
            "FROM completions c JOIN problems p USING (problem_id)"
        )
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, r)) for r in cursor.fetchall()]
    assert len(rows) == 450
    flagged = [(r["task"], _reasons(r)) for r in rows if _reasons(r)]
    assert flagged == []
    assert max(repetition_ratio(r["text"]) for r in rows) < 0.5
