"""Run untrusted Python programs in a sandbox, fast.

Isolation is the best of three modes that works here (`isolation()` reports which
one and what it guarantees; `cotmill doctor` prints it):

- bubblewrap: `bwrap` with new pid, net, ipc and uts namespaces. The root is a
  tmpfs holding read-only binds of /usr, /lib*, a few /etc files and the Python
  install, plus /dev nodes, a new /proc and a size-limited private /tmp.
- namespaces: `unshare` with the same namespaces (and a user namespace when not
  root); `sandbox_os.build_root` builds the same root with mount(2) and pivot_root(2).
- rlimits: no namespaces. Resource limits, a throwaway uid when we are root, a private
  scratch directory and a subreaper sweep. The network and the host's files are
  NOT isolated in this mode.

In every mode the environment is built from scratch (no API keys), each run is a
fresh fork that drops to an unprivileged uid (or loses all capabilities),
sets no_new_privs and rlimits (CPU, address space, processes, file size, open files),
loads a seccomp filter (`sandbox_seccomp`, where libseccomp is installed) and runs
under a wall-clock deadline. The zygote never reads a run's data (`sandbox_wire`),
so no run finds an earlier one in the memory it inherits. Afterwards every process
of the run is killed and the scratch directory is wiped. No process outlives the call.

Throughput: `Pool` keeps long-lived sandboxed zygotes (at most one per CPU by
default, started as concurrent calls need them) that have already imported the
harness; a run costs a fork, not an interpreter start. `run()` uses a process-wide default pool; it is thread-safe and
re-created after a fork (process pools).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import queue
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from verifiers import sandbox_seccomp
from verifiers import sandbox_wire as wire
from verifiers.errors import CotmillError
from verifiers.sandbox_cmd import binds, worker_command

MODES = ("bubblewrap", "namespaces", "rlimits")
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
    "PYTHONIOENCODING": "utf-8",
}
STARTUP_S = 20.0  # a cold start on a loaded machine
GRACE_S = 5.0  # beyond the run's own deadline, for the zygote to kill and reply


_starter_lock = threading.Lock()
_starter_pool: ThreadPoolExecutor | None = None


@contextlib.contextmanager
def _worker_errors():
    """The zygote's socket going quiet or closing, told as a SandboxError."""
    try:
        yield
    except TimeoutError:
        raise SandboxError("the sandbox worker did not answer in time") from None
    except EOFError:
        raise SandboxError("the sandbox worker died") from None


class SandboxError(CotmillError, RuntimeError):
    pass


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 1024  # RLIMIT_AS of each process
    processes: int = 32  # RLIMIT_NPROC (threads count too)
    file_mb: int = 16  # RLIMIT_FSIZE
    tmp_mb: int = 64  # size of the private /tmp
    open_files: int = 256  # RLIMIT_NOFILE
    output_bytes: int = 1 << 20  # captured stdout per case, and one returned value
    report_bytes: int = 16 << 20  # all a run may report


# ------------------------------------------------------------------------ workers


def _starter() -> ThreadPoolExecutor:
    """The one thread that starts zygotes. The zygote, and bwrap with --die-with-parent,
    ask to be killed when their parent dies, and to the kernel that parent is the
    thread that forked them: a zygote started by a thread of a caller's thread pool
    died with that thread, and the next run on it failed. This thread lives as long
    as the process."""
    global _starter_pool
    with _starter_lock:
        if _starter_pool is None:
            _starter_pool = ThreadPoolExecutor(1, thread_name_prefix="cotmill-sandbox-start")
        return _starter_pool


def _sweep_scratch() -> None:
    """Delete rlimits-mode scratch directories whose host process is gone (it died
    without running atexit: a crash, os._exit in a forked child)."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        parts = name.split("-")
        if name.startswith("cotmill-sandbox-") and len(parts) == 4 and parts[2].isdigit():
            try:
                os.kill(int(parts[2]), 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            except OSError:
                pass


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of a throwaway uid: `kill -9 -1` run as that uid."""
    kill = shutil.which("kill", path="/usr/bin:/bin")
    if kill:
        try:
            quiet = subprocess.DEVNULL
            argv = [kill, "-9", "-1"]
            subprocess.run(
                argv,
                user=uid,
                group=uid,
                extra_groups=[],
                env=dict(ENV),
                stdout=quiet,
                stderr=quiet,
                timeout=5,
            )
        except (OSError, subprocess.SubprocessError):
            pass


