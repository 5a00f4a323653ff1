"""The sandbox's limits, and how a worker process puts them on itself.

:class:`SandboxLimits` is the configuration (what the parent enforces, what it asks of workers).
:func:`confine` runs inside each worker, once, before any env code, and applies every layer the
host allows, reporting each (the report is the runtime's ``protections``). The kernel is the
boundary; the audit hook (:mod:`.audit`) only turns common attempts into friendly errors first.

* ``pid_namespace``: the worker is process 1 of its own PID namespace; ``/proc`` shows only it, and
  no other process can be named. A fork server gets this for free by forking workers with
  :func:`.pidns.fork`; otherwise ``confine`` forks once more and leaves a keeper behind
  (:mod:`.pidns`: the process the parent tracks still lives and dies with the worker).
* ``filesystem``: a private mount namespace whose root shows only the Python installation, the
  modules the worker loaded, a few devices and ``/proc``, all read-only, plus a size-capped tmpfs
  at ``/tmp`` holding the working folder (:mod:`.fsview`). ``/etc/shadow``, home folders and the
  trainer's files are not in it.
* ``network``: a private network namespace (no interface is up) and an IPC namespace.
* ``capabilities``: none. As root the worker becomes ``nobody`` and drops the bounding set; as
  another user, inside a user namespace where the kernel allows one, it drops what that granted.
* ``seccomp``: a libseccomp filter (:mod:`.seccomp_filter`): no sockets, no other process (signals,
  ``ptrace``, priorities, affinity), no new process or program, no ``memfd_create`` or shared
  memory, no namespaces or mounts, no ``bpf``/``perf_event_open``/keys/``io_uring``/``userfaultfd``.
  Denied calls fail with ``EPERM``. Compiled once in the parent (:meth:`SandboxLimits.worker_config`),
  loaded by each worker with one ``prctl``.
* ``memory``: ``RLIMIT_AS``; what it does not count is closed by seccomp (``memfd_create``, System V
  shared memory, message queues), by the view (no ``/dev/shm``) and by the tmpfs size cap. No
  cgroup is made.

A fork server should call :func:`prepare` once in its template, after preloading modules.
* rlimits: no new processes or threads (``RLIMIT_NPROC=0``), open files, file size, no core dumps;
  ``no_new_privs``; death with the parent (``PR_SET_PDEATHSIG``).

Where a layer is missing the report says so and why (``report["missing"]`` lists the layers not in
force); ``codegym doctor`` explains what to do about each.
"""

from __future__ import annotations

import _signal
import base64
import functools
import os
import signal
from dataclasses import asdict, dataclass
from typing import Any

from . import fsview, pidns
from .audit import install_audit_hook
from .channel import DEFAULT_MAX_MESSAGE_BYTES
from .host import DEFAULT_MAX_OBSERVATION_CHARS
from .seccomp_filter import load as load_seccomp

__all__ = ["SandboxLimits", "confine", "prepare", "install_audit_hook", "LAYERS"]

NOBODY = 65534
LAYERS = ("seccomp", "pid_namespace", "filesystem", "capabilities", "memory", "network")
_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
_CLONE_NEWPID, _CLONE_NEWNET = 0x20000000, 0x40000000
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38


