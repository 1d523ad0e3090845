"""Benchmark decontamination by word n-gram overlap.

A problem is contaminated when it shares one word n-gram (default 8, as in the
GPT-3 and Llama reports' n-gram checks, simplified to exact matches of lowercase
word tokens with punctuation dropped) with any benchmark item, or when it is
shorter than n words and its whole word sequence occurs inside a benchmark item
(a short problem has no n-gram to share, yet can be a benchmark question verbatim).

Benchmarks are read with `datagen.sources.read_records` (JSONL, JSON, CSV, Parquet,
`datasets` directories); the text field is named or found among the usual names.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datagen.sources import RowError, SourceError, read_records
from mixtures.dedup import words

TEXT_FIELDS = ("question", "problem", "prompt", "text")


def _text_field(record: dict, named: str | None, spec: str, location: str) -> str:
    if named:
        if named not in record:
            raise SourceError(f"{spec} {location}: no field {named!r} (fields: {', '.join(record)})")
        return named
    for name in TEXT_FIELDS:
        if isinstance(record.get(name), str):
            return name
    raise SourceError(
        f"{spec} {location}: none of the text fields {', '.join(TEXT_FIELDS)} found "
        f"(fields: {', '.join(record)}); name one with --field"
    )


def benchmark_items(spec: str, text_field: str | None = None) -> Iterable[tuple[str, list[str]]]:
    """("FILE location", words) per benchmark item; FILE is the file's name."""
    name = Path(spec).name or spec
    found = text_field
    for location, record in read_records(spec):
        if isinstance(record, RowError):  # invalid JSON or bytes that are not UTF-8
            raise SourceError(f"{spec} {location}: {record.reason}")
        if not isinstance(record, dict):
            raise SourceError(f"{spec} {location}: expected an object, got {type(record).__name__}")
        found = found or _text_field(record, None, spec, location)
        if text_field:
            _text_field(record, text_field, spec, location)
        text = record.get(found)
        if isinstance(text, str) and text.strip():
            yield f"{name} {location}", words(text)


@dataclass
class BenchmarkIndex:
    """The n-grams of every benchmark item, and all items' words in one string for the
    containment check of short problems."""

    n: int = 8
    ngrams: dict[tuple[str, ...], str] = field(default_factory=dict)  # n-gram -> first item with it
    _joined: list[str] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    _labels: list[str] = field(default_factory=list)
    _length: int = 0

    def add(self, label: str, tokens: list[str]) -> None:
        for i in range(len(tokens) - self.n + 1):
            self.ngrams.setdefault(tuple(tokens[i : i + self.n]), label)
        # items are separated by a newline, which no token contains, so no match spans two
        piece = " " + " ".join(tokens) + " \n"
        self._starts.append(self._length)
        self._labels.append(label)
        self._joined.append(piece)
        self._length += len(piece)

    def finish(self) -> None:
        self._text = "".join(self._joined)
        self._joined = []

    def match(self, tokens: list[str]) -> str | None:
        """The benchmark item a problem's words overlap with, or None."""
        if not tokens:
            return None
        if len(tokens) < self.n:
            at = self._text.find(" " + " ".join(tokens) + " ")
            return None if at < 0 else self._labels[bisect.bisect_right(self._starts, at) - 1]
        ngrams = self.ngrams
        for i in range(len(tokens) - self.n + 1):
            label = ngrams.get(tuple(tokens[i : i + self.n]))
            if label is not None:
                return label
        return None


def build_index(specs: Sequence[str], n: int = 8, text_field: str | None = None) -> BenchmarkIndex:
    if n < 1:
        raise ValueError(f"--ngram must be at least 1, got {n}")
    index = BenchmarkIndex(n=n)
    for spec in specs:
        items = 0
        for label, tokens in benchmark_items(spec, text_field):
            index.add(label, tokens)
            items += 1
        if not items:
            raise SourceError(f"{spec}: holds no benchmark text")
    index.finish()
    return index


def contaminated(
    problems: Iterable[tuple[str, str]], specs: Sequence[str], n: int = 8, text_field: str | None = None
) -> list[tuple[str, str]]:
    """(problem_id, "FILE location") for each (problem_id, prompt) a benchmark contaminates."""
    return matches(build_index(specs, n, text_field), problems)


def matches(index: BenchmarkIndex, problems: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(problem_id, "FILE location") for each (problem_id, prompt) the index matches."""
    hits = []
    for problem_id, prompt in problems:
        label = index.match(words(prompt))
        if label is not None:
            hits.append((problem_id, label))
    return hits
