"""An export owns its directory: a used one is refused unless --overwrite, which replaces it
whole (a failure leaves the old export), and a manifest records what the directory holds."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from cotmill.cli import main
from datagen.store import Store
from mixtures.build import build_mixture
from mixtures.export import ExportError, export_mixture
from mixtures.spec import MixSpec

MANIFEST = "cotmill-export.json"


@pytest.fixture(scope="module")
def workspace(workspace_exports, tmp_path_factory):
    """A copy of the training workspace with a second mixture, `other` (10 items, no val)."""
    w = tmp_path_factory.mktemp("export-dir") / "ws"
    shutil.copytree(workspace_exports.workspace, w, ignore=shutil.ignore_patterns("cotmill.lock"))
    spec = MixSpec(name="other", total=10, ratios={"math": 1.0}, seed=5, on_shortfall="redistribute")
    with Store.open(w) as store:
        build_mixture(store, spec)
    return w


def _listing(path) -> set[str]:
    return {p.name for p in path.iterdir()}


def _leftovers(parent) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_a_used_directory_is_refused_then_replaced_whole(workspace, tmp_path):
    out = tmp_path / "exp"
    counts, _ = export_mixture(workspace, "train-mix", "sft", out, "parquet")
    manifest = json.loads((out / MANIFEST).read_text())
    assert (manifest["mixture"], manifest["format"], manifest["as"]) == ("train-mix", "sft", "parquet")
    assert manifest["rows"] == {"train": counts["train"], "val": counts["val"]} and counts["val"] > 0
    assert manifest["files"] == {"train": "train.parquet", "val": "val.parquet"}
    assert manifest["workspace"] == str(workspace.resolve()) and manifest["cotmill_version"]
    assert manifest["created_at"]
    before = (out / "train.parquet").read_bytes()

    # the case: a second mixture in another layout into the same directory
    with pytest.raises(ExportError, match=rf"{out} is not empty.*train-mix.*--overwrite"):
        export_mixture(workspace, "other", "sft", out, "jsonl")
    assert (out / "train.parquet").read_bytes() == before and "train.jsonl" not in _listing(out)

    counts, paths = export_mixture(workspace, "other", "sft", out, "jsonl", overwrite=True)
    assert counts == {"train": 10} and paths == {"train": out / "train.jsonl"}
    assert _listing(out) == {"train.jsonl", MANIFEST}  # nothing of the earlier export is left
    manifest = json.loads((out / MANIFEST).read_text())
    assert (manifest["mixture"], manifest["as"], manifest["rows"]) == (
        "other",
        "jsonl",
        {"train": 10, "val": 0},
    )
    assert _leftovers(tmp_path) == [] and _leftovers(out) == []


def test_a_failed_overwrite_leaves_the_old_export(workspace, tmp_path):
    from mixtures.export_dir import write_export

    out = tmp_path / "exp"
    export_mixture(workspace, "other", "sft", out, "jsonl")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rows = [{"split": "train", "messages": object()}]  # pyarrow cannot convert it: writing fails midway
    with pytest.raises(Exception, match="object"):
        write_export(rows, out, "parquet", {"mixture": "broken", "format": "sft"}, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(tmp_path) == [] and _leftovers(out) == []  # the working folder is gone


def test_overwrite_replaces_only_an_export(workspace, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("not an export")
    (out / "train.parquet").write_text("")
    with pytest.raises(ExportError, match=rf"{out} holds notes.txt.*not part of an export"):
        export_mixture(workspace, "other", "sft", out, "parquet", overwrite=True)
    assert _listing(out) == {"notes.txt", "train.parquet"}
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ExportError, match=rf"{file}: not a directory"):
        export_mixture(workspace, "other", "sft", file, "parquet")
    # an empty directory is free to use; so is an export another tool wrote (train/val files only)
    (tmp_path / "empty").mkdir()
    export_mixture(workspace, "other", "sft", tmp_path / "empty", "parquet")
    (out / "notes.txt").unlink()
    export_mixture(workspace, "other", "sft", out, "hf", overwrite=True)
    assert _listing(out) == {"dataset_dict.json", "train", MANIFEST}


def test_cli_export_says_overwrite_and_what_it_replaced(workspace, tmp_path):
    out = str(tmp_path / "exp")
    args = ["export", "-w", str(workspace), "--out", out]
    first = CliRunner().invoke(main, [*args, "--mixture", "train-mix"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, [*args, "--mixture", "other", "--as", "jsonl"])
    assert again.exit_code == 1 and isinstance(again.exception, SystemExit)
    assert f"error: {out} is not empty" in again.output and "--overwrite" in again.output
    done = CliRunner().invoke(main, [*args, "--mixture", "other", "--as", "jsonl", "--overwrite"])
    assert done.exit_code == 0, done.output
    assert "replaced the export of mixture train-mix (sft, parquet)" in done.output
    assert f"train: 10 rows -> {out}/train.jsonl" in done.output


def test_overwrite_never_takes_a_users_own_train_folder(workspace, tmp_path):
    """Folders named train/ and val/ belong to an export only beside dataset_dict.json."""
    out = tmp_path / "data"
    (out / "train").mkdir(parents=True)
    (out / "train" / "img001.jpg").write_bytes(b"jpg")
    with pytest.raises(ExportError, match=rf"{out} holds train, which is not part of an export"):
        export_mixture(workspace, "other", "sft", out, "jsonl", overwrite=True)
    assert (out / "train" / "img001.jpg").read_bytes() == b"jpg"


def test_the_directory_itself_stays_and_a_killed_exports_leftovers_go(workspace, tmp_path):
    """The export swaps what is inside `out`, not `out` itself: its mode stays, and so
    would a mount point (a volume) or a shell standing in it."""
    out = tmp_path / "exp"
    out.mkdir(mode=0o750)
    out.chmod(0o750)
    inode = out.stat().st_ino
    export_mixture(workspace, "other", "sft", out, "jsonl")
    (out / ".cotmill-export-tmp-dead").mkdir()  # as a SIGKILL mid-export leaves it
    (out / ".cotmill-export-tmp-dead" / "train.jsonl").write_text("partial")
    export_mixture(workspace, "train-mix", "sft", out, "parquet", overwrite=True)
    assert out.stat().st_ino == inode and out.stat().st_mode & 0o777 == 0o750
    assert _listing(out) == {"train.parquet", "val.parquet", MANIFEST}


def test_an_export_into_a_mount_point(workspace, tmp_path):
    import os
    import subprocess

    out = tmp_path / "volume"
    out.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(out)]).returncode:
        pytest.skip("needs root to mount a tmpfs")
    try:
        export_mixture(workspace, "other", "sft", out, "jsonl")
        export_mixture(workspace, "train-mix", "sft", out, "parquet", overwrite=True)
        assert _listing(out) == {"train.parquet", "val.parquet", MANIFEST}
    finally:
        subprocess.run(["umount", "-l", str(out)])
