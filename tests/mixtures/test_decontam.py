"""Decontamination against the real GSM8K test and HumanEval files in ../shared."""

from __future__ import annotations

import json

import pytest

from datagen.jobs import task_problems
from datagen.sources import SourceError, load_problems
from mixtures.decontam import build_index, contaminated


@pytest.fixture
def bench(benchmark_file):
    # the shared fixture, as text paths (what a user passes to --decontaminate)
    return lambda name: str(benchmark_file(name))


def _question(path: str, line: int) -> str:
    with open(path) as f:
        return json.loads(f.readlines()[line - 1])["question"]


def test_gsm8k_questions_are_caught_and_task_problems_are_not(bench):
    gsm8k = bench("gsm8k_test.jsonl")
    loaded, _ = load_problems(gsm8k, preset="gsm8k", limit=30)
    tasks = task_problems("math,code,logic", 300, (1, 5), 0)
    hits = dict(contaminated([(p.problem_id, p.prompt) for p in loaded + tasks], [gsm8k]))
    assert set(hits) == {p.problem_id for p in loaded}
    assert hits[loaded[0].problem_id] == "gsm8k_test.jsonl line 1"


def test_one_shared_8_gram_is_enough_and_7_words_are_not(bench):
    gsm8k = bench("gsm8k_test.jsonl")
    words = _question(gsm8k, 1).split()  # Janet's ducks lay 16 eggs per day. She eats three ...
    eight, seven = " ".join(words[4:12]), " ".join(words[4:11])
    frame = "Quentin the zookeeper wondered aloud: {} Then he fed the quokkas."
    problems = [("eight", frame.format(eight)), ("seven", frame.format(seven))]
    assert dict(contaminated(problems, [gsm8k])) == {"eight": "gsm8k_test.jsonl line 1"}
    assert dict(contaminated(problems, [gsm8k], n=7)).keys() == {"eight", "seven"}


def test_a_short_problem_inside_a_benchmark_item_is_caught(bench):
    gsm8k = bench("gsm8k_test.jsonl")
    index = build_index([gsm8k])
    assert index.match("bolts in total does it take".split()) == "gsm8k_test.jsonl line 2"
    assert index.match("bolts in total does it break".split()) is None
    assert index.match("total does it".split()) is not None  # a whole-word run, not a substring
    assert index.match("otal does it".split()) is None


def test_humaneval_prompts_are_caught_and_generated_code_tasks_are_not(bench):
    humaneval = bench("humaneval.jsonl")
    loaded, _ = load_problems(humaneval, preset="humaneval", limit=20)
    tasks = task_problems("code", 200, (1, 5), 0)
    hits = dict(contaminated([(p.problem_id, p.prompt) for p in loaded + tasks], [humaneval]))
    assert set(hits) == {p.problem_id for p in loaded}


def test_text_field_named_found_or_missing(tmp_path):
    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps({"id": 1, "body": "alpha beta gamma delta epsilon zeta eta theta"}) + "\n")
    problem = [("p", "so alpha beta gamma delta epsilon zeta eta theta iota")]
    assert contaminated(problem, [str(bench)], text_field="body") == [("p", "b.jsonl line 1")]
    with pytest.raises(SourceError, match="--field"):
        contaminated(problem, [str(bench)])
    with pytest.raises(SourceError, match="no field 'nope'"):
        contaminated(problem, [str(bench)], text_field="nope")


def test_unreadable_benchmark_lines_are_named(tmp_path):
    bench = tmp_path / "b.jsonl"
    bench.write_bytes(b'{"question": "fine"}\n{"question": "caf\xe9"}\n')
    with pytest.raises(SourceError, match=f"^{bench} line 2: not UTF-8: byte 0xe9"):
        contaminated([("p", "some problem")], [str(bench)])