class Worker:
    """One sandboxed zygote, used by one thread at a time (the pool sees to it)."""

    def __init__(self, mode: str, limits: Limits):
        self.mode, self.limits = mode, limits
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.host_tmp: str | None = None
        self.token = ""  # on the zygote's command line: tells its processes apart from all others
        self.uids: list[int] | None = None
        self.ready = self.seccomp = False

    def _config(self) -> dict:
        root = os.geteuid() == 0
        base = secrets.randbelow(1 << 30) * 2 + (1 << 30)  # a fresh pair of uids nobody else uses
        self.token = secrets.token_hex(8)
        config = {"mode": self.mode, "tmp": "/tmp", "limits": asdict(self.limits), "token": self.token}
        self.uids = [base, base + 1] if root else None
        config.update(uids=self.uids, drop_caps=not root)
        bpf, _why_not = sandbox_seccomp.compiled()
        config["seccomp"] = bpf.hex() if bpf else None
        if self.mode == "namespaces":
            config["binds"] = binds()
        if self.mode == "rlimits":
            _sweep_scratch()
            self.host_tmp = tempfile.mkdtemp(prefix=f"cotmill-sandbox-{os.getpid()}-")
            config["tmp"] = self.host_tmp
        return config

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        argv = worker_command(self.mode, self.limits.tmp_mb) + [json.dumps(self._config())]
        try:
            spawn = functools.partial(
                subprocess.Popen,
                argv,
                stdin=theirs,
                stdout=theirs,
                stderr=subprocess.DEVNULL,
                env=dict(ENV),
                cwd="/",
                start_new_session=True,
            )
            self.proc = _starter().submit(spawn).result()
        finally:
            theirs.close()
        self.sock, self.ready = ours, False

    def _alive(self) -> bool:
        if self.proc is None or self.sock is None or self.proc.poll() is not None:
            return False
        # an idle zygote sends nothing: anything readable is end-of-file (it died) or junk
        return not select.select([self.sock], [], [], 0)[0]

    def _ensure(self) -> None:
        if not self._alive():
            self.kill()
            self.start()
        if not self.ready:
            hello = self._recv(time.monotonic() + STARTUP_S)
            if not hello.get("ready"):
                raise SandboxError(f"the sandbox worker did not start: {hello}")
            self.seccomp = bool(hello.get("seccomp"))  # the filter compiled here, and the kernel took it
            self.ready = True

    def _recv(self, deadline: float) -> dict:
        assert self.sock is not None
        with _worker_errors():
            return wire.recv_frame(self.sock, deadline)

    def request(self, request: dict, timeout_s: float) -> dict:
        """Send one run; on any failure the worker is killed (and restarted next time)."""
        try:
            sent = wire.payloads(request)
            program = wire.program(request) if request.get("kind") == "stdio" else b""
        except (KeyError, TypeError) as exc:
            return {"error": f"bad request: missing or malformed {exc}"}
        try:
            self._ensure()
            deadline = time.monotonic() + timeout_s
            if request.get("kind") == "stdio":
                return self._stdio(program, request["stdins"], deadline)
            report_r, report_w = os.pipe()
            try:
                fds = [wire.pipe_with(data) for data in sent] + [report_w]
                reply, report = self._exchange(str(request.get("kind")), fds, deadline, report_r)
            finally:
                os.close(report_r)
            return reply if "error" in reply else dict(reply, report=report.decode("utf-8", "replace"))
        except (OSError, ValueError, SandboxError) as exc:
            self.kill()
            raise SandboxError(str(exc) or type(exc).__name__) from None

    def _exchange(self, kind: str, fds: list[int], deadline: float, report: int | None) -> tuple[dict, bytes]:
        """Hand `fds` (closed here) to the zygote for one run of `kind`; its reply, and
        what arrived on `report` meanwhile."""
        assert self.sock is not None
        with _worker_errors():
            return wire.exchange(self.sock, kind, fds, deadline, GRACE_S, report, self.limits.report_bytes)

    def _stdio(self, program: bytes, stdins: list, deadline: float) -> dict:
        """Each case is a run of its own, with stdin, stdout and stderr in files."""
        run = lambda fds: self._exchange("stdio", fds, deadline, None)[0]  # noqa: E731
        return wire.stdio_cases(run, program, stdins, deadline, self.limits.output_bytes)

    def kill(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait()
        if self.mode == "rlimits" and self.uids:  # daemons that left the process group
            for uid in self.uids:
                _kill_uid(uid)
        if self.host_tmp:
            shutil.rmtree(self.host_tmp, ignore_errors=True)
        self.proc = self.sock = self.host_tmp = None
        self.ready = False


class Pool:
    """Up to `workers` sandboxed zygotes (default: one per CPU), started as concurrent
    calls need them: a single-threaded process (one of a process pool) starts one.
    `run` is thread-safe and blocks while all workers are busy."""

    def __init__(self, workers: int | None = None, mode: str | None = None, limits: Limits | None = None):
        self.mode = mode or detect_mode()
        if self.mode not in MODES:
            raise ValueError(f"unknown sandbox mode {self.mode!r}; known: {', '.join(MODES)}")
        self.limits = limits or Limits()
        self.size = max(1, workers or os.cpu_count() or 1)
        self.workers: list[Worker] = []
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._grow = threading.Lock()

    def _take(self) -> Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._grow:
            if len(self.workers) < self.size:
                self.workers.append(Worker(self.mode, self.limits))  # started by its first request
                return self.workers[-1]
        return self._idle.get()

    def run(self, request: dict, timeout_s: float = 10.0) -> dict:
        """Run one request (see `sandbox_worker.Zygote.handle`); never raises for a
        misbehaving program. A broken sandbox gives {"error": ...}."""
        worker = self._take()
        try:
            return worker.request(request, timeout_s)
        except SandboxError as exc:
            return {"error": f"sandbox: {exc}"}
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -------------------------------------------------------------- mode and defaults

_lock = threading.Lock()
_pool_lock = threading.Lock()
_probes: dict[str, str | None] = {}
_probed_seccomp: dict[str, bool] = {}  # mode -> its probe's zygote loads the seccomp filter
_pool: Pool | None = None


def probe(mode: str) -> str | None:
    """None when `mode` works here (a real zygote started), else why not. Cached."""
    with _lock:
        if mode not in _probes:
            _probes[mode] = _probe(mode)
        return _probes[mode]


def _probe(mode: str) -> str | None:
    tool = {"bubblewrap": "bwrap", "namespaces": "unshare"}.get(mode)
    if tool and shutil.which(tool) is None:
        return f"{tool} is not installed"
    worker = Worker(mode, Limits())
    try:
        worker.start()
        worker._ensure()
        _probed_seccomp[mode] = worker.seccomp
        return None
    except (OSError, SandboxError) as exc:
        return f"{tool or mode} failed to start a worker: {exc}"
    finally:
        worker.kill()


def _no_seccomp() -> str:
    return sandbox_seccomp.compiled()[1] or "the kernel refused it, or the mode does not start"


def detect_mode() -> str:
    """COTMILL_SANDBOX when set, else the first of MODES that works here."""
    forced = os.environ.get("COTMILL_SANDBOX", "").strip()
    if forced:
        if forced not in MODES:
            raise ValueError(f"COTMILL_SANDBOX={forced!r}; expected one of {', '.join(MODES)}")
        return forced
    return next((mode for mode in MODES if probe(mode) is None), "rlimits")


def isolation(mode: str | None = None) -> dict:
    """Which isolation is in force and what it guarantees (for `cotmill doctor`):
    {"mode", "secure", "seccomp", "available": {mode: None or why not}, "guarantees": {...},
    "limits": {...}, "workers"}. `secure` is False in rlimits mode; `seccomp` says whether
    the seccomp filter is in force (it is in every mode where libseccomp is installed)."""
    mode = mode or detect_mode()
    available = {m: probe(m) for m in MODES}
    seccomp = _probed_seccomp.get(mode, False)
    lim = Limits()
    ns = mode != "rlimits"
    root = os.geteuid() == 0
    who = "a throwaway uid (no capabilities)" if root else "the calling user with every capability dropped"
    rootfs = "the sandbox's own root" if ns else "the host"
    guarantees = {
        "network": "none: a new network namespace (loopback only)" if ns else "NOT isolated",
        "filesystem": (
            "read-only: a tmpfs root with /usr, /lib*, a few /etc files and the Python install bound read-only"
            if ns
            else "the host's, with the permissions of " + ("a throwaway uid" if root else "the calling user")
        ),
        "tmp": f"private {lim.tmp_mb} MiB tmpfs, wiped after every run"
        if ns
        else "a private scratch directory, wiped after every run (the host's /tmp stays reachable)",
        "environment": "rebuilt from scratch (" + ", ".join(sorted(ENV)) + "): no API keys",
        "privileges": f"each run forks a fresh process that runs as {who}, with no_new_privs",
        "processes": (
            f"RLIMIT_NPROC {lim.processes}; "
            + ("own pid namespace; kill(-1) after each run" if ns else "subreaper sweep after each run")
            + "; no process outlives the call"
        ),
        "limits": f"RLIMIT_CPU = timeout + 1 s, RLIMIT_AS {lim.memory_mb} MiB, RLIMIT_FSIZE {lim.file_mb} MiB, "
        f"RLIMIT_NOFILE {lim.open_files}, stdout capped at {lim.output_bytes >> 10} KiB, wall-clock timeout",
        "root": f"processes see {rootfs}",
        "memory": "no earlier run's data: the zygote that each run is forked from never reads a run's "
        "program, inputs, tests, stdin or outputs (they travel in pipes and files it passes on unread)",
        "seccomp": sandbox_seccomp.describe() if seccomp else f"NOT in force ({_no_seccomp()})",
    }
    return {
        "mode": mode,
        "secure": ns,
        "seccomp": seccomp,
        "available": available,
        "guarantees": guarantees,
        "limits": asdict(lim),
        "workers": os.cpu_count() or 1,
    }


def default_pool() -> Pool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Pool()
        return _pool


def run(request: dict, timeout_s: float = 10.0) -> dict:
    """Run one request on the default pool."""
    try:
        pool = default_pool()
    except (OSError, ValueError, SandboxError) as exc:
        return {"error": f"sandbox unavailable: {exc}"}
    return pool.run(request, timeout_s)


def _forget_pool() -> None:  # in a forked child: the parent's workers and threads are not ours
    global _pool, _lock, _pool_lock, _starter_pool, _starter_lock
    _pool, _lock, _pool_lock = None, threading.Lock(), threading.Lock()
    _starter_pool, _starter_lock = None, threading.Lock()


def _close_default() -> None:
    if _pool is not None:
        _pool.close()


os.register_at_fork(after_in_child=_forget_pool)
atexit.register(_close_default)
