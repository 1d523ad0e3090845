"""What runs inside the sandbox children, and the wire format for values.

The zygote (`sandbox_worker.py`) imports this file as a top-level module, and the
host imports it as `verifiers.sandbox_harness` for the codec, so it uses the
standard library only.

Each role runs in its own forked, unprivileged process:

- `run_io` (the program): calls the entry point on each input and writes one JSON line
  per case. The expected outputs never enter the sandbox; the host compares them.
- `run_stdio` (the program): runs the program as `__main__` on fds 0/1/2, files that
  the host reads afterwards.
- `serve_calls` (the program) and `run_tests` (the tests), for the humaneval format.
  `check(candidate)` runs in the tests process, and each name the program defines is
  a proxy there that calls into the program process over a socket. Values cross as
  plain data (`to_wire`/`from_wire`). The program cannot reach the tests' report
  pipe, their memory or the expected values. To fake a pass it would have to return
  the right values.

Each role first reads its data (`read_payload`) from an fd that the host filled and
the zygote passed on unread; the zygote never holds a run's data (see
`sandbox_worker`).
"""

from __future__ import annotations

import builtins
import io
import json
import math
import os
import sys
import traceback
import types

MAX_DEPTH = 100
_TAGGED = {"T": tuple, "S": set, "Z": frozenset}


class ProgramExited(BaseException):
    """Raised in the tests process when the program exits, dies or misbehaves in a call.
    A BaseException, so that `except Exception` in a test cannot swallow it."""


# ------------------------------------------------------------------------- codec


def to_wire(value, depth: int = 0):
    """A JSON-able copy of a plain value, built with the base types' own methods.
    Subclasses of int/str/list/... become their base type, so an overridden `__eq__`
    or `__repr__` never reaches the comparison. Any other object is a TypeError."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str or t is int:
        return value
    if t is float or issubclass(t, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else {"F": repr(number)}
    if issubclass(t, int):
        return int.__int__(value)
    if issubclass(t, str):
        return str.__str__(value)
    if issubclass(t, list):
        return [to_wire(item, depth + 1) for item in list.__iter__(value)]
    if issubclass(t, tuple):
        return {"T": [to_wire(item, depth + 1) for item in tuple.__iter__(value)]}
    if issubclass(t, dict):
        return {"D": [[to_wire(k, depth + 1), to_wire(v, depth + 1)] for k, v in dict.items(value)]}
    if issubclass(t, (set, frozenset)):
        tag = "Z" if issubclass(t, frozenset) else "S"
        base = frozenset if tag == "Z" else set
        return {tag: [to_wire(item, depth + 1) for item in base.__iter__(value)]}
    if issubclass(t, (bytes, bytearray)):
        return {"Y" if issubclass(t, bytearray) else "B": bytes(value).hex()}
    if issubclass(t, complex):
        number = complex.__complex__(value)
        return {"C": [to_wire(number.real), to_wire(number.imag)]}
    raise TypeError(f"a value of type {t.__name__} cannot be compared by the tests")


def from_wire(wire, depth: int = 0):
    """The value `to_wire` encoded; ValueError on anything else (the input is untrusted)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    t = type(wire)
    if wire is None or t in (bool, int, float, str):
        return wire
    if t is list:
        return [from_wire(item, depth + 1) for item in wire]
    if t is not dict or len(wire) != 1:
        raise ValueError("malformed value")
    ((tag, body),) = wire.items()
    try:
        if tag == "F" and body in ("inf", "-inf", "nan"):
            return float(body)
        if tag in _TAGGED and type(body) is list:
            return _TAGGED[tag](from_wire(item, depth + 1) for item in body)
        if tag == "D" and type(body) is list:
            return {from_wire(k, depth + 1): from_wire(v, depth + 1) for k, v in body}
        if tag in ("B", "Y") and type(body) is str:
            return (bytes if tag == "B" else bytearray).fromhex(body)
        if tag == "C" and type(body) is list and len(body) == 2:
            return complex(from_wire(body[0], depth + 1), from_wire(body[1], depth + 1))
    except (TypeError, ValueError) as exc:  # unhashable keys, bad pairs, bad hex
        raise ValueError(f"malformed value: {exc}") from None
    raise ValueError("malformed value")


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def describe(exc: BaseException) -> str:
    """`Type: message`, short; the message is the program's, so it is guarded."""
    try:
        text = str(exc)
    except BaseException:
        text = "?"
    name = type(exc).__name__
    return f"{name}: {text[:300]}" if text else name


