"""Problem sources: presets, field mappings, every file kind, and bad rows."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.sources import SourceError, load_problems
from datagen.store import Store
from verifiers.answers import last_boxed


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
    with pytest.raises(SourceError, match=f"{latin} line 1: not UTF-8: byte 0xe9"):
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


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    # Excel and Notepad write one; it is not part of the first field's name
    bom = b"\xef\xbb\xbf"
    (tmp_path / "b.jsonl").write_bytes(bom + b'{"question": "q?", "answer": "w\\n#### 4"}\n')
    (tmp_path / "b.csv").write_bytes(bom + b'question,answer\nq?,"w\n#### 4"\n')
    (tmp_path / "b.json").write_bytes(bom + b'[{"question": "q?", "answer": "#### 4"}]')
    for name in ("b.jsonl", "b.csv", "b.json"):
        (problem,), rejects = load_problems(str(tmp_path / name), preset="gsm8k")
        assert problem.prompt == "q?" and problem.answer == "4" and not rejects, name
    assert problem.meta["location"] == "item 1"


def test_bad_bytes_name_the_line_and_are_skippable(tmp_path):
    jsonl = tmp_path / "l.jsonl"
    jsonl.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n{"prompt": "fine"}\n')
    with pytest.raises(SourceError) as info:
        load_problems(str(jsonl))
    assert str(info.value) == f"{jsonl} line 2: not UTF-8: byte 0xe9 at column 16"
    problems, (reject,) = load_problems(str(jsonl), skip_invalid=True)
    assert [p.prompt for p in problems] == ["ok", "fine"]
    assert (reject.location, reject.field, reject.raw) == ("line 2", None, '{"prompt": "caf\\xe9"}')
    # in CSV the line is the physical one, after a cell that spans two lines
    csv_file = tmp_path / "l.csv"
    csv_file.write_bytes(b'prompt,answer\n"two\nlines",1\ncaf\xe9,2\nfine,3\n')
    with pytest.raises(SourceError, match=f"^{csv_file} line 4: not UTF-8: byte 0xe9 at column 4$"):
        load_problems(str(csv_file), fields={"answer": "answer"})
    problems, (reject,) = load_problems(str(csv_file), fields={"answer": "answer"}, skip_invalid=True)
    assert [p.answer for p in problems] == ["1", "3"] and reject.location == "line 4"
    # a whole-file JSON array cannot skip one line, but still says which
    array = tmp_path / "a.json"
    array.write_bytes(b'[\n{"prompt": "ok"},\n{"prompt": "caf\xe9"}\n]')
    with pytest.raises(SourceError, match=f"^{array} line 3: not UTF-8: byte 0xe9 at column 16$"):
        load_problems(str(array), skip_invalid=True)
    header = tmp_path / "h.csv"
    header.write_bytes(b"pr\xf6mpt\nx\n")
    with pytest.raises(SourceError, match=f"^{header} line 1: not UTF-8"):
        load_problems(str(header), skip_invalid=True)


def test_a_field_naming_an_absent_column_is_an_error(tmp_path):
    # a typo in --field answer=... would otherwise give a job whose answers are all NULL
    (tmp_path / "p.csv").write_text("q,a\nfirst,1\n")
    (tmp_path / "p.jsonl").write_text(json.dumps({"q": "x", "a": "1"}) + "\n" + json.dumps({"q": "y"}) + "\n")
    for name in ("p.csv", "p.jsonl"):
        path = tmp_path / name
        with pytest.raises(SourceError) as info:
            load_problems(str(path), fields={"prompt": "q", "answer": "ans"})
        assert str(info.value) == f"{path}: --field answer=ans: no column 'ans' (columns: a, q)"
        # a column that only some rows have is fine: those rows have no answer
        problems, _ = load_problems(str(path), fields={"prompt": "q", "answer": "a"})
        assert problems[0].answer == "1"
    with pytest.raises(SourceError, match="--field prompt=qq: no column 'qq'"):
        load_problems(str(tmp_path / "p.csv"), fields={"prompt": "qq"}, skip_invalid=True)
    with pytest.raises(SourceError, match="--field question=qq: no column 'qq'"):
        load_problems(str(tmp_path / "p.csv"), preset="gsm8k", fields={"question": "qq"}, skip_invalid=True)
