"""RunLogger: one place a training run reports to. Every value goes to TensorBoard
(out/tb) and to out/metrics.jsonl at once; rows for the workspace's `metrics` table are
buffered and written every `flush_every` log calls.

The workspace is opened only for the moment of a flush and closed again, so
`cotmill sql "select * from metrics"` works while a run trains. A flush that finds the
workspace busy keeps its rows for the next one (warning once); nothing is lost while
the files hold everything.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time
from pathlib import Path


def _now() -> dt.datetime:
    return dt.datetime.now()  # local naive time, as the rest of the workspace


def _number(value) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # NaN/inf are not JSON


class RunLogger:
    def __init__(
        self,
        *,
        kind: str,
        out_dir,
        workspace=None,
        run: str | None = None,
        model: str = "",
        data: str = "",
        config: dict | None = None,
        flush_every: int = 20,
    ):
        from torch.utils.tensorboard import SummaryWriter

        from train.environment import environment

        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.run = run or f"{kind}-{self.out_dir.name}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
        self.workspace = workspace
        self.flush_every = max(1, flush_every)
        self._writer = SummaryWriter(str(self.out_dir / "tb"))
        # appended, so a resumed run continues its files
        self._metrics = (self.out_dir / "metrics.jsonl").open("a", encoding="utf-8")
        self._samples = (self.out_dir / "samples.jsonl").open("a", encoding="utf-8")
        self._rows: list[dict] = []
        self._since_flush = 0
        self._warned = False
        self._closed = False
        # the `runs` row, written with the next flush (and updated by finish)
        self._run_row: dict | None = {
            "run": self.run, "kind": kind, "model": str(model), "data": str(data), "out": str(self.out_dir),
            "config": json.dumps(config or {}, sort_keys=True, default=str), "status": "running",
            "started_at": _now(), "env": json.dumps(environment(), sort_keys=True),
        }  # fmt: skip
        self.flush()

    def log(self, step: int, values: dict[str, float]) -> None:
        """Scalars of one step: TensorBoard, metrics.jsonl, and the buffer for the store."""
        now = _now()
        numbers = {name: _number(v) for name, v in values.items()}
        for name, value in numbers.items():
            self._writer.add_scalar(name, value, step)
            self._rows.append(
                {"run": self.run, "step": step, "name": name, "value": value, "created_at": now}
            )
        line = {"step": step, "time": time.time(), **{k: _json_number(v) for k, v in numbers.items()}}
        self._metrics.write(json.dumps(line) + "\n")
        self._since_flush += 1
        if self._since_flush >= self.flush_every:
            self.flush()

    def text(self, step: int, tag: str, text: str) -> None:
        """A sample (a completion, say): TensorBoard text and samples.jsonl."""
        self._writer.add_text(tag, text, step)
        self._samples.write(json.dumps({"step": step, "tag": tag, "text": text}, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        """Files to disk; buffered rows to the store if it can be opened now."""
        self._since_flush = 0
        self._writer.flush()
        self._metrics.flush()
        self._samples.flush()
        if self.workspace is None or (not self._rows and self._run_row is None):
            return
        if self._write_store():
            self._rows, self._run_row = [], None

    def _write_store(self) -> bool:
        import duckdb

        from datagen.store import Store, WorkspaceError

        try:
            store = Store.open(self.workspace)
        except (WorkspaceError, duckdb.Error) as e:
            if not self._warned:
                print(
                    f"warning: {e}; metrics stay buffered and are retried at the next flush", file=sys.stderr
                )
                self._warned = True
            return False
        try:
            with store.transaction():
                if self._run_row is not None:
                    _upsert_run(store, self._run_row)
                store.insert_rows("metrics", self._rows, mode="APPEND")
        finally:
            store.close()
        return True

    def finish(self, status: str = "finished", summary: dict | None = None) -> None:
        """Mark the run's end (status, summary, finished_at) and close the files. A busy
        workspace is retried for a few seconds before the rows are given up (they stay in
        metrics.jsonl)."""
        if self._closed:
            return
        self._closed = True
        row = self._run_row or {"run": self.run}
        self._run_row = {**row, "status": status, "finished_at": _now(),
                         "summary": json.dumps(summary or {}, sort_keys=True, default=str)}  # fmt: skip
        for attempt in range(6):
            self.flush()
            if self.workspace is None or self._run_row is None:
                break
            time.sleep(0.5 * (attempt + 1))
        else:
            print(f"warning: run {self.run} could not be stored in {self.workspace}; see metrics.jsonl",
                  file=sys.stderr)  # fmt: skip
        self._writer.close()
        self._metrics.close()
        self._samples.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.finish("interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed")


def _upsert_run(store, row: dict) -> None:
    """Insert the run, or update the fields given (a resumed run keeps its started_at)."""
    exists = store.con.execute("SELECT count(*) FROM runs WHERE run = ?", [row["run"]]).fetchall()[0][0]
    if not exists:
        store.insert_rows("runs", [row])
        return
    fields = {k: v for k, v in row.items() if k != "run"}
    if fields.pop("started_at", None) is not None:  # a resume keeps the first start
        fields.setdefault("finished_at", None)
    sets = ", ".join(f"{k} = ?" for k in fields)
    if sets:
        store.con.execute(f"UPDATE runs SET {sets} WHERE run = ?", [*fields.values(), row["run"]])


class NullLogger:
    """The logger of a torchrun rank other than 0: rank 0 alone writes files and rows."""

    def __init__(self, run: str | None = None):
        self.run = run or ""

    def log(self, step: int, values: dict[str, float]) -> None: ...

    def text(self, step: int, tag: str, text: str) -> None: ...

    def flush(self) -> None: ...

    def finish(self, status: str = "finished", summary: dict | None = None) -> None: ...

    def __enter__(self) -> NullLogger:
        return self

    def __exit__(self, exc_type, exc, tb) -> None: ...
