"""Entering a new PID namespace from inside a worker: the extra fork, and the keeper left behind.

``unshare(CLONE_NEWPID)`` does not move the caller; its next child is process 1 of the new
namespace. So :func:`enter` forks once more. The child (the *inner* process) goes on to be the
worker: it sees only itself in ``/proc``, and no other process of the host can be named, let alone
signalled. The original process (the *keeper*, the one the parent started or forked and tracks)
does nothing but wait for the inner one and then exit the same way: with its exit status, or by the
same signal. So, from the parent's side, nothing changes:

* killing the tracked pid kills everything: the inner process has ``PR_SET_PDEATHSIG(SIGKILL)``
  towards the keeper (the kernel delivers it, even to a namespace's process 1); both are in the
  same process group and session, so ``killpg`` reaches both at once; and when process 1 of a PID
  namespace dies, the kernel kills whatever else is left in it;
* the tracked pid exits when the worker does, with the worker's exit status ("exited with status
  3", "died from SIGSEGV");
* the inner process holds the channel; the keeper closes every descriptor but a liveness pipe, so
  the parent sees end-of-file exactly when the worker dies.

This works the same in a freshly executed interpreter and in a child forked from a fork server:
all it needs is a single-threaded caller that has just called ``unshare(CLONE_NEWPID)``.

A fork server can do better: :func:`fork` forks its child straight into a new PID namespace, as
its process 1, so there is no keeper at all (no extra fork, no extra process holding copies of
pages; the pid the fork server tracks *is* the worker). ``confine()`` sees that it already is
process 1 and skips :func:`enter`.
"""

from __future__ import annotations

import functools
import os
import resource
import select
import signal
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1
_CLONE_NEWPID = 0x20000000
_own_namespace: int | None = None  # a descriptor of the caller's PID namespace, to return to


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def fork(plain_fork: Callable[[], int] = os.fork) -> int:
    """Like :func:`os.fork`, but the child is process 1 of a new PID namespace, where the caller
    may make one (as root; else, or on any error, a plain fork). Returns the child's pid (as seen
    by the caller) in the parent and 0 in the child. For a single-threaded fork server: it sets
    and restores the caller's namespace for children (``unshare``, then ``setns`` back).
    ``plain_fork``: the fork itself (a fork server may pass a leaner one than :func:`os.fork`)."""
    import ctypes

    global _own_namespace
    libc = _libc()
    if _own_namespace is None:
        try:
            _own_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            _own_namespace = -1
    if _own_namespace < 0 or libc.unshare(_CLONE_NEWPID) != 0:
        return plain_fork()
    try:
        pid = plain_fork()
    except OSError:
        libc.setns(_own_namespace, _CLONE_NEWPID)
        raise
    if pid == 0:
        os.close(_own_namespace)
        _own_namespace = None
        return 0
    if libc.setns(_own_namespace, _CLONE_NEWPID) != 0:  # the next child must get a namespace of its own
        err = ctypes.get_errno()
        raise OSError(err, f"returning to the fork server's PID namespace: {os.strerror(err)}")
    return pid


def enter(libc: Any) -> int:
    """Fork after ``unshare(CLONE_NEWPID)``. Returns the keeper's pid in the inner process; never
    returns in the keeper (it exits when the inner process does)."""
    alive_r, alive_w = os.pipe()
    keeper = os.getpid()
    child = os.fork()
    if child == 0:
        os.close(alive_w)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        readable, _, _ = select.select([alive_r], [], [], 0)
        os.close(alive_r)
        if readable:  # end-of-file: the keeper died before the death signal was armed
            os._exit(0)
        return keeper
    try:
        _keep(child, alive_w)
    finally:
        os._exit(70)  # only on an unexpected error in the keeper: the inner one dies with it


def _keep(child: int, alive_w: int) -> None:
    try:  # wake first when signalled, so that the death signal reaches the inner one at once
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (OSError, AttributeError):
        pass
    os.closerange(3, alive_w)
    os.closerange(alive_w + 1, _max_fd())
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # fd 2 stays: a worker that dies while starting gets its message through
        os.dup2(devnull, fd)
    os.close(devnull)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    while True:
        try:
            _, status = os.waitpid(child, 0)
        except ChildProcessError:
            os._exit(70)
        if os.WIFEXITED(status):
            os._exit(os.WEXITSTATUS(status))
        if os.WIFSIGNALED(status):
            break
    sig = os.WTERMSIG(status)
    try:
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)  # a signal whose default action is not to terminate


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 65536
