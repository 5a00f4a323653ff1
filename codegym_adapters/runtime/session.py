"""A sandbox session: one env instance in a worker of its source, its committed calls kept here.

The committed calls (and a hash of what each returned) are what rebuilds the env by replay after
its worker is lost (:class:`~.sandbox.SandboxRuntime` explains recovery and blame). Everything the
session does to workers goes through its runtime.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from ..calls import ToolCall
from ..catalog import EnvSpec
from ..errors import CodeGymError, EnvLimitError, EnvQuarantined, RuntimeClosed
from .base import (
    CLOSED,
    CRASHED,
    INVALID_REWARD,
    LIMIT,
    NONDETERMINISTIC,
    QUARANTINED,
    TIMEOUT,
    Session,
    SessionInfo,
    StepResult,
)
from .replies import safe_text
from .tamper import STATE_CHANGED, TAMPERING
from .workerproc import RemoteError, WorkerLost, WorkerProcess

if TYPE_CHECKING:
    from .sandbox import SandboxRuntime

ATTEMPTS = 8  # tries of one call when innocent bystanders' workers keep dying
CRASH_RETRIES = 1  # extra fresh workers for a call whose fresh worker also crashed, while its budget lasts
REBUILDS = 4


class _Mismatch(Exception):
    pass


class _Failed(Exception):
    """A session call failed for good; ``result`` says how."""

    def __init__(self, result: StepResult) -> None:
        super().__init__(result.observation)
        self.result = result


class SandboxSession(Session):
    """A session whose env lives in a worker of its source; its committed calls live here, for replay."""

    def __init__(self, runtime: SandboxRuntime, sid: int, spec: EnvSpec, options: dict[str, Any]) -> None:
        self._runtime, self._sid, self._spec, self._options = runtime, sid, spec, options
        self._hash = spec.source_hash  # EnvSpec hashes its source on every access
        self._worker: WorkerProcess | None = None
        self._lock = asyncio.Lock()
        self._reset_key = 0
        # committed calls: (op, name, the request as sent, hash of the answer); op is "step" or "attribute"
        self._log: list[tuple[str, str, str, int]] = []
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

    async def _rebuild(self, fresh_after: float | None = None, timeout: float | None = None) -> StepResult | None:
        """Recreate the env on a live worker of its source (one started after ``fresh_after``, if
        given) by replaying the committed calls; a fatal result if that fails. A replay that
        breaks a worker is tried once more on a fresh one before the env is blamed."""
        rt, spec = self._runtime, self._spec
        rt.stats["replays"] += 1
        suspected = False
        for _ in range(REBUILDS):
            rt._check_quarantine(spec)
            worker = await rt._pick(spec, fresh_after)
            load = rt._load(worker, spec, timeout, await rt._code(worker, spec))
            entries = list(self._log)
            futures = [worker.request(self._open_message(), timeout=timeout)]
            futures += [worker.request(text, timeout=timeout, op=op) for op, _name, text, _key in entries]
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
                if lost.culprit:  # replaying this env broke a worker: once is a suspicion, twice a failure
                    if not suspected:
                        suspected, fresh_after = True, rt._suspect(lost)
                        continue
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
                if err.kind == TAMPERING:
                    return self._fail(rt._tampered(spec, err), QUARANTINED)
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

    async def _run(self, request: str, op: str, name: str, what: str) -> Any:
        """Run one committed request (a step or an attribute read) on the session's worker and return
        its value. A request that breaks its worker is retried once, on a fresh worker (the session
        rebuilt there by replay) within the rest of the call's budget (once more if that worker
        crashed too and budget is left); only a failure of the last try counts toward quarantine. Raises :class:`_Failed`."""
        rt, spec = self._runtime, self._spec
        loop = asyncio.get_running_loop()
        started = loop.time()
        fresh_after: float | None = None
        crash_retries = CRASH_RETRIES
        for _ in range(ATTEMPTS):
            try:
                if fresh_after is not None or self._worker is None or not self._worker.alive:
                    rebuild_timeout = None if fresh_after is None else rt.retry_timeout(started)
                    failed = await self._rebuild(fresh_after, rebuild_timeout)
                    if failed is not None:
                        raise _Failed(failed)
                # a retry gets what is left of the call's budget once its session is rebuilt
                timeout = None if fresh_after is None else rt.retry_timeout(started)
                worker = self._worker
                assert worker is not None
                # committed in on_value, when the answer arrives, even if this task is cancelled
                return await worker.request(request, timeout=timeout, op=op,
                                            on_value=lambda v: self._commit(op, name, request, v))
            except RuntimeClosed:
                raise _Failed(StepResult("Error: the runtime is closed.", error=CLOSED, fatal=True)) from None
            except EnvQuarantined as exc:
                raise _Failed(self._fail(str(exc), QUARANTINED)) from None
            except WorkerLost as lost:
                if not lost.culprit:
                    continue
                if fresh_after is None:
                    fresh_after = rt._suspect(lost)
                    continue
                if lost.kind == CRASHED and crash_retries > 0 and rt.budget_left(started) > 0:
                    # a fresh worker killed from outside as well (an operator, the OOM killer): a crash is
                    # quick, so one more fresh worker still answers within the call's budget
                    crash_retries -= 1
                    fresh_after = rt._suspect(lost)
                    continue
                text = rt._describe(spec, what, lost)
                rt._record_failure(spec, text)
                raise _Failed(StepResult(f"Error: {text}; the call was not applied.", error=lost.kind)) from None
            except RemoteError as err:
                if err.kind == TAMPERING:
                    raise _Failed(self._fail(rt._tampered(spec, err), QUARANTINED)) from None
                if err.kind == STATE_CHANGED:
                    text = f"env {spec.name} is not deterministic: {err}"
                    rt._record_failure(spec, "a session's reward changed between its own calls")
                    raise _Failed(self._fail(text, NONDETERMINISTIC)) from None
                raise _Failed(self._fail(f"{spec.name} failed in its worker on {what}: {err}", CRASHED)) from None
            except CodeGymError as exc:
                raise _Failed(self._fail(str(exc), CRASHED)) from None
        raise _Failed(StepResult(f"Error: {what} on {spec.name} could not run: its workers kept failing; "
                                 "the call was not applied.", error=CRASHED))

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
            name_json = json.dumps(call.name)
        except (ValueError, TypeError, RecursionError) as exc:
            return StepResult(f"Error: the arguments of {safe_text(str(call.name))[:100]} cannot be sent to the "
                              f"env ({type(exc).__name__}: {safe_text(str(exc))[:200]}); the call was not applied.",
                              error=LIMIT)
        request = f'{{"op":"step","sid":{self._sid},"name":{name_json},"args":{args_json}}}'
        if len(request) + 64 > rt.limits.max_message_bytes:
            return StepResult(f"Error: the arguments of {safe_text(call.name)[:100]} are {len(args_json)} bytes, "
                              f"over the {rt.limits.max_message_bytes}-byte message limit; the call was not "
                              "applied.", error=LIMIT)
        try:
            value = await self._run(request, "step", call.name, call.name)
        except _Failed as failed:
            return failed.result
        if value["error"] == INVALID_REWARD:
            return self._fail(f"env {spec.name}: {value['observation'].removeprefix('Error: ')}", INVALID_REWARD)
        return StepResult(value["observation"], value["finished"], value["reward"], value["error"])

    def _commit(self, op: str, name: str, request: str, value: Any) -> None:
        self._log.append((op, name, request, _answer_key(op, value)))

    async def attribute(self, name: str) -> Any:
        rt, spec = self._runtime, self._spec
        async with self._lock:
            if self._closed or rt._closed:
                raise RuntimeClosed(f"the session of {spec.name} is closed")
            if self._failed is not None:
                raise CodeGymError(self._failed.observation)
            request = json.dumps({"op": "attribute", "sid": self._sid, "name": name})
            try:
                return await self._run(request, "attribute", name, f"reading {name!r}")
            except _Failed as failed:
                if failed.result.error in (TIMEOUT, LIMIT, CRASHED) and not failed.result.fatal:
                    raise EnvLimitError(failed.result.observation.removeprefix("Error: ")) from None
                if failed.result.error == CLOSED:
                    raise RuntimeClosed(failed.result.observation) from None
                raise CodeGymError(failed.result.observation) from None

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
                except RemoteError as err:
                    if err.kind == TAMPERING:  # found after the close (an env's __del__): still proven
                        self._runtime._tampered(self._spec, err)
                except (WorkerLost, RuntimeClosed):
                    pass


def _answer_key(op: str, value: Any) -> int:
    if op == "step":
        return hash((value["observation"], value["finished"], value["reward"], value["error"]))
    return hash(json.dumps(value, sort_keys=True))


