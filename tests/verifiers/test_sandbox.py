"""The sandbox: isolation, limits, cleanup, and the plumbing behind throughput.

Hostile programs run against the isolation this machine has (bubblewrap, else
namespaces, else rlimits); `test_isolation_mode` records which one as the
`sandbox_mode` property. Guarantees that rlimits mode does not give (network,
file system) are skipped there, and say so.
"""

from __future__ import annotations

import ctypes.util
import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verifiers import sandbox
from verifiers.code import verify
from verifiers.sandbox_cmd import bwrap_prefix, worker_command
from verifiers.sandbox_harness import from_wire

REPO = Path(__file__).resolve().parents[2]
ONE = "def check(candidate):\n    assert candidate() == 1\n"


@pytest.fixture(scope="module")
def pool():
    with sandbox.Pool(workers=2) as p:
        yield p


def judge(pool, program: str, test: str = ONE, timeout_s: float = 3.0):
    tests = {"format": "humaneval", "test": test, "entry_point": "f"}
    return verify(f"```python\n{program}```", tests, timeout_s, pool=pool)


def io_report(pool, program: str, timeout_s: float = 3.0) -> list:
    """What `f()` returned, read straight from the sandbox's report."""
    reply = pool.run({"kind": "io", "program": program, "entry_point": "f", "inputs": [[]]}, timeout_s)
    lines = [json.loads(line) for line in reply["report"].splitlines()]
    return [line for line in lines if line.get("i") == 0]


