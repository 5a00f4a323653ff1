"""The audit hook a sandbox worker installs last: an early, friendly error for ordinary code.

It is not a boundary (plain Python can reach and replace the state it closes over); the kernel
layers of :mod:`.limits` are. It turns the common attempts (a socket, a subprocess, a write outside
the working folder) into a ``PermissionError`` that names the operation, before the kernel's
``EPERM``/``EROFS`` would.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def install_audit_hook(workdir: str) -> None:
    """Refuse, from now on in this process: sockets, new processes, signals to others, ``ctypes``,
    rlimit changes, heap walks, replacing a function's ``__code__`` (or the defaults of this package's
    and ``json``'s functions: namedtuple sets its own), which the worker's tripwire would otherwise
    have to re-read on every request (:mod:`.tamper`), and file writes or changes outside ``workdir``.

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
    function, code_attributes = type(install_audit_hook), frozenset({"__code__", "__defaults__", "__kwdefaults__"})
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
        if event == "object.__getattr__":  # the most frequent event (tracebacks, __code__ reads): first out
            return
        if event == "object.__setattr__":  # a function's code or defaults swapped under its callers
            if len(args) >= 2 and type(args[0]) is function and args[1] in code_attributes and (
                    args[1] == "__code__" or str(args[0].__module__).startswith(("codegym_adapters", "json"))):
                refuse(f"replacing the {args[1]} of a function")
            return
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