# --------------------------------------------------------------------- plumbing


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _emit(fd: int, obj) -> None:
    _write_all(fd, (dumps(obj) + "\n").encode("utf-8", "replace"))


def read_payload(fd: int) -> dict:
    """The JSON object the host wrote into `fd` for this child alone; fd is closed."""
    with os.fdopen(fd, "rb") as stream:
        return json.loads(stream.read())


def load_program(source: str, name: str) -> dict:
    """Exec the program as module `name`, registered in sys.modules (dataclasses and
    pickle look their module up there)."""
    guard()
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, "<program>", "exec"), module.__dict__)
    return module.__dict__


def guard() -> None:
    """An audit hook for the program's process: no ctypes and no /proc/*/mem. A
    tripwire for the careless, not the boundary: a program can find the hook with
    gc.get_objects() and replace its __code__. What keeps runs apart holds without
    it: no earlier run's data is in a run's memory (`sandbox_worker`), and the seccomp
    filter (`verifiers.sandbox_seccomp`) refuses access to other processes' memory."""

    def hook(event: str, args: tuple) -> None:
        if event.startswith("ctypes."):
            raise PermissionError(f"{event} is not allowed in the sandbox")
        if event == "open" and args and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            if path.startswith("/proc/") and path.rsplit("/", 1)[-1] in ("mem", "pagemap", "map_files"):
                raise PermissionError(f"{path} is not readable in the sandbox")

    sys.addaudithook(hook)


# ------------------------------------------------------------------ program roles


def run_io(payload_fd: int, fd: int, cap: int) -> int:
    """Call `entry_point(*args)` for each of the payload's inputs; one JSON line per
    case on fd."""
    try:
        payload = read_payload(payload_fd)
        entry, inputs = payload["entry_point"], payload["inputs"]
        namespace = load_program(payload["program"], "__cotmill__")
        fn = namespace.get(entry)
        if not callable(fn):
            raise NameError(f"the program defines no function {entry!r}")
    except BaseException as exc:
        _emit(fd, {"load": describe(exc)})
        return 1
    _emit(fd, {"load": None})
    for index, args in enumerate(inputs):
        try:
            result = fn(*args) if type(args) is list else fn(args)
            wire = dumps(to_wire(result))
            if len(wire) > cap:
                raise ValueError(f"the returned value is larger than {cap} bytes")
            _write_all(fd, f'{{"i":{index},"ok":{wire}}}\n'.encode("utf-8", "replace"))
        except BaseException as exc:  # SystemExit included: the case fails
            _emit(fd, {"i": index, "error": describe(exc)})
            if not isinstance(exc, Exception):
                return 1  # the program asked to stop: later cases do not run
    return 0


def _exit_code(exc: SystemExit, err) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code & 0xFF
    print(code, file=err)
    return 1


