"""The sandbox runtime (the default): env code runs in a pool of confined worker processes.

Each worker (:mod:`.worker`) hosts many sessions; requests to one worker are pipelined and run one
by one, and workers run in parallel (:mod:`.pool`). What protects the trainer (:mod:`.limits`):
a per-request wall-clock deadline enforced here, memory and process caps, a private network and
``/tmp``, an unprivileged user, an audit hook, and capped observations and messages.

Recovery is by replay. This process keeps each session's committed calls (and what they returned).
When a worker breaks a deadline, a memory limit or dies, it is killed and replaced; its sessions
are rebuilt lazily, on their next call, on a live worker, by replaying those calls and checking
that every answer is the same. A different answer fails the session (``NONDETERMINISTIC``), never
silently. The call that broke the worker gets an ``Error: ...`` observation and is not committed;
calls that were only queued behind it are retried transparently. A call whose worker died without
breaking a limit (a crash, or a ``kill -9`` from outside) is retried once before it is blamed.
An env source that fails ``quarantine_after`` times is quarantined for the rest of the run.

A runtime belongs to the event loop that first uses it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import os
import sys
import weakref
from typing import Any

from ..calls import ToolCall
from ..catalog import Catalog, EnvSpec
from ..envstring import EnvRef
from ..errors import (
    CodeGymError,
    EnvContractError,
    EnvLimitError,
    EnvLoadError,
    EnvQuarantined,
    OptionsError,
    RuntimeClosed,
)
from ..tools import Action
from .base import (
    CLOSED,
    CRASHED,
    LIMIT,
    NONDETERMINISTIC,
    QUARANTINED,
    TIMEOUT,
    OracleTrace,
    Runtime,
    Session,
    SessionInfo,
    StepResult,
)
from .limits import SandboxLimits
from .pool import RemoteError, WorkerLost, WorkerPool, WorkerProcess

log = logging.getLogger("codegym_adapters.runtime.sandbox")
EnvArg = str | EnvRef | tuple[EnvSpec, dict[str, Any]]
_ATTEMPTS = 8  # tries of one call when innocent bystanders' workers keep dying
_REBUILDS = 3
_REMOTE_ERRORS = {"EnvLoadError": EnvLoadError, "EnvContractError": EnvContractError,
                  "OptionsError": OptionsError, "CodeGymError": CodeGymError}


def _default_workers() -> int:
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(8, os.cpu_count() or 1))


class SandboxRuntime(Runtime):
    """Runs env code in ``workers`` confined processes. Keyword options are :class:`SandboxLimits`
    fields (``step_timeout``, ``memory_mb``, ``max_observation_chars``, ...)."""

    name = "sandbox"

    def __init__(self, catalog: Catalog | None = None, *, workers: int | None = None,
                 limits: SandboxLimits | None = None, python: str = sys.executable, **limit_options: Any) -> None:
        super().__init__(catalog)
        if limits is not None and limit_options:
            raise ValueError("pass either limits= or individual limit options, not both")
        self.limits = limits or SandboxLimits(**limit_options)
        self.workers = workers or _default_workers()
        self._python = python
        self._pool: WorkerPool | None = None
        self._starting: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: weakref.WeakValueDictionary[int, SandboxSession] = weakref.WeakValueDictionary()
        self._ids = itertools.count(1)
        self._failures: collections.Counter[str] = collections.Counter()
        self._quarantined: dict[str, str] = {}
        self._module_info: dict[str, dict[str, Any]] = {}
        self._closed = False
        self.stats: collections.Counter[str] = collections.Counter()

    # -- state ----------------------------------------------------------------------------------
    @property
    def protections(self) -> dict[str, Any]:
        """What confines env code here (reported by the first worker), plus the parent's limits.
        Empty until the runtime has started."""
        if self._pool is None or not self._pool.protections:
            return {}
        return {**self._pool.protections, "step_deadline_s": self.limits.step_timeout,
                "max_observation_chars": self.limits.max_observation_chars,
                "max_message_bytes": self.limits.max_message_bytes,
                "max_rss_mb": self.limits.rss_limit_bytes // 2**20}

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (each is its own process group leader)."""
        return self._pool.pids() if self._pool else []

    def quarantined(self) -> dict[str, str]:
        """Quarantined env sources (by content hash) and why."""
        return dict(self._quarantined)

    def counters(self) -> dict[str, int]:
        """Restarts, replays, failures so far."""
        return {**(self._pool.stats if self._pool else {}), **self.stats}

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the workers (done by the first operation otherwise)."""
        if self._closed:
            raise RuntimeClosed("the sandbox runtime is closed")
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            if not self._loop.is_closed():
                raise CodeGymError("a SandboxRuntime is bound to the event loop that started it; "
                                   "create one runtime per event loop")
            # its loop is gone (asyncio.run returned): so are its sessions; start afresh here
            if self._pool is not None:
                self._pool.emergency_cleanup()
            self._pool, self._starting, self._loop = None, None, None
        if self._pool is None:
            self._loop = loop
            self._pool = WorkerPool(self.limits, self.workers, self._on_worker_lost, self._python)
            self._starting = loop.create_task(self._pool.start())
        task = self._starting
        if task is None:
            return
        try:
            await asyncio.shield(task)
        except BaseException:
            if task.done() and self._starting is task:  # the start failed: the next call tries again
                self._pool, self._starting, self._loop = None, None, None
            raise
        if self._starting is task:
            self._starting = None
            log.info("sandbox runtime: %d workers; protections: %s", len(self._pool.alive_workers()),
                     json.dumps(self.protections, sort_keys=True))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is not None and self._loop is not asyncio.get_running_loop():
            self._pool.emergency_cleanup()  # its event loop is gone: kill and remove, synchronously
            return
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()

    def _on_worker_lost(self, worker: WorkerProcess) -> None:
        for sid in worker.sessions:
            session = self._sessions.get(sid)
            if session is not None and session._worker is worker:
                session._worker = None
        worker.sessions.clear()

    async def _pick(self) -> WorkerProcess:
        await self.start()
        assert self._pool is not None
        return await self._pool.pick()

    # -- env sources and failures --------------------------------------------------------------
    def _load(self, worker: WorkerProcess, spec: EnvSpec) -> asyncio.Future | None:
        """Send the env's source if this worker has not got it (compiled once per worker)."""
        if spec.source_hash in worker.sources:
            return None
        worker.sources.add(spec.source_hash)
        self.stats["sources_sent"] += 1
        return worker.request({"op": "load", "hash": spec.source_hash, "source": spec.source,
                               "class_name": spec.class_name, "label": spec.name})

    def _check_quarantine(self, spec: EnvSpec) -> None:
        reason = self._quarantined.get(spec.source_hash)
        if reason is not None:
            raise EnvQuarantined(f"env {spec.name} is quarantined for this run ({reason})")

    def _record_failure(self, spec: EnvSpec, what: str) -> None:
        self.stats["env_failures"] += 1
        self._failures[spec.source_hash] += 1
        count = self._failures[spec.source_hash]
        if count >= self.limits.quarantine_after and spec.source_hash not in self._quarantined:
            self._quarantined[spec.source_hash] = f"{count} failures, the last: {what}"
            log.warning("sandbox: env %s quarantined after %d failures (last: %s)", spec.name, count, what)

    def _describe(self, spec: EnvSpec, what: str, lost: WorkerLost) -> str:
        if lost.kind == TIMEOUT:
            return f"{what} on {spec.name} exceeded the {float(self.limits.step_timeout)} s step deadline"
        if lost.kind == LIMIT:
            return f"{what} on {spec.name} {lost.detail}"
        return f"{what} on {spec.name} crashed its worker process ({lost.detail})"

    async def _call(self, spec: EnvSpec, message: dict[str, Any], what: str) -> tuple[Any, WorkerProcess]:
        """One env-level request (open, oracle, module_info, ...) on the least-loaded worker, with
        the load of its source in front; returns its value and the worker. Raises CodeGymError
        subclasses naming the env (EnvLoadError for an open)."""
        crash_retried = False
        for _ in range(_ATTEMPTS):
            self._check_quarantine(spec)
            worker = await self._pick()
            load = self._load(worker, spec)
            future = worker.request(dict(message))
            stage = what
            try:
                if load is not None:
                    stage = "importing the env source"
                    await load
                    stage = what
                return await future, worker
            except WorkerLost as lost:
                if not lost.culprit:
                    continue
                if lost.kind == CRASHED and not crash_retried:
                    crash_retried = True
                    continue
                text = self._describe(spec, stage, lost)
                self._record_failure(spec, text)
                raise (EnvLoadError if message["op"] == "open" else EnvLimitError)(text) from None
            except RemoteError as err:
                raise _codegym_error(err, spec) from None
        raise EnvLimitError(f"{what} on {spec.name} could not run: its workers kept failing")

    # -- runtime API ----------------------------------------------------------------------------
    async def open(self, env: EnvArg) -> SandboxSession:
        spec, options = self.resolve(env)
        _check_options(spec, options)
        sid = next(self._ids)
        session = SandboxSession(self, sid, spec, options)
        opened = await session._open()
        session.info = SessionInfo(
            env_name=spec.name, options=options, actions=[Action.from_dict(a) for a in opened["actions"]],
            reset_observation=opened["reset_observation"], task=spec.task or opened.get("task"),
        )
        self._sessions[sid] = session
        return session

    async def oracle(self, env: EnvArg) -> OracleTrace:
        spec, options = self.resolve(env)
        message = {"op": "oracle", "hash": spec.source_hash, "options": options, "label": spec.name}
        try:
            value, _ = await self._call(spec, message, "solve()")
        except EnvLimitError as exc:
            return OracleTrace([], "", 0.0, error=str(exc))
        calls = [ToolCall(c["name"], c.get("arguments") or {}) for c in value["calls"]]
        return OracleTrace(calls, value["final_observation"], float(value["reward"]), value["error"])

    async def module_info(self, env: EnvArg) -> dict[str, Any]:
        """Bundled-env extras (``TASK``, ``CONFIGS``) of an env, read in a worker."""
        spec, _ = self.resolve(env)
        if spec.source_hash not in self._module_info:
            message = {"op": "module_info", "hash": spec.source_hash}
            self._module_info[spec.source_hash], _ = await self._call(spec, message, "reading the env module")
        return dict(self._module_info[spec.source_hash])

    async def generate_config(self, env: EnvArg, seed: int, size: int) -> dict[str, Any]:
        """A bundled env's ``generate_config(seed, size)``, run in a worker."""
        spec, _ = self.resolve(env)
        message = {"op": "generate_config", "hash": spec.source_hash, "seed": int(seed), "size": int(size)}
        value, _ = await self._call(spec, message, "generate_config()")
        return value