def host_processes(marker: str) -> list[int]:
    """Host pids whose comm or cmdline holds `marker` (no psutil)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm", "rb") as f:
                comm = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker.encode() in comm + cmdline:
            found.append(int(name))
    return found


def secure(pool) -> bool:
    return pool.mode != "rlimits"


def healthy(pool) -> bool:
    return judge(pool, "def f():\n    return 1\n").passed


# ------------------------------------------------------------------ isolation


def test_isolation_mode(record_property, capsys):
    info = sandbox.isolation()
    record_property("sandbox_mode", info["mode"])
    with capsys.disabled():
        print(f"\n[sandbox isolation: {info['mode']}]", end=" ")
    assert info["mode"] in sandbox.MODES
    assert info["secure"] == (info["mode"] != "rlimits")
    assert {"network", "filesystem", "tmp", "environment", "processes", "limits"} <= set(info["guarantees"])
    assert {"memory", "seccomp"} <= set(info["guarantees"])
    if ctypes.util.find_library("seccomp"):  # pyseccomp is a dependency; libseccomp is on every Debian
        assert info["seccomp"] is True and info["guarantees"]["seccomp"].startswith("in force")
    if not os.environ.get("COTMILL_SANDBOX"):  # the best mode that works is the one in force
        assert info["mode"] == next(m for m in sandbox.MODES if info["available"][m] is None)
    json.dumps(info)  # printable by `cotmill doctor`


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_every_available_mode_runs_programs(mode):
    why_not = sandbox.probe(mode)
    if why_not:
        pytest.skip(f"{mode} is not available here: {why_not}")
    program = (
        "import math, sys\n\ndef f():\n    return [math.pi > 3, [p for p in sys.path if 'verifiers' in p]]\n"
    )
    with sandbox.Pool(workers=1, mode=mode) as p:
        assert judge(p, "def f():\n    return 1\n").passed
        [case] = io_report(p, program)
        assert case["ok"] == [True, []]  # the standard library's math; no repo directory on sys.path


# ------------------------------------------------------------- hostile programs


def test_infinite_loop_times_out(pool):
    start = time.monotonic()
    verdict = judge(pool, "def f():\n    while True:\n        pass\n", timeout_s=1.0)
    assert not verdict.passed and verdict.score == 0
    assert "timed out" in verdict.reason
    assert time.monotonic() - start < 5
    assert healthy(pool)


def worker_processes(pool) -> int:
    return sum(len(host_processes(w.token)) for w in pool.workers if w.token)


def test_fork_bomb_is_contained(pool):
    assert healthy(pool) and healthy(pool)
    before = worker_processes(pool)  # bwrap, its init and the zygote per worker
    bomb = "import os\n\ndef f():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n"
    start = time.monotonic()
    assert not judge(pool, bomb, timeout_s=1.5).passed
    assert time.monotonic() - start < 8
    assert worker_processes(pool) == before
    marker = "cmb" + uuid.uuid4().hex[:10]
    shells = (  # every fork execs a shell that forks sleeps in a loop
        "import os\n\ndef f():\n    while True:\n        try:\n            if os.fork() == 0:\n"
        f"                os.execv('/bin/sh', ['sh', '-c', 'while :; do sleep 5 & done', {marker!r}])\n"
        "        except OSError:\n            pass\n"
    )
    assert not judge(pool, shells, timeout_s=1.5).passed
    assert host_processes(marker) == []
    assert worker_processes(pool) == before
    assert healthy(pool)


def test_process_limit(pool):
    program = (
        "import os, time\n\ndef f():\n    n = 0\n    try:\n        for _ in range(200):\n"
        "            if os.fork() == 0:\n                time.sleep(30)\n            n += 1\n"
        "    except OSError:\n        pass\n    return n\n"
    )
    [case] = io_report(pool, program, timeout_s=5)
    assert case["ok"] < pool.limits.processes + 8


def test_memory_hog_fails_fast(pool):
    """RLIMIT_AS stops a hog with MemoryError, long before its time is up (the generous
    timeout: filling 1 GiB took over 3 s on a loaded 2-core machine; without the limit the
    hog would run to the timeout and fail as timed out)."""
    hog = "def f():\n    hog = []\n    while True:\n        hog.append(bytearray(10**7))\n"
    verdict = judge(pool, hog, timeout_s=30)
    assert not verdict.passed and "MemoryError" in verdict.reason, verdict.reason
    verdict = judge(pool, "def f():\n    return len(bytearray(8 * 2**30))\n", timeout_s=30)
    assert not verdict.passed and "MemoryError" in verdict.reason, verdict.reason


def test_output_flood_is_capped(pool):
    program = "while True:\n    print('x' * 1000)\n"
    start = time.monotonic()
    reply = pool.run({"kind": "stdio", "program": program, "stdins": [""]}, 5.0)
    [case] = reply["cases"]
    assert len(case["stdout"]) <= pool.limits.output_bytes and case["truncated"]
    assert case["exit"] != 0  # the file size limit stopped it
    tests = {"format": "stdio", "cases": [{"stdin": "", "stdout": "x\n"}]}
    assert not verify(program, tests, 5.0, pool=pool).passed
    assert time.monotonic() - start < 10


def test_network_is_unreachable(pool):
    if not secure(pool):
        pytest.skip("rlimits mode does not isolate the network")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    program = (
        "import socket\n\ndef f():\n    out = []\n"
        f"    for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
        "        try:\n            socket.create_connection(addr, timeout=1).close()\n            out.append('connected')\n"
        "        except OSError as exc:\n            out.append(type(exc).__name__)\n    return out\n"
    )
    try:
        [case] = io_report(pool, program)
        assert "connected" not in case["ok"] and len(case["ok"]) == 3
        with pytest.raises(TimeoutError):
            server.accept()  # nothing reached the host's listener
    finally:
        server.close()
    assert not judge(pool, program, test="def check(c):\n    assert 'connected' in c()\n").passed


def test_host_files_cannot_be_written_or_deleted(pool, tmp_path):
    if not secure(pool) and os.geteuid() != 0:
        pytest.skip("rlimits mode without root runs programs as the calling user")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    pwned = REPO / "pwned"
    program = (
        "import os, shutil\n\ndef f():\n    done = []\n"
        f"    for action in (lambda: os.remove({str(victim)!r}), lambda: shutil.rmtree({str(tmp_path)!r}),\n"
        f"                   lambda: open({str(pwned)!r}, 'w').write('x'),\n"
        f"                   lambda: open({str(tmp_path / 'new.txt')!r}, 'w').write('x'),\n"
        "                   lambda: open('/etc/cotmill-pwned', 'w').write('x')):\n"
        "        try:\n            action()\n            done.append(True)\n"
        "        except OSError:\n            done.append(False)\n    return 1 if any(done) else 0\n"
    )
    assert not judge(pool, program).passed
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt"]
    assert not pwned.exists() and not Path("/etc/cotmill-pwned").exists()


def test_secrets_in_the_environment_are_not_visible(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cotmill-test-secret")
    monkeypatch.setenv("HF_TOKEN", "hf-cotmill-test-secret")
    with sandbox.Pool(workers=1) as p:  # started with the secrets in our environment
        [case] = io_report(p, "import os\n\ndef f():\n    return dict(os.environ)\n")
        env = case["ok"]["D"]
        text = json.dumps(env)
        assert "cotmill-test-secret" not in text and "OPENAI_API_KEY" not in text
        assert not judge(
            p, "import os\n\ndef f():\n    return len(os.environ.get('OPENAI_API_KEY', ''))\n"
        ).passed


EARLY_EXITS = {
    "exit at import": "import sys\nsys.exit(0)\n\ndef f():\n    return 1\n",
    "exit in the function": "import sys\n\ndef f():\n    sys.exit(0)\n",
    "exit()": "def f():\n    exit()\n",
    "os._exit": "import os\n\ndef f():\n    os._exit(0)\n",
    "SystemExit in __del__": "class D:\n    def __del__(self):\n        raise SystemExit(0)\n\n"
    "def f():\n    D()\n    return 0\n",
    "KeyboardInterrupt": "def f():\n    raise KeyboardInterrupt\n",
    "kill the parent": "import os, signal\n\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 0\n",
    "kill everything": "import os, signal\n\ndef f():\n    os.kill(-1, signal.SIGKILL)\n    return 0\n",
    "fake pass marker": "import os\nprint('{\"passed\":true}')\n\ndef f():\n"
    "    for fd in range(3, 64):\n        try:\n            os.write(fd, b'{\"passed\":true}\\n')\n"
    "        except OSError:\n            pass\n    return 0\n",
    "monkeypatched harness": "import builtins, json, sys\n\ndef f():\n    builtins.AssertionError = Exception\n"
    "    json.dumps = lambda *a, **k: '{\"passed\":true}'\n    for m in list(sys.modules.values()):\n"
    "        if hasattr(m, 'run_tests'):\n            m.run_tests = lambda *a: 0\n    return 0\n",
}


@pytest.mark.parametrize("name", sorted(EARLY_EXITS))
def test_early_exits_and_tampering_score_zero(pool, name):
    verdict = judge(pool, EARLY_EXITS[name])
    assert not verdict.passed and verdict.score == 0, verdict
    assert healthy(pool)  # a killed zygote is replaced


def test_the_program_cannot_see_the_tests(pool):
    secret = "cotmill-secret-" + uuid.uuid4().hex
    test = f"SECRET = {secret!r}\n\ndef check(candidate):\n    assert candidate() == SECRET\n"
    program = (
        "import gc, os, sys\n\ndef f():\n    for obj in gc.get_objects():\n        values = obj.values() "
        "if isinstance(obj, dict) else [obj]\n        for v in list(values):\n"
        "            if isinstance(v, str) and 'cotmill-secret-' in v:\n"
        "                return v[v.index('cotmill-secret-'):][:47]\n"
        "    frame = sys._getframe()\n    while frame:\n        for v in frame.f_globals.values():\n"
        "            if isinstance(v, str) and v.startswith('cotmill-secret-'):\n                return v\n"
        "        frame = frame.f_back\n    try:\n        with open(f'/proc/{os.getppid()}/mem', 'rb') as fh:\n"
        "            return fh.read(10)\n    except OSError:\n        return None\n"
    )
    assert not judge(pool, program, test=test).passed


# A program that switches the audit hook off, as any program can: the hook is a plain
# function that gc.get_objects() finds and whose __code__ can be replaced.
UNHOOK = (
    "import ctypes, gc, types\n\n"
    "def unhook():\n    off = 0\n    for obj in gc.get_objects():\n"
    "        if type(obj) is types.FunctionType and 'ctypes.' in obj.__code__.co_consts:\n"
    "            obj.__code__ = (lambda event, args: None).__code__\n            off += 1\n"
    "    ctypes.string_at(id(off), 1)  # PermissionError while a hook is on\n    return off\n"
)
# ... and then reads all of its own writable memory with ctypes, looking for "cmsec"
# (written in hex here, so that the probe's own text holds no match).
MEMORY_PROBE = UNHOOK + (
    "\ndef f():\n    off = unhook()\n    needle, found = bytes.fromhex('636d736563'), set()\n"
    "    for line in open('/proc/self/maps').read().splitlines():\n"
    "        span, perms = line.split()[:2]\n        if not perms.startswith('rw'):\n            continue\n"
    "        start, end = (int(x, 16) for x in span.split('-'))\n"
    "        for at in range(start, end, 1 << 22):\n"
    "            chunk = ctypes.string_at(at, min(1 << 22, end - at))\n            i = chunk.find(needle)\n"
    "            while i >= 0:\n                found.add(chunk[i : i + 38].decode('latin-1'))\n"
    "                i = chunk.find(needle, i + 1)\n    return [off, sorted(found)]\n"
)


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_no_earlier_run_is_in_a_fresh_runs_memory(mode):
    """The program, inputs, tests, stdin and outputs of earlier runs are nowhere in
    the memory of a later run on the same zygote, even with the audit hook off."""
    if sandbox.probe(mode):
        pytest.skip(f"{mode} is not available here")
    p = planted = {tag: f"cmsec{tag}{uuid.uuid4().hex}" for tag in "PIQTRS"}
    planted.update(O="cmsecO" + p["I"][6:], U="cmsecU" + p["S"][6:])  # what the victims print
    # a long program (200 kB): the zygote used to keep copies of its text that later runs found
    io_program = (
        "#" * 200_000 + f"\nKEEP = {p['P']!r}\n\ndef f(x):\n    return x.replace('cmsecI', 'cmsecO')\n"
    )
    test = f"KEEP = {p['T']!r}\n\ndef check(candidate):\n    assert candidate() == 1\n"
    stdio_program = f"KEEP = {p['R']!r}\nprint(input().replace('cmsecS', 'cmsecU'))\n"
    stdio = {"format": "stdio", "cases": [{"stdin": p["S"] + "\n", "stdout": p["U"] + "\n"}]}
    io = {"format": "io", "entry_point": "f", "cases": [{"input": [p["I"]], "output": p["O"]}]}
    victims = [
        lambda pool: verify(io_program, io, 5, pool=pool),
        lambda pool: judge(pool, f"KEEP = {p['Q']!r}\n\ndef f():\n    return 1\n", test=test),
        lambda pool: verify(stdio_program, stdio, 5, pool=pool),
    ]
    own = f"cmsecX{uuid.uuid4().hex}"  # in the probe's own text: it must find this one
    leaked = set()
    with sandbox.Pool(workers=1, mode=mode) as pool:
        for victim in victims:
            assert victim(pool).passed
            [case] = io_report(pool, MEMORY_PROBE + f"OWN = {own!r}\n", timeout_s=20)
            off, found = case["ok"]
            assert off >= 1 and any(own in text for text in found), case  # the hook was off; the scan works
            leaked |= {tag for tag, secret in planted.items() if any(secret in text for text in found)}
    assert sorted(leaked) == [], f"{mode}: earlier runs' data found in a later run's memory"


# ... and then asks the kernel for what a sandboxed program never needs: another
# process's memory, a tracer, a user namespace, eBPF, userfaultfd, io_uring, perf.
SYSCALL_PROBE = UNHOOK + (
    "import _thread, os\n\n"
    "NR = {'x86_64': {'bpf': 321, 'userfaultfd': 323, 'perf_event_open': 298, 'io_uring_setup': 425},\n"
    "      'aarch64': {'bpf': 280, 'userfaultfd': 282, 'perf_event_open': 241, 'io_uring_setup': 425}}\n\n"
    "def f():\n    unhook()\n    libc, out = ctypes.CDLL(None, use_errno=True), {}\n"
    "    done = _thread.allocate_lock()\n    done.acquire()  # what Python itself needs still works:\n"
    "    _thread.start_new_thread(lambda: (out.setdefault('thread', 'ran'), done.release()), ())\n"
    "    done.acquire()  # a thread, and a process spawned\n"
    "    pid = os.posix_spawn('/bin/sh', ['sh', '-c', 'exit 7'], {})\n"
    "    out['spawn'] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])\n"
    "    def errno_of(result):\n        return 0 if result != -1 else ctypes.get_errno()\n"
    "    buf = ctypes.create_string_buffer(8)\n    iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)\n"
    "    out['process_vm_readv'] = errno_of(libc.process_vm_readv(os.getpid(), iov, 1, iov, 1, 0))\n"
    "    out['ptrace'] = errno_of(libc.ptrace(0, 0, None, None))  # PTRACE_TRACEME\n"
    "    for name, nr in NR.get(os.uname().machine, {}).items():\n"
    "        out[name] = errno_of(libc.syscall(nr, 0, 0, 0, 0, 0))\n"
    "    out['unshare'] = errno_of(libc.unshare(0x10000000))  # CLONE_NEWUSER\n"
    "    return out\n"
)


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_the_kernel_refuses_what_the_hook_guarded(mode):
    """With the audit hook off, a seccomp filter still refuses the system calls
    that reach beyond the program's own process."""
    if sandbox.probe(mode):
        pytest.skip(f"{mode} is not available here")
    if ctypes.util.find_library("seccomp") is None:
        pytest.skip("libseccomp is not installed")
    with sandbox.Pool(workers=1, mode=mode) as pool:
        [case] = io_report(pool, SYSCALL_PROBE)
    got = from_wire(case["ok"])
    assert got.pop("thread") == "ran" and got.pop("spawn") == 7
    assert got == dict.fromkeys(got, errno.EPERM), got
    assert {"process_vm_readv", "ptrace", "unshare"} <= set(got)


