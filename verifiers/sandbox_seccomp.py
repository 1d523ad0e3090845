"""The seccomp filter of the sandbox's children: system calls the kernel refuses them.

Host side. libseccomp (through pyseccomp, its ctypes binding) compiles the filter
once into classic BPF, and the zygote loads those bytes with prctl(PR_SET_SECCOMP)
in each child it forks, after no_new_privs and before any of the run's code or
data arrives (`sandbox_os.load_seccomp`). That works the same in every mode, the
zygote needs no library for it, and the kernel enforces it whatever the program
does to the interpreter; the audit hook of `sandbox_harness.guard` is only a tripwire.

What it stops: a program in ctypes can call any system call. In-process memory is
its own (and holds no earlier run: see `sandbox_worker`), so the filter refuses
what reaches past the process: other processes' memory (ptrace,
process_vm_readv/writev, pidfd_getfd, kcmp), new namespaces and mounts, and the
kernel interfaces that a Python program never needs and that have carried most
sandbox escapes (eBPF, userfaultfd, io_uring, perf, keyrings, modules, kexec).
Everything else is allowed: an allow-list would break the odd program that uses
a system call we did not think of. W^X (no new PROT_EXEC mappings) is not
enforced: importing a not-yet-loaded C module of the standard library maps code,
and with ctypes at hand a program needs no code of its own to call the kernel.
Non-native system call ABIs (i386 `int 0x80`, x32) kill the process
(libseccomp's default), so the list cannot be dodged through them.
"""

from __future__ import annotations

import errno
import functools
import tempfile

REFUSED = (
    # other processes' memory and file descriptors
    "ptrace process_vm_readv process_vm_writev process_madvise pidfd_getfd kcmp move_pages migrate_pages "
    # namespaces, mounts and roots
    "unshare setns mount umount2 pivot_root chroot open_tree move_mount fsopen fsconfig fsmount fspick "
    "mount_setattr open_by_handle_at name_to_handle_at "
    # kernel interfaces no verifier program needs
    "bpf userfaultfd perf_event_open io_uring_setup io_uring_enter io_uring_register keyctl add_key "
    "request_key init_module finit_module delete_module kexec_load kexec_file_load lookup_dcookie syslog "
    "acct swapon swapoff reboot quotactl quotactl_fd personality uselib vhangup iopl ioperm fanotify_init "
    "settimeofday clock_settime clock_adjtime adjtimex sethostname setdomainname"
).split()
# clone with any of these flags makes a namespace; a plain fork or thread has none
CLONE_NAMESPACES = (0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


@functools.lru_cache(maxsize=1)
def compiled() -> tuple[bytes | None, str | None]:
    """(the filter as BPF bytes, None), or (None, why it is not available)."""
    try:
        import pyseccomp as seccomp  # raises RuntimeError where libseccomp is missing
    except (ImportError, OSError, RuntimeError) as exc:
        return None, f"no libseccomp binding: {exc}"
    try:
        refuse = seccomp.ERRNO(errno.EPERM)
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in REFUSED:
            try:
                rules.add_rule(refuse, name)
            except OSError:  # a name this libseccomp does not know: it is older than the call
                pass
        for flag in CLONE_NAMESPACES:
            rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        # clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes
        # glibc fall back to clone, which the rules above do see
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        with tempfile.TemporaryFile() as out:
            rules.export_bpf(out)
            out.seek(0)
            return out.read(), None
    except OSError as exc:
        return None, f"libseccomp could not build the filter: {exc}"


def describe() -> str:
    """One line for `cotmill doctor`."""
    bpf, why_not = compiled()
    if bpf is None:
        return f"NOT in force ({why_not})"
    return (
        "in force in every run's processes: the kernel refuses them ptrace, process_vm_readv/writev, "
        "new namespaces (unshare, clone), mount, bpf, userfaultfd, io_uring, perf_event_open, keyrings, "
        "modules and kexec"
    )
