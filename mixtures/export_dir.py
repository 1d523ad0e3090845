"""An export owns its directory. Writing into a directory that holds an earlier export left
its files beside the new ones (a train.parquet of one mixture next to the train.jsonl of
another), and a trainer read the wrong one. So:

- a non-empty directory is refused unless `overwrite`;
- `overwrite` replaces only an export (the manifest and train/val files or folders): a
  directory with anything else in it is refused, so `--out . --overwrite` cannot delete a
  project;
- the new export is written into a hidden folder inside `out` (same filesystem), then the
  old entries are moved into another hidden folder, the new ones moved up (the manifest
  last), and the old ones deleted. The directory itself stays: a mount point, its mode,
  owner and ACLs, a shell standing in it. A failure while writing removes the hidden folder
  and leaves the old export as it was; a failure while moving puts the old entries back.
  Leftovers of a killed export (the hidden folders) are removed by the next one.
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
from verifiers.errors import CotmillError

WRITERS = ("parquet", "jsonl", "hf")
# the files an export writes; split folders only in a datasets dir (beside dataset_dict.json),
# so a user's own train/ or val/ folder is never taken for part of an export
EXPORT_FILES = {MANIFEST, "dataset_dict.json", *(f"{s}.{w}" for s in SPLITS for w in ("parquet", "jsonl"))}
HIDDEN = ".cotmill-export-"  # prefix of the folders an export works in, inside `out`


def _entries(out: Path) -> list[str]:
    """What `out` holds, less the working folders a killed export left."""
    return sorted(p.name for p in out.iterdir() if not p.name.startswith(HIDDEN)) if out.exists() else []


def _foreign(out: Path, entries: list[str]) -> list[str]:
    datasets_dir = "dataset_dict.json" in entries
    return [
        name
        for name in entries
        if name not in EXPORT_FILES and not (datasets_dir and name in SPLITS and (out / name).is_dir())
    ]


class ExportError(CotmillError, ValueError):
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
    entries = _entries(out)
    if not entries:
        return None
    if not overwrite:
        raise ExportError(f"{out} is not empty{_describe(out)}; pass --overwrite to replace it, or choose "
                          "another --out")  # fmt: skip
    foreign = _foreign(out, entries)
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
    """Replace the entries of `out` (an export, checked by check_out) by those of `tmp`,
    a folder inside it. The old manifest goes first and the new one comes last, so a
    manifest never describes a half-replaced directory."""
    old = out / f"{HIDDEN}old-{secrets.token_hex(4)}"
    old.mkdir()
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for name in sorted(_entries(out), key=lambda n: n != MANIFEST):
            os.rename(out / name, old / name)
            moved_out.append(name)
        for name in sorted((p.name for p in tmp.iterdir()), key=lambda n: n == MANIFEST):
            os.rename(tmp / name, out / name)
            moved_in.append(name)
    except BaseException:
        for name in moved_in:  # the new entries out again, the old ones back
            _remove(out / name)
        for name in moved_out:
            os.rename(old / name, out / name)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_export(rows: list[dict], out, writer: str, fields: dict, overwrite: bool = False):
    """Write rows (each with its `split`) and the manifest (`fields`: mixture, format,
    workspace, options) into `out`, replacing its export. Returns (split -> rows, split -> path,
    the manifest of the export replaced or None)."""
    if writer not in WRITERS:
        raise ExportError(f"unknown writer {writer!r}; use one of {', '.join(WRITERS)}")
    out = Path(out)
    replaced = check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{HIDDEN}*"):  # a killed export's working folders
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out / f"{HIDDEN}tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        written = write_splits(rows, tmp, writer)
        counts = dict.fromkeys(SPLITS, 0)
        for row in rows:
            counts[row["split"]] = counts.get(row["split"], 0) + 1
        # a split's file, or for hf the folder save_to_disk gave it
        files = {s: s if writer == "hf" else p.name for s, p in written.items()}
        ExportManifest(rows=counts, files=files, layout=writer, **fields).write(tmp)
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    paths = {s: out if writer == "hf" else out / p.name for s, p in written.items()}
    return {s: n for s, n in counts.items() if n}, paths, replaced
