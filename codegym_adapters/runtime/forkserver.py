"""The worker template: a pre-imported process that forks one sandbox worker per request.

Starting a Python worker that imports numpy and gymnasium costs about a second and 40 MB; one
worker per env source (:mod:`.pool`) would be unaffordable that way. The template imports every
module env files use once, freezes its heap (``gc.freeze``: a child's collections then leave the
shared pages alone), and forks. A child shares the template's memory copy-on-write, confines
itself (:func:`.limits.confine`) and serves one env source (:func:`.worker.serve_forked`).

The template never runs env code and holds no descriptor of any worker: the runtime passes each
child's two pipe ends over a Unix ``SOCK_SEQPACKET`` control socket (``SCM_RIGHTS``); the template
forks, closes its copies, and answers with the child's pid and a pidfd (so the runtime can kill
the child without racing pid reuse). It reaps its children and reports each exit status. It dies
with the runtime (``PR_SET_PDEATHSIG``), and its children die with it.

Control messages: ``spawn <id> <pid namespace: 0|1>\n<config JSON>`` (+ 2 fds) from the runtime
(the template reads only the first line; the child parses the config); JSON ``{"ready": pid}``,
``{"id", "pid"}`` (+ a pidfd), ``{"id", "error"}`` and ``{"exited": pid, "status"}`` from the
template (status as :func:`os.waitstatus_to_exitcode` gives it).

Every page the template writes after forking a child stays a page of that child's alone (the
kernel gives the writer the copy): with 512 workers, each page of the template's per-spawn work
costs 512 pages. So the template's loop between two forks does as little as it can: no JSON
parsing, no per-fork checks, replies formatted as bytes.

Why not :mod:`multiprocessing.forkserver`: it is one server per interpreter shared with every other
user of multiprocessing in the trainer, its environment (hash seed) cannot be chosen, its children
keep a descriptor of the resource tracker, and its ``start()`` blocks the event loop.
"""

from __future__ import annotations

import _signal
import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

_MAX_CONTROL = 1 << 20
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- the template process ---------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(0)


def _preload() -> None:
    from . import worker

    for name in worker.PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    import gc

    from . import limits  # confine runs in every child

    prepare = getattr(limits, "prepare", None)  # the kernel layers' once-per-template part, where present
    if callable(prepare):
        prepare()
    from . import tamper

    tamper.prepare()  # the worker's tripwire snapshot, shared by every child
    warm_up()
    gc.collect()
    gc.freeze()  # children's collections skip these objects: their pages stay shared


_WARM_UP_ENV = '''
import json
import gymnasium


class WarmUpEnv(gymnasium.Env):
    def __init__(self):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Done": 1}
        self.reset({})

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def reset(self, options: dict = {}):
        self._done, self._reward = False, 0
        return "reset"

    def step(self, action: str):
        call = json.loads(action)
        return True, getattr(self, call["name"])(**call.get("parameters", {}))

    def Observe(self):
        """Show the state.

        Args:
            None
        Returns:
            str: the state.
        Example Output:
            "0"
        """
        return "0"

    def Done(self, answer: int):
        """Submit.

        Args:
            answer (int): the answer.
        Returns:
            str: the verdict.
        """
        self._done, self._reward = True, 1
        return "ok"
'''


def warm_up_compiler() -> None:
    """Compile (never run) a text the size of a typical env file, so that the memory the compiler
    needs is faulted in before a spare worker is given its env, off the path of that open."""
    compile(_WARM_UP_ENV * 6, "<warm-up>", "exec")


def warm_up() -> None:
    """Run our own code paths once on a tiny env of our own (never an env file). In the template, the
    caches they fill (typing, inspect, re, json) are then built once and shared by every child; in a
    spare worker, the pages its first env will touch are copied before the env is assigned, off
    the path of the open that takes it."""
    from .host import EnvHost

    host = EnvHost()
    host.load("warm-up", _WARM_UP_ENV, "WarmUpEnv", "warm-up")
    host.module_info("warm-up")
    host.open(0, "warm-up", {}, "warm-up")
    host.step(0, "Observe", {})
    host.step(0, "Done", {"answer": 1})
    host.attribute(0, "finished")
    host.close(0)


