"""A time limit for sympy that works from any thread and any process: helper processes.

Why processes: sympy cannot be interrupted from outside (no cooperative cancel
points), SIGALRM works only in the main thread of the main interpreter, and a
thread that runs past its limit cannot be stopped. So sympy runs in long-lived
helper processes (`python -c ... verifiers.math_worker.main()`), each speaking one
JSON line per request over its own pipes. A caller checks one helper out of the
pool, writes its jobs, and waits on the pipe with a deadline (a selector, no
signals); past the deadline the helper is killed (SIGKILL, reaped) and a fresh one
is started at once in the background, so the next caller finds one warming up.

- Thread-safe: a helper serves one caller at a time; up to MAX_WORKERS helpers are
  started on demand, so concurrent callers do not queue behind a slow one.
- Fork-safe: a forked child forgets its parent's helpers and starts its own.
- Helpers are started with `subprocess` (not multiprocessing), so nothing depends on
  the caller's `__main__` being importable; they run in their own session (Ctrl-C in
  a terminal does not reach them) and exit when their stdin closes, that is when the
  caller exits or dies.
- The time limit counts from the moment a ready helper gets the jobs; starting a
  helper (importing sympy, about 0.3-1 s, once) is bounded separately by
  STARTUP_TIMEOUT_S. `warm_up()` starts one ahead of time.
- Where no helper can be started at all (no usable sys.executable), jobs run in a
  daemon thread instead: the caller still gets its answer within the time limit,
  but a runaway job keeps its thread busy until it ends (the static guards in
  math_parse keep such jobs small).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))
STARTUP_TIMEOUT_S = 30.0
_MAX_START_FAILURES = 3
_ROOT = str(Path(__file__).resolve().parent.parent)
_BOOT = "import sys; sys.path.insert(0, {root!r}); from verifiers.math_worker import main; main()"


class Timeout(Exception):
    """The jobs did not finish within the time limit."""


class Unavailable(Exception):
    """No helper process could run the jobs."""


class _Stale(Unavailable):
    """The helper had died before it got the jobs (nothing of them ran)."""


class _Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT.format(root=_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.ready = False

    def _readline(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                raise Timeout
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise Unavailable("helper process exited")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def call(self, jobs: list, timeout_s: float) -> list:
        if not self.ready:
            try:
                line = self._readline(time.monotonic() + STARTUP_TIMEOUT_S)
            except Timeout:
                raise Unavailable("helper process did not start") from None
            if line != b"ready":
                raise Unavailable("helper process did not start")
            self.ready = True
        try:
            self.proc.stdin.write((json.dumps({"jobs": jobs}) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            raise _Stale("helper process exited while idle") from None
        results = json.loads(self._readline(time.monotonic() + timeout_s))["results"]
        if not isinstance(results, list) or len(results) != len(jobs):
            raise Unavailable("helper process answered nonsense")
        return results

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.selector.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class _Pool:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.idle: list[_Worker] = []
        self.live: set[_Worker] = set()
        self.start_failures = 0

    def acquire(self) -> _Worker:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with self.cond:
            while not self.idle and len(self.live) >= MAX_WORKERS:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Unavailable("all helper processes are busy")
                self.cond.wait(remaining)
            if self.idle:
                return self.idle.pop()
            if self.start_failures >= _MAX_START_FAILURES:
                raise Unavailable("helper processes fail to start")
            return self._start()

    def _start(self) -> _Worker:
        try:
            worker = _Worker()
        except (OSError, ValueError) as exc:
            self.start_failures += 1
            raise Unavailable(f"cannot start a helper process: {exc}") from None
        self.live.add(worker)
        return worker

    def release(self, worker: _Worker, ok: bool) -> None:
        if not ok:
            worker.kill()
        with self.cond:
            if ok:
                self.idle.append(worker)
                if worker.ready:
                    self.start_failures = 0
            else:
                self.live.discard(worker)
                if not worker.ready:
                    self.start_failures += 1
                elif self.start_failures < _MAX_START_FAILURES:
                    try:  # a replacement warms up while nobody waits for it
                        self.idle.append(self._start())
                    except Unavailable:
                        pass
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            workers, self.live, self.idle = list(self.live), set(), []
        for worker in workers:
            worker.kill()


_POOL: _Pool | None = None
_POOL_PID = 0
_POOL_LOCK = threading.Lock()


def _pool() -> _Pool:
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL, _POOL_PID = _Pool(), os.getpid()
        return _POOL


def _forget_after_fork() -> None:
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def shutdown() -> None:
    """Stop this process's helpers (they also exit by themselves when we do)."""
    if _POOL is not None and _POOL_PID == os.getpid():
        _POOL.close()


def warm_up() -> None:
    """Start a helper now so that the first sympy comparison does not wait for one."""
    pool = _pool()
    try:
        pool.release(pool.acquire(), ok=True)
    except Unavailable:
        pass


def run(jobs: list, timeout_s: float) -> list:
    """Results of math_worker jobs (True / False / None each). Raises Timeout when
    they take longer than timeout_s (the helper is killed and replaced)."""
    pool = _pool()
    for _attempt in range(2):  # a helper found dead while idle is replaced once
        try:
            worker = pool.acquire()
        except Unavailable:
            break
        try:
            results = worker.call(jobs, timeout_s)
        except Timeout:
            pool.release(worker, ok=False)
            raise
        except _Stale:
            pool.release(worker, ok=False)
            continue
        except (Unavailable, OSError, ValueError, KeyError, TypeError):
            started = worker.ready
            pool.release(worker, ok=False)
            if started:  # it died on these jobs (say, killed for memory): undecided
                return [None] * len(jobs)
            continue
        pool.release(worker, ok=True)
        return results
    return _run_in_thread(jobs, timeout_s)


def _run_in_thread(jobs: list, timeout_s: float) -> list:
    from verifiers import math_worker

    box: list = []
    thread = threading.Thread(target=lambda: box.append(math_worker.run_jobs(jobs)), daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not box:
        raise Timeout
    return box[0]
