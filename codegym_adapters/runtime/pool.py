"""Per-source worker processes for the sandbox runtime: which worker runs what, and for how long.

The isolation unit is the env source (one env file, by content hash). A worker process only ever
runs code of one source: the sessions of that source (GRPO's n samples of one prompt) share it, and
a worker that has run source A is never given source B. So whatever an env does to its own process
(patching ``json.loads`` or the host classes, ``sys.settrace``, walking frames, poisoning
``sys.modules``, arming a signal timer, writing forged replies into the channel) reaches only
sessions of its own source.

Workers are forked from a template (:mod:`.forkserver`) that has imported everything env files use,
so a new source costs a fork and a confinement, milliseconds, and little private memory. One
``spares`` confined workers are kept ready (they have run no env code, so any source may take one);
they are refilled in the background.

Env sources are compiled by one more confined worker, the *compiler*, which compiles (never runs)
each new source once and hands back its marshalled code; a source's workers unmarshal and run it.
Compiling costs the compiler's high-water mark (about 0.3 MB of a worker's memory that stayed
dirty after the compile); this way one process pays it instead of every worker. If the compiler
fails in any way (a syntax error, a crash, its deadline of ``COMPILE_TIMEOUT`` s), the env's own
worker compiles the source as before and reports the error: a source's failures stay its own. (A
source that makes the compiler spin delays the first open of sources queued behind it by at most
that deadline; they then compile in their own workers.)

Bounds: at most ``per_source`` workers serve one source (its sessions go to the least loaded); at
most ``max_workers`` workers live at once. When a new source needs a worker at that bound, the
least recently used worker with nothing in flight is retired, preferring one that hosts no live
session; sessions of a retired worker are rebuilt by replay when next used (slower, never
different). A worker that has hosted no session and run nothing for ``idle_timeout`` seconds is
retired too. Retiring is not a failure: it counts toward nobody's quarantine.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RuntimeClosed, WorkerStartError
from .base import CRASHED
from .forkserver import ForkServer, TemplateError
from .limits import SandboxLimits
from .replies import DEFAULT_REWARD_RANGE
from .workerproc import RemoteError, WorkerLost, WorkerProcess

__all__ = ["RemoteError", "WorkerLost", "WorkerPool", "WorkerProcess"]
log = logging.getLogger("codegym_adapters.runtime.sandbox")
_PREFIX = "codegym-sandbox-"
RETIRED = "retired"
COMPILE_TIMEOUT = 2.0  # seconds: an env file compiles in milliseconds; a slower one compiles in its own worker


class WorkerPool:
    """Workers per env source, forked from one template; ``on_lost(worker)`` is called when a
    worker that served a source dies, is killed, or is retired."""

    def __init__(self, limits: SandboxLimits, on_lost: Callable[[WorkerProcess], None],
                 python: str = sys.executable, *, per_source: int = 1, max_workers: int = 1024,
                 idle_timeout: float = 60.0, reward_range: tuple[float, float] = DEFAULT_REWARD_RANGE,
                 spares: int = 2) -> None:
        if per_source < 1 or max_workers < 1:
            raise ValueError(f"per_source and max_workers must be at least 1, got {per_source}, {max_workers}")
        self.limits, self.python, self.on_lost = limits, python, on_lost
        self.per_source, self.max_workers, self.idle_timeout = per_source, max_workers, idle_timeout
        self.reward_range = reward_range
        self.template: ForkServer | None = None
        self.workers: list[WorkerProcess] = []  # assigned to a source, starting or live
        self.spare_count = spares
        self.spares: list[WorkerProcess] = []
        self.by_pid: dict[int, WorkerProcess] = {}
        self.pids_started: list[int] = []  # every worker process ever started, for diagnostics
        self.template_pids: list[int] = []
        self.unfinished: set[WorkerProcess] = set()  # started, and not yet exited and cleaned up
        self.root = ""
        self.protections: dict[str, Any] = {}
        self.stats: collections.Counter[str] = collections.Counter()
        self._starts: dict[WorkerProcess, asyncio.Task] = {}
        self._template_task: asyncio.Task | None = None
        self._templates: list[ForkServer] = []  # every template started, to reap them all at close
        self._spare_tasks: set[asyncio.Task] = set()
        self._reaper: asyncio.TimerHandle | None = None
        self._waiters: list[asyncio.Future] = []
        self._start_failures = 0
        self._last_error: WorkerStartError | None = None
        self._closed = False
        self._next_index = 0
        self._compiler: asyncio.Task | None = None
        self._code: collections.OrderedDict[str, str | None] = collections.OrderedDict()  # source hash -> code
        self._code_bytes = 0
        self._compiling: dict[str, asyncio.Future] = {}

    def worker_env(self) -> dict[str, str]:
        """A minimal environment: nothing of the parent's (tokens, proxies) reaches env code."""
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
        return {
            "PATH": "/usr/bin:/bin", "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",  # the same str hashes in every worker: replays see the same set order
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8",
        }  # fmt: skip

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the template and a spare worker (its hello gives the protections); raises
        :class:`WorkerStartError` if either cannot start."""
        _sweep_stale_roots()
        self.root = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
        os.chmod(self.root, 0o711)  # workers dropped to nobody must reach their own folder
        _LIVE_POOLS.add(self)
        try:
            self.spares.append(await self._new_worker(None))
        except BaseException:
            await self.close()
            raise
        self.protections = dict(self.spares[0].protections)
        self._compiler = self._begin(None, compiler=True)  # ready before the first source needs it
        self._compiler.add_done_callback(lambda t: t.cancelled() or t.exception())  # (a failure: _compile retries)
        self._refill_spare()
        self._schedule_reaper()

    async def _ensure_template(self) -> ForkServer:
        if self._closed:
            raise RuntimeClosed("the sandbox runtime is closed")
        if self.template is not None and self.template.alive:
            return self.template
        if self._template_task is None:
            self._template_task = asyncio.get_running_loop().create_task(self._start_template())
        task = self._template_task
        try:
            await asyncio.shield(task)
        finally:
            if task.done() and self._template_task is task:
                self._template_task = None
        assert self.template is not None
        return self.template

    async def _start_template(self) -> None:
        template = ForkServer(self.python, self.worker_env(), {}, self._child_exited, self._template_died)
        try:
            await template.start(self.limits.start_timeout)
        except TemplateError as exc:
            raise WorkerStartError(str(exc)) from None
        self.template = template
        self.template_pids.append(template.pid)
        self._templates.append(template)

    def _begin(self, source: str | None, compiler: bool = False) -> asyncio.Task:
        """Start forking one worker; it is listed under ``source`` at once, so that concurrent
        opens of a source share it. The task gives the worker, or raises WorkerStartError or
        RuntimeClosed."""
        worker = WorkerProcess(self, self._next_index, source)
        worker.compiler = compiler
        self._next_index += 1
        self.unfinished.add(worker)
        if source is not None:
            self.workers.append(worker)
        task = asyncio.get_running_loop().create_task(self._start_worker(worker))
        self._starts[worker] = task
        return task

    async def _new_worker(self, source: str | None) -> WorkerProcess:
        return await self._begin(source)

    async def _start_worker(self, worker: WorkerProcess) -> WorkerProcess:
        try:
            await self._ensure_template()
            await worker.start()
        except BaseException as exc:
            worker.kill(CRASHED, "did not start")
            if worker in self.workers:
                self.workers.remove(worker)
            if worker.pid == 0:
                self.unfinished.discard(worker)
                worker._cleanup_dir()
            if self._closed or isinstance(exc, (RuntimeClosed, asyncio.CancelledError)):
                raise RuntimeClosed("the sandbox runtime is closed") from None
            detail = exc.detail if isinstance(exc, (WorkerLost)) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, RemoteError):
                detail = f"{exc.kind}: {exc}"
            tail = self.template.stderr_tail() if self.template is not None else ""
            error = exc if isinstance(exc, WorkerStartError) else WorkerStartError(
                f"cannot start a sandbox worker: it died while starting ({detail}){tail}")
            self._start_failures += 1
            self._last_error = error
            log.error("%s", error)
            raise error from None
        finally:
            self._starts.pop(worker, None)
        self._start_failures = 0
        self.stats["workers_started"] += 1
        return worker

    def adopt(self, worker: WorkerProcess) -> None:
        """Called by a worker once forked: its pid is known."""
        self.pids_started.append(worker.pid)
        self.by_pid[worker.pid] = worker

    def _child_exited(self, pid: int, status: int) -> None:
        worker = self.by_pid.pop(pid, None)
        if worker is not None:
            worker.on_exit(status)

    def _template_died(self) -> None:
        self.template = None
        for worker in list(self.by_pid.values()):  # they die with it (PR_SET_PDEATHSIG)
            worker.signal_kill()
            worker.on_exit(None)
        self.by_pid.clear()

    # -- which worker ---------------------------------------------------------------------------
    async def pick(self, source: str, started_after: float | None = None) -> WorkerProcess:
        """A live worker of ``source`` (the least loaded), started after ``started_after`` (loop
        time) if given: a fresh one, for retrying a call that broke a worker. Starts one if needed."""
        while True:
            if self._closed:
                raise RuntimeClosed("the sandbox runtime is closed")
            group = [w for w in self.workers if w.source == source and (w.alive or w in self._starts)
                     and (started_after is None or w.started_at > started_after)]
            ready = [w for w in group if w.ready]
            if ready and (len(group) >= self.per_source or started_after is not None):
                return min(ready, key=lambda w: w.load)
            if group and (len(group) >= self.per_source or started_after is not None):
                await asyncio.wait([self._starts[w] for w in group if w in self._starts],
                                   return_when=asyncio.FIRST_COMPLETED)
                continue
            if self._start_failures >= 3 and self._last_error is not None and not self._starts:
                error, self._start_failures = self._last_error, 0  # the next call tries afresh
                raise error
            await self._make_room(source)
            if self._closed:
                continue
            worker = self._take_spare(source, started_after)
            if worker is not None:
                return worker
            task = self._begin(source)
            await asyncio.wait([task])
            if task.exception() is None:
                return task.result()
            if self._start_failures >= 3 or self._closed:
                raise task.exception()  # type: ignore[misc]

    def _take_spare(self, source: str, started_after: float | None = None) -> WorkerProcess | None:
        """A ready spare, given to ``source``; for a retry (``started_after``), only one forked after
        the failure: a spare that lived then may have been stopped by the same outside signal."""
        self.spares = [w for w in self.spares if w.alive and w.ready]
        fresh = [w for w in self.spares if started_after is None or w.started_at > started_after]
        if not fresh:
            self._refill_spare()
            return None
        spare = fresh[0]
        self.spares.remove(spare)
        spare.source, spare.started_at, spare.last_used = source, spare.loop.time(), spare.loop.time()
        self.workers.append(spare)
        self._refill_spare()
        return spare

    def _refill_spare(self) -> None:
        if self._closed or self._start_failures or len(self.spares) + len(self._spare_tasks) >= self.spare_count:
            return

        async def refill() -> None:
            try:
                worker = await self._new_worker(None)
            except Exception:
                return
            finally:
                self._spare_tasks.discard(task)
            if self._closed or len(self.spares) >= self.spare_count:
                worker.kill(RETIRED, "not needed")
            else:
                self.spares.append(worker)
                self._refill_spare()

        task = asyncio.get_running_loop().create_task(refill())
        self._spare_tasks.add(task)

    async def _make_room(self, source: str) -> None:
        """Retire workers of other sources until a new one fits under ``max_workers``; waits for an
        answer when every worker has a request in flight."""
        while not self._closed and sum(w.alive or w in self._starts for w in self.workers) >= self.max_workers:
            idle = [w for w in self.workers if w.alive and w.ready and not w.inflight and w.source != source]
            if idle:
                victim = min(idle, key=lambda w: (bool(w.sessions), w.last_used))
                victim.kill(RETIRED, "retired to make room for another env source", head_is_culprit=False)
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(waiter, 0.1)

    def answered(self) -> None:
        """A worker answered a request (it may be idle now)."""
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _schedule_reaper(self) -> None:
        if self._closed:
            return
        period = max(0.5, min(self.idle_timeout / 2, 10.0))
        self._reaper = asyncio.get_running_loop().call_later(period, self._reap_idle)

    def _reap_idle(self) -> None:
        now = asyncio.get_running_loop().time()
        for worker in list(self.workers):
            if worker.alive and worker.ready and not worker.sessions and not worker.inflight \
                    and now - worker.last_used > self.idle_timeout:
                worker.kill(RETIRED, "idle", head_is_culprit=False)
        self._schedule_reaper()

    # -- deaths ---------------------------------------------------------------------------------
    def lost(self, worker: WorkerProcess, kind: str, detail: str) -> None:
        """Called by a worker as it is killed or found dead."""
        if worker in self.workers:
            self.workers.remove(worker)
        if worker in self.spares:
            self.spares.remove(worker)
        if self._closed or worker.source is None or not worker.ready:
            return
        if kind == RETIRED:
            self.stats["workers_retired"] += 1
        else:
            self.stats[f"workers_lost_{kind}"] += 1
            log.warning("sandbox worker %d (pid %d, env source %s) %s", worker.index, worker.pid,
                        worker.source[:12], detail)
        self.on_lost(worker)

    def finished(self, worker: WorkerProcess) -> None:
        self.unfinished.discard(worker)
        self.by_pid.pop(worker.pid, None)

    def pids(self) -> list[int]:
        """Process ids of the live workers, spares included (the compiler: :meth:`compiler_pid`)."""
        return [w.pid for w in (*self.workers, *self.spares) if w.alive and w.pid]

    # -- compiling sources ------------------------------------------------------------------------
    CODE_CACHE_BYTES = 64 << 20

    async def compiled(self, source_hash: str, source: str, label: str) -> str | None:
        """The code of ``source`` (marshalled, base64), compiled once per source by the compiler
        worker and kept (up to :attr:`CODE_CACHE_BYTES`, least recently used first out); None
        where the compiler could not make it, for any reason: the env's worker then compiles it."""
        if source_hash in self._code:
            self._code.move_to_end(source_hash)
            return self._code[source_hash]
        pending = self._compiling.get(source_hash)
        if pending is None:
            pending = self._compiling[source_hash] = asyncio.get_running_loop().create_future()
            code = None
            try:
                code = await self._compile(source, label)
                self._code[source_hash] = code
                self._code_bytes += len(code or "")
                while self._code_bytes > self.CODE_CACHE_BYTES:
                    self._code_bytes -= len(self._code.popitem(last=False)[1] or "")
            finally:
                del self._compiling[source_hash]
                pending.set_result(code)  # (None if this caller was cancelled: the others compile themselves)
            return code
        return await asyncio.shield(pending)

    async def _compile(self, source: str, label: str) -> str | None:
        if self._closed:
            return None
        task = self._compiler
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None
                                             or not task.result().alive)):
            task = self._compiler = self._begin(None, compiler=True)
        try:
            worker = await asyncio.shield(task)
            return await worker.request({"op": "compile", "source": source, "label": label},
                                        timeout=min(self.limits.step_timeout, COMPILE_TIMEOUT))
        except (WorkerLost, RemoteError, WorkerStartError, RuntimeClosed):
            return None

    def compiler_pid(self) -> int | None:
        """Process id of the compiler worker while it lives."""
        task = self._compiler
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        worker = task.result()
        return worker.pid if worker.alive and worker.pid else None

    def alive_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive and w.ready]

    async def close(self) -> None:
        """Kill every worker and the template, wait for them to exit, remove the temporary folders.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
        tasks = [t for t in (*self._starts.values(), *self._spare_tasks, self._template_task) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        workers = list(self.unfinished)
        for worker in workers:
            worker.kill(CRASHED, "the runtime closed", error=RuntimeClosed("the sandbox runtime is closed"))
        for _ in range(200):  # up to 2 s for the template to report them gone
            if all(w._exited or not w.pid for w in workers) or self.template is None:
                break
            await asyncio.sleep(0.01)
        template, self.template = self.template, None
        for server in {template, *self._templates}:
            if server is not None:
                server.close()
                await server.wait_closed()
        for worker in workers:
            worker._finish()
        if self.root:
            _remove_tree(self.root)
        _LIVE_POOLS.discard(self)

    def emergency_cleanup(self) -> None:
        """Synchronous last resort (interpreter exit, or a dead event loop): kill, close, remove."""
        self._closed = True
        for worker in list(self.unfinished):
            worker.signal_kill()
            worker.close_files()
        template = self.template
        if template is not None:
            with contextlib.suppress(OSError):
                os.killpg(template.pid, signal.SIGKILL)
            if template._sock is not None:
                template._sock.close()
                template._sock = None
            if template._transport is not None and template.loop is not None and template.loop.is_closed():
                _close_orphaned(template._transport)
        if self.root:
            _remove_tree(self.root)


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


def _remove_tree(path: str) -> None:
    """Remove a runtime's folder. A worker killed a moment ago may still be writing into its working
    folder (the kill is not instant), so a removal that leaves something is tried again, up to 1 s."""
    for _ in range(50):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return
        time.sleep(0.02)
    log.warning("sandbox: could not remove %s", path)


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
