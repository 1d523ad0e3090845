"""Training data: read `sft`/`rl` exports (the files their manifest, `cotmill-export.json`,
names, where there is one), tokenize chats with assistant-only labels, pack examples into
rows and collate batches.

Labels by prefix matching: the prompt is what the chat template renders for every
message but the last with the generation prompt; every token after it (the assistant
turn and its end token) is trained. That works for any chat template without
`{% generation %}` markers; a template that renders the prompt differently once the
answer follows it (some strip earlier reasoning) falls back to the common prefix.

Packing: examples are packed into rows of at most `max_length` tokens by best-fit
decreasing, once per dataset; each epoch shuffles the rows. A packed row carries
`position_ids` that restart at 0 for every example and no attention mask, so
transformers builds a block-diagonal causal mask from the position resets (or uses
varlen flash attention) and no example attends to another. Rows of one micro-batch
are padded to the longest; the padding is a sequence of its own with labels -100.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path

from datagen.manifest import MANIFEST
from verifiers.errors import CotmillError

IGNORE = -100  # label of tokens that are not trained (the cross-entropy ignore index)


class DataError(CotmillError, ValueError):
    """Unreadable or malformed training data; the message names the file (and row)."""


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE outside the assistant turn


def _split_file(path: Path, split: str) -> Path | None:
    for suffix in ("parquet", "jsonl"):
        candidate = path / f"{split}.{suffix}"
        if candidate.exists():
            return candidate
    return None


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path} line {n}: invalid JSON: {e.msg}") from None
            if not isinstance(row, dict):
                raise DataError(f"{path} line {n}: expected an object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _read_file(path: Path) -> list[dict]:
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if path.suffix == ".jsonl":
            return _read_jsonl(path)
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise DataError(f"{path}: expected a list of objects")
            return data
    except (OSError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: cannot read: {e}") from None
    raise DataError(f"{path}: unknown file type (use .parquet, .jsonl or .json)")


def _manifest(path: Path):
    """The export's manifest (datagen.manifest), or None: a file, or a dir another tool wrote."""
    from datagen.manifest import ManifestError, read_manifest

    if not path.is_dir():
        return None
    try:
        return read_manifest(path)
    except ManifestError as e:
        raise DataError(str(e)) from None


def _read_split(path: Path, split: str, manifest) -> list[dict] | None:
    """Rows of a split of an export dir; None where the split is absent."""
    if manifest is not None and split not in manifest.files:
        return None  # the export wrote no such split; stray files of other tools are not read
    if (path / "dataset_dict.json").exists() and (manifest is None or manifest.layout == "hf"):
        import datasets

        try:
            dd = datasets.load_from_disk(str(path))
        except Exception as e:  # datasets raises several types for a broken directory
            raise DataError(f"{path}: cannot read datasets directory: {e}") from None
        return dd[split].to_list() if split in dd else None
    found = path / manifest.files[split] if manifest is not None else _split_file(path, split)
    return None if found is None else _read_file(found)


