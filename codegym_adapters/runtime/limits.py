"""The sandbox's limits, and how a worker process puts them on itself.

:class:`SandboxLimits` is the configuration (what the parent enforces, what it asks of workers).
:func:`confine` runs inside a fresh worker, before any env code, and applies every protection the
host allows, in layers, reporting which ones took:

* namespaces: a private network namespace (no interface is up, so nothing is reachable) and a
  private mount namespace with fresh, size-capped tmpfs over the world-writable folders (``/tmp``,
  ``/var/tmp``, ``/dev/shm``, ``/run/lock``); the working folder lives there and vanishes with the
  worker. As root directly; otherwise inside a user namespace where the kernel allows one.
* privileges: as root, the worker becomes ``nobody`` keeping only ``CAP_DAC_READ_SEARCH`` (it can
  still read the Python installation, and write nothing it does not own); ``no_new_privs``.
* rlimits: address space (``RLIMIT_AS``), no new processes or threads (``RLIMIT_NPROC=0``, which the
  kernel enforces for any uid but root: hence the drop to ``nobody``), open files, file size, no
  core dumps.
* an audit hook (:func:`install_audit_hook`) refusing sockets, processes, signals, ``ctypes``, and
  writes outside the working folder. It catches ordinary code; the layers above catch the rest.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

from .channel import DEFAULT_MAX_MESSAGE_BYTES
from .host import DEFAULT_MAX_OBSERVATION_CHARS

NOBODY = 65534
CAP_DAC_READ_SEARCH = 2
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG, _PR_SET_KEEPCAPS, _PR_SET_NO_NEW_PRIVS = 1, 8, 38
_SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
PRIVATE_WORKDIR = "/tmp/codegym-worker"


@dataclass(frozen=True)
class SandboxLimits:
    """Every limit of the sandbox runtime.

    ``step_timeout`` is a wall-clock deadline per worker request (a step, an open, an import, an
    oracle run), enforced by the parent. ``memory_mb`` is each worker's address-space cap; a worker
    whose resident memory is above ``max_rss_mb`` after a call (default: half of ``memory_mb``)
    is replaced and that call fails with a limit error. ``quarantine_after`` failures (deadline,
    crash, memory, non-determinism) of one env source quarantine it for the rest of the run.
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

    @property
    def rss_limit_bytes(self) -> int:
        return (self.max_rss_mb or self.memory_mb // 2) * 1024 * 1024

    def worker_config(self, workdir: str, parent_pid: int) -> dict[str, Any]:
        """What a worker needs to confine itself (plain JSON)."""
        config = asdict(self)
        config.update(workdir=workdir, parent_pid=parent_pid)
        return config


# -- inside the worker --------------------------------------------------------------------------
def confine(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Apply every protection the host allows to this process; return its working folder and a
    report of what is active. Call once, before any env code runs, with ``ctypes`` importable."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    report: dict[str, Any] = {}
    root = os.geteuid() == 0

    def call(fn: Any, *args: Any) -> int:
        return 0 if fn(*args) == 0 else ctypes.get_errno()

    _watch_parent(libc, config["parent_pid"])
    python_paths = _python_paths()  # now, while they can still be seen
    workdir = _namespaces(libc, call, config, root, report)
    os.makedirs(workdir, mode=0o700, exist_ok=True)

    if root and config["drop_privileges"]:
        os.chown(workdir, NOBODY, NOBODY)
        try:
            call(libc.prctl, _PR_SET_KEEPCAPS, 1, 0, 0, 0)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            report["user"] = _drop_caps(libc, python_paths)
        except OSError as exc:
            report["user"] = f"root (dropping to nobody failed: {exc})"
        _watch_parent(libc, config["parent_pid"])  # a credential change clears PDEATHSIG
    elif root:
        report["user"] = "root (drop_privileges off)"
    else:  # drop what a user namespace granted, once its mounts are done
        report["user"] = f"uid {os.getuid()} (not root)" + ("" if _keep_only_caps(libc, 0) else ", no capabilities")
    report["no_new_privs"] = call(libc.prctl, _PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    report["parent_death_signal"] = True

    report.update(_rlimits(config, nproc_enforced=os.geteuid() != 0))
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    import tempfile

    tempfile.tempdir = workdir
    report["workdir"] = workdir
    install_audit_hook(workdir)
    report["audit_hook"] = True
    return workdir, report


def _watch_parent(libc: Any, parent_pid: int) -> None:
    """Die with the parent: SIGKILL on its death, and exit now if it is already gone."""
    import signal

    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)


def _namespaces(libc: Any, call: Any, config: dict[str, Any], root: bool, report: dict[str, Any]) -> str:
    want_net, want_tmp = bool(config["isolate_network"]), bool(config["private_tmp"])
    tries = []
    if want_net or want_tmp:
        full = (_CLONE_NEWNET if want_net else 0) | (_CLONE_NEWNS if want_tmp else 0)
        tries = [full] + ([_CLONE_NEWNET] if want_net and want_tmp else [])
    done, errors = 0, []
    for flags in tries:
        if not root:
            flags |= _CLONE_NEWUSER
        err = call(libc.unshare, flags)
        if not err:
            done = flags
            break
        errors.append(os.strerror(err))
    if done & _CLONE_NEWUSER:
        _map_own_ids()
    why = f"unavailable ({'; '.join(errors)})" if errors else "off"
    report["network"] = "private network namespace (no interfaces up)" if done & _CLONE_NEWNET else why
    workdir = config["workdir"]
    if done & _CLONE_NEWNS:
        mounted = _private_tmp(libc, call, int(config["tmpfs_mb"]))
        if mounted:
            report["private_tmp"] = f"tmpfs ({config['tmpfs_mb']} MB) over {', '.join(mounted)}"
            workdir = PRIVATE_WORKDIR if "/tmp" in mounted else workdir
            if "/tmp" in mounted and root and config["drop_privileges"]:
                hidden = _hide_homes(libc, call)
                report["hidden_homes"] = ", ".join(hidden) if hidden else "none"
        else:
            report["private_tmp"] = "unavailable (mount failed)"
    else:
        report["private_tmp"] = why if want_tmp else "off"
    return workdir


def _map_own_ids() -> None:
    uid, gid = os.getuid(), os.getgid()
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:
            pass


def _private_tmp(libc: Any, call: Any, size_mb: int) -> list[str]:
    if call(libc.mount, b"none", b"/", None, _MS_REC | _MS_PRIVATE, None):
        return []
    mounted = []
    options = f"size={size_mb}m,mode=1777".encode()
    for path in _SHARED_WRITABLE:
        if os.path.isdir(path) and not os.path.islink(path):
            if not call(libc.mount, b"tmpfs", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options):
                mounted.append(path)
    return mounted


def _python_paths() -> list[str]:
    """Folders this interpreter may still import from."""
    paths = {sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix}
    paths.update(p for p in sys.path if p)
    paths.add(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return sorted(p for p in (os.path.realpath(p) for p in paths) if os.path.isdir(p))


def _drop_caps(libc: Any, python_paths: list[str]) -> str:
    """After setuid(nobody) with KEEPCAPS: drop every capability if ``nobody`` can read the Python
    installation by itself, else keep only CAP_DAC_READ_SEARCH (read anything, write nothing)."""
    unreadable = [p for p in python_paths if not os.access(p, os.R_OK | os.X_OK)]
    if not unreadable:
        err = _keep_only_caps(libc, 0)
        return f"nobody ({NOBODY}), no capabilities" + (f" (capset failed: errno {err})" if err else "")
    err = _keep_only_caps(libc, 1 << CAP_DAC_READ_SEARCH)
    if err:
        return f"nobody ({NOBODY}); capset failed (errno {err}): modules under {unreadable[0]} may not import"
    return f"nobody ({NOBODY}) with CAP_DAC_READ_SEARCH (can read any file: {unreadable[0]} is not world-readable)"


def _hide_homes(libc: Any, call: Any) -> list[str]:
    """Cover /root and /home with empty tmpfs, binding back the Python folders that live there, so
    that env code cannot read home folders (keys, tokens). Uses the private /tmp as a stash."""
    hidden = []
    for home in ("/root", "/home"):
        if not os.path.isdir(home) or os.path.islink(home):
            continue
        keep = [p for p in _python_paths() if p == home or p.startswith(home + os.sep)]
        if home in keep:
            continue  # Python lives right there: nothing to hide without hiding it too
        keep = [p for p in keep if not any(p.startswith(q + os.sep) for q in keep)]
        stash = []
        for i, path in enumerate(keep):
            spot = f"/tmp/.codegym-keep-{len(hidden)}-{i}"
            os.makedirs(spot, exist_ok=True)
            if call(libc.mount, path.encode(), spot.encode(), None, _MS_BIND | _MS_REC, None):
                break
            stash.append((spot, path))
        else:
            if call(libc.mount, b"tmpfs", home.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=1m,mode=755"):
                continue
            for spot, path in stash:
                os.makedirs(path, mode=0o755, exist_ok=True)
                call(libc.mount, spot.encode(), path.encode(), None, _MS_BIND | _MS_REC, None)
                call(libc.umount2, spot.encode(), _MNT_DETACH)
            hidden.append(home)
            continue
        for spot, _ in stash:
            call(libc.umount2, spot.encode(), _MNT_DETACH)
    return hidden


def _keep_only_caps(libc: Any, mask: int) -> int:
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    data[0].effective = data[0].permitted = mask
    return 0 if libc.capset(ctypes.byref(header), data) == 0 else ctypes.get_errno()


def _rlimits(config: dict[str, Any], nproc_enforced: bool) -> dict[str, Any]:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-size write fails with EFBIG instead
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


def install_audit_hook(workdir: str) -> None:
    """Refuse, from now on in this process: sockets, new processes, signals to others, ``ctypes``,
    rlimit changes, heap walks, and file writes or changes outside ``workdir``.

    Refusals raise ``PermissionError`` naming the operation, which env code sees as an ordinary
    exception. Audit hooks cannot be removed; the state they read is closed over, not global.
    """
    home = os.path.realpath(workdir)
    prefix = home + os.sep
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    blocked = frozenset({
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
        "os.killpg", "signal.pthread_kill", "subprocess.Popen", "pty.spawn", "resource.setrlimit",
        "resource.prlimit", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "os.startfile",
        "sys.remote_exec", "os.unshare", "os.setns",
    })
    blocked_prefixes = ("socket.", "ctypes.", "_ctypes.", "webbrowser.", "urllib.", "http.client.")
    mutating = frozenset({
        "os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.symlink", "os.link", "os.chmod",
        "os.chown", "os.truncate", "os.utime", "os.chflags", "os.lchflags", "os.mkfifo", "os.mknod",
        "os.setxattr", "os.removexattr", "shutil.copyfile", "shutil.copymode", "shutil.copystat",
        "shutil.copytree", "shutil.rmtree", "shutil.move", "shutil.chown", "shutil.make_archive",
        "shutil.unpack_archive",
    })
    fspath, fsdecode, realpath, isabs, join, getcwd = (os.fspath, os.fsdecode, os.path.realpath,
                                                       os.path.isabs, os.path.join, os.getcwd)

    def inside(path: Any, relative_ok: bool) -> bool:
        try:
            text = fsdecode(fspath(path))
        except TypeError:
            return False
        if text == os.devnull:
            return True
        if not isabs(text):
            if not relative_ok:  # os.open(..., dir_fd=...) resolves against a folder we cannot see
                return False
            text = join(getcwd(), text)
        resolved = realpath(text)
        return resolved == home or resolved.startswith(prefix)

    def refuse(what: str) -> None:
        raise PermissionError(f"sandbox: {what} is not allowed here")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if mode is None:
                writes = bool((flags or 0) & write_flags)
            else:
                writes = any(c in mode for c in "wax+")
            if writes and (isinstance(path, int) or not inside(path, relative_ok=mode is not None)):
                refuse(f"writing {path!r} (outside the working folder)")
        elif event in blocked or event.startswith(blocked_prefixes):
            refuse(event)
        elif event in mutating:
            for arg in args:
                if isinstance(arg, (str, bytes)) or hasattr(arg, "__fspath__"):
                    if not inside(arg, relative_ok=True):
                        refuse(f"{event} on {arg!r} (outside the working folder)")

    sys.addaudithook(hook)
