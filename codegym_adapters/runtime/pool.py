"""Worker processes for the sandbox runtime: starting them, talking to them, killing them.

A :class:`WorkerProcess` is one long-lived ``codegym_adapters.runtime.worker`` process. Requests
are pipelined: the parent writes them as they come, the worker runs them one by one, in order, and
answers each. The parent's deadline clock for a request starts when the previous answer arrives
(or when it is sent to an idle worker), so every request gets the full deadline of its own. A
request that breaks it gets the worker killed (``SIGKILL`` to its process group); the request is
the culprit, and the requests queued behind it are innocent: their callers retry elsewhere.

A :class:`WorkerPool` keeps ``size`` workers alive, replaces dead ones, and picks the least loaded.
Nothing here blocks the event loop: pipes are asyncio transports, process exits come from asyncio's
child watcher.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RuntimeClosed, WorkerStartError
from .base import CRASHED, LIMIT, TIMEOUT
from .channel import ChannelError, FrameReader, frame
from .limits import SandboxLimits

log = logging.getLogger("codegym_adapters.runtime.sandbox")
_CRASH_GRACE_S = 0.5  # after a worker's pipe closes, how long to wait for its exit status
_PREFIX = "codegym-sandbox-"


class WorkerLost(Exception):
    """A request's worker was lost before answering it.

    ``kind`` is TIMEOUT, CRASHED or LIMIT. ``culprit`` is True for the request the worker was running
    when it broke the limit or died, False for requests that were only queued behind it.
    """

    def __init__(self, kind: str, culprit: bool, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.culprit, self.detail = kind, culprit, detail


class RemoteError(Exception):
    """The worker answered a request with an error; ``kind`` is the remote exception's class name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Request:
    __slots__ = ("id", "future", "timeout", "on_value")

    def __init__(self, rid: int, future: asyncio.Future, timeout: float,
                 on_value: Callable[[Any], None] | None) -> None:
        self.id, self.future, self.timeout, self.on_value = rid, future, timeout, on_value


