"""The worker's view of the file system: only what it needs, read-only, plus a private tmpfs.

Inside a private mount namespace, :func:`apply` builds a new root on a small tmpfs and moves the
process into it (``pivot_root``); the host's tree is detached and unreachable. The new root holds:

* read-only bind mounts of the Python installation (``/usr``, the interpreter's prefixes, the
  virtual environment, the standard library) and of every module already imported from elsewhere
  (its top-level package folder with a wheel's ``<name>.libs`` beside it, or its single file), so
  that env code can import the standard library and what the worker preloaded, and nothing else of
  the host's; the top-level symlinks of a merged ``/usr`` (``/lib -> usr/lib``) are recreated;
* ``/dev/null``, ``/dev/zero``, ``/dev/full``, ``/dev/random``, ``/dev/urandom``;
* ``/proc``: a fresh one when the caller is in its own PID namespace (it then lists only that
  namespace's processes), else the host's;
* ``/tmp``: a size-capped tmpfs, the only writable place; the working folder lives there.

The root itself is remounted read-only. ``/etc`` holds only ``ld.so.cache``: ``/etc/shadow``,
home folders and the trainer's checkpoints are not there to read. :func:`plan` (run before
forking, e.g. once in a fork server) decides what to show; :func:`apply` does the mounts.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from typing import Any

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 1024, 2048, 1 << 21
_MNT_DETACH = 2
_ST_TO_MS = ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC),
             (os.ST_NOATIME, _MS_NOATIME), (os.ST_NODIRATIME, _MS_NODIRATIME), (os.ST_RELATIME, _MS_RELATIME))
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
TOP_LEVEL_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
WORKDIR = "/tmp/codegym-worker"


class Plan:
    """What the view shows: ``links`` (path, target) recreated as symlinks, ``dirs`` and ``files``
    bound read-only at the same paths, ``devices`` bound as they are."""

    def __init__(self, links: list[tuple[str, str]], dirs: list[str], files: list[str]) -> None:
        self.links, self.dirs, self.files = links, dirs, files
        self.devices = [d for d in DEVICES if os.path.exists(d)]

    def describe(self) -> str:
        return ", ".join(self.dirs + self.files)


def plan() -> Plan:
    """The paths a worker needs, decided from this interpreter and the modules it has imported
    (about a millisecond: paths are resolved only where a string prefix does not settle it)."""
    wanted = {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                                           os.path.dirname(os.__file__))}
    wanted.add("/usr")
    singles = ["/etc/ld.so.cache"] if os.path.exists("/etc/ld.so.cache") else []
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:  # a submodule lives in its top-level package's folder
            continue
        paths = getattr(module, "__path__", None)
        if paths is not None:
            try:
                found = [p for p in list(paths) if isinstance(p, str)]
            except TypeError:
                continue
        else:
            file = getattr(module, "__file__", None)
            found = [file] if isinstance(file, str) else []
            if found and not _covered(os.path.abspath(found[0]), wanted):
                singles.append(os.path.abspath(found[0]))
            continue
        wanted.update(p for p in (os.path.abspath(p) for p in found) if not _covered(p, wanted))
    for path in list(wanted):  # a wheel's bundled shared libraries (auditwheel: numpy.libs beside numpy)
        if os.path.isdir(path + ".libs"):
            wanted.add(path + ".libs")
    wanted = set(_outermost(wanted))
    links = [(p, os.readlink(p)) for p in TOP_LEVEL_LINKS if os.path.islink(p)]
    dirs = _outermost(p for p in (os.path.realpath(w) for w in wanted) if _shown(p) and os.path.isdir(p))
    files = sorted({f for f in (os.path.realpath(s) for s in singles if not _covered(s, wanted))
                    if _shown(f) and os.path.isfile(f) and not _covered(f, dirs)})
    for path in sorted(wanted) + singles:  # a symlinked component must lead to the same place
        links.extend(_links_on(path))
    links.extend((p, "") for p in TOP_LEVEL_LINKS if os.path.isdir(p) and not os.path.islink(p))
    return Plan(sorted(set(links)), dirs, files)


def _shown(path: str) -> bool:
    return path not in ("/", "/tmp", "/proc", "/dev", "/sys") and os.path.exists(path)


def _covered(path: str, dirs: Any) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def _outermost(paths: Any) -> list[str]:
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not _covered(path, kept):
            kept.append(path)
    return kept


def _links_on(path: str) -> list[tuple[str, str]]:
    found, current = [], "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if os.path.islink(current):
            found.append((current, os.readlink(current)))
            current = os.path.realpath(current)
    return found


def apply(libc: Any, view: Plan, stage: str, tmpfs_mb: int, owner: tuple[int, int] | None,
          new_proc: bool) -> tuple[str, list[str]]:
    """Build the view at ``stage`` (an existing empty folder), move into it and detach the host's
    tree. Call inside a private mount namespace with ``CAP_SYS_ADMIN`` there. ``new_proc``: mount a
    fresh ``/proc`` (right when the caller is in its own PID namespace: it then lists only that),
    else show the host's. The working folder (``/tmp/codegym-worker``) is owned by ``owner``
    (uid, gid) when given. Returns ``(workdir, problems)``; raises ``OSError`` when the view cannot
    be built (nothing of it is left then: the caller reports the layer missing), ``RuntimeError``
    when the host's tree could not be detached after the switch (the worker must not go on)."""

    def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        if libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")

    mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing we mount propagates to the host
    mount("tmpfs", stage, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=755")
    try:
        problems = _build(libc, mount, view, stage, tmpfs_mb, owner, new_proc)
    except OSError:
        libc.umount2(_b(stage), _MNT_DETACH)  # leave no half-built view over the working folder
        raise
    os.chdir(stage)
    if libc.syscall(_SYS_PIVOT_ROOT, b".", b".") != 0:
        err = ctypes.get_errno()
        libc.umount2(_b(stage), _MNT_DETACH)
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    if libc.umount2(b".", _MNT_DETACH) != 0:  # the host's tree, now stacked under the new root
        err = ctypes.get_errno()  # no safe way on from here: the worker must not start
        raise RuntimeError(f"sandbox: detaching the host's file system failed: {os.strerror(err)}")
    os.chdir("/")
    mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    return WORKDIR, problems


def _build(libc: Any, mount: Any, view: Plan, stage: str, tmpfs_mb: int, owner: tuple[int, int] | None,
           new_proc: bool) -> list[str]:
    problems: list[str] = []
    os.makedirs(stage + "/tmp")  # first: a Python installation under /tmp is bound on top of it
    mount("tmpfs", stage + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={int(tmpfs_mb)}m,mode=1777")
    os.makedirs(stage + WORKDIR, mode=0o700)
    if owner is not None:
        os.chown(stage + WORKDIR, *owner)
    for link, target in view.links:
        where = stage + link
        if target and not os.path.lexists(where):
            os.makedirs(os.path.dirname(where), exist_ok=True)
            os.symlink(target, where)
    for path in [p for p, t in view.links if not t] + view.dirs:  # real top-level folders, then the rest
        where = stage + path
        if os.path.islink(where) or _covered(path, [p for p in view.dirs if p != path]):
            continue
        os.makedirs(where, exist_ok=True)
        _bind(mount, path, where, read_only=True)
    for path in view.files:
        where = stage + path
        os.makedirs(os.path.dirname(where), exist_ok=True)
        _touch(where)
        _bind(mount, path, where, read_only=True)
    os.makedirs(stage + "/dev", exist_ok=True)
    for device in view.devices:
        _touch(stage + device)
        try:
            _bind(mount, device, stage + device, read_only=False)
        except OSError as exc:
            problems.append(str(exc))
    os.makedirs(stage + "/proc", exist_ok=True)
    if not new_proc or libc.mount(b"proc", _b(stage + "/proc"), b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None):
        if new_proc:
            problems.append(f"a fresh /proc could not be mounted ({os.strerror(ctypes.get_errno())}): "
                            "the host's is shown")
        mount("/proc", stage + "/proc", None, _MS_BIND | _MS_REC)
    return problems


def _touch(path: str) -> None:
    """Create an empty file (a mount point). ``os.open``, not ``open()``: a text file object would
    look up codecs, copying pages the worker shares with its template."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644))


def _bind(mount: Any, source: str, target: str, read_only: bool) -> None:
    mount(source, target, None, _MS_BIND | _MS_REC)
    if not read_only:
        return
    try:
        mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    except PermissionError:  # in a user namespace: keep the flags the kernel locks on the source mount
        flags = os.statvfs(source).f_flag
        mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | sum(ms for st, ms in _ST_TO_MS if flags & st))


def close_outside_descriptors(keep: list[int] | None = None) -> int:
    """Close inherited descriptors that reach outside: every folder (through one, the detached host
    tree stays reachable with ``openat``), and, when ``keep`` is given, every descriptor from 3 up
    that is not in it (a fork server's children inherit whatever its template held: log files,
    sockets). Returns how many were closed."""
    closed = 0
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if (keep is not None and fd > 2 and fd not in keep) or stat.S_ISDIR(os.fstat(fd).st_mode):
                os.close(fd)
                closed += 1
        except OSError:
            pass
    return closed


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(os.uname().machine, -1)
