"""How a run's data travels: from the host straight to the sandbox's children and back.

Host side. The zygote only forks; a fresh run inherits its memory, so anything the
zygote ever read would be there for a later run to find with ctypes. So the zygote
reads a run's kind and time limit and nothing else. The program, inputs, tests and
stdin go into pipes (stdin into an anonymous file) made here; their fds ride along
with the request and the zygote hands them to the children unread. What the
children report comes back on a pipe, and stdio's output in anonymous files, that
only this process reads. The zygote's socket carries only the request's kind and
time limit, and its reply: how the run ended.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import socket
import struct
import tempfile
import threading
import time


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _feed(fd: int, data: bytes) -> None:
    try:
        _write_all(fd, data)
    except OSError:
        pass  # the reader died first
    finally:
        os.close(fd)


def pipe_with(data: bytes) -> int:
    """The read end of a pipe that delivers `data` and then end-of-file."""
    r, w = os.pipe()
    if len(data) > 60_000:
        try:
            fcntl.fcntl(w, 1031, min(len(data) + 4096, 1 << 20))  # F_SETPIPE_SZ
        except OSError:
            pass
    if len(data) <= fcntl.fcntl(w, 1032):  # F_GETPIPE_SZ: it all fits, no thread
        _feed(w, data)
    else:
        threading.Thread(target=_feed, args=(w, data), daemon=True).start()
    return r


def anonymous_file(data: bytes = b"") -> int:
    """A file with no name, holding `data`, its offset at 0: stdin and stdout of a
    stdio run (a file, as a program may seek it; RLIMIT_FSIZE caps what it writes)."""
    try:
        fd = os.memfd_create("cotmill-sandbox", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # no memfd here (old kernel, not Linux)
        fd = os.dup(tempfile.TemporaryFile().fileno())
    try:
        _write_all(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd


def payloads(request: dict) -> list[bytes]:
    """What each child of an io or humaneval run reads first, in the order of its fds.
    KeyError or TypeError on a malformed request."""
    kind = request.get("kind")
    if kind == "io":
        keys = ("program", "entry_point", "inputs")
        return [json.dumps({k: request[k] for k in keys}).encode()]
    if kind == "humaneval":
        tests = {"entry_point": request["entry_point"], "test": request["test"]}
        return [json.dumps({"program": request["program"]}).encode(), json.dumps(tests).encode()]
    return []


def program(request: dict) -> bytes:
    return json.dumps({"program": request["program"]}).encode()


def read_tail(fd: int, limit: int) -> bytes:
    """The last `limit` bytes of a file."""
    size = os.fstat(fd).st_size
    return os.pread(fd, limit, max(0, size - limit))


def drain(fd: int, into: bytearray, cap: int) -> None:
    """Read what is left in a pipe whose writers are all dead (or stuck), up to `cap`."""
    os.set_blocking(fd, False)
    while len(into) <= cap:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:  # a writer is left: what it did not write in time is lost
            return
        if not chunk:
            return
        into += chunk


def read_some(fd: int, into: bytearray, cap: int) -> bool:
    """One read from a readable pipe; False at end-of-file or once `cap` is passed (a
    flood: we stop listening, and the writer blocks until the run's deadline)."""
    chunk = os.read(fd, 1 << 16)
    if chunk and len(into) <= cap:
        into += chunk
        return True
    return False


def stdio_cases(run, program: bytes, stdins: list, deadline: float, cap: int) -> dict:
    """A stdio request, one run per case: `run(fds)` sends [stdin, stdout, stderr,
    program] (anonymous files, and a pipe) and returns the zygote's reply."""
    cases = []
    for stdin in stdins:
        if time.monotonic() >= deadline:
            cases.append({"state": "timeout", "exit": None, "signal": None, "stdout": "", "stderr": ""})
            continue
        files = [anonymous_file(str(stdin).encode("utf-8", "replace")), anonymous_file(), anonymous_file()]
        try:
            reply = run([os.dup(fd) for fd in files] + [pipe_with(program)])
            if "error" in reply:
                return reply
            out, err = os.pread(files[1], cap + 1, 0), read_tail(files[2], 4000)
        finally:
            for fd in files:
                os.close(fd)
        case = {"stdout": out[:cap].decode("utf-8", "replace"), "truncated": len(out) > cap}
        cases.append(dict(reply, **case, stderr=err.decode("utf-8", "replace")))
    return {"state": "done", "cases": cases}


# ------------------------------------------------------------- the zygote's socket


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the zygote closed its socket")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, deadline: float) -> dict:
    """One reply: a 4-byte big-endian length, then JSON. TimeoutError past `deadline`."""
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    (length,) = struct.unpack(">I", _recv_exact(sock, 4))
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    return json.loads(_recv_exact(sock, length))


def exchange(sock, kind: str, fds: list[int], deadline: float, grace: float, report: int | None, cap: int):
    """Send a request ({"kind", "timeout"} with `fds` attached, closed here), then wait
    up to `deadline + grace` for the reply, reading `report` (up to `cap` bytes)
    meanwhile. Returns (reply, report bytes)."""
    header = json.dumps({"kind": kind, "timeout": max(0.0, deadline - time.monotonic())}).encode()
    try:
        socket.send_fds(sock, [struct.pack(">I", len(header))], fds)
    finally:
        for fd in fds:
            os.close(fd)
    sock.sendall(header)
    got = bytearray()
    listening = [sock] + ([report] if report is not None else [])
    while True:
        ready = select.select(listening, [], [], max(0.0, deadline + grace - time.monotonic()))[0]
        if not ready:
            raise TimeoutError
        if sock in ready:
            reply = recv_frame(sock, deadline + grace)
            break
        if not read_some(report, got, cap):
            listening.remove(report)
    if report is not None and report in listening:  # the run's processes are all dead now
        drain(report, got, cap)
    return reply, bytes(got)
