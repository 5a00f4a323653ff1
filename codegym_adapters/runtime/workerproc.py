"""One sandbox worker process as the parent sees it: its requests, their deadlines, its death.

Requests are pipelined: the parent writes them as they come, the worker runs them one by one, in
order, and answers each. The deadline clock for a request starts when the previous answer arrives
(or when it is sent to an idle worker), so every request gets the full deadline of its own. A
request that breaks it gets the worker killed (``SIGKILL`` to its pidfd and process group); the
request is the culprit, and the requests queued behind it are innocent: their callers retry.

The parent trusts nothing the worker sends (env code runs there and can write to the channel).
Each reply is checked against the shape its request allows (:func:`.replies.check_reply`) before
the request is taken off the queue; a malformed reply, an unexpected id, a broken frame, or any
exception while handling a reply kills the worker as crashed and fails every pending request, so
a deadline can never be lost. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import CRASHED, LIMIT, TIMEOUT
from .channel import ChannelError, FrameReader, frame
from .replies import MalformedReply, check_reply

if TYPE_CHECKING:
    from .pool import WorkerPool

_CRASH_GRACE_S = 0.5  # after a worker's pipe closes, how long to wait for its exit status


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
    __slots__ = ("id", "op", "future", "timeout", "on_value")

    def __init__(self, rid: int, op: str, future: asyncio.Future, timeout: float,
                 on_value: Callable[[Any], None] | None) -> None:
        self.id, self.op, self.future, self.timeout, self.on_value = rid, op, future, timeout, on_value


def fail(future: asyncio.Future, error: BaseException) -> None:
    """Set ``error`` on ``future`` and mark it retrieved: a caller that stopped waiting must not
    produce "never retrieved" noise. Whoever awaits it still gets the error."""
    if not future.done():
        future.set_exception(error)
        future.exception()


class _Replies(asyncio.Protocol):
    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker

    def data_received(self, data: bytes) -> None:
        self.worker._on_data(data)

    def eof_received(self) -> bool:
        self.worker._on_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker._on_eof()


class WorkerProcess:
    """One worker process (serving one env source, ``source``) and the requests in flight to it."""

    def __init__(self, pool: WorkerPool, index: int, source: str | None) -> None:
        self.pool, self.index, self.source = pool, index, source
        self.limits = pool.limits
        self.loop = asyncio.get_running_loop()
        self.started_at = self.last_used = self.loop.time()
        self.pid = 0
        self.pidfd: int | None = None
        self.alive = False
        self.ready = False
        self.protections: dict[str, Any] = {}
        self.loaded = False  # its source has been sent
        self.compiler = False  # the pool's compiler worker (compiles sources, runs none)
        self.sessions: set[int] = set()  # session ids it hosts
        self.inflight: collections.deque[_Request] = collections.deque()
        self._ids = 0
        self._reader = FrameReader(self.limits.max_message_bytes)
        self._out: asyncio.WriteTransport | None = None
        self._in: asyncio.ReadTransport | None = None
        self._files: list[Any] = []
        self._outbox: list[bytes] = []
        self._hello: asyncio.Future = self.loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._head_started = 0.0
        self._eof = self._exited = self._finished = False
        self._status: int | None = None
        self._grace: asyncio.TimerHandle | None = None
        self.workdir = ""

    @property
    def load(self) -> int:
        return len(self.sessions) + len(self.inflight)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Fork the worker from the template and wait for its hello. Raises WorkerLost or the
        template's error; the pool turns them into :class:`WorkerStartError`."""
        pool = self.pool
        self.workdir = tempfile.mkdtemp(prefix=f"w{self.index}-", dir=pool.root)
        if os.geteuid() == 0 and self.limits.drop_privileges:
            os.chown(self.workdir, 65534, 65534)
        config = self.limits.worker_config(self.workdir, pool.template.pid)
        config["reward_range"] = list(pool.reward_range)
        config["warm_up"] = self.compiler  # fault in the compiler's memory before the first source comes
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        self.alive = True
        try:
            self.pid, self.pidfd = await pool.template.spawn(config, (req_r, rep_w), self.limits.start_timeout)
        except BaseException:
            for fd in (req_w, rep_r):
                os.close(fd)
            self.alive = False
            raise
        finally:
            os.close(req_r)
            os.close(rep_w)
        pool.adopt(self)
        self._files = [open(req_w, "wb", buffering=0), open(rep_r, "rb", buffering=0)]
        self._out, _ = await self.loop.connect_write_pipe(asyncio.Protocol, self._files[0])
        self._in, _ = await self.loop.connect_read_pipe(lambda: _Replies(self), self._files[1])
        self.inflight.append(_Request(0, "hello", self._hello, self.limits.start_timeout, None))
        self._head_started = self.loop.time()
        self._arm()
        self.protections = await asyncio.shield(self._hello)
        self.ready = True

    def request(self, message: dict[str, Any] | str, timeout: float | None = None,
                on_value: Callable[[Any], None] | None = None, op: str | None = None) -> asyncio.Future:
        """Send one request (a dict, or the text of a non-empty JSON object, then with ``op``); the
        future resolves to its checked value or raises :class:`RemoteError`, :class:`WorkerLost` or
        RuntimeClosed. ``on_value(value)`` runs when a successful answer arrives, even if nobody
        awaits it any more (a cancelled step must still be committed: the env did run it)."""
        future = self.loop.create_future()
        if not self.alive:
            fail(future, WorkerLost(CRASHED, False, "the worker was already gone"))
            return future
        self._ids += 1
        if not isinstance(message, str):
            op = message["op"]
            message = json.dumps(message)
        body = frame(f'{{"id":{self._ids},{message[1:]}'.encode())
        self.last_used = self.loop.time()
        self.inflight.append(_Request(self._ids, op or "step", future,
                                      self.limits.step_timeout if timeout is None else timeout, on_value))
        if len(self.inflight) == 1:
            self._head_started = self.loop.time()
            self._arm()
            if not self._outbox:  # an idle worker: no reason to wait
                self._write(body)
                return future
        self._outbox.append(body)
        if len(self._outbox) == 1:  # one write per loop iteration, however many requests it made
            self.loop.call_soon(self._flush)
        return future

    def _write(self, data: bytes) -> None:
        if self.alive and self._out is not None and not self._out.is_closing():
            self._out.write(data)

    def _flush(self) -> None:
        data, self._outbox = b"".join(self._outbox), []
        self._write(data)

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
            what = "did not start" if head.op == "hello" else "exceeded"
            self.kill(TIMEOUT, f"{what} the {head.timeout:g} s deadline")
        else:
            self._arm()

    # -- incoming ------------------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        if not self.alive:
            return
        try:
            for message in self._reader.feed(data):
                if not self.alive:
                    return
                self._on_message(message)
        except (ChannelError, MalformedReply) as exc:
            self.kill(CRASHED, f"broke the message channel ({exc})")
        except Exception as exc:  # never let a reply leave a request without an answer
            self.kill(CRASHED, f"sent a reply that could not be handled ({type(exc).__name__}: {exc})")

    def _on_message(self, message: dict[str, Any]) -> None:
        if not self.inflight:
            raise MalformedReply("it answered when nothing was asked")
        head = self.inflight[0]
        reply = check_reply(message, head.id, head.op, self.limits.max_observation_chars,
                            self.pool.reward_range)
        self.inflight.popleft()
        self._head_started = self.last_used = self.loop.time()
        self._arm()
        self.pool.answered()
        future = head.future
        try:
            if reply["rss"] > self.limits.rss_limit_bytes:
                fail(future, WorkerLost(LIMIT, True, f"used {reply['rss'] / 2**20:.0f} MB of memory, over the "
                                                     f"{self.limits.rss_limit_bytes / 2**20:.0f} MB limit"))
                self.kill(LIMIT, "went over its memory limit", head_is_culprit=False)
            elif reply["ok"]:
                if head.on_value is not None:
                    head.on_value(reply["value"])
                if not future.done():
                    future.set_result(reply["value"])
            else:
                fail(future, RemoteError(reply["type"], reply["message"]))
        except BaseException as exc:
            fail(future, WorkerLost(CRASHED, True, f"its answer could not be handled ({type(exc).__name__})"))
            raise

    def _on_eof(self) -> None:
        self._eof = True
        self._maybe_crashed()

    def on_exit(self, status: int | None) -> None:
        """The template reaped this worker (``status`` as ``waitstatus_to_exitcode`` gives it), or
        the template itself is gone (None)."""
        self._exited, self._status = True, status
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
        code = self._status
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
        """Kill the process now and fail every request in flight (the head as culprit)."""
        if not self.alive:
            return
        self.alive = False
        for handle in (self._timer, self._grace):
            if handle is not None:
                handle.cancel()
        self.signal_kill()
        pending, self.inflight = self.inflight, collections.deque()
        for i, request in enumerate(pending):
            fail(request.future, error or WorkerLost(kind, head_is_culprit and i == 0, detail))
        fail(self._hello, error or WorkerLost(kind, False, detail))
        self.pool.lost(self, kind, detail)
        if self._exited:
            self._finish()

    def signal_kill(self) -> None:
        """SIGKILL through the pidfd (no pid-reuse race) and to the process group."""
        if self._exited:
            return
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        if self.pid:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.pool.finished(self)
        if not self.loop.is_closed():
            if self._out is not None and not self._out.is_closing():
                self._out.abort()  # drop unsent requests: the worker is gone
            if self._in is not None and not self._in.is_closing():
                self._in.close()
        self.close_files()
        self._cleanup_dir()

    def close_files(self) -> None:
        """Close the pipes and the pidfd directly (also when the event loop is gone)."""
        for f in self._files:
            with contextlib.suppress(OSError, ValueError):
                f.close()
        self._files = []
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None

    def _cleanup_dir(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
