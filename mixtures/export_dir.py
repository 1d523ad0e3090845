"""An export owns its directory. Writing into a directory that holds an earlier export left
its files beside the new ones (a train.parquet of one mixture next to the train.jsonl of
another), and a trainer read the wrong one. So:

- a non-empty directory is refused unless `overwrite`;
- `overwrite` replaces only an export (the manifest and train/val files or folders): a
  directory with anything else in it is refused, so `--out . --overwrite` cannot delete a
  project;
- the new export is written into a hidden sibling directory (same filesystem), the old one
  is renamed aside, the new one renamed into place, then the old one deleted. A failure
  while writing removes the temp directory and leaves the old export as it was; a reader
  sees the old export or the new one, never a mix of both (between the two renames, for an
  instant, no directory).
- `cotmill-export.json` (datagen.manifest) records what the directory holds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import pyarrow as pa

from datagen.manifest import MANIFEST, SPLITS, ExportManifest, ManifestError, read_manifest

WRITERS = ("parquet", "jsonl", "hf")
# everything an export writes: parquet/jsonl files, or a datasets dir (dataset_dict.json + split folders)
EXPORT_ENTRIES = {
    MANIFEST,
    "dataset_dict.json",
    *SPLITS,
    *(f"{s}.{w}" for s in SPLITS for w in ("parquet", "jsonl")),
}


class ExportError(ValueError):
    pass


def _describe(out: Path) -> str:
    try:
        manifest = read_manifest(out)
    except ManifestError:
        manifest = None
    if manifest is None:
        return ""
    return f" (an export of mixture {manifest.mixture}, {manifest.format}, made {manifest.when})"


def check_out(out, overwrite: bool) -> ExportManifest | None:
    """Refuse an `out` the export may not take; returns the manifest of the export it will
    replace (None when there is none). Called before the rows are built, so a refusal is quick."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: not a directory")
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if not entries:
        return None
    if not overwrite:
        raise ExportError(f"{out} is not empty{_describe(out)}; pass --overwrite to replace it, or choose "
                          "another --out")  # fmt: skip
    foreign = [name for name in entries if name not in EXPORT_ENTRIES]
    if foreign:
        raise ExportError(f"{out} holds {foreign[0]}, which is not part of an export; --overwrite replaces "
                          "only an earlier export, so choose another --out")  # fmt: skip
    try:
        return read_manifest(out)
    except ManifestError:
        return None  # a broken manifest of an earlier export: replaced like the rest


def write_splits(rows: list[dict], out: Path, writer: str) -> dict[str, Path]:
    """Write train/val into `out` (an empty directory); returns split -> path written (the
    directory itself for hf: what a trainer's --data takes)."""
    splits: dict[str, list[dict]] = {}
    for row in rows:
        row = dict(row)
        splits.setdefault(row.pop("split"), []).append(row)
    if writer == "hf":
        import datasets
        from datasets import Dataset, DatasetDict

        datasets.disable_progress_bars()  # a bar per split is noise in a CLI that prints its own summary
        DatasetDict({s: Dataset.from_list(r) for s, r in splits.items()}).save_to_disk(str(out))
        return dict.fromkeys(splits, out)
    written = {}
    for split, split_rows in splits.items():
        path = out / f"{split}.{writer}"
        if writer == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(split_rows), path)
        else:
            with path.open("w", encoding="utf-8") as f:
                for row in split_rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        written[split] = path
    return written


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished `tmp` where `out` is: a rename over nothing or an empty directory,
    else the old export renamed aside first (POSIX cannot rename over a non-empty one)."""
    if not out.exists() or not any(out.iterdir()):
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{secrets.token_hex(4)}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_export(rows: list[dict], out, writer: str, fields: dict, overwrite: bool = False):
    """Write rows (each with its `split`) and the manifest (`fields`: mixture, format,
    workspace, options) into `out`, replacing it whole. Returns (split -> rows, split -> path,
    the manifest of the export replaced or None)."""
    if writer not in WRITERS:
        raise ExportError(f"unknown writer {writer!r}; use one of {', '.join(WRITERS)}")
    out = Path(out)
    replaced = check_out(out, overwrite)
    target = out.resolve()  # through a symlink: the directory it names is replaced
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir()  # not mkdtemp: its 0700 would become the export's mode
    try:
        written = write_splits(rows, tmp, writer)
        counts = dict.fromkeys(SPLITS, 0)
        for row in rows:
            counts[row["split"]] = counts.get(row["split"], 0) + 1
        # a split's file, or for hf the folder save_to_disk gave it
        files = {s: s if writer == "hf" else p.name for s, p in written.items()}
        ExportManifest(rows=counts, files=files, layout=writer, **fields).write(tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    paths = {s: out if writer == "hf" else out / p.name for s, p in written.items()}
    return {s: n for s, n in counts.items() if n}, paths, replaced
