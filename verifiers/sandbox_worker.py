"""The zygote: one long-lived process per worker slot, already inside the sandbox.

`verifiers.sandbox` starts it (under bubblewrap, under `unshare`, or bare) through
`sandbox_cmd.BOOT`, which loads this file and its two siblings by path, with a Unix
socket on fds 0 and 1 and the config JSON as the last argument. It
imports the harness and the common standard-library modules once, then serves
requests: for each run it forks fresh children. Each child drops its privileges,
applies rlimits and runs one role of `sandbox_harness`. The zygote itself never runs
untrusted code. After each run it kills every process the run left behind and wipes
the scratch directory.

Frames on the socket are a 4-byte big-endian length, then JSON: a request is only
{"kind", "timeout"}, and the reply only how the run ended. Every byte of a run's
data (program, inputs, tests, stdin, what the children report, stdout) travels in
pipes and files whose fds are attached to the request: the zygote passes them to
the children without reading them. A child is a fork of the zygote and inherits
its memory, heap garbage included; since the zygote never held an earlier run's
data, no fresh run can find one there, ctypes or not. This costs nothing per run
(re-exec'ing a clean interpreter per run would cost most of the zygote's speed).
Each child also loads the seccomp filter (`verifiers.sandbox_seccomp`) before it
reads its data.
"""

from __future__ import annotations

import fcntl
import gc
import json
import math
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

import sandbox_harness as harness
import sandbox_os as sos

PRELOAD = (
    "typing collections itertools functools heapq bisect string re random hashlib fractions "
    "decimal statistics copy dataclasses operator enum datetime array"
).split()

# ---------------------------------------------------------------------- framing


def recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> tuple[dict | None, list[int]]:
    head, fds, _flags, _addr = socket.recv_fds(sock, 4, 4)
    if not head:
        return None, fds
    if len(head) < 4:
        head += recv_exact(sock, 4 - len(head)) or b""
    (length,) = struct.unpack(">I", head)
    body = recv_exact(sock, length)
    return (json.loads(body) if body is not None else None), fds


def send_frame(sock: socket.socket, obj: dict) -> None:
    body = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


# ------------------------------------------------------------------ child setup