def read_export(path, split: str = "train") -> list[dict]:
    """Rows of one split of an export dir (train/val .parquet or .jsonl, or a `datasets`
    directory) or of a single file (the train split; it has no val). A missing val split
    is empty; a missing or empty train split is an error. Where the dir has a manifest,
    the files it names are read and must hold the rows it records."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_file():
        rows = _read_file(path) if split == "train" else []
    else:
        manifest = _manifest(path)
        rows = _read_split(path, split, manifest)
        if rows is None and split == "train":
            if manifest is not None and manifest.total == 0:
                raise DataError(_empty(path, manifest))
            if manifest is not None:
                raise DataError(f"{path}: no train split: {MANIFEST} records 0 train rows (and "
                                f"{manifest.rows.get('val', 0)} val rows) of mixture {manifest.mixture}")  # fmt: skip
            raise DataError(
                f"{path}: no train split (expected train.parquet, train.jsonl or a datasets directory)"
            )
        rows = rows or []
        if manifest is not None and len(rows) != (recorded := manifest.rows.get(split, 0)):
            raise DataError(f"{export_source(path, split)}: {len(rows)} rows, but {MANIFEST} records {recorded}; "
                            "the directory changed after the export: export it again (--overwrite)")  # fmt: skip
    if split == "train" and not rows:
        raise DataError(f"{export_source(path, split)}: 0 rows; the export is empty")
    return rows


def _empty(path: Path, manifest) -> str:
    return (f"{path}: an empty export: {MANIFEST} records 0 rows (no {manifest.format} rows in mixture "
            f"{manifest.mixture})")  # fmt: skip


def _a(name: str) -> str:
    """'an sft', 'an rl', 'a prm': the article of a letter-by-letter name."""
    return f"{'an' if name[:1] in 'aefhilmnorsx' else 'a'} {name}"


def check_export(path, formats: tuple[str, ...], command: str):
    """The manifest of the export at `path` (None without one), after refusing an export of
    another format (an rl export given to SFT) or an empty one; cheap, so callers check before
    loading a model."""
    path = Path(path)
    manifest = _manifest(path)
    if manifest is None:
        return None
    if manifest.format not in formats:
        wanted = " or ".join(_a(f) for f in formats)
        raise DataError(f"{path}: {_a(manifest.format)} export of mixture {manifest.mixture}; "
                        f"{command} needs {wanted} export")  # fmt: skip
    if manifest.total == 0:
        raise DataError(_empty(path, manifest))
    return manifest


def describe_export(path) -> str:
    """The line trainers print first: what the export holds, from its manifest."""
    if not Path(path).exists():
        raise DataError(f"{path}: no such file or directory")
    manifest = _manifest(Path(path))
    if manifest is None:
        return f"data: {path} (no {MANIFEST})"
    return f"data: {manifest.summary()}"


def export_source(path, split: str) -> str:
    """The file a split was read from, for error messages."""
    path = Path(path)
    if not path.is_dir():
        return str(path)
    manifest = _manifest(path)
    if manifest is not None:
        return str(path / manifest.files[split]) if split in manifest.files else str(path)
    return str(_split_file(path, split) or path)


def _template_ids(tokenizer, messages: list[dict], generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=generation_prompt, return_dict=False
    )
    return list(ids)


def encode_prompt(messages: list[dict], tokenizer) -> list[int]:
    """Token ids of a prompt plus the generation prompt (what a model continues)."""
    return _template_ids(tokenizer, messages, True)


def encode_sft(row_messages: list[dict], tokenizer, max_length: int) -> Example | None:
    """One chat -> input ids and labels trained on the last (assistant) turn only.
    Too long: truncated at max_length; None when no assistant token is left."""
    prompt = encode_prompt(row_messages[:-1], tokenizer)
    full = _template_ids(tokenizer, row_messages, False)
    start = len(prompt)
    if full[:start] != prompt:  # the template re-renders the prompt once answered
        start = next((i for i, (a, b) in enumerate(zip(full, prompt)) if a != b), min(len(full), start))
    end = len(full)
    eos = tokenizer.eos_token_id
    if eos is not None and eos in full[start:]:
        # tokens the template appends after the turn's end token (a newline) are not trained
        end = len(full) - full[::-1].index(eos)
    ids = full[: min(end, max_length)]
    start = max(start, 1)  # the first token of a row is never a target (it has no context)
    if len(ids) <= start:
        return None
    return Example(ids, [IGNORE] * start + ids[start:])


def sft_examples(
    rows: list[dict], tokenizer, max_length: int, source: str = "data"
) -> tuple[list[Example], int]:
    """Encode sft rows; returns (examples, number dropped as too long to train)."""
    examples, dropped = [], 0
    for n, row in enumerate(rows, 1):
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            raise DataError(f"{source} row {n}: no 'messages' list (is this an sft export?)")
        if not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
            raise DataError(f"{source} row {n}: every message needs 'role' and 'content'")
        if messages[-1]["role"] != "assistant":
            raise DataError(f"{source} row {n}: the last message must be the assistant's")
        example = encode_sft(messages, tokenizer, max_length)
        if example is None:
            dropped += 1
        else:
            examples.append(example)
    return examples, dropped


def pack_examples(examples: list[Example], max_length: int) -> list[dict]:
    """Best-fit decreasing into rows of at most max_length tokens. Each row:
    input_ids, labels, position_ids (restarting at 0 per example); deterministic."""
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].input_ids), i))
    bins: list[list[int]] = []
    free_sizes: list[int] = []  # sorted distinct free capacities of open bins
    by_free: dict[int, list[int]] = {}  # free capacity -> bins with it
    for i in order:
        size = len(examples[i].input_ids)
        k = bisect.bisect_left(free_sizes, size)
        if k < len(free_sizes):
            free = free_sizes[k]
            b = by_free[free].pop()
            if not by_free[free]:
                del by_free[free]
                free_sizes.pop(k)
        else:
            b, free = len(bins), max_length
            bins.append([])
        bins[b].append(i)
        left = free - size
        if left > 0:
            if left not in by_free:
                bisect.insort(free_sizes, left)
                by_free[left] = []
            by_free[left].append(b)
    return [_join([examples[i] for i in members]) for members in bins]


def _join(examples: list[Example]) -> dict:
    ids, labels, positions = [], [], []
    for ex in examples:
        ids += ex.input_ids
        labels += ex.labels
        positions += range(len(ex.input_ids))
    return {"input_ids": ids, "labels": labels, "position_ids": positions}


def rows_of(examples: list[Example]) -> list[dict]:
    """Unpacked rows: one example each."""
    return [{"input_ids": ex.input_ids, "labels": ex.labels} for ex in examples]


def collate(rows: list[dict], pad_id: int, packed: bool) -> dict:
    """Rows -> a batch of CPU tensors, right-padded to the longest row:
    input_ids [B, T], plus position_ids [B, T] (packed: no attention mask, see the module
    docstring) or attention_mask [B, T] (padded); and the loss targets: `target_index` [N]
    flat positions in [B*T] whose next token is trained, `targets` [N] those tokens,
    `n_targets` (host int)."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    extra = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        n = len(row["input_ids"])
        ids[b, :n] = torch.tensor(row["input_ids"], dtype=torch.long)
        labels[b, :n] = torch.tensor(row["labels"], dtype=torch.long)
        if packed:  # the padding is one more "sequence" with positions of its own
            extra[b, :n] = torch.tensor(row["position_ids"], dtype=torch.long)
            extra[b, n:] = torch.arange(width - n)
        else:
            extra[b, :n] = 1
    # the logits at t-1 predict the token at t: flat indices into [B*T] of trained predictions
    trained = labels[:, 1:] != IGNORE  # [B, T-1]
    rows_i, cols = trained.nonzero(as_tuple=True)  # CPU tensors: no device sync
    return {
        "input_ids": ids,
        "position_ids" if packed else "attention_mask": extra,
        "target_index": rows_i * width + cols,  # [N]
        "targets": labels[:, 1:][trained],  # [N]
        "n_targets": int(trained.sum()),
        "n_tokens": sum(len(r["input_ids"]) for r in rows),
    }
