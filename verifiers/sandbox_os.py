"""Low-level OS work inside the sandbox: prctl, capabilities, seccomp, the process
tree, and the root file system when bubblewrap is absent ("namespaces" mode).

Standard library only (ctypes), since it runs inside the sandbox; the zygote uses it
before any untrusted code runs.

Namespaces mode: the zygote runs under `unshare --mount --pid --fork --net --ipc --uts` (plus
`--map-root-user` when not root) and calls `build_root` before serving. It does the
same as bubblewrap: a fresh tmpfs root holding read-only binds of the system
directories and the Python install, the usual /dev nodes, a new /proc for the pid
namespace and a size-limited tmpfs /tmp. It then pivots into that root and detaches
the host's root.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import signal

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
# statvfs flags -> mount flags that a user namespace may not clear on a bind remount
_LOCKED = ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, 1024), (2048, 2048), (4096, 1 << 21))
_PIVOT_ROOT = {"x86_64": 155, "amd64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203}
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
PR_CAPBSET_DROP, PR_SET_SECUREBITS = 24, 28
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl  # looked up now: a program's process may not use ctypes at all


# ------------------------------------------------------------ privileges, processes


def prctl(option: int, value: int) -> None:
    _prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def drop_capabilities() -> None:
    """Clear every capability for good (user-namespace root in namespaces mode)."""
    for cap in range(64):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_SET_SECUREBITS, 0x2F)  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS off, all locked
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    _libc.capset(header, (ctypes.c_uint32 * 6)())


# --------------------------------------------------------------------------- seccomp

PR_GET_SECCOMP, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 21, 22, 2


class _SockFprog(ctypes.Structure):  # struct sock_fprog: the filter as the kernel takes it
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_available() -> bool:
    """The kernel has seccomp (PR_GET_SECCOMP answers instead of EINVAL)."""
    return (
        _prctl(PR_GET_SECCOMP, ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
        >= 0
    )


def seccomp_program(bpf: bytes) -> tuple:
    """A filter compiled by libseccomp on the host (8-byte BPF instructions), made
    ready once in the zygote so that a child only makes one call."""
    code = ctypes.create_string_buffer(bpf, len(bpf))
    return _SockFprog(len(bpf) // 8, ctypes.addressof(code)), code  # the buffer lives as long


def load_seccomp(program: tuple) -> None:
    """Install the filter on this process and all it will fork or exec; for good.
    Needs no_new_privs (or CAP_SYS_ADMIN)."""
    fprog = ctypes.byref(program[0])
    _check(
        _prctl(
            PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), fprog, ctypes.c_ulong(0), ctypes.c_ulong(0)
        ),
        "seccomp",
    )


def wait_status(status: int | None) -> dict:
    if status is None:
        return {"exit": None, "signal": None}
    if os.WIFSIGNALED(status):
        return {"exit": None, "signal": os.WTERMSIG(status)}
    return {"exit": os.waitstatus_to_exitcode(status), "signal": None}


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def descendants(root: int) -> list[int]:
    """Every process below `root`, from one pass over /proc. A process with a pending
    SIGKILL cannot fork, so killing the whole tree each pass ends a fork bomb."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def count_tasks(uid: int) -> int:
    """Threads of `uid` that this process can see (what RLIMIT_NPROC counts)."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return count


def remove(path: str) -> None:
    """Best-effort delete of a file or tree, whatever modes the program left on it."""

    def unlock(_func, failed, _exc):
        for target in (os.path.dirname(failed), failed):
            try:
                os.chmod(target, 0o700)
            except OSError:
                pass
        shutil.rmtree(failed, ignore_errors=True) if os.path.isdir(failed) else _unlink(failed)

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=unlock)
    else:
        _unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -------------------------------------------------------------- namespaces mode root


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)), f"mount {target}"
    )


def bind(source: str, target: str, readonly: bool = True) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        kept = os.statvfs(target).f_flag
        locked = sum(ms for st, ms in _LOCKED if kept & st)
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked)


def _new_root_base(sources: list[str]) -> str:
    """An existing directory to mount the new root on, not above any bind source."""
    for path in ("/mnt", "/media", "/srv", "/opt", "/tmp"):
        if os.path.isdir(path) and not any(s == path or s.startswith(path + "/") for s in sources):
            return path
    raise OSError("no directory to build the sandbox root in")


def _pivot_root(new: str, old: str) -> None:
    number = _PIVOT_ROOT.get(platform.machine().lower())
    if number is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(_libc.syscall(ctypes.c_long(number), _b(new), _b(old)), "pivot_root")


def build_root(binds: list[list[str]], tmp_mb: int) -> None:
    """`binds` are [source, destination, kind] with kind "ro" or "link" (a symlink
    whose target is `source`). Afterwards / is the new root, read-only."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    base = _new_root_base([source for source, _dest, kind in binds if kind == "ro"])
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m")
    for source, dest, kind in binds:
        target = base + dest
        if kind == "link":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(source, target)
        elif os.path.exists(source):
            bind(source, target)
    for node in DEV_NODES:
        if os.path.exists(f"/dev/{node}"):
            bind(f"/dev/{node}", f"{base}/dev/{node}", readonly=False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
    ):
        os.symlink(target, f"{base}/dev/{name}")
    os.symlink("/proc/self/fd/2", f"{base}/dev/stderr")
    os.makedirs(f"{base}/proc")
    mount("proc", f"{base}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(f"{base}/tmp")
    mount("tmpfs", f"{base}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={int(tmp_mb)}m")
    os.chdir(base)
    _pivot_root(".", ".")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
