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
from verifiers.answers import last_boxed
from verifiers.errors import CotmillError

VERIFIER_FOR_DOMAIN = {"math": "math", "code": "code", "logic": "logic"}


class SourceError(CotmillError, ValueError):
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


class RowError(CotmillError, ValueError):
    def __init__(self, field: str | None, reason: str, raw: str = ""):
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.raw = raw  # the unparsed text, kept in `rejects` for the user to see


# --- readers: (location, record) pairs ---------------------------------------------


BOM = b"\xef\xbb\xbf"  # Excel and Notepad start UTF-8 files with it; it is not data


def _not_utf8(line: bytes, start: int) -> str:
    # the bytes before the first bad one are valid, so the column counts characters
    column = len(line[:start].decode("utf-8")) + 1
    return f"not UTF-8: byte 0x{line[start]:02x} at column {column}"


def _lines(path: Path) -> Iterator[tuple[int, str, RowError | None]]:
    r"""Physical lines (split as text mode would: \n, \r\n or \r), decoded one
    by one so that a stray Latin-1 byte spoils its own line and not the whole file:
    such a line comes with a RowError naming the byte, and its text with the bad
    bytes written as \xNN."""
    with path.open("rb") as f:
        number = 0
        for chunk in f:
            for raw in chunk.splitlines(keepends=True):
                number += 1
                if number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                try:
                    yield number, raw.decode("utf-8"), None
                except UnicodeDecodeError as e:
                    text = raw.decode("utf-8", "backslashreplace")
                    yield number, text, RowError(None, _not_utf8(raw, e.start), text.rstrip("\r\n")[:2000])


def _read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    for number, line, bad in _lines(path):
        if bad:
            yield f"line {number}", bad
            continue
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as e:
            reason = f"invalid JSON: {e.msg} (column {e.colno})"
            yield f"line {number}", RowError(None, reason, line.rstrip("\r\n")[:2000])


def _read_json(path: Path) -> Iterator[tuple[str, Any]]:
    """A .json file holding one array of objects; anything else is read as JSONL."""
    with path.open("rb") as f:
        head = f.read(4096).removeprefix(BOM).decode("utf-8", "replace").lstrip()
    if not head.startswith("["):
        yield from _read_jsonl(path)
        return
    data = path.read_bytes().removeprefix(BOM)
    try:
        items = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        # one array is one value: a bad line cannot be skipped, only named
        start = data.rfind(b"\n", 0, e.start) + 1
        number = data.count(b"\n", 0, e.start) + 1
        raise SourceError(f"{path} line {number}: {_not_utf8(data[start:], e.start - start)}") from None
    except json.JSONDecodeError as e:
        raise SourceError(f"{path} line {e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
    for number, item in enumerate(items, 1):
        yield f"item {number}", item


def _read_csv(path: Path) -> Iterator[tuple[str, Any]]:
    csv.field_size_limit(2**31 - 1)  # long prompts and solutions are normal here
    bad: dict[int, RowError] = {}

    def text() -> Iterator[str]:
        for number, line, error in _lines(path):
            if error:
                bad[number] = error  # the row is rejected below; its text keeps the columns in step
            yield line

    reader = csv.DictReader(text())
    reader.fieldnames  # noqa: B018 - reads the header now, so that its line is checked first
    if 1 in bad:
        raise SourceError(f"{path} line 1: {bad[1].reason} (in the header, so no row can be read)")
    end = reader.line_num
    for record in reader:
        # line_num is the last physical line read: right for multi-line cells too
        start, end = end + 1, reader.line_num
        spoiled = next((n for n in range(start, end + 1) if n in bad), None)
        if spoiled is not None:
            yield f"line {spoiled}", bad[spoiled]
        else:
            yield f"line {end}", record


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
        if not any(
            (path / name).exists() for name in ("dataset_info.json", "dataset_dict.json", "state.json")
        ):
            raise SourceError(f"{spec}: a directory, but not a dataset saved with datasets' save_to_disk")
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
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path)
        if suffix == ".json":
            return _read_json(path)
        if suffix == ".csv":
            return _read_csv(path)
        if suffix == ".parquet":
            return _read_parquet(path)
        raise SourceError(
            f"{spec}: unknown file type {suffix!r}; use .jsonl, .csv, .parquet or a datasets directory"
        )
    if path.is_dir() or (_HUB_NAME.match(spec) and suffix not in _FILE_SUFFIXES):
        return _read_hf(spec, split)
    raise SourceError(f"{spec}: no such file or directory")


_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as on the hub
_FILE_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".parquet"}


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


FIELDS = ("prompt", "answer", "task", "difficulty", "solution")
PRESET_FIELDS = {
    "gsm8k": ("question", "answer"),
    "math": ("problem", "solution", "level", "type"),
    "humaneval": ("prompt", "test", "entry_point", "canonical_solution", "task_id"),
}


def _answer(record: dict, field: str) -> str | None:
    value = record.get(field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # numeric answers in JSON or Parquet are fine as text
    return _text(record, field, required=False)


def _difficulty(record: dict, field: str) -> int | None:
    value = record.get(field)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # CSV cells are text
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise RowError(field, f"difficulty must be an integer 1-5, got {value!r}")
    return value


def _mapped(record: dict, fields: dict[str, str], domain: str, default_task: str) -> dict:
    prompt = _text(record, fields.get("prompt", "prompt"))
    answer = _answer(record, fields["answer"]) if "answer" in fields else None
    task = _text(record, fields["task"], required=False) if "task" in fields else None
    difficulty = _difficulty(record, fields["difficulty"]) if "difficulty" in fields else None
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


def _check_fields(preset: str | None, fields: dict[str, str]) -> None:
    allowed = PRESET_FIELDS[preset] if preset else FIELDS
    unknown = [name for name in fields if name not in allowed]
    if unknown:
        what = f"the {preset} preset" if preset else "a source without a preset"
        raise SourceError(
            f"unknown field name(s) {', '.join(map(repr, unknown))} for {what}; use: {', '.join(allowed)}"
        )


def _check_columns(spec: str, fields: dict[str, str], columns: set[str]) -> None:
    """A --field naming a column that no row has is a typo, not a column of NULLs.
    Only columns absent from every row read count: JSONL rows may omit keys."""
    if not columns:
        return  # no row was an object; those rows are already errors or rejects
    for ours, theirs in fields.items():
        if theirs not in columns:
            names = sorted(columns)
            listed = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
            raise SourceError(f"{spec}: --field {ours}={theirs}: no column {theirs!r} (columns: {listed})")


def _guarded(spec: str, records: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Reader failures (bad encoding, a corrupt Parquet file, a broken dataset)
    become one error that names the source, not a library traceback."""
    iterator = iter(records)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except SourceError:
            raise
        except Exception as e:  # noqa: BLE001 - csv, pyarrow, datasets and OS errors alike
            raise SourceError(f"{spec}: cannot read: {type(e).__name__}: {e}") from None
        yield item


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
    _check_fields(preset, fields or {})
    default_task = Path(spec).stem or "source"
    problems: list[Problem] = []
    rejects: list[Reject] = []
    columns: set[str] = set()
    for location, record in _guarded(spec, read_records(spec, split)):
        if limit is not None and len(problems) >= limit:
            break
        if isinstance(record, dict):
            columns.update(record)
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
            raw = record.raw if isinstance(record, RowError) else json.dumps(record, default=str)[:2000]
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
    _check_columns(spec, fields or {}, columns)
    if not problems and not rejects:
        raise SourceError(f"{spec}: holds no problems")
    return problems, rejects