def main(argv: list[str]) -> int:
    """``python -m codegym_adapters.runtime.forkserver '<config json>' <control fd>``."""
    config = json.loads(argv[1])
    ctl = socket.socket(fileno=int(argv[2]))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runtime decides when the template stops
    _die_with_parent(int(config["parent_pid"]))
    _preload()
    global _LEAN_FORK
    _LEAN_FORK = lean_fork()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _send(ctl, {"ready": os.getpid()})
    while True:
        ready, _, _ = select.select([ctl, wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap(ctl)
        if ctl in ready:
            try:
                data, fds, _, _ = socket.recv_fds(ctl, _MAX_CONTROL, 4)
            except InterruptedError:
                continue
            if not data:
                return 0
            _spawn(ctl, data, fds, (wake_r, wake_w))


def lean_fork() -> Callable[[], int]:
    """The template's fork: the C library's ``fork()``, called with the GIL held, where the template
    is single-threaded (checked once: it starts no thread); :func:`os.fork` otherwise.

    :func:`os.fork` also runs the interpreter's after-fork work in the child (re-initialising its
    locks and thread states) and every Python at-fork hook (``threading``, ``logging``, ``random``,
    ...): code that touches objects all over the shared heap, so that Python 3.11's reference
    count writes copy about 650 KB of the template's pages into every child before it runs a line
    of ours (measured with ``smaps``; 270 KB are left). In a single-threaded process none of that
    work has anything to do: no lock can be held by another thread, the child's thread is the
    parent's (``pthread_self`` and so the main-thread id are unchanged), the template holds no
    logging handler, and the worker re-seeds ``random`` itself. The C library still runs its own
    ``pthread_atfork`` handlers (malloc's locks, OpenBLAS's)."""
    import ctypes
    import threading

    if threading.active_count() != 1 or _threads() != 1:  # the template starts none; if a module did
        return os.fork
    try:
        c_fork = ctypes.PyDLL(None, use_errno=True).fork  # PyDLL: the GIL stays held across the call
    except (OSError, AttributeError):
        return os.fork
    c_fork.argtypes, c_fork.restype = [], ctypes.c_int

    def fork() -> int:
        pid = c_fork()
        if pid < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return pid

    return fork


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


_LEAN_FORK: Callable[[], int] = os.fork  # set by main(), after the preload


def _fork(pid_namespace: bool) -> int:
    """A lean fork (:func:`lean_fork`), or, where the kernel layers provide it and the worker's
    limits ask for one, one straight into a new PID namespace (the child is its process 1: it can
    name no other process)."""
    try:
        from .pidns import fork
    except ImportError:
        return _LEAN_FORK()
    return fork(_LEAN_FORK) if pid_namespace else _LEAN_FORK()


def _send(ctl: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(ctl, [data], fds)
    else:
        ctl.send(data)


def _reap(ctl: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(ctl, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})


def _spawn(ctl: socket.socket, data: bytes, fds: list[int], wake: tuple[int, int]) -> None:
    header, _, config = data.partition(b"\n")
    words = header.split()
    if len(words) != 3 or words[0] != b"spawn" or not words[1].isdigit() or len(fds) != 2:
        for fd in fds:
            os.close(fd)
        rid = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
        why = f"a spawn needs 2 descriptors, got {len(fds)}" if len(words) == 3 else "a malformed spawn request"
        _send(ctl, {"id": rid, "error": why})
        return
    pid = _fork(words[2] == b"1")
    if pid == 0:  # the child: becomes a worker and never returns
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # (signal.signal's enum wrapping copies pages)
            for fd in wake:
                os.close(fd)
            ctl.close()
            os.setsid()  # its own process group: the runtime kills the whole group
            from .worker import serve_forked

            code = serve_forked(json.loads(config), fds[0], fds[1])
        finally:
            os._exit(code)
    os.close(fds[0])
    os.close(fds[1])
    try:  # pidfd_open: Linux 5.3 and later
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        ctl.send(b'{"id":%s,"pid":%d}' % (words[1], pid))
        return
    socket.send_fds(ctl, [b'{"id":%s,"pid":%d}' % (words[1], pid)], [pidfd])
    os.close(pidfd)


# -- the runtime's side -----------------------------------------------------------------------------
class TemplateError(Exception):
    """The template could not be started, or died."""


class ForkServer:
    """Starts and talks to one template process. ``on_exit(pid, status)`` is called for every child
    exit the template reports; ``on_death()`` once if the template itself goes away."""

    def __init__(self, python: str, env: dict[str, str], config: dict[str, Any],
                 on_exit: Callable[[int, int], None], on_death: Callable[[], None]) -> None:
        self.python, self.env, self.config = python, env, config
        self.on_exit, self.on_death = on_exit, on_death
        self.pid = 0
        self.alive = False
        self._sock: socket.socket | None = None
        self._transport: asyncio.SubprocessTransport | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ready: asyncio.Future | None = None
        self._gone: asyncio.Future | None = None
        self._ids = 0
        self._stderr = bytearray()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self, timeout: float) -> None:
        """Start the template and wait until it has imported everything. Raises TemplateError."""
        loop = self.loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        ours.setblocking(False)
        self._ready, self._gone = loop.create_future(), loop.create_future()
        config = {**self.config, "parent_pid": os.getpid()}
        try:
            self._transport, _ = await loop.subprocess_exec(
                lambda: _TemplateProtocol(self), self.python, "-s", "-m", "codegym_adapters.runtime.forkserver",
                json.dumps(config), str(theirs.fileno()), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=self.env,
                pass_fds=(theirs.fileno(),), start_new_session=True,
                cwd=_PACKAGE_ROOT)  # ``-m`` puts the working folder first on sys.path: ours, not the caller's
        except OSError as exc:
            ours.close()
            raise TemplateError(f"cannot start a sandbox worker ({self.python}): {exc}") from None
        finally:
            theirs.close()
        self.pid = self._transport.get_pid()
        self.alive = True
        loop.add_reader(ours.fileno(), self._readable)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except asyncio.TimeoutError:
            self.close()
            raise TemplateError(f"the sandbox worker template did not start within {timeout} s"
                                f"{self.stderr_tail()}") from None

    def stderr_tail(self) -> str:
        text = self._stderr.decode("utf-8", "replace").strip()
        return f"; its output ends with:\n{text[-2000:]}" if text else ""

    async def spawn(self, config: dict[str, Any], fds: tuple[int, int], timeout: float) -> tuple[int, int | None]:
        """Fork a worker that gets ``fds`` (its request read end, its reply write end) and
        ``config``; returns its pid and a pidfd (None where the kernel has none). A template that
        does not answer within ``timeout`` seconds is killed (TemplateError)."""
        if not self.alive or self._sock is None or self.loop is None:
            raise TemplateError("the sandbox worker template is gone")
        self._ids += 1
        future = self.loop.create_future()
        self._pending[self._ids] = future
        data = b"spawn %d %d\n" % (self._ids, bool(config.get("pid_namespace", True))) + json.dumps(config).encode()
        while True:
            try:
                socket.send_fds(self._sock, [data], list(fds))
                break
            except BlockingIOError:  # the template is busy forking: its queue is full
                await asyncio.sleep(0.001)
            except OSError as exc:
                self._pending.pop(self._ids, None)
                raise TemplateError(f"the sandbox worker template is gone ({exc})") from None
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self._died(f"did not fork a worker within {timeout:g} s")
            raise TemplateError(f"the sandbox worker template did not fork a worker within {timeout:g} s") \
                from None

    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self._sock, _MAX_CONTROL, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:
                for fd in fds:
                    os.close(fd)
                self._died("closed its control socket")
                return
            message = json.loads(data)
            if "exited" in message:
                self.on_exit(int(message["exited"]), int(message["status"]))
            elif "ready" in message:
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
            else:
                future = self._pending.pop(message.get("id"), None)
                if future is None or future.done():
                    for fd in fds:
                        os.close(fd)
                elif "error" in message:
                    future.set_exception(TemplateError(str(message["error"])))
                else:
                    future.set_result((int(message["pid"]), fds[0] if fds else None))

    def _died(self, why: str) -> None:
        if not self.alive:
            return
        starting = self._ready is not None and not self._ready.done()
        self.close()
        error = TemplateError(f"the sandbox worker template {'died while starting: it ' if starting else ''}{why}"
                              f"{self.stderr_tail()}")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
                future.exception()
        self._pending.clear()
        self.on_death()

    def close(self) -> None:
        """Kill the template (its children die with it). Idempotent."""
        self.alive = False
        if self._sock is not None:
            if self.loop is not None and not self.loop.is_closed():
                self.loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self.pid:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        if self._transport is not None and self.loop is not None and not self.loop.is_closed():
            self._transport.close()


    async def wait_closed(self, timeout: float = 2.0) -> None:
        """Wait (up to ``timeout`` s) until the template process has been reaped."""
        if self._gone is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._gone), timeout)


class _TemplateProtocol(asyncio.SubprocessProtocol):
    def __init__(self, server: ForkServer) -> None:
        self.server = server

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.server._stderr += data
        del self.server._stderr[:-8192]

    def process_exited(self) -> None:
        self.server._died("exited")
        gone = self.server._gone
        if gone is not None and not gone.done():
            gone.set_result(None)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