def run_stdio(payload_fd: int) -> int:
    """Run the program as a script on fds 0/1/2; returns its exit status."""
    source = read_payload(payload_fd)["program"]
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    out = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    err = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stdout, sys.stderr, sys.argv = out, err, ["program.py"]
    try:
        load_program(source, "__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc, err)
    except BaseException:
        traceback.print_exc(file=err)
        code = 1
    for stream in (out, err):
        try:
            stream.flush()
        except BaseException:  # a closed stream, a full disk: what was written stays
            pass
    return code


_BUILTIN_NAMES = frozenset(dir(builtins))


def serve_calls(fd: int, payload_fd: int) -> int:
    """The program side of the humaneval format: announce the names the program
    defines, then answer `{"call": name, "args": ..., "kwargs": ...}` lines on fd."""
    reader = os.fdopen(os.dup(fd), "rb")
    try:
        namespace = load_program(read_payload(payload_fd)["program"], "__cotmill__")
    except BaseException as exc:
        _emit(fd, {"load": describe(exc)})
        return 1
    names = {}
    for name, value in list(namespace.items()):
        if isinstance(value, types.ModuleType):
            names[name] = "m:" + str(value.__name__)
        elif callable(value) and not name.startswith("__"):
            names[name] = "f"
    _emit(fd, {"load": None, "names": names})
    while True:
        line = reader.readline()
        if not line:
            return 0
        try:
            request = json.loads(line)
            args, kwargs = from_wire(request["args"]), from_wire(request["kwargs"])
            result = namespace[request["call"]](*args, **kwargs)
            reply = f'{{"ok":{dumps(to_wire(result))}}}'
        except Exception as exc:
            reply = dumps({"raise": type(exc).__name__, "message": describe(exc)})
        except BaseException as exc:
            _emit(fd, {"exit": describe(exc)})
            return 1
        _write_all(fd, (reply + "\n").encode("utf-8", "replace"))


# -------------------------------------------------------------------- tests role


def _raise_from(reply: dict):
    cls = getattr(builtins, str(reply.get("raise")), None)
    message = str(reply.get("message", ""))
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    return RuntimeError(message)


def _proxy(name: str, reader, fd: int):
    def call(*args, **kwargs):
        request = {"call": name, "args": to_wire(list(args)), "kwargs": to_wire(kwargs)}
        _write_all(fd, (dumps(request) + "\n").encode())
        line = reader.readline()
        if not line:
            raise ProgramExited("the program died during a call")
        reply = json.loads(line)
        if "ok" in reply:
            return from_wire(reply["ok"])
        if "raise" in reply:
            raise _raise_from(reply)
        raise ProgramExited(f"the program exited during a call ({str(reply.get('exit'))[:200]})")

    call.__name__ = call.__qualname__ = name
    return call


def _failure(exc: BaseException) -> dict:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<tests>":
            line = lineno
    if isinstance(exc, ProgramExited):  # the program's own words, not the tests'
        return {"passed": False, "error": describe(exc), "line": line}
    return {"passed": False, "error": type(exc).__name__, "line": line}


def run_tests(test_fd: int, sock_fd: int, report_fd: int) -> int:
    """The tests side of the humaneval format: `check(candidate)` against proxies."""
    payload = read_payload(test_fd)
    entry, test_source = str(payload["entry_point"]), str(payload["test"])
    reader = os.fdopen(os.dup(sock_fd), "rb")
    try:
        code = compile(test_source, "<tests>", "exec")  # while the program loads
        hello = json.loads(reader.readline() or b'{"load": "the program died while loading"}')
        if hello.get("load"):
            raise ProgramExited(f"the program failed to load ({str(hello['load'])[:200]})")
        namespace = {"__name__": "__cotmill_tests__"}
        for name, kind in dict(hello.get("names", {})).items():
            if name in _BUILTIN_NAMES and name != entry:
                continue  # a program's `abs` or `len` must not replace the tests' own
            if kind == "f":
                namespace[name] = _proxy(str(name), reader, sock_fd)
            elif str(kind).startswith("m:"):
                try:
                    namespace[name] = __import__(kind[2:], fromlist=["_"])
                except Exception:
                    pass
        if entry not in namespace:
            raise ProgramExited(f"the program defines no function {entry!r}")
        exec(code, namespace)
        check = namespace.get("check")
        if not callable(check):
            _emit(report_fd, {"passed": False, "error": "the tests define no check()", "setup": True})
            return 1
        check(namespace[entry])
    except BaseException as exc:
        _emit(report_fd, _failure(exc))
        return 1
    _emit(report_fd, {"passed": True})
    return 0