class _Mismatch(Exception):
    pass


class SandboxSession(Session):
    """A session whose env lives in a sandbox worker; its committed calls live here, for replay."""

    def __init__(self, runtime: SandboxRuntime, sid: int, spec: EnvSpec, options: dict[str, Any]) -> None:
        self._runtime, self._sid, self._spec, self._options = runtime, sid, spec, options
        self._hash = spec.source_hash  # EnvSpec hashes its source on every access
        self._worker: WorkerProcess | None = None
        self._lock = asyncio.Lock()
        self._reset_key = 0
        # committed calls: (kind, name, the request as sent, hash of the answer); kind is "step" or "attr"
        self._log: list[tuple[str, str, str | None, int]] = []
        self._failed: StepResult | None = None
        self._closed = False
        self.info: SessionInfo

    # -- opening and rebuilding ----------------------------------------------------------------
    def _open_message(self) -> dict[str, Any]:
        return {"op": "open", "sid": self._sid, "hash": self._spec.source_hash, "label": self._spec.name,
                "options": self._options}

    async def _open(self) -> dict[str, Any]:
        opened, worker = await self._runtime._call(self._spec, self._open_message(), "opening (creating and "
                                                                                   "resetting the env)")
        self._attach(worker)
        self._reset_key = hash(opened["reset_observation"])
        return opened

    def _attach(self, worker: WorkerProcess) -> None:
        if worker.alive:
            self._worker = worker
            worker.sessions.add(self._sid)

    async def _rebuild(self) -> StepResult | None:
        """Recreate the env on a live worker by replaying the committed calls; a fatal result if
        that fails."""
        rt, spec = self._runtime, self._spec
        rt.stats["replays"] += 1
        for _ in range(_REBUILDS):
            rt._check_quarantine(spec)
            worker = await rt._pick()
            load = rt._load(worker, spec)
            entries = list(self._log)
            futures = [worker.request(self._open_message())]
            futures += [worker.request(text) for _kind, _name, text, _key in entries]
            try:
                if load is not None:
                    await load
                opened = await futures[0]
                if hash(opened["reset_observation"]) != self._reset_key:
                    raise _Mismatch("its reset observation")
                for i, (entry, future) in enumerate(zip(entries, futures[1:], strict=True), 1):
                    if _answer_key(entry[0], await future) != entry[3]:
                        raise _Mismatch(f"call {i} ({entry[1]})")
            except WorkerLost as lost:
                if lost.culprit:  # replaying this env broke a worker: it counts against the env
                    text = rt._describe(spec, "replaying its calls", lost)
                    rt._record_failure(spec, text)
                    if lost.kind == TIMEOUT:
                        return self._fail(f"{spec.name} could not be rebuilt after its worker failed: {text}",
                                          TIMEOUT)
                continue
            except _Mismatch as exc:
                worker.request({"op": "close", "sid": self._sid})
                text = (f"env {spec.name} is not deterministic: rebuilding it after its worker failed, "
                        f"{exc} gave a different answer than before")
                rt._record_failure(spec, "a replay gave different answers")
                return self._fail(text, NONDETERMINISTIC)
            except RemoteError as err:
                return self._fail(f"{spec.name} could not be rebuilt after its worker failed: {err}", CRASHED)
            except asyncio.CancelledError:
                worker.request({"op": "close", "sid": self._sid})
                raise
            self._attach(worker)
            if self._worker is worker:
                return None
        return self._fail(f"{spec.name} could not be rebuilt: its workers kept failing", CRASHED)

    def _fail(self, text: str, kind: str) -> StepResult:
        self._failed = StepResult(f"Error: {text}; the session cannot continue.", error=kind, fatal=True)
        return self._failed

    # -- the session contract ------------------------------------------------------------------
    async def step(self, call: ToolCall) -> StepResult:
        start = asyncio.get_running_loop().time()
        async with self._lock:
            result = await self._step(call)
        result.elapsed_s = asyncio.get_running_loop().time() - start
        return result

    async def _step(self, call: ToolCall) -> StepResult:
        rt, spec = self._runtime, self._spec
        if self._closed or rt._closed:
            return StepResult("Error: this session is closed.", error=CLOSED, fatal=True)
        if self._failed is not None:
            return StepResult(self._failed.observation, error=self._failed.error, fatal=True)
        if self._hash in rt._quarantined:
            return self._fail(f"env {spec.name} is quarantined for this run "
                              f"({rt._quarantined[self._hash]})", QUARANTINED)
        try:
            args_json = json.dumps(call.arguments)
        except (ValueError, TypeError, RecursionError) as exc:
            return StepResult(f"Error: the arguments of {call.name} cannot be sent to the env "
                              f"({type(exc).__name__}: {str(exc)[:200]}); the call was not applied.", error=LIMIT)
        request = f'{{"op":"step","sid":{self._sid},"name":{json.dumps(call.name)},"args":{args_json}}}'
        if len(request) + 64 > rt.limits.max_message_bytes:
            return StepResult(f"Error: the arguments of {call.name} are {len(args_json)} bytes, over the "
                              f"{rt.limits.max_message_bytes}-byte message limit; the call was not applied.",
                              error=LIMIT)
        crash_retried = False
        for _ in range(_ATTEMPTS):
            try:
                if self._worker is None or not self._worker.alive:
                    failed = await self._rebuild()
                    if failed is not None:
                        return failed
                worker = self._worker
                assert worker is not None
                # committed in on_value, when the answer arrives, even if this task is cancelled
                value = await worker.request(request, on_value=lambda v: self._commit("step", call.name, request, v))
            except RuntimeClosed:
                return StepResult("Error: the runtime is closed.", error=CLOSED, fatal=True)
            except EnvQuarantined as exc:
                return self._fail(str(exc), QUARANTINED)
            except WorkerLost as lost:
                if not lost.culprit:
                    continue
                if lost.kind == CRASHED and not crash_retried:
                    crash_retried = True
                    rt.stats["crash_retries"] += 1
                    continue
                text = rt._describe(spec, call.name, lost)
                rt._record_failure(spec, text)
                return StepResult(f"Error: {text}; the call was not applied.", error=lost.kind)
            except RemoteError as err:
                return self._fail(f"{spec.name} failed in its worker on {call.name}: {err}", CRASHED)
            except CodeGymError as exc:
                return self._fail(str(exc), CRASHED)
            return StepResult(value["observation"], bool(value["finished"]), float(value["reward"]),
                              value.get("error"))
        return StepResult(f"Error: {call.name} on {spec.name} could not run: its workers kept failing; "
                          "the call was not applied.", error=CRASHED)

    def _commit(self, kind: str, name: str, request: str, value: Any) -> None:
        self._log.append((kind, name, request, _answer_key(kind, value)))

    async def attribute(self, name: str) -> Any:
        rt, spec = self._runtime, self._spec
        async with self._lock:
            if self._closed or rt._closed:
                raise RuntimeClosed(f"the session of {spec.name} is closed")
            if self._failed is not None:
                raise CodeGymError(self._failed.observation)
            crash_retried = False
            for _ in range(_ATTEMPTS):
                if self._worker is None or not self._worker.alive:
                    failed = await self._rebuild()
                    if failed is not None:
                        raise CodeGymError(failed.observation)
                worker = self._worker
                assert worker is not None
                request = json.dumps({"op": "attribute", "sid": self._sid, "name": name})
                try:
                    value = await worker.request(request)
                except WorkerLost as lost:
                    if not lost.culprit:
                        continue
                    if lost.kind == CRASHED and not crash_retried:
                        crash_retried = True
                        continue
                    text = rt._describe(spec, f"reading {name!r}", lost)
                    rt._record_failure(spec, text)
                    raise EnvLimitError(text) from None
                except RemoteError as err:
                    raise _codegym_error(err, spec) from None
                self._commit("attr", name, request, value)
                return value
            raise EnvLimitError(f"reading {name!r} on {spec.name} could not run: its workers kept failing")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            self._runtime._sessions.pop(self._sid, None)
            worker, self._worker = self._worker, None
            if worker is not None and worker.alive:
                worker.sessions.discard(self._sid)
                try:
                    await worker.request({"op": "close", "sid": self._sid})
                except (WorkerLost, RemoteError, RuntimeClosed):
                    pass


def _answer_key(kind: str, value: Any) -> int:
    if kind == "step":
        return hash((value["observation"], bool(value["finished"]), float(value["reward"]), value.get("error")))
    return hash(json.dumps(value, sort_keys=True))


def _check_options(spec: EnvSpec, options: dict[str, Any]) -> None:
    try:
        json.dumps(options)
    except (ValueError, TypeError, RecursionError) as exc:
        raise OptionsError(f"the options of env {spec.name} are not JSON data: {exc}") from None


def _codegym_error(err: RemoteError, spec: EnvSpec) -> CodeGymError:
    cls = _REMOTE_ERRORS.get(err.kind)
    if cls is not None:
        return cls(str(err))
    return CodeGymError(f"env {spec.name}: {err.kind}: {err}")