def test_other_processes_memory_is_unreadable_without_the_hook(pool):
    """With the hook off the program opens /proc/PID/mem of every process it can see
    (the tests process, the zygote): the kernel refuses them all (they are not
    dumpable, and the tests run under another uid where we may)."""
    program = UNHOOK + (
        "import os\n\ndef f():\n    unhook()\n    read = []\n"
        "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "        if int(pid) != os.getpid():\n            try:\n"
        "                with open(f'/proc/{pid}/mem', 'rb') as fh:\n                    read.append(pid)\n"
        "            except OSError:\n                pass\n    return read\n"
    )
    test = "SECRET = 'cotmill-secret'\n\ndef check(candidate):\n    assert candidate() == []\n"
    verdict = judge(pool, program, test=test)
    assert verdict.passed, verdict.reason


def daemon(marker: str) -> str:
    """A program whose f() double-forks a daemon: a shell with `marker` in its argv."""
    return (
        "import os, time\n\ndef f():\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        f"            os.execv('/bin/sh', ['sh', '-c', 'sleep 60; exit 0', {marker!r}])\n        os._exit(0)\n"
    )


def test_no_process_outlives_the_call(pool):
    marker = "cmo" + uuid.uuid4().hex[:10]
    program = daemon(marker) + "    os.wait()\n    time.sleep(0.2)\n    return 1\n"
    verdict = judge(pool, program)
    assert verdict.passed  # a program may fork; what it leaves behind is killed
    assert host_processes(marker) == []
    spy = (
        daemon(marker)
        + (  # count the daemons from inside, while f() still runs
            "    time.sleep(0.3)\n    found = 0\n    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "        try:\n            found += " + repr(marker) + " in open(f'/proc/{pid}/cmdline').read()\n"
            "        except OSError:\n            pass\n    return found\n"
        )
    )
    assert judge(pool, spy, test="def check(c):\n    assert c() == 1\n").passed  # it did run
    assert host_processes(marker) == []


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_orphans_are_killed_in_every_mode(mode):
    if sandbox.probe(mode):
        pytest.skip(f"{mode} is not available here")
    marker = "cmq" + uuid.uuid4().hex[:10]
    program = daemon(marker) + "    time.sleep(0.2)\n    return 1\n"
    with sandbox.Pool(workers=1, mode=mode) as p:
        assert judge(p, program).passed
        assert host_processes(marker) == []


