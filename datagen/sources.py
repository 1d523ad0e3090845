"""Problems from files: JSONL, Parquet, CSV and Hugging Face `datasets` (local
`save_to_disk` directories, or hub names where a network exists), mapped onto
`Problem` by a preset (GSM8K, MATH, HumanEval) or a field mapping.

A bad row stops the load with an error naming the file, the line (or row) and
the field; with `skip_invalid` it becomes a `Reject` with its reason instead.
Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.records import Problem

VERIFIER_FOR_DOMAIN = {"math": "math", "code": "code", "logic": "logic"}


class SourceError(ValueError):
    pass


@dataclass
class Reject:
    source: str
    location: str
    field: str | None
    reason: str
    raw: str

    def row(self, job: str | None = None) -> dict:
        return {**self.__dict__, "job": job}


class RowError(ValueError):
    def __init__(self, field: str | None, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --- readers: (location, record) pairs ---------------------------------------------


def _read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as e:
                yield f"line {number}", RowError(None, f"invalid JSON: {e.msg} (column {e.colno})")


def _read_csv(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for record in reader:
            # line_num is the last physical line read: right for multi-line cells too
            yield f"line {reader.line_num}", record


def _read_parquet(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    for batch_start, batch in _batches(pq.ParquetFile(path).iter_batches(batch_size=4096)):
        for offset, record in enumerate(batch.to_pylist()):
            yield f"row {batch_start + offset + 1}", record


def _batches(batches) -> Iterator[tuple[int, Any]]:
    start = 0
    for batch in batches:
        yield start, batch
        start += batch.num_rows


def _read_hf(spec: str, split: str | None) -> Iterator[tuple[str, Any]]:
    import datasets

    path = Path(spec)
    if path.is_dir():
        data = datasets.load_from_disk(str(path))
    else:
        data = datasets.load_dataset(spec, split=split)
    if isinstance(data, datasets.DatasetDict):
        names = list(data)
        chosen = split or ("test" if "test" in data else names[0])
        if chosen not in data:
            raise SourceError(f"{spec}: no split {chosen!r}; splits: {', '.join(names)}")
        data = data[chosen]
    for index, record in enumerate(data):
        yield f"row {index + 1}", record


def read_records(spec: str, split: str | None = None) -> Iterator[tuple[str, Any]]:
    path = Path(spec)
    suffix = path.suffix.lower()
    if path.is_file():
        if suffix in (".jsonl", ".json", ".ndjson"):
            return _read_jsonl(path)
        if suffix == ".csv":
            return _read_csv(path)
        if suffix == ".parquet":
            return _read_parquet(path)
        raise SourceError(
            f"{spec}: unknown file type {suffix!r}; use .jsonl, .csv, .parquet or a datasets directory"
        )
    if path.is_dir() or ("/" in spec and not path.exists() and not spec.startswith((".", "/"))):
        return _read_hf(spec, split)
    raise SourceError(f"{spec}: no such file or directory")


# --- mapping records onto problems ---------------------------------------------------


def _text(record: dict, field: str, required: bool = True) -> str | None:
    if field not in record or record[field] is None:
        if required:
            raise RowError(field, "missing")
        return None
    value = record[field]
    if not isinstance(value, str):
        raise RowError(field, f"expected text, got {type(value).__name__}")
    if required and not value.strip():
        raise RowError(field, "empty")
    return value


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), nested braces allowed."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[begin : i - 1].strip() if depth == 0 else None


def _gsm8k(record: dict) -> dict:
    question = _text(record, "question")
    answer = _text(record, "answer")
    worked, sep, final = answer.rpartition("####")
    if not sep or not final.strip():
        raise RowError("answer", "no final answer after '####'")
    return {
        "prompt": question,
        "answer": final.strip().replace(",", ""),
        "domain": "math",
        "task": "gsm8k",
        "meta": {"solution": worked.strip()},
    }


def _math(record: dict) -> dict:
    problem = _text(record, "problem")
    solution = _text(record, "solution")
    answer = last_boxed(solution)
    if not answer:
        raise RowError("solution", "no \\boxed{} answer")
    level = re.search(r"\d", str(record.get("level", "")))
    meta = {"solution": solution, "subject": record.get("type")}
    return {
        "prompt": problem,
        "answer": answer,
        "domain": "math",
        "task": "math",
        "difficulty": int(level.group()) if level else None,
        "meta": meta,
    }


def _humaneval(record: dict) -> dict:
    prompt = _text(record, "prompt")
    test = _text(record, "test")
    entry = _text(record, "entry_point")
    tests = {"format": "humaneval", "test": test, "entry_point": entry}
    meta = {"task_id": record.get("task_id")}
    canonical = _text(record, "canonical_solution", required=False)
    if canonical:
        meta["reference_code"] = prompt + canonical
    return {
        "prompt": prompt,
        "answer": json.dumps(tests, sort_keys=True),
        "domain": "code",
        "task": "humaneval",
        "meta": meta,
    }


PRESETS = {"gsm8k": _gsm8k, "math": _math, "humaneval": _humaneval}


def _mapped(record: dict, fields: dict[str, str], domain: str, default_task: str) -> dict:
    prompt = _text(record, fields.get("prompt", "prompt"))
    answer = _text(record, fields["answer"], required=False) if "answer" in fields else None
    task = _text(record, fields["task"], required=False) if "task" in fields else None
    difficulty = record.get(fields["difficulty"]) if "difficulty" in fields else None
    if difficulty is not None and not (isinstance(difficulty, int) and 1 <= difficulty <= 5):
        raise RowError(fields["difficulty"], f"difficulty must be an integer 1-5, got {difficulty!r}")
    meta = {}
    if "solution" in fields:
        meta["solution"] = _text(record, fields["solution"], required=False)
    return {
        "prompt": prompt,
        "answer": answer,
        "domain": domain,
        "task": task or default_task,
        "difficulty": difficulty,
        "meta": meta,
    }


def load_problems(
    spec: str,
    preset: str | None = None,
    fields: dict[str, str] | None = None,
    domain: str | None = None,
    limit: int | None = None,
    skip_invalid: bool = False,
    split: str | None = None,
) -> tuple[list[Problem], list[Reject]]:
    if preset is not None and preset not in PRESETS:
        raise SourceError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    default_task = Path(spec).stem or "source"
    problems: list[Problem] = []
    rejects: list[Reject] = []
    for location, record in read_records(spec, split):
        if limit is not None and len(problems) >= limit:
            break
        try:
            if isinstance(record, RowError):
                raise record
            if not isinstance(record, dict):
                raise RowError(None, f"expected an object, got {type(record).__name__}")
            if preset:
                # explicit --field mappings rename columns before the preset reads them
                record = {**record, **{ours: record.get(theirs) for ours, theirs in (fields or {}).items()}}
                mapped = PRESETS[preset](record)
            else:
                mapped = _mapped(record, fields or {}, domain or "math", default_task)
        except RowError as e:
            where = f"{spec} {location}" + (f": field '{e.field}'" if e.field else "")
            if not skip_invalid:
                raise SourceError(f"{where}: {e.reason}") from None
            raw = json.dumps(record, default=str)[:2000] if not isinstance(record, RowError) else ""
            rejects.append(Reject(spec, location, e.field, e.reason, raw))
            continue
        dom = domain or mapped["domain"]
        problems.append(
            Problem.create(
                domain=dom,
                task=mapped["task"],
                source=spec,
                prompt=mapped["prompt"],
                answer=mapped["answer"],
                verifier=VERIFIER_FOR_DOMAIN.get(dom, dom),
                difficulty=mapped.get("difficulty"),
                meta={**mapped["meta"], "location": location},
            )
        )
    return problems, rejects