@dataclass(frozen=True)
class SandboxLimits:
    """Every limit of the sandbox runtime.

    ``step_timeout`` is a wall-clock deadline per worker request (a step, an open, an import, an
    oracle run), enforced by the parent. ``memory_mb`` is each worker's address-space cap; a worker
    whose resident memory is above ``max_rss_mb`` after a call (default: half of ``memory_mb``)
    is replaced and that call fails with a limit error. ``quarantine_after`` failures (deadline,
    crash, memory, non-determinism) of one env source quarantine it for the rest of the run.

    The kernel layers (see the module's docstring), each on by default and used where the host
    allows: ``seccomp``, ``pid_namespace``, ``private_tmp`` (the private mount namespace: the
    read-only view of the file system with a ``tmpfs_mb`` tmpfs as the only writable place),
    ``isolate_network`` and ``drop_privileges`` (as root: become ``nobody``, no capabilities).
    ``audit_hook`` (on) turns common attempts into a ``PermissionError`` naming the operation before
    the kernel refuses them; it is not a boundary, and turning it off shows what the kernel layers
    alone do (the kernel tests do that).
    """

    step_timeout: float = 10.0
    memory_mb: int = 1024
    max_rss_mb: int | None = None
    max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_open_files: int = 64
    max_file_mb: int = 16
    tmpfs_mb: int = 64
    isolate_network: bool = True
    private_tmp: bool = True
    drop_privileges: bool = True
    seccomp: bool = True
    pid_namespace: bool = True
    audit_hook: bool = True
    quarantine_after: int = 3
    start_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not self.step_timeout > 0:
            raise ValueError(f"step_timeout must be positive, got {self.step_timeout}")
        if self.memory_mb < 256:
            raise ValueError(f"memory_mb must be at least 256 (a worker imports numpy), got {self.memory_mb}")
        if self.max_rss_mb is not None and not 0 < self.max_rss_mb <= self.memory_mb:
            raise ValueError(f"max_rss_mb must be in 1..memory_mb, got {self.max_rss_mb}")
        if self.max_message_bytes < 64 * 1024:
            raise ValueError(f"max_message_bytes must be at least 65536, got {self.max_message_bytes}")
        if self.max_open_files < 16:
            raise ValueError(f"max_open_files must be at least 16, got {self.max_open_files}")
        if self.quarantine_after < 1:
            raise ValueError(f"quarantine_after must be at least 1, got {self.quarantine_after}")
        if self.tmpfs_mb < 1:
            raise ValueError(f"tmpfs_mb must be at least 1, got {self.tmpfs_mb}")

    @property
    def rss_limit_bytes(self) -> int:
        return (self.max_rss_mb or self.memory_mb // 2) * 1024 * 1024

    def worker_config(self, workdir: str, parent_pid: int, keep_fds: list[int] | None = None) -> dict[str, Any]:
        """What a worker needs to confine itself (plain JSON). Includes the seccomp program for a
        worker that is process 1 of its PID namespace, compiled once per process (here).
        ``keep_fds``: the descriptors (from 3 up) the worker keeps, its channel; :func:`confine` then
        closes every other one it inherited (folders are closed either way)."""
        config = asdict(self)
        config.update(workdir=workdir, parent_pid=parent_pid)
        if keep_fds is not None:
            config["keep_fds"] = list(keep_fds)
        if self.seccomp and self.pid_namespace:
            config["seccomp_bpf"], config["seccomp_rules"], config["seccomp_error"] = _program_for_pid_1()
        return config


@functools.lru_cache(maxsize=1)
def _program_for_pid_1() -> tuple[str | None, int, str]:
    from .seccomp_filter import SeccompUnavailable, build

    try:
        bpf, rules = build(1)
    except SeccompUnavailable as exc:
        return None, 0, str(exc)
    return base64.b64encode(bpf).decode("ascii"), rules, ""


# -- inside the worker --------------------------------------------------------------------------
_PREPARED: dict[str, Any] = {}


def prepare() -> None:
    """Do now, once, the part of :func:`confine` that is the same for every worker: decide the
    file-system view (about 1 ms), open the C library and resolve the functions it calls, read
    ``cap_last_cap``. A fork server calls it in its template process after preloading modules; each
    forked worker's :func:`confine` then reuses it (and copies fewer of the template's pages). (The seccomp program comes
    compiled in the config, see :meth:`SandboxLimits.worker_config`; libseccomp is loaded here too,
    for workers without a PID namespace, which compile their own.)"""
    import ctypes

    from .seccomp_filter import SeccompUnavailable, _library

    _PREPARED["plan"] = fsview.plan()
    _PREPARED["last_cap"] = _last_cap()
    libc = ctypes.CDLL(None, use_errno=True)
    for name in ("prctl", "unshare", "capset", "mount", "umount2", "syscall"):
        getattr(libc, name, None)  # resolved once here: a child only calls them
    _PREPARED["libc"] = libc
    try:
        _library()
    except SeccompUnavailable:
        pass


def confine(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Apply every protection the host allows to this process; return its working folder and a
    report of what is active. Call once, single-threaded, before any env code runs. With the PID
    namespace on, the caller returns in a new child process (see :mod:`.pidns`)."""
    import ctypes

    libc = _PREPARED.get("libc") or ctypes.CDLL(None, use_errno=True)
    report: dict[str, Any] = {}
    root = os.geteuid() == 0
    _watch_parent(libc, config["parent_pid"])
    view = (_PREPARED.get("plan") or fsview.plan()) if config["private_tmp"] else None
    last_cap = _PREPARED.get("last_cap") or _last_cap()
    done, why = _unshare(libc, config, root, view is not None)
    # a worker that will not be process 1 compiles its own filter, now, while libseccomp can be found
    own_program = None if done & _CLONE_NEWPID or os.getpid() == 1 else _own_program(config)

    in_pid_ns = os.getpid() == 1  # forked into its own namespace already (pidns.fork)
    if done & _CLONE_NEWPID:
        pidns.enter(libc)  # from here on: the inner process
        in_pid_ns = os.getpid() == 1
    if in_pid_ns and config.get("seccomp", True) and not config.get("seccomp_bpf"):
        own_program = _compile(1)  # the parent sent none (see SandboxLimits.worker_config)
    report["pid_namespace"] = ("on (the worker is process 1 of its own PID namespace; /proc lists only it)"
                               if in_pid_ns else _off(config["pid_namespace"], why))
    report["network"] = ("private network namespace (no interfaces up)" if done & _CLONE_NEWNET
                         else _off(config["isolate_network"], why))

    workdir = config["workdir"]
    owner = (NOBODY, NOBODY) if root and config["drop_privileges"] else None
    if view is not None and done & _CLONE_NEWNS:
        try:
            workdir, problems = fsview.apply(libc, view, config["workdir"], int(config["tmpfs_mb"]), owner,
                                             new_proc=in_pid_ns)
            report["filesystem"] = f"on (read-only: {view.describe()}; writable: /tmp, a {config['tmpfs_mb']} MB tmpfs)"
            if problems:
                report["filesystem"] += f"; {'; '.join(problems)}"
            report["private_tmp"] = f"tmpfs ({config['tmpfs_mb']} MB) at /tmp; working folder {workdir}"
        except OSError as exc:
            report["filesystem"] = f"missing (the read-only view could not be built: {exc})"
    else:
        report["filesystem"] = _off(config["private_tmp"], why)
    report.setdefault("private_tmp", "off (the working folder is on the host's disk)")
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    keep = config.get("keep_fds")
    report["inherited_descriptors_closed"] = fsview.close_outside_descriptors(
        None if keep is None else [int(fd) for fd in keep])

    report.update(_rlimits(config, nproc_enforced=not root or bool(config["drop_privileges"])))
    report["user"] = _drop_privileges(libc, config, root, done, last_cap, workdir)
    if in_pid_ns:
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # a credential change cleared it
    else:
        _watch_parent(libc, config["parent_pid"])
    report["no_new_privs"] = libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    report["parent_death_signal"] = True
    report["seccomp"] = _seccomp(config, in_pid_ns, own_program)

    status = _status()
    caps = {k: int(status.get(k, "0"), 16) for k in ("CapEff", "CapPrm", "CapInh", "CapAmb")}
    report["capabilities"] = "none" if not any(caps.values()) else (
        "missing (the worker holds " + ", ".join(f"{k}={v:x}" for k, v in caps.items() if v) + ")")
    if report["seccomp"].startswith("on") and status.get("Seccomp") != "2":
        report["seccomp"] = f"missing (the kernel reports Seccomp: {status.get('Seccomp')})"
    report["memory"] = _memory_report(config, report)
    os.chdir(workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir  # (not .update(): its ABC checks copy 400 KB of pages)
    import tempfile

    tempfile.tempdir = workdir
    report["workdir"] = workdir
    if config.get("audit_hook", True):
        install_audit_hook(workdir)
    report["audit_hook"] = bool(config.get("audit_hook", True))
    report["missing"] = [layer for layer in LAYERS
                         if not str(report.get(layer, "")).startswith(("on", "none", "private"))]
    return workdir, report


def _off(wanted: bool, why: str) -> str:
    return f"missing ({why})" if wanted else "missing (turned off in the sandbox limits)"


def _unshare(libc: Any, config: dict[str, Any], root: bool, view: bool) -> tuple[int, str]:
    """Enter the namespaces asked for, all at once; inside a user namespace when not root (or when
    root without CAP_SYS_ADMIN). Returns the flags that took and why others did not."""
    import ctypes

    wanted = (_CLONE_NEWNS if view else 0) | (_CLONE_NEWPID if config["pid_namespace"] and os.getpid() != 1 else 0)
    wanted |= (_CLONE_NEWNET | _CLONE_NEWIPC) if config["isolate_network"] else 0
    if not wanted:
        return 0, "turned off in the sandbox limits"
    errors = []
    for flags in ([wanted, wanted | _CLONE_NEWUSER] if root else [wanted | _CLONE_NEWUSER]):
        if libc.unshare(flags) == 0:
            if flags & _CLONE_NEWUSER:
                _map_own_ids()
            return flags, ""
        err = ctypes.get_errno()
        errors.append(f"unshare{' with a user namespace' if flags & _CLONE_NEWUSER else ''}: {os.strerror(err)}")
    return 0, "; ".join(errors)


def _map_own_ids() -> None:
    uid, gid = os.getuid(), os.getgid()
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:
            pass


def _watch_parent(libc: Any, parent_pid: int) -> None:
    """Die with the parent: SIGKILL on its death, and exit now if it is already gone."""
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid and os.getpid() != 1:  # as process 1 of a namespace its parent reads as 0
        os._exit(0)


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40


def _drop_privileges(libc: Any, config: dict[str, Any], root: bool, done: int, last_cap: int, workdir: str) -> str:
    for cap in range(last_cap + 1):  # the bounding set, while CAP_SETPCAP allows it (no error otherwise)
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    if root and config["drop_privileges"] and not done & _CLONE_NEWUSER:
        try:
            os.chown(workdir, NOBODY, NOBODY)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)  # without PR_SET_KEEPCAPS: every capability goes
        except OSError as exc:
            return f"root (dropping to nobody failed: {exc})"
        return f"nobody ({NOBODY})"
    if root and not config["drop_privileges"]:
        return "root (drop_privileges off)"
    err = _clear_caps(libc)
    inside = " in a user namespace" if done & _CLONE_NEWUSER else ""
    return f"uid {os.getuid()}{inside}" + (f" (capset failed: errno {err})" if err else "")


def _clear_caps(libc: Any) -> int:
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3; all-zero data: no capability
    return 0 if libc.capset(ctypes.byref(header), (Data * 2)()) == 0 else ctypes.get_errno()


def _own_program(config: dict[str, Any]) -> tuple[bytes, int] | str | None:
    """The filter for this process as it is now (its rules name it by pid). A string says why
    there is none."""
    if not config.get("seccomp", True):
        return None
    return _compile(os.getpid())


def _compile(pid: int) -> tuple[bytes, int] | str:
    from .seccomp_filter import SeccompUnavailable, build

    try:
        return build(pid)
    except SeccompUnavailable as exc:
        return str(exc)


def _seccomp(config: dict[str, Any], in_pid_ns: bool, own: tuple[bytes, int] | str | None) -> str:
    if not config.get("seccomp", True):
        return "missing (turned off in the sandbox limits)"
    program: tuple[bytes, int] | str
    if in_pid_ns and config.get("seccomp_bpf"):  # compiled once by the parent, for process 1
        program = base64.b64decode(config["seccomp_bpf"]), int(config["seccomp_rules"])
    else:
        program = own if own is not None else _compile(1 if in_pid_ns else os.getpid())
    if isinstance(program, str):
        return f"missing ({program})"
    err = load_seccomp(program[0], _PREPARED.get("libc"))
    if err:
        return f"missing (loading the filter failed: {os.strerror(err)})"
    return f"on ({program[1]} system calls denied or restricted to the worker itself; EPERM)"


def _status() -> dict[str, str]:
    try:  # os.open, not open(): see fsview._touch
        fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
        try:
            text = os.read(fd, 1 << 16).decode("utf-8", "replace")
        finally:
            os.close(fd)
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _memory_report(config: dict[str, Any], report: dict[str, Any]) -> str:
    cap = report.get("RLIMIT_AS")
    if not isinstance(cap, int):
        return f"missing (RLIMIT_AS: {cap})"
    text = f"RLIMIT_AS {cap // 2**20} MB"
    if not report["seccomp"].startswith("on"):
        return f"missing ({text}, but memfd_create and shared memory are not denied without seccomp)"
    tmp = (f"tmpfs capped at {config['tmpfs_mb']} MB" if report["filesystem"].startswith("on")
           else f"files capped at {config['max_file_mb']} MB each")
    return f"on ({text}; memfd_create and shared memory denied; {tmp}; no cgroup)"


def _rlimits(config: dict[str, Any], nproc_enforced: bool) -> dict[str, Any]:
    import resource

    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)  # an over-size write fails with EFBIG instead (_signal:
    # signal.signal's enum wrapping would touch, and so copy, pages shared with the template)
    mb = 1024 * 1024
    wanted = {
        "RLIMIT_CORE": 0,
        "RLIMIT_FSIZE": int(config["max_file_mb"]) * mb,
        "RLIMIT_NOFILE": int(config["max_open_files"]),
        "RLIMIT_AS": int(config["memory_mb"]) * mb,
        "RLIMIT_NPROC": 0,
    }
    report: dict[str, Any] = {}
    for name, value in wanted.items():
        limit = getattr(resource, name)
        try:
            soft, hard = resource.getrlimit(limit)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(limit, (value, value))
            report[name] = value
        except (ValueError, OSError) as exc:
            report[name] = f"not set ({exc})"
    if not nproc_enforced:
        report["RLIMIT_NPROC"] = "set, but ignored by the kernel for root"
    return report