def test_tmp_and_working_dir_are_private_per_run(pool):
    write = "import os\n\ndef f():\n    open('left-behind', 'w').write('x')\n"
    if secure(pool):
        write += "    open('/tmp/left-behind', 'w').write('x')\n"
    write += "    return 1\n"
    assert judge(pool, write).passed
    look = "import os\n\ndef f():\n    return int(not os.path.exists('left-behind') and not os.path.exists('/tmp/left-behind'))\n"
    for _ in range(3):  # whichever worker serves it
        assert judge(pool, look).passed


def test_file_size_limit(pool):
    program = "def f():\n    with open('big', 'wb') as fh:\n        fh.write(bytes(64 << 20))\n    return 1\n"
    verdict = judge(pool, program)
    assert not verdict.passed and "OSError" in verdict.reason


# ------------------------------------------------------------------- plumbing


def test_threads_share_a_pool(pool):
    def one(n: int) -> bool:
        test = f"def check(candidate):\n    assert candidate({n}) == {n * n}\n"
        return judge(pool, "def f(x):\n    return x * x\n", test=test).passed

    with ThreadPoolExecutor(8) as ex:
        assert all(ex.map(one, range(60)))


def test_workers_start_only_when_calls_overlap():
    with sandbox.Pool(workers=4) as p:
        assert p.workers == []
        for _ in range(5):
            assert healthy(p)
        assert len(p.workers) == 1  # a process of a process pool holds one zygote, not one per CPU
        with ThreadPoolExecutor(4) as ex:
            assert all(
                ex.map(
                    lambda _: judge(p, "import time\n\ndef f():\n    time.sleep(0.2)\n    return 1\n").passed,
                    range(4),
                )
            )
        assert len(p.workers) == 4