def _fail(future: asyncio.Future, error: BaseException) -> None:
    """Set ``error`` on ``future`` and mark it retrieved: a caller that stopped waiting (a request
    queued behind a dead one, a cancelled step) must not produce "never retrieved" noise. Whoever
    awaits it still gets the error."""
    if not future.done():
        future.set_exception(error)
        future.exception()


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # before subprocess_exec returns: a worker that dies at once is seen dying
        self.worker._transport = transport  # type: ignore[assignment]
        self.worker.pid = transport.get_pid()  # type: ignore[attr-defined]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.worker._on_data(data)
        elif fd == 2:
            self.worker._on_stderr(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.worker._on_eof()

    def process_exited(self) -> None:
        self.worker._on_exit()


class WorkerProcess:
    """One worker process and the requests in flight to it."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool, self.index = pool, index
        self.limits = pool.limits
        self.loop = asyncio.get_running_loop()
        self.pid = 0
        self.alive = False
        self.protections: dict[str, Any] = {}
        self.sources: set[str] = set()  # env sources this worker has been sent
        self.sessions: set[int] = set()  # session ids it hosts
        self.inflight: collections.deque[_Request] = collections.deque()
        self._ids = 0
        self._reader = FrameReader(self.limits.max_message_bytes)
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: Any = None
        self._outbox: list[bytes] = []
        self._hello: asyncio.Future = self.loop.create_future()
        self._stderr = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._head_started = 0.0
        self._eof = self._exited = self._finished = False
        self._grace: asyncio.TimerHandle | None = None
        self.workdir = ""

    @property
    def load(self) -> int:
        return len(self.sessions) + len(self.inflight)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the process and wait for its hello. Raises :class:`WorkerStartError`."""
        pool = self.pool
        self.workdir = tempfile.mkdtemp(prefix=f"w{self.index}-", dir=pool.root)
        if os.geteuid() == 0 and self.limits.drop_privileges:
            os.chown(self.workdir, 65534, 65534)
        config = self.limits.worker_config(self.workdir, os.getpid())
        self.alive = True
        try:
            await self.loop.subprocess_exec(
                lambda: _Protocol(self), pool.python, "-s", "-m", "codegym_adapters.runtime.worker",
                json.dumps(config), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=self.workdir, env=pool.worker_env(),
                start_new_session=True,
            )
        except OSError as exc:
            self.alive = False
            self._cleanup_dir()
            raise WorkerStartError(f"cannot start a sandbox worker ({pool.python}): {exc}") from None
        assert self._transport is not None
        pool.pids_started.append(self.pid)
        self._stdin = self._transport.get_pipe_transport(0)
        try:
            self.protections = await asyncio.wait_for(asyncio.shield(self._hello), self.limits.start_timeout)
        except asyncio.TimeoutError:
            self.kill(CRASHED, "did not start in time")
            raise WorkerStartError(f"sandbox worker {self.index} did not start within "
                                   f"{self.limits.start_timeout} s{self._stderr_tail()}") from None
        except WorkerLost as lost:
            raise WorkerStartError(f"sandbox worker {self.index} died while starting ({lost.detail})"
                                   f"{self._stderr_tail()}") from None

    def _stderr_tail(self) -> str:
        text = self._stderr.decode("utf-8", "replace").strip()
        return f"; its output ends with:\n{text[-2000:]}" if text else ""

    def request(self, message: dict[str, Any] | str, timeout: float | None = None,
                on_value: Callable[[Any], None] | None = None) -> asyncio.Future:
        """Send one request (a dict, or the text of a non-empty JSON object); the future resolves to
        its value or raises :class:`RemoteError`, :class:`WorkerLost` or :class:`RuntimeClosed`.
        ``on_value(value)`` runs when a successful answer arrives, even if nobody awaits it any more
        (a caller cancelled mid-step must still see the step committed: the env did run it)."""
        future = self.loop.create_future()
        if not self.alive:
            _fail(future, WorkerLost(CRASHED, False, "the worker was already gone"))
            return future
        self._ids += 1
        if not isinstance(message, str):
            message = json.dumps(message)
        body = f'{{"id":{self._ids},{message[1:]}'
        request = _Request(self._ids, future, self.limits.step_timeout if timeout is None else timeout, on_value)
        self.inflight.append(request)
        if len(self.inflight) == 1:
            self._head_started = self.loop.time()
            self._arm()
        if len(self.inflight) == 1 and not self._outbox:  # an idle worker: no reason to wait
            if not self._stdin.is_closing():
                self._stdin.write(frame(body.encode("utf-8")))
            return future
        self._outbox.append(frame(body.encode("utf-8")))
        if len(self._outbox) == 1:  # one write per loop iteration, however many requests it made
            self.loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        data, self._outbox = b"".join(self._outbox), []
        if self.alive and not self._stdin.is_closing():
            self._stdin.write(data)

    def _arm(self) -> None:
        # One lazy timer: it is re-armed when it fires early, not on every answer (cheaper per step).
        if self.inflight and self.alive:
            deadline = self._head_started + self.inflight[0].timeout
            if self._timer is not None and deadline < self._timer.when():
                self._timer.cancel()
                self._timer = None
            if self._timer is None:
                self._timer = self.loop.call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        if not (self.alive and self.inflight):
            return
        head = self.inflight[0]
        if self.loop.time() >= self._head_started + head.timeout:
            self.kill(TIMEOUT, f"exceeded the {head.timeout:g} s deadline")
        else:
            self._arm()

    # -- incoming ------------------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        if not self.alive:
            return
        try:
            messages = self._reader.feed(data)
        except ChannelError as exc:
            self.kill(CRASHED, f"broke the message channel ({exc})")
            return
        for message in messages:
            if not self.alive:
                return
            self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        if not self._hello.done():
            if message.get("id") == 0 and message.get("ok") and isinstance(message.get("value"), dict):
                self._hello.set_result(message["value"])
            else:
                self.kill(CRASHED, f"sent {str(message)[:200]} instead of its hello")
            return
        if not self.inflight or message.get("id") != self.inflight[0].id:
            self.kill(CRASHED, "answered a request it was not running")
            return
        request = self.inflight.popleft()
        self._head_started = self.loop.time()
        self._arm()
        future = request.future
        rss = message.get("rss")
        if isinstance(rss, int) and rss > self.limits.rss_limit_bytes:
            _fail(future, WorkerLost(LIMIT, True, f"used {rss / 2**20:.0f} MB of memory, over the "
                                                  f"{self.limits.rss_limit_bytes / 2**20:.0f} MB limit"))
            self.kill(LIMIT, "went over its memory limit", head_is_culprit=False)
            return
        if message.get("ok") is True:
            if request.on_value is not None:
                request.on_value(message.get("value"))
            if not future.done():
                future.set_result(message.get("value"))
        else:
            _fail(future, RemoteError(str(message.get("type")), str(message.get("message"))))

    def _on_stderr(self, data: bytes) -> None:
        self._stderr += data
        del self._stderr[:-8192]

    def _on_eof(self) -> None:
        self._eof = True
        self._maybe_crashed()

    def _on_exit(self) -> None:
        self._exited = True
        self._maybe_crashed()
        if not self.alive:
            self._finish()

    def _maybe_crashed(self) -> None:
        if not self.alive:
            return
        if self._eof and self._exited:
            self.kill(CRASHED, self._exit_detail())
        elif self._grace is None:  # wait briefly for the other half, to report the exit status
            self._grace = self.loop.call_later(_CRASH_GRACE_S, lambda: self.kill(CRASHED, self._exit_detail()))

    def _exit_detail(self) -> str:
        code = self._transport.get_returncode() if self._transport else None
        if code is None:
            return "closed its channel"
        if code < 0:
            try:
                return f"died from {signal.Signals(-code).name}"
            except ValueError:
                return f"died from signal {-code}"
        return f"exited with status {code}"

    # -- death ---------------------------------------------------------------------------------
    def kill(self, kind: str, detail: str, head_is_culprit: bool = True,
             error: BaseException | None = None) -> None:
        """Kill the process group now and fail every request in flight (the head as culprit)."""
        if not self.alive:
            return
        self.alive = False
        for handle in (self._timer, self._grace):
            if handle is not None:
                handle.cancel()
        self._kill_group()
        pending, self.inflight = self.inflight, collections.deque()
        for i, request in enumerate(pending):
            _fail(request.future, error or WorkerLost(kind, head_is_culprit and i == 0, detail))
        _fail(self._hello, error or WorkerLost(kind, False, detail))
        self.pool._lost(self, kind, detail)
        if self._exited:
            self._finish()

    def _kill_group(self) -> None:
        if self.pid and not self._exited:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.pool.unfinished.discard(self)
        if self._transport is not None:
            self._transport.close()
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


class WorkerPool:
    """``size`` workers, kept alive; ``on_lost(worker)`` is called when one dies or is killed."""

    def __init__(self, limits: SandboxLimits, size: int, on_lost: Callable[[WorkerProcess], None],
                 python: str = sys.executable) -> None:
        self.limits, self.size, self.python = limits, size, python
        self.on_lost = on_lost
        self.workers: list[WorkerProcess] = []
        self.pids_started: list[int] = []  # every worker process ever started, for diagnostics
        self.unfinished: set[WorkerProcess] = set()  # started, and not yet exited and cleaned up
        self.root = ""
        self.protections: dict[str, Any] = {}
        self.stats = collections.Counter()
        self._spawning: set[asyncio.Task] = set()
        self._start_failures = 0
        self._last_error: WorkerStartError | None = None
        self._closed = False
        self._next_index = 0

    def worker_env(self) -> dict[str, str]:
        """A minimal environment: nothing of the parent's (tokens, proxies) reaches env code."""
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
        env = {
            "PATH": "/usr/bin:/bin", "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",  # the same str hashes in every worker: replays see the same set order
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8",
        }  # fmt: skip
        return env

    async def start(self) -> None:
        """Start every worker; raises :class:`WorkerStartError` if none starts."""
        _sweep_stale_roots()
        self.root = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
        os.chmod(self.root, 0o711)  # workers dropped to nobody must reach their own folder
        _LIVE_POOLS.add(self)
        self._fill()
        await asyncio.gather(*list(self._spawning), return_exceptions=True)
        if not self.alive_workers():
            error = self._last_error or WorkerStartError("no sandbox worker started")
            await self.close()
            raise error
        self.protections = dict(self.alive_workers()[0].protections)

    def alive_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive and w._hello.done()]

    def _fill(self) -> None:
        while not self._closed and len(self.workers) < self.size:
            worker = WorkerProcess(self, self._next_index)
            self._next_index += 1
            self.workers.append(worker)
            self.unfinished.add(worker)
            task = asyncio.get_running_loop().create_task(self._spawn(worker))
            self._spawning.add(task)
            task.add_done_callback(self._spawning.discard)

    async def _spawn(self, worker: WorkerProcess) -> None:
        try:
            await worker.start()
        except asyncio.CancelledError:
            worker.kill(CRASHED, "start cancelled")
            raise
        except Exception as exc:
            if not isinstance(exc, WorkerStartError):
                exc = WorkerStartError(f"cannot start a sandbox worker: {type(exc).__name__}: {exc}")
            self._start_failures += 1
            self._last_error = exc
            if worker in self.workers:
                self.workers.remove(worker)
            log.error("%s", exc)
            return
        self._start_failures = 0
        self.stats["workers_started"] += 1

    async def pick(self) -> WorkerProcess:
        """The live worker with the fewest sessions and requests; waits for one if none is live."""
        while True:
            if self._closed:
                raise RuntimeClosed("the sandbox runtime is closed")
            live = self.alive_workers()
            if live:
                return min(live, key=lambda w: w.load)
            if self._start_failures >= 3 and not self._spawning:
                raise self._last_error or WorkerStartError("sandbox workers keep failing to start")
            self._fill()
            if self._spawning:
                await asyncio.wait(list(self._spawning), return_when=asyncio.FIRST_COMPLETED)

    def _lost(self, worker: WorkerProcess, kind: str, detail: str) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        if self._closed or not worker.protections:  # a worker that never started: _spawn reports it
            return
        self.stats[f"workers_lost_{kind}"] += 1
        log.warning("sandbox worker %d (pid %d) %s; replacing it", worker.index, worker.pid, detail)
        self.on_lost(worker)
        if self._start_failures < 3:
            self._fill()

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.alive and w.pid]

    async def close(self) -> None:
        """Kill every worker, wait for them to exit, remove the temporary folders. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._spawning):
            task.cancel()
        if self._spawning:
            await asyncio.gather(*list(self._spawning), return_exceptions=True)
        workers, self.workers = list(self.unfinished), []
        for worker in workers:
            worker.kill(CRASHED, "the runtime closed", error=RuntimeClosed("the sandbox runtime is closed"))
        for _ in range(200):  # up to 2 s for the child watcher to see them exit
            if all(w._exited or not w.pid for w in workers):
                break
            await asyncio.sleep(0.01)
        for worker in workers:
            worker._finish()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
        _LIVE_POOLS.discard(self)

    def emergency_cleanup(self) -> None:
        """Synchronous last resort (interpreter exit): kill process groups, remove folders."""
        self._closed = True
        for worker in list(self.unfinished):
            worker._kill_group()
            if worker._transport is not None and worker.loop.is_closed():
                _close_orphaned(worker._transport)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)


def _close_orphaned(transport: asyncio.SubprocessTransport) -> None:
    """Close the pipes of a transport whose event loop is already closed, quietly."""
    for fd in (0, 1, 2):
        pipe = transport.get_pipe_transport(fd)
        if pipe is None:
            continue
        raw = getattr(pipe, "_pipe", None)
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.close()
        with contextlib.suppress(RuntimeError):
            pipe.close()
    with contextlib.suppress(RuntimeError):
        transport.close()


_LIVE_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _cleanup_at_exit() -> None:
    for pool in list(_LIVE_POOLS):
        pool.emergency_cleanup()


def _sweep_stale_roots() -> None:
    """Remove the folders of runtimes whose process is gone (a parent killed with SIGKILL)."""
    base = Path(tempfile.gettempdir())
    for path in base.glob(f"{_PREFIX}*"):
        try:
            pid = int(path.name[len(_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)
