"""The sandbox worker's seccomp filter: the system calls env code may not make.

Built with libseccomp (through ``pyseccomp``, ctypes bindings with the API of libseccomp's own
Python module) and exported as a classic BPF program, so that a fork server compiles it once and
each worker only hands the bytes to the kernel (:func:`load`, one ``prctl``). Every denied call
fails with ``EPERM`` (``clone3`` with ``ENOSYS``, so that the C library falls back to ``clone``,
whose flags a filter can see): env code gets an ``OSError``, never a killed worker.

What is denied, and why (see :data:`DENIED` and :func:`build`):

* the network: ``socket``, ``socketpair`` and every call on sockets;
* other processes: ``ptrace``, ``process_vm_readv``/``writev``, ``pidfd_*``, ``kcmp``; signals
  (``kill``, ``tkill``, ``tgkill``, ``rt_sigqueueinfo``, ``rt_tgsigqueueinfo``) to any process but
  itself; ``setpriority``, ``sched_setaffinity``/``setscheduler``/``setparam``/``setattr`` and
  ``prlimit64`` on any process but itself; ``ioprio_set``, ``migrate_pages``, ``move_pages``;
* new processes and programs: ``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``, ``execve``,
  ``execveat`` (threads stay governed by ``RLIMIT_NPROC``);
* memory the address-space cap does not count: ``memfd_create``, ``memfd_secret``, System V shared
  memory, semaphores and message queues;
* the kernel's attack surface and the host's state: namespaces and mounts (``unshare``, ``setns``,
  ``mount``, ``umount2``, ``pivot_root``, ``chroot``, the new mount API), ``bpf``,
  ``perf_event_open``, keys (``keyctl``, ``add_key``, ``request_key``), ``io_uring_*``,
  ``userfaultfd``, modules, ``kexec``, ``reboot``, swap, clocks, host names, ``open_by_handle_at``,
  ``ioctl(TIOCSTI)``, identity changes (``setuid`` and friends, ``capset``).

Raises :class:`SeccompUnavailable` where the library or libseccomp is missing.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

DENIED = (
    # the network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg",
    "sendmmsg", "recvfrom", "recvmsg", "recvmmsg", "getsockopt", "setsockopt", "getsockname",
    "getpeername", "shutdown",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "kcmp", "ioprio_set", "migrate_pages", "move_pages", "process_madvise",
    "process_mrelease", "get_robust_list",
    # new processes and programs
    "fork", "vfork", "execve", "execveat",
    # memory outside RLIMIT_AS
    "memfd_create", "memfd_secret", "shmget", "shmat", "shmctl", "shmdt", "semget", "semop",
    "semtimedop", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink",
    "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    # namespaces and mounts
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    # the kernel's attack surface and the host's state
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "userfaultfd", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
    "lookup_dcookie", "name_to_handle_at", "open_by_handle_at", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm", "syslog", "vhangup",
    "uselib", "ustat", "sysfs", "personality", "fanotify_init", "nfsservctl",
    # identity
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
    "setgroups", "capset",
)  # fmt: skip

# (syscall, index of the argument naming the target process, what "itself" is: "pid" or 0)
SELF_ONLY = (
    ("kill", 0, "pid"), ("tkill", 0, "pid"), ("tgkill", 0, "pid"), ("rt_sigqueueinfo", 0, "pid"),
    ("rt_tgsigqueueinfo", 0, "pid"), ("setpriority", 1, 0), ("setpriority", 0, 0),  # which = PRIO_PROCESS
    ("sched_setaffinity", 0, 0), ("sched_setscheduler", 0, 0), ("sched_setparam", 0, 0),
    ("sched_setattr", 0, 0), ("prlimit64", 0, 0),
)  # fmt: skip

_CLONE_THREAD = 0x00010000
_TIOCSTI = 0x5412
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


class SeccompUnavailable(Exception):
    """The seccomp layer cannot be built here (library or libseccomp missing)."""


def _library() -> Any:
    try:
        import pyseccomp
    except ImportError as exc:
        raise SeccompUnavailable(f"the pyseccomp package is not installed ({exc})") from None
    except (OSError, RuntimeError) as exc:  # pyseccomp raises RuntimeError without libseccomp
        raise SeccompUnavailable(f"libseccomp cannot be loaded ({exc})") from None
    return pyseccomp


def build(self_pid: int) -> tuple[bytes, int]:
    """Compile the filter for a process whose id (as it sees itself) is ``self_pid``.

    Returns ``(bpf, rules)``: the classic BPF program (8-byte instructions, native byte order) and
    how many syscalls it restricts. Raises :class:`SeccompUnavailable`.
    """
    sc = _library()
    deny = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    names: set[str] = set()

    def rule(action: int, name: str, *args: Any) -> None:
        if sc.resolve_syscall(sc.Arch.NATIVE, name) == -1:  # not a system call on this architecture
            return
        flt.add_rule(action, name, *args)
        names.add(name)

    for name in DENIED:
        rule(deny, name)
    for name, index, itself in SELF_ONLY:
        rule(deny, name, sc.Arg(index, sc.NE, self_pid if itself == "pid" else itself))
    rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")
    rule(deny, "ioctl", sc.Arg(1, sc.EQ, _TIOCSTI))
    read, write = os.pipe()  # a BPF program is at most 32 KiB: it fits in a pipe's buffer
    try:
        flt.export_bpf(_Descriptor(write))  # libseccomp writes to the descriptor itself
        os.close(write)
        write = -1
        chunks = []
        while chunk := os.read(read, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    return b"".join(chunks), len(names)


class _Descriptor:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load(bpf: bytes, libc: Any = None) -> int:
    """Install ``bpf`` (from :func:`build`) on the calling thread; returns 0 or an errno. ``libc``:
    a ``ctypes.CDLL(None, use_errno=True)`` to call it with (default: a new one).

    Needs ``no_new_privs`` set (or ``CAP_SYS_ADMIN``); applies to threads started later. The
    caller must be single-threaded (a forked child is)."""
    if not bpf or len(bpf) % 8:
        return errno.EINVAL
    program = ctypes.create_string_buffer(bpf, len(bpf))
    fprog = _SockFprog(len(bpf) // 8, ctypes.addressof(program))
    libc = libc if libc is not None else ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0:
        return 0
    return ctypes.get_errno()
