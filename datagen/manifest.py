"""The manifest an export writes into its directory, `cotmill-export.json`: which mixture, in
which format and file layout, how many rows per split, when, by which cotmill, from which
workspace. `mixtures.export` writes it; `train` reads it to say what it trains on, to refuse
the wrong format and to read exactly the files the export wrote. It lives in datagen because
both sides may import datagen and neither may import the other."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from verifiers.errors import CotmillError

MANIFEST = "cotmill-export.json"
SPLITS = ("train", "val")


class ManifestError(CotmillError, ValueError):
    """A manifest that cannot be read; the message names the file."""


def cotmill_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cotmill")
    except PackageNotFoundError:  # a checkout on PYTHONPATH, never installed
        return "unknown"


@dataclass
class ExportManifest:
    mixture: str
    format: str  # sft, rl, prm, dpo
    layout: str  # parquet, jsonl or hf (the `--as` of the export)
    rows: dict[str, int]  # split -> rows, 0 for a split not written
    files: dict[str, str]  # split -> its file (or, for hf, its folder) relative to the export dir
    workspace: str = ""
    options: dict = field(default_factory=dict)  # think_tags, pass rates: what else shaped the rows
    created_at: str = field(
        default_factory=lambda: dt.datetime.now().astimezone().isoformat(timespec="seconds")
    )
    cotmill_version: str = field(default_factory=cotmill_version)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def when(self) -> str:
        return self.created_at[:16].replace("T", " ")  # to the minute, local time of the export

    def summary(self) -> str:
        """mixture M, format F, N train / M val rows (exported TIME)"""
        return (f"mixture {self.mixture}, format {self.format}, {self.rows.get('train', 0):,} train / "
                f"{self.rows.get('val', 0):,} val rows (exported {self.when})")  # fmt: skip

    def write(self, directory: Path) -> Path:
        data = asdict(self)
        layout = data.pop("layout")  # stored as "as", the name users know from --as
        data = {"mixture": data.pop("mixture"), "format": data.pop("format"), "as": layout, **data}
        path = Path(directory) / MANIFEST
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def read_manifest(directory) -> ExportManifest | None:
    """The manifest of an export directory; None where there is none (a file, or an
    export another tool wrote)."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path}: cannot read: {e}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected an object")
    try:
        data["layout"] = data.pop("as")
        manifest = ExportManifest(
            **{k: v for k, v in data.items() if k in ExportManifest.__dataclass_fields__}
        )
    except (KeyError, TypeError) as e:
        raise ManifestError(f"{path}: missing or malformed field: {e}") from None
    if not isinstance(manifest.rows, dict) or not isinstance(manifest.files, dict):
        raise ManifestError(f"{path}: 'rows' and 'files' must be objects")
    return manifest