def test_a_dead_worker_is_replaced(pool):
    assert healthy(pool) and healthy(pool)
    for worker in pool.workers:  # as if the OOM killer took them between two calls
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        select.select([worker.sock], [], [], 5)  # the zygote is gone: its end is closed
    before = [w.proc.pid for w in pool.workers]
    assert all(healthy(pool) for _ in range(4))
    assert not {w.proc.pid for w in pool.workers if w.proc} & set(before)


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_a_worker_outlives_the_thread_that_started_it(mode):
    """The kernel's parent-death signal follows the thread that forked: a zygote started
    by a caller's short-lived thread must not die with it."""
    if sandbox.probe(mode):
        pytest.skip(f"{mode} is not available here")
    with sandbox.Pool(workers=1, mode=mode) as p:
        with ThreadPoolExecutor(1) as ex:
            assert ex.submit(healthy, p).result()
        time.sleep(0.3)  # the thread is gone
        [worker] = p.workers
        pid = worker.proc.pid
        assert worker.proc.poll() is None and healthy(p) and worker.proc.pid == pid


def test_the_default_pool_is_rebuilt_after_fork():
    tests = {"format": "io", "entry_point": "f", "cases": [{"input": [2], "output": 4}]}
    assert verify("def f(x):\n    return 2 * x\n", tests).passed  # the parent's pool exists
    pid = os.fork()
    if pid == 0:
        ok = verify("def f(x):\n    return 2 * x\n", tests).passed
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert verify("def f(x):\n    return 2 * x\n", tests).passed  # and the parent's still works


