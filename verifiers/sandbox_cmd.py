"""The sandbox's command lines: bubblewrap's, unshare's, and the zygote's own.

Host side only. The zygote starts as `python -c BOOT DIR CONFIG`: BOOT loads the
three sandbox files from DIR by path, so no directory of this repo is on the
sandbox's sys.path (verifiers/math.py would shadow the standard library's math).
Under bubblewrap DIR is INSIDE, where the files are bound read-only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("sandbox_worker.py", "sandbox_harness.py", "sandbox_os.py")
INSIDE = "/opt/cotmill"
SYSTEM_PATHS = (
    "/usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc/ld.so.cache /etc/localtime /etc/passwd /etc/group "
    "/etc/nsswitch.conf /etc/alternatives"
).split()
ZYGOTE_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
BOOT = """import sys, importlib.util as u
del sys.path[0]
for n in ("sandbox_harness", "sandbox_os", "sandbox_worker"):
    s = u.spec_from_file_location(n, sys.argv[1] + "/" + n + ".py")
    sys.modules[n] = m = u.module_from_spec(s)
    s.loader.exec_module(m)
sys.modules["sandbox_worker"].main()
"""


def python() -> str:
    return os.path.realpath(sys.executable)


def _python_dirs() -> list[str]:
    exe = python()
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    dirs.add(os.path.dirname(os.path.dirname(exe)))
    return sorted(d for d in dirs if d != "/" and not d.startswith("/usr/"))


def binds() -> list[list[str]]:
    """[source, destination, kind] for the sandbox root: "ro" binds and "link"s."""
    out = []
    for path in SYSTEM_PATHS:
        if os.path.islink(path) and path.count("/") == 1:
            out.append([os.readlink(path), path, "link"])  # /bin -> usr/bin on merged-usr systems
        elif os.path.exists(path):
            out.append([path, path, "ro"])
    out += [[d, d, "ro"] for d in _python_dirs() if os.path.exists(d)]
    return out + [[str(HERE / name), f"{INSIDE}/{name}", "ro"] for name in FILES]


def _parents(dests: list[str]) -> list[str]:
    """The directories bwrap creates above the bind targets (none of them a target)."""
    out: set[str] = set()
    for dest in dests:
        parent = os.path.dirname(dest)
        while parent != "/" and not any(parent == d or parent.startswith(d + "/") for d in dests):
            out.add(parent)
            parent = os.path.dirname(parent)
    return sorted(out)


def bwrap_prefix(tmp_mb: int = 64) -> list[str]:
    """The bubblewrap command line up to the program (also used by bench/sandbox.py)."""
    argv = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net"]
    argv += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
        for cap in ZYGOTE_CAPS:
            argv += ["--cap-add", cap]
    else:
        argv += ["--unshare-user"]
    mounted = binds()
    for source, dest, kind in mounted:
        argv += ["--symlink", source, dest] if kind == "link" else ["--ro-bind", source, dest]
    for parent in _parents([dest for _source, dest, _kind in mounted]):
        argv += ["--chmod", "0755", parent]  # bwrap copies the host's modes (/root is 0700)
    argv += ["--dev", "/dev", "--proc", "/proc", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp"]
    return argv + ["--chdir", "/tmp", "--"]


def worker_command(mode: str, tmp_mb: int) -> list[str]:
    """The zygote's command line, less its config argument."""
    if mode == "bubblewrap":
        return bwrap_prefix(tmp_mb) + [python(), "-B", "-s", "-c", BOOT, INSIDE]
    worker = [python(), "-B", "-s", "-c", BOOT, str(HERE)]
    if mode == "namespaces":
        argv = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--net", "--ipc", "--uts"]
        return argv + ([] if os.geteuid() == 0 else ["--map-root-user"]) + ["--"] + worker
    return worker
