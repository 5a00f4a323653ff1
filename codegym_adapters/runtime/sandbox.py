"""The sandbox runtime (the default): env code runs in confined worker processes, one env source each.

The isolation unit is the env source (:mod:`.pool`): a worker only ever runs code of one env file,
so nothing an env does to its own process (patching shared modules, walking frames, arming timers,
writing into its channel) can change another env's results. Workers are forked from a pre-imported
template (:mod:`.forkserver`) and confine themselves (:mod:`.limits`); requests to one worker are
pipelined and run one by one (:mod:`.workerproc`). The parent trusts nothing a worker sends: every
reply is checked (:mod:`.replies`), observations are capped and made UTF-8-safe again, and a reward
must be a finite number in ``reward_range``; an env whose reward is not ends its session
(``invalid_reward``).

Recovery is by replay. This process keeps each session's committed calls (and what they returned).
When a worker breaks a deadline, a memory limit, sends a malformed reply or dies, it is killed; its
sessions are rebuilt lazily, on their next call, on a live worker of their source, by replaying
those calls and checking that every answer is the same. A different answer fails the session
(``NONDETERMINISTIC``), never silently. Calls only queued behind the culprit are retried
transparently.

Blame only what is proven: the call that broke its worker is retried once, at once, on a fresh
worker (started after the failure), within the rest of its budget (its deadline plus
:data:`RETRY_GRACE_S`). If it succeeds there (the first worker was stopped or killed from outside)
the caller gets that answer and nobody is blamed; if it fails again the caller gets an ``Error: ...``
observation (not applied) and the failure counts toward the source's quarantine
(``quarantine_after`` failures quarantine it for the rest of the run). A call therefore returns
within its deadline plus :data:`RETRY_GRACE_S` and a worker start, unless it was queued behind
other calls of its own source.

A runtime belongs to the event loop that first uses it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import math
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
    CRASHED,
    LIMIT,
    TIMEOUT,
    OracleTrace,
    Runtime,
    SessionInfo,
)
from .limits import SandboxLimits
from .pool import RemoteError, WorkerLost, WorkerPool, WorkerProcess
from .replies import DEFAULT_REWARD_RANGE
from .session import ATTEMPTS, SandboxSession
from .tamper import TAMPERING

log = logging.getLogger("codegym_adapters.runtime.sandbox")
EnvArg = str | EnvRef | tuple[EnvSpec, dict[str, Any]]
RETRY_GRACE_S = 0.75  # a call that broke its worker is retried on a fresh one within its deadline + this
RETRY_MIN_S = 0.1
_REMOTE_ERRORS = {"EnvLoadError": EnvLoadError, "EnvContractError": EnvContractError,
                  "OptionsError": OptionsError, "CodeGymError": CodeGymError}


class SandboxRuntime(Runtime):
    """Runs env code in confined worker processes, one env source per worker.

    ``workers`` is how many worker processes may serve one env source (default 1: a source's
    sessions share one process); ``max_workers`` bounds the processes alive at once (least recently
    used ones are retired beyond it); ``idle_timeout`` (s) retires workers that host nothing;
    ``reward_range`` is the closed interval a reward must lie in; ``spares`` confined workers are kept
    ready for new sources. Other keyword options are
    :class:`SandboxLimits` fields (``step_timeout``, ``memory_mb``, ``max_observation_chars``, ...).
    """

    name = "sandbox"

    def __init__(self, catalog: Catalog | None = None, *, workers: int | None = None, max_workers: int = 1024,
                 idle_timeout: float = 60.0, reward_range: tuple[float, float] = DEFAULT_REWARD_RANGE,
                 spares: int = 2, limits: SandboxLimits | None = None, python: str = sys.executable, **limit_options: Any) -> None:
        super().__init__(catalog)
        if limits is not None and limit_options:
            raise ValueError("pass either limits= or individual limit options, not both")
        low, high = (float(v) for v in reward_range)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"reward_range must be two finite numbers, low <= high; got {reward_range!r}")
        self.limits = limits or SandboxLimits(**limit_options)
        self.workers = workers or 1
        self.max_workers, self.idle_timeout, self.reward_range = max_workers, idle_timeout, (low, high)
        self.spares = spares
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
                "max_rss_mb": self.limits.rss_limit_bytes // 2**20,
                "worker_per_env_source": True, "reward_range": list(self.reward_range),
                "replies_validated": True}

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
        """Start the worker template and a spare worker (done by the first operation otherwise)."""
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
            self._pool = WorkerPool(self.limits, self._on_worker_lost, self._python, per_source=self.workers,
                                    max_workers=self.max_workers, idle_timeout=self.idle_timeout,
                                    reward_range=self.reward_range, spares=self.spares)
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
            log.info("sandbox runtime: one worker per env source (up to %d each, %d in all); protections: %s",
                     self.workers, self.max_workers, json.dumps(self.protections, sort_keys=True))

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

    async def _pick(self, spec: EnvSpec, started_after: float | None = None) -> WorkerProcess:
        await self.start()
        assert self._pool is not None
        return await self._pool.pick(spec.source_hash, started_after)

    # -- env sources and failures --------------------------------------------------------------
    async def _code(self, worker: WorkerProcess, spec: EnvSpec) -> str | None:
        """The env's code from the pool's compiler worker, if ``worker`` has not got its source yet."""
        if worker.loaded or self._pool is None:
            return None
        return await self._pool.compiled(spec.source_hash, spec.source, spec.name or spec.class_name)

    def _load(self, worker: WorkerProcess, spec: EnvSpec, timeout: float | None = None,
              code: str | None = None) -> asyncio.Future | None:
        """Send the env's source, and its ``code`` where the compiler made it (:meth:`_code`), if
        this worker has not got them."""
        if worker.loaded:
            return None
        worker.loaded = True
        self.stats["sources_sent"] += 1
        message = {"op": "load", "hash": spec.source_hash, "source": spec.source, "class_name": spec.class_name,
                   "label": spec.name}
        if code is not None:
            message["code"] = code
        return worker.request(message, timeout=timeout)

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

    def _tampered(self, spec: EnvSpec, err: RemoteError) -> str:
        """A worker of ``spec``'s source reported that env code changed the worker (:mod:`.tamper`).
        Only that source's code ran there, so the blame is proven: the source is quarantined at once.
        Returns the text for the caller's error."""
        if spec.source_hash not in self._quarantined:
            self.stats["env_failures"] += 1
            self.stats["tampering"] += 1
            self._failures[spec.source_hash] += 1
            self._quarantined[spec.source_hash] = str(err)
            log.warning("sandbox: env %s quarantined: %s", spec.name, err)
        return f"env {spec.name} is quarantined for this run: {err}"

    def _describe(self, spec: EnvSpec, what: str, lost: WorkerLost) -> str:
        if lost.kind == TIMEOUT:
            return f"{what} on {spec.name} exceeded the {float(self.limits.step_timeout)} s step deadline"
        if lost.kind == LIMIT:
            return f"{what} on {spec.name} {lost.detail}"
        return f"{what} on {spec.name} crashed its worker process ({lost.detail})"

    def _suspect(self, lost: WorkerLost) -> float:
        """A call broke its worker once: note it, and return the time after which a worker counts
        as fresh for the retry that decides the blame."""
        self.stats["retries_on_fresh_worker"] += 1
        if lost.kind == CRASHED:
            self.stats["crash_retries"] += 1
        assert self._loop is not None
        return self._loop.time()

    def budget_left(self, started: float) -> float:
        """Seconds left of a call's budget (its deadline plus :data:`RETRY_GRACE_S`) that began at
        ``started`` (event-loop time); negative once it is spent."""
        assert self._loop is not None
        return started + self.limits.step_timeout + RETRY_GRACE_S - self._loop.time()

    def retry_timeout(self, started: float) -> float:
        """The deadline of a retry on a fresh worker: the rest of the call's budget (its deadline plus
        :data:`RETRY_GRACE_S`), at least :data:`RETRY_MIN_S`, at most the deadline."""
        assert self._loop is not None
        deadline = self.limits.step_timeout
        return min(deadline, max(RETRY_MIN_S, started + deadline + RETRY_GRACE_S - self._loop.time()))

    async def _call(self, spec: EnvSpec, message: dict[str, Any], what: str) -> tuple[Any, WorkerProcess]:
        """One env-level request (open, oracle, module_info, ...) on a worker of the env's source,
        with the load of its source in front; returns its value and the worker. A request that
        breaks its worker is retried once on a fresh one and blamed only if it breaks that one
        too. Raises CodeGymError subclasses naming the env (EnvLoadError for an open)."""
        started = asyncio.get_running_loop().time()
        fresh_after: float | None = None
        for _ in range(ATTEMPTS):
            self._check_quarantine(spec)
            worker = await self._pick(spec, fresh_after)
            code = await self._code(worker, spec)
            timeout = None if fresh_after is None else self.retry_timeout(started)
            load = self._load(worker, spec, timeout, code)
            future = worker.request(dict(message), timeout=timeout)
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
                if fresh_after is None:
                    fresh_after = self._suspect(lost)
                    continue
                text = self._describe(spec, stage, lost)
                self._record_failure(spec, text)
                raise (EnvLoadError if message["op"] == "open" else EnvLimitError)(text) from None
            except RemoteError as err:
                if err.kind == TAMPERING:
                    raise EnvLoadError(self._tampered(spec, err)) from None
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
