"""The zygote: one long-lived process per worker slot, already inside the sandbox.

`verifiers.sandbox` starts it (under bubblewrap, under `unshare`, or bare) through
`sandbox_cmd.BOOT`, which loads this file and its two siblings by path, with a Unix
socket on fds 0 and 1 and the config JSON as the last argument. It
imports the harness and the common standard-library modules once, then serves
requests: for each run it forks fresh children. Each child drops its privileges,
applies rlimits and runs one role of `sandbox_harness`. The zygote itself never runs
untrusted code. After each run it kills every process the run left behind and wipes
the scratch directory.

Frames on the socket are a 4-byte big-endian length, then JSON. A humaneval
request carries the tests as an attached pipe fd, which only the tests process
reads. The test code never enters the zygote's memory, so it never enters the
memory of a program process forked from it.
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
SCRATCH = ".cotmill"  # the zygote's own files under the tmp root, never wiped

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
        self.scratch = os.path.join(self.tmp, SCRATCH)
        self.pidns = config["mode"] != "rlimits"
        self.uids = config.get("uids")  # [tests uid, program uid] when we may setuid
        self.base_tasks = 0 if self.uids else sos.count_tasks(os.getuid())
        self.devnull = os.open("/dev/null", os.O_RDWR)

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

    def supervise(self, pids: list[int], readers: list[int], deadline: float) -> tuple[str, int | None, dict]:
        """Wait for the first of `pids` to exit (or kill it at the deadline), collecting
        what arrives on `readers`; then kill every process the run left."""
        pid = pids[0]
        data = {fd: bytearray() for fd in readers}
        poller = select.poll()
        for fd in readers:
            poller.register(fd, select.POLLIN)
        pidfd = _pidfd(pid)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        state, status = "timeout", None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            events = poller.poll(remaining * 1000 if pidfd is not None else min(remaining * 1000, 2))
            if any(fd == pidfd for fd, _ in events) or (pidfd is None and _exited(pid)):
                state = "exited"
                break
            for fd, _ in events:
                self._read_into(fd, data, poller)
        if pidfd is not None:
            os.close(pidfd)
        status = self.kill_all(*pids)
        for fd in readers:  # every writer is dead now: read to the end
            while self._read_into(fd, data, None):
                pass
        return state, status, data

    def _read_into(self, fd: int, data: dict, poller) -> bool:
        chunk = os.read(fd, 1 << 16)
        if chunk and len(data[fd]) <= self.limits["report_bytes"]:
            data[fd] += chunk
        elif poller is not None:
            poller.unregister(fd)  # end of stream or flood: stop listening
        return bool(chunk)

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
            if entry.name != SCRATCH:
                sos.remove(entry.path)
        self.runs += 1  # a new name: a leftover that could not be deleted is not reused
        self.work = os.path.join(self.tmp, f"run{self.runs}")
        os.mkdir(self.work, 0o700)
        if self.uids:
            os.chown(self.work, self.uids[1], self.uids[1])

    def handle(self, req: dict, fds: list[int]) -> dict:
        deadline = time.monotonic() + float(req["timeout"])
        self.fresh_work()
        kind = req["kind"]
        if kind == "io":
            return self.run_io(req, deadline)
        if kind == "stdio":
            return self.run_stdio(req, deadline)
        if kind == "humaneval" and fds:
            return self.run_humaneval(req, fds[0], deadline)
        return {"error": f"bad request kind {kind!r}"}

    def run_io(self, req: dict, deadline: float) -> dict:
        r, w = os.pipe()
        inputs = [json.dumps(args) for args in req["inputs"]]
        cap = self.limits["output_bytes"]
        role = lambda: harness.run_io(req["program"], req["entry_point"], inputs, 3, cap)  # noqa: E731
        try:
            pid = self.spawn(role, [None, None, None, w], 1, deadline)
            os.close(w)
            w = None
            state, status, data = self.supervise([pid], [r], deadline)
        finally:
            for fd in (r, w):
                if fd is not None:
                    os.close(fd)
        return {"state": state, **sos.wait_status(status), "report": data[r].decode("utf-8", "replace")}

    def run_humaneval(self, req: dict, test_fd: int, deadline: float) -> dict:
        ours, theirs = socket.socketpair()
        r, w = os.pipe()
        try:
            program = lambda: harness.serve_calls(req["program"], 3)  # noqa: E731
            program_pid = self.spawn(program, [None, None, None, theirs.fileno()], 1, deadline)
            tests = lambda: harness.run_tests(req["entry_point"], 3, 4, 5)  # noqa: E731
            pid = self.spawn(tests, [None, None, None, test_fd, ours.fileno(), w], 0, deadline)
            os.close(w)
            w = None
            ours.close(), theirs.close()
            state, status, data = self.supervise([pid, program_pid], [r], deadline)
        finally:
            ours.close(), theirs.close()
            for fd in (r, w):
                if fd is not None:
                    os.close(fd)
        return {"state": state, **sos.wait_status(status), "report": data[r].decode("utf-8", "replace")}

    def run_stdio(self, req: dict, deadline: float) -> dict:
        cases = []
        for stdin in req["stdins"]:
            if time.monotonic() >= deadline:
                cases.append({"state": "timeout", "exit": None, "signal": None, "stdout": "", "stderr": ""})
                continue
            cases.append(self._stdio_case(req["program"], stdin, deadline))
        return {"state": "done", "cases": cases}

    def _stdio_case(self, program: str, stdin: str, deadline: float) -> dict:
        paths = [os.path.join(self.scratch, name) for name in ("in", "out", "err")]
        with open(paths[0], "wb") as f:
            f.write(stdin.encode("utf-8", "replace"))
        fds = [os.open(paths[0], os.O_RDONLY)]
        fds += [os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600) for p in paths[1:]]
        try:
            pid = self.spawn(lambda: harness.run_stdio(program), fds, 1, deadline)
            state, status, _ = self.supervise([pid], [], deadline)
            cap = self.limits["output_bytes"]
            out = os.pread(fds[1], cap + 1, 0)
            size = os.fstat(fds[2]).st_size
            err = os.pread(fds[2], 4000, max(0, size - 4000))
        finally:
            for fd in fds:
                os.close(fd)
        return {
            "state": state,
            **sos.wait_status(status),
            "stdout": out[:cap].decode("utf-8", "replace"),
            "truncated": len(out) > cap,
            "stderr": err.decode("utf-8", "replace"),
        }


# ---------------------------------------------------------------------- helpers


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
    os.makedirs(os.path.join(config["tmp"], SCRATCH), 0o700, exist_ok=True)
    _preload()
    zygote = Zygote(config)
    gc.freeze()  # a collection in a child would otherwise touch, and copy, every inherited object
    send_frame(sock, {"ready": True, "pid": os.getpid(), "uid": os.getuid()})
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
