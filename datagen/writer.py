"""The engine's writer: buffers completion rows on the event loop and commits them
from a thread, so the loop keeps receiving replies while DuckDB writes.

Threading contract: the buffer is filled and swapped only on the event loop; the
thread gets a list nobody else touches and returns a `Written` that says what became
of it, which the engine applies to its stats on the loop. So no reply can land in a
list the thread has already read, and no counter is updated from two threads.

What cannot be stored is never dropped: a row DuckDB refuses goes to unstored.jsonl
(datagen.unstored). A full disk frees the spill reserve, spills what is in hand and
stops the job; after that nothing more goes to DuckDB, whose WAL would take the room.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import duckdb

from datagen import unstored
from datagen.store import Store

CHECKPOINT_WAL_BYTES = 16 << 20  # DuckDB's own default threshold
# Reply bytes buffered before workers wait to send more. A disk-full moment spills the
# batch being committed plus the buffer: both, with the replies in flight, fit in
# unstored.RESERVE_BYTES for ordinary concurrency and reply sizes.
BUFFER_BYTES = 2 << 20


@dataclass
class Written:
    """What became of one batch, beyond the rows stored."""

    unstored: int = 0  # replies appended to unstored.jsonl
    lost: int = 0  # replies neither stored nor appended
    lost_reason: str | None = None
    disk_full: bool = False
    stop: str | None = None  # why the job must stop sending
    notice: str | None = None  # something to tell the user, not fatal


class Writer:
    def __init__(self, store: Store):
        self.store = store
        self.reserve = unstored.SpillReserve(store.root)
        self.disk_full = False  # set by the thread, read by both: a one-way flag
        self.has_rows = asyncio.Event()
        self._buffer: list[dict] = []
        self._bytes = 0

    # --- on the event loop ------------------------------------------------------------

    def add(self, row: dict) -> None:
        self._buffer.append(row)
        for name in ("text", "reasoning"):
            if row.get(name):
                self._bytes += len(row[name].encode("utf-8", "surrogatepass"))
        self.has_rows.set()

    @property
    def full(self) -> bool:
        return self._bytes > BUFFER_BYTES

    async def flush(self) -> Written:
        """Commit what is buffered (in a thread); never raises: a failure of the
        writer itself spills the rows and asks the job to stop."""
        rows, self._buffer, self._bytes = self._buffer, [], 0
        self.has_rows.clear()
        if not rows:
            return Written()
        try:
            return await asyncio.to_thread(self._write, rows)
        except Exception as e:
            written = await asyncio.to_thread(self._spill, rows, f"writing to the store failed: {e}")
            written.stop = written.stop or f"writing to the store failed: {e}"
            return written

    # --- in the thread ------------------------------------------------------------------

    def _write(self, rows: list[dict]) -> Written:
        if self.disk_full:
            return self._spill(rows, "disk full")
        try:
            # a later success replaces an earlier error row for the same id
            self.store.write_completions(rows)
        except Exception as e:
            return self._on_disk_full(rows, e) if unstored.is_disk_full(e) else self._one_by_one(rows)
        return self._checkpoint()

    def _one_by_one(self, rows: list[dict]) -> Written:
        """A batch failed: store the rows that can be stored and spill the others."""
        refused: list[tuple[dict, str]] = []
        for i, row in enumerate(rows):
            try:
                self.store.write_completions([row])
            except Exception as e:
                if unstored.is_disk_full(e):
                    return _merge(self._spill_each(refused), self._on_disk_full(rows[i:], e))
                if isinstance(e, duckdb.FatalException):  # the store is gone for this process
                    written = _merge(self._spill_each(refused), self._spill(rows[i:], str(e)))
                    written.stop = f"the store failed: {e}"
                    return written
                refused.append((row, str(e)))
        return self._spill_each(refused)

    def _checkpoint(self) -> Written:
        if self.store.wal_bytes() <= CHECKPOINT_WAL_BYTES:
            return Written()
        try:
            self.store.checkpoint_if_room()
        except Exception as e:  # the rows are committed in the WAL: nothing to spill
            if unstored.is_disk_full(e):
                return self._on_disk_full([], e)
            if isinstance(e, duckdb.FatalException):
                return Written(stop=f"the store failed while checkpointing: {e}")
            return Written(notice=f"checkpoint failed ({e}); the rows stay in the write-ahead log")
        return Written()

    def _on_disk_full(self, rows: list[dict], error: Exception) -> Written:
        self.disk_full = True
        self.reserve.release()  # room for the spill file
        written = self._spill(rows, "disk full")
        written.disk_full = True
        written.stop = f"disk full: {error}"
        return written

    def _spill_each(self, refused: list[tuple[dict, str]]) -> Written:
        return _merge(*(self._spill([row], reason) for row, reason in refused))

    def _spill(self, rows: list[dict], reason: str) -> Written:
        """Replies go to unstored.jsonl; error rows are failures already counted. If
        the file cannot be written either, the replies are lost: counted, never silent."""
        replies = [row for row in rows if row["error"] is None]
        if not replies:
            return Written()
        try:
            unstored.spill(self.store.root, replies, reason)
            return Written(unstored=len(replies))
        except OSError as e:
            return Written(
                lost=len(replies), lost_reason=f"writing {unstored.FILE} failed too: {e}", stop=reason
            )


def _merge(*parts: Written) -> Written:
    out = Written()
    for p in parts:
        out.unstored += p.unstored
        out.lost += p.lost
        out.lost_reason = out.lost_reason or p.lost_reason
        out.disk_full = out.disk_full or p.disk_full
        out.stop = out.stop or p.stop
        out.notice = out.notice or p.notice
    return out
