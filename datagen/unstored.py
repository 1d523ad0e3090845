"""Replies the store could not take: kept in `W/unstored.jsonl`, never dropped, never paid twice.

A reply is paid for once it arrives. When DuckDB refuses its row (a string it cannot
hold, a full disk), the row is appended to `unstored.jsonl` in the workspace. The next
run of any job ingests what the store now takes and holds back, without requesting
them again, the replies it still refuses.

A full disk would refuse the spill file too, so a job first sets aside a reserve file
(`SpillReserve`) and deletes it when the disk fills, making room for the replies in
hand to be written out before the job stops.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from datagen.store import Store

FILE = "unstored.jsonl"
RESERVE_FILE = "cotmill.reserve"
# room for what a disk-full moment must spill: the batch being committed and the buffer
# (each at most engine.BUFFER_BYTES plus the replies in flight)
RESERVE_BYTES = 16 << 20
_TEXT_FIELDS = ("text", "reasoning", "finish_reason", "error")


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC or EDQUOT anywhere in the chain; DuckDB reports them only in its message."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "Disk quota exceeded" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def clean_text(value: str | None) -> tuple[str | None, bool]:
    """Lone UTF-16 surrogates (a JSON body may carry `\\ud800`) cannot be stored as
    UTF-8: each becomes U+FFFD; valid surrogate pairs become their character."""
    if value is None:
        return None, False
    try:
        value.encode("utf-8")
        return value, False
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), True


def sanitize(row: dict) -> dict:
    """The row with unstorable text replaced; `meta.sanitized` lists the fields changed."""
    changed = []
    row = dict(row)
    for name in _TEXT_FIELDS:
        row[name], was = clean_text(row.get(name))
        if was:
            changed.append(name)
    if changed:
        meta = json.loads(row.get("meta") or "{}")
        meta["sanitized"] = sorted(set(meta.get("sanitized", [])) | set(changed))
        row["meta"] = json.dumps(meta, sort_keys=True)
    return row


def _append_lines(path: Path, lines: list[str]) -> None:
    """All lines or none: a write that fails part-way (ENOSPC) is cut back, so no torn
    line is left for the next append to run into."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    with open(path, "a+b") as f:  # + so that the last byte can be read
        start = os.fstat(f.fileno()).st_size
        if start and os.pread(f.fileno(), 1, start - 1) != b"\n":
            data = b"\n" + data  # a line torn by a crash stays a line of its own
        try:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the reply is paid for: on disk before we say it is kept
        except OSError:
            try:
                f.truncate(start)
            except OSError:
                pass
            raise


def _line(row: dict, reason: str) -> str:
    # UTF-8 as is, not \u escapes: CJK text would take twice the room of the reserve
    line = json.dumps({**row, "store_error": reason}, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:  # a lone surrogate: escaped, so the file stays UTF-8
        return json.dumps({**row, "store_error": reason}, default=str)


def spill(root: Path, rows: list[dict], reason: str) -> None:
    """Append rows to unstored.jsonl with the reason; raises OSError when even that fails."""
    _append_lines(Path(root) / FILE, [_line(row, reason) for row in rows])


@dataclass
class IngestResult:
    stored: int = 0  # rows moved from the file into the store
    held: set[str] = field(default_factory=set)  # completion ids the store still refuses
    error: str | None = None  # why the first held row was refused


def ingest(store: Store) -> IngestResult:
    """Store what unstored.jsonl holds, keep in the file what still fails (and any
    line that is not JSON, e.g. torn by a crash), and drop rows already stored."""
    path = store.root / FILE
    result = IngestResult()
    if not path.exists():
        return result
    keep: list[str] = []
    parsed: list[tuple[str, dict]] = []
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["completion_id"]
        except (ValueError, KeyError, TypeError):
            keep.append(line)
            continue
        parsed.append((line, row))
    # stored since (e.g. by a run that crashed before rewriting this file): one query for all
    done = store.existing_ids(
        "completions", "completion_id", [r["completion_id"] for _, r in parsed], "t.error IS NULL"
    )
    for line, row in parsed:
        cid = row["completion_id"]
        if cid in done:
            continue
        row.pop("store_error", None)
        try:
            store.write_completions([sanitize(row)])
            result.stored += 1
            done.add(cid)
        except Exception as e:
            result.held.add(cid)
            result.error = result.error or str(e)
            keep.append(line)
    _rewrite(path, keep)
    return result


def _rewrite(path: Path, lines: list[str]) -> None:
    """Replace the file atomically; if that fails (disk full) the old file stays, and
    rows it holds that were stored meanwhile are skipped by the next ingest."""
    if not lines:
        path.unlink()
        return
    tmp = path.with_suffix(".jsonl.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())  # paid replies: on disk before the old file goes
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


class SpillReserve:
    """A file of RESERVE_BYTES set aside in the workspace while a job runs; deleting
    it when the disk fills gives the spill file room. Making it fails with ENOSPC
    when the disk is already (nearly) full, before any request is paid for."""

    def __init__(self, root: Path):
        self.path = Path(root) / RESERVE_FILE

    def make(self) -> None:
        if self.path.exists() and self.path.stat().st_size >= RESERVE_BYTES:
            return  # left by a killed job
        try:
            with open(self.path, "wb") as f:
                try:
                    os.posix_fallocate(f.fileno(), 0, RESERVE_BYTES)
                except OSError as e:
                    if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    # no fallocate here: random bytes, which a compressing filesystem cannot shrink
                    for _ in range(RESERVE_BYTES >> 20):
                        f.write(os.urandom(1 << 20))
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            self.path.unlink(missing_ok=True)
            raise

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