class Zygote:
    def __init__(self, config: dict):
        self.config = config
        self.limits = config["limits"]
        self.tmp = config["tmp"]
        self.work = ""
        self.runs = 0
        self.pidns = config["mode"] != "rlimits"
        self.uids = config.get("uids")  # [tests uid, program uid] when we may setuid
        self.base_tasks = 0 if self.uids else sos.count_tasks(os.getuid())
        self.devnull = os.open("/dev/null", os.O_RDWR)
        bpf = config.get("seccomp")
        self.seccomp = sos.seccomp_program(bytes.fromhex(bpf)) if bpf and sos.seccomp_available() else None
        if self.seccomp is not None and not _filter_loads(self.seccomp):
            self.seccomp = None  # a kernel that takes no filter must not fail every run: told at start-up

    def spawn(self, role, fds: list[int], uid_index: int, deadline: float) -> int:
        """Fork a child with `fds` as its 0, 1, 2, 3, ...; it runs `role()` and exits."""
        pid = os.fork()
        if pid:
            return pid
        code = 70
        try:
            self._enter_child(fds, uid_index, deadline)
            code = int(role())
        except BaseException:
            pass
        finally:
            os._exit(code)  # whatever happened, the child never returns into the zygote

    def _enter_child(self, fds: list[int], uid_index: int, deadline: float) -> None:
        # no setsid(): the zygote has no terminal, the sweep does not rely on process
        # groups, and a new session costs ~4 ms (a scheduler autogroup) on some kernels
        high = [fcntl.fcntl(self.devnull if fd is None else fd, fcntl.F_DUPFD, 256) for fd in fds]
        for target, fd in enumerate(high):
            os.dup2(fd, target)
        os.closerange(len(fds), 1 << 20)
        sos.prctl(sos.PR_SET_PDEATHSIG, signal.SIGKILL)
        if self.uids:
            uid = self.uids[uid_index]
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # all capabilities go with uid 0
        elif self.config.get("drop_caps"):
            sos.drop_capabilities()
        sos.prctl(sos.PR_SET_NO_NEW_PRIVS, 1)
        sos.prctl(sos.PR_SET_DUMPABLE, 0)
        self._limit(deadline)
        os.chdir(self.work if uid_index else "/")  # the tests process does not share the program's
        os.environ.update(TMPDIR=self.work, HOME=self.work)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        if "random" in sys.modules:
            sys.modules["random"].seed(0)
        sys.set_int_max_str_digits(0)
        if self.seccomp is not None:
            sos.load_seccomp(self.seccomp)  # last: it refuses nothing this setup needs

    def _limit(self, deadline: float) -> None:
        r = resource
        lim = self.limits
        cpu = math.ceil(max(0.0, deadline - time.monotonic())) + 1  # a backstop: the wall clock comes first
        for res, value in (
            (r.RLIMIT_CORE, 0),
            (r.RLIMIT_CPU, cpu),
            (r.RLIMIT_AS, lim["memory_mb"] << 20),
            (r.RLIMIT_FSIZE, lim["file_mb"] << 20),
            (r.RLIMIT_NOFILE, lim["open_files"]),
            (r.RLIMIT_NPROC, self.base_tasks + lim["processes"]),
        ):
            hard = r.getrlimit(res)[1]
            soft = value if hard == r.RLIM_INFINITY else min(value, hard)
            r.setrlimit(res, (soft, soft + 1 if res == r.RLIMIT_CPU and soft + 1 <= hard else soft))

    # ---------------------------------------------------------------- supervise

    def supervise(self, pids: list[int], deadline: float) -> dict:
        """Wait for the first of `pids` to exit (or kill it at the deadline); then kill
        every process the run left. How it ended, as the reply to the host."""
        pid, state = pids[0], "timeout"
        pidfd = _pidfd(pid)
        while (remaining := deadline - time.monotonic()) > 0:
            if pidfd is not None and select.select([pidfd], [], [], remaining)[0]:
                state = "exited"
                break
            if pidfd is None:  # Linux < 5.3: poll the child
                if _exited(pid):
                    state = "exited"
                    break
                time.sleep(min(remaining, 0.002))
        if pidfd is not None:
            os.close(pidfd)
        return {"state": state, **sos.wait_status(self.kill_all(*pids))}

    def kill_all(self, *pids: int) -> int | None:
        """SIGKILL every process of the run and reap them all; orphans come back to us
        (we are the subreaper, or init of the pid namespace). Returns the wait status
        of the first of `pids`."""
        status = None
        if self.pidns:
            try:
                os.kill(-1, signal.SIGKILL)  # all of the namespace but us and its init
            except ProcessLookupError:
                pass
        for pid in pids:
            sos.kill(pid)
            try:
                got, code = os.waitpid(pid, 0)
                status = code if pid == pids[0] else status
            except ChildProcessError:
                pass
        for _ in range(10_000):
            try:
                while os.waitpid(-1, 0 if self.pidns else os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                return status
            time.sleep(0.001)  # rlimits mode, something is left: kill the whole tree
            for child in sos.descendants(os.getpid()):
                sos.kill(child)
        raise RuntimeError("could not reap the run's processes")

    # ---------------------------------------------------------------------- runs

    def fresh_work(self) -> None:
        """An empty private working directory; whatever earlier runs left is deleted."""
        for entry in os.scandir(self.tmp):
            sos.remove(entry.path)
        self.runs += 1  # a new name: a leftover that could not be deleted is not reused
        self.work = os.path.join(self.tmp, f"run{self.runs}")
        os.mkdir(self.work, 0o700)
        if self.uids:
            os.chown(self.work, self.uids[1], self.uids[1])

    def handle(self, req: dict, fds: list[int]) -> dict:
        """One run. The fds hold its data, in the order of `sandbox_wire`; the
        children read them, never we."""
        deadline = time.monotonic() + float(req["timeout"])
        kind, none = req.get("kind"), [None, None, None]
        cap = self.limits["output_bytes"]
        if kind == "io" and len(fds) == 2:  # payload, report
            self.fresh_work()
            pid = self.spawn(lambda: harness.run_io(3, 4, cap), none + fds, 1, deadline)
            return self.supervise([pid], deadline)
        if kind == "humaneval" and len(fds) == 3:  # program payload, tests payload, report
            self.fresh_work()
            return self.run_humaneval(*fds, deadline)
        if kind == "stdio" and len(fds) == 4:  # stdin, stdout, stderr, program payload
            self.fresh_work()
            pid = self.spawn(lambda: harness.run_stdio(3), fds, 1, deadline)
            return self.supervise([pid], deadline)
        return {"error": f"bad request kind {kind!r} with {len(fds)} fds"}

    def run_humaneval(self, program: int, tests: int, report: int, deadline: float) -> dict:
        """The program and the tests in two processes that talk over a socket."""
        ours, theirs = socket.socketpair()
        try:
            serve = lambda: harness.serve_calls(3, 4)  # noqa: E731
            program_pid = self.spawn(serve, [None, None, None, theirs.fileno(), program], 1, deadline)
            check = lambda: harness.run_tests(3, 4, 5)  # noqa: E731
            pid = self.spawn(check, [None, None, None, tests, ours.fileno(), report], 0, deadline)
        finally:
            ours.close(), theirs.close()
        return self.supervise([pid, program_pid], deadline)


# ---------------------------------------------------------------------- helpers


def _filter_loads(program) -> bool:
    """Load the seccomp filter in a throwaway child: if this kernel refuses it, every
    run's child would exit before its program starts and score 0 as if it had failed."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sos.prctl(sos.PR_SET_NO_NEW_PRIVS, 1)
            sos.load_seccomp(program)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # Linux < 5.3: poll the child instead
        return None


def _exited(pid: int) -> bool:
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _preload() -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:
            pass


def main() -> None:
    config = json.loads(sys.argv[-1])
    sock = socket.socket(fileno=os.dup(0))
    for fd in (0, 1):
        os.dup2(os.open("/dev/null", os.O_RDWR), fd)
    sos.prctl(sos.PR_SET_PDEATHSIG, signal.SIGKILL)
    if config["mode"] == "namespaces":
        sos.build_root(config["binds"], config["limits"]["tmp_mb"])
    sos.prctl(sos.PR_SET_CHILD_SUBREAPER, 1)
    sos.prctl(sos.PR_SET_DUMPABLE, 0)
    # a private tmpfs is everyone's; the host directory of rlimits mode only leads to runN
    os.chmod(
        config["tmp"], (0o1777 if config["mode"] != "rlimits" else 0o711) if config.get("uids") else 0o700
    )
    _preload()
    zygote = Zygote(config)
    gc.freeze()  # a collection in a child would otherwise touch, and copy, every inherited object
    send_frame(sock, {"ready": True, "pid": os.getpid(), "uid": os.getuid(), "seccomp": bool(zygote.seccomp)})
    while True:
        req, fds = recv_frame(sock)
        if req is None:
            return
        try:
            reply = zygote.handle(req, fds)
        except Exception as exc:  # a bug of ours: report it, keep serving
            reply = {"error": harness.describe(exc)}
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        send_frame(sock, reply)