def test_large_tests_and_outputs_travel(pool):
    n = 20_000
    asserts = "".join(f"    assert candidate({i}) == {i + 1}\n" for i in range(n))
    test = "def check(candidate):\n" + asserts  # ~0.6 MB: more than a pipe holds
    assert judge(pool, "def f(x):\n    return x + 1\n", test=test, timeout_s=30).passed
    stdout = "y\n" * 200_000
    tests = {"format": "stdio", "cases": [{"stdin": "", "stdout": stdout}]}
    assert verify("print('y\\n' * 200000, end='')\n", tests, 10, pool=pool).passed


def test_bad_requests_do_not_break_the_worker(pool):
    assert "error" in pool.run({"kind": "nonsense"}, 2)
    assert healthy(pool)


def test_unknown_mode_is_rejected(monkeypatch):
    with pytest.raises(ValueError):
        sandbox.Pool(workers=1, mode="chroot")
    monkeypatch.setenv("COTMILL_SANDBOX", "docker")
    with pytest.raises(ValueError):
        sandbox.detect_mode()


def test_command_lines(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cotmill-test-secret")
    for mode in sandbox.MODES:
        argv = worker_command(mode, 64)
        assert os.path.realpath(sys.executable) in argv and "-c" in argv
        assert not any("cotmill-test-secret" in arg or str(REPO) == arg for arg in argv)
    prefix = bwrap_prefix()
    assert {"--unshare-net", "--unshare-pid", "--die-with-parent", "--tmpfs"} <= set(prefix)
    assert ["--ro-bind", "/", "/"] != prefix[prefix.index("--ro-bind") :][:3]  # not the whole host


def test_a_filter_the_kernel_refuses_is_caught_at_start_up():
    """A zygote whose kernel refuses the seccomp filter must run without it (and say so),
    not kill every run's child before its program starts and score correct code 0."""
    from verifiers.sandbox_cmd import BOOT
    from verifiers.sandbox_seccomp import compiled

    bpf, why_not = compiled()
    if bpf is None:
        pytest.skip(why_not)
    load = BOOT.replace('sys.modules["sandbox_worker"].main()', "")  # the worker's modules, as it loads them
    probe = load + (
        "w, sos = sys.modules['sandbox_worker'], sys.modules['sandbox_os']\n"
        f"print(w._filter_loads(sos.seccomp_program(bytes.fromhex('{bpf.hex()}'))), "
        "w._filter_loads(sos.seccomp_program(b'\\xff' * 8)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(REPO / "verifiers")], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["True", "False"], out.stderr
