"""Problem sources: presets, field mappings, every file kind, and bad rows."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.sources import SourceError, last_boxed, load_problems
from datagen.store import Store


def test_gsm8k_preset_reads_the_real_test_split(benchmark_file):
    problems, rejects = load_problems(str(benchmark_file("gsm8k_test.jsonl")), preset="gsm8k")
    assert len(problems) == 1319 and not rejects
    first = problems[0]
    assert first.answer == "18" and first.domain == "math" and first.verifier == "math"
    assert "<<16-3-4=9>>" in first.meta["solution"] and "####" not in first.meta["solution"]
    # answers with thousands separators are stored plain
    assert all("," not in p.answer for p in problems)


def test_humaneval_preset_stores_tests_in_the_code_contract(benchmark_file):
    problems, _ = load_problems(str(benchmark_file("humaneval.jsonl")), preset="humaneval", limit=5)
    assert len(problems) == 5
    tests = json.loads(problems[0].answer)
    assert tests["format"] == "humaneval" and tests["entry_point"] == "has_close_elements"
    assert "def check(candidate)" in tests["test"]
    assert problems[0].meta["reference_code"].startswith(problems[0].prompt)
    assert problems[0].domain == "code" and problems[0].verifier == "code"


def test_math_preset_takes_the_last_boxed_answer(tmp_path):
    path = tmp_path / "math.jsonl"
    rows = [
        {
            "problem": "Find x.",
            "solution": "So $\\boxed{2}$ then $\\boxed{\\frac{1}{2}}$.",
            "level": "Level 4",
        }
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    (problem,), _ = load_problems(str(path), preset="math")
    assert problem.answer == "\\frac{1}{2}" and problem.difficulty == 4
    assert last_boxed("\\boxed{\\{1, 2\\} \\cup {3}}") == "\\{1, 2\\} \\cup {3}"
    assert last_boxed("no box") is None


def test_field_mapping_over_csv_parquet_and_datasets(tmp_path):
    records = [{"q": f"What is {i} + {i}?", "a": str(2 * i), "lvl": 1 + i % 5} for i in range(20)]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "p.parquet")
    import csv

    with open(tmp_path / "p.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["q", "a", "lvl"])
        writer.writeheader()
        writer.writerows(records)
    import datasets

    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "hf"))
    fields = {"prompt": "q", "answer": "a"}
    for spec in ("p.parquet", "p.csv", "hf"):
        problems, rejects = load_problems(str(tmp_path / spec), fields=fields, limit=10)
        assert [p.answer for p in problems] == [str(2 * i) for i in range(10)], spec
        assert not rejects
    with_level, _ = load_problems(str(tmp_path / "p.parquet"), fields={**fields, "difficulty": "lvl"})
    assert [p.difficulty for p in with_level[:3]] == [1, 2, 3]


def test_a_bad_row_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"question": "fine?", "answer": "yes\n#### 1"})
        + "\n"
        + json.dumps({"question": "no final answer", "answer": "forgot"})
        + "\n"
        + "{not json\n"
        + json.dumps({"answer": "#### 3"})
        + "\n"
    )
    with pytest.raises(SourceError) as info:
        load_problems(str(path), preset="gsm8k")
    assert str(info.value) == f"{path} line 2: field 'answer': no final answer after '####'"
    problems, rejects = load_problems(str(path), preset="gsm8k", skip_invalid=True)
    assert len(problems) == 1
    assert [(r.location, r.field) for r in rejects] == [
        ("line 2", "answer"),
        ("line 3", None),
        ("line 4", "question"),
    ]
    assert "invalid JSON" in rejects[1].reason and rejects[2].reason == "missing"


def test_csv_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("prompt,answer\nok,1\n,2\n")
    with pytest.raises(SourceError, match=f"{path} line 3: field 'prompt': empty"):
        load_problems(str(path), fields={"answer": "answer"})


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        load_problems(str(tmp_path / "nope.jsonl"))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(SourceError, match="unknown file type"):
        load_problems(str(tmp_path / "x.txt"))


def test_skip_invalid_rows_land_in_rejects(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"question": "q?", "answer": "w\n#### 4"}) + "\n" + json.dumps({"question": 5}) + "\n"
    )
    cfg = GenerateConfig(
        workspace=str(tmp_path / "w"), job="r", source=str(path), preset="gsm8k", skip_invalid=True
    )
    stats = run_generate(cfg)
    assert stats.stored == 1
    with Store.open(tmp_path / "w", read_only=True) as store:
        got = store.con.execute("select source, location, field, reason, job from rejects").fetchall()
    assert got == [(str(path), "line 2", "question", "expected text, got int", "r")]


def test_builtin_teacher_writes_gsm8k_reference_solutions(benchmark_file, tmp_path):
    cfg = GenerateConfig(
        workspace=str(tmp_path),
        job="g",
        source=str(benchmark_file("gsm8k_test.jsonl")),
        preset="gsm8k",
        limit=20,
    )
    assert run_generate(cfg).stored == 20
    with Store.open(tmp_path, read_only=True) as store:
        rows = store.con.execute(
            "select c.text, p.answer from completions c join problems p using (problem_id)"
        ).fetchall()
    assert all(text.endswith(f"\\boxed{{{answer}}}.") for text, answer in rows)


def test_unreadable_sources_name_the_file(tmp_path):
    not_a_dataset = tmp_path / "somedir"
    not_a_dataset.mkdir()
    with pytest.raises(SourceError, match="not a dataset saved with"):
        load_problems(str(not_a_dataset))
    # a relative path that does not exist is not mistaken for a hub name
    with pytest.raises(SourceError, match="data/typo.jsonl: no such file"):
        load_problems("data/typo.jsonl")
    corrupt = tmp_path / "c.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SourceError, match=f"{corrupt}: cannot read"):
        load_problems(str(corrupt))
    latin = tmp_path / "l.jsonl"
    latin.write_bytes('{"prompt": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(SourceError, match=f"{latin}: cannot read: UnicodeDecodeError"):
        load_problems(str(latin))
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(SourceError, match="holds no problems"):
        load_problems(str(empty))


def test_field_names_are_checked(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"q": "x", "a": "1"}) + "\n")
    with pytest.raises(SourceError, match="unknown field name.*'anwser'"):
        load_problems(str(path), fields={"prompt": "q", "anwser": "a"})
    with pytest.raises(SourceError, match="for the gsm8k preset"):
        load_problems(str(path), preset="gsm8k", fields={"prompt": "q"})


def test_csv_difficulty_numeric_answers_and_json_arrays(tmp_path):
    (tmp_path / "d.csv").write_text("q,a,lvl\nfirst,1,3\nsecond,2,\n")
    problems, _ = load_problems(
        str(tmp_path / "d.csv"), fields={"prompt": "q", "answer": "a", "difficulty": "lvl"}
    )
    assert [p.difficulty for p in problems] == [3, None]
    (tmp_path / "bad.csv").write_text("q,a,lvl\nfirst,1,9\n")
    with pytest.raises(SourceError, match="line 2: field 'lvl': difficulty must be an integer 1-5"):
        load_problems(str(tmp_path / "bad.csv"), fields={"prompt": "q", "difficulty": "lvl"})
    (tmp_path / "arr.json").write_text(json.dumps([{"q": "x", "a": 7}, {"q": "y", "a": 2.5}]))
    problems, _ = load_problems(str(tmp_path / "arr.json"), fields={"prompt": "q", "answer": "a"})
    assert [p.answer for p in problems] == ["7", "2.5"]


def test_rejected_lines_keep_their_raw_text(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"prompt": "fine"}\n{"prompt": broken\n')
    _, (reject,) = load_problems(str(path), skip_invalid=True)
    assert reject.raw == '{"prompt": broken' and reject.location == "line 2"
