"""The ray runtime: env sessions in Ray actors, each owning a local sandbox runtime (its own pool of
confined worker processes), placed on CPU nodes by Ray resources.

The fleet is ``actors`` named actors (``<fleet>-0`` ... in Ray namespace ``namespace``), so every
process that opens a ``RayRuntime`` with the same fleet name (each veRL agent-loop worker, each
OpenRLHF engine) shares them: the first creates an actor, the others find it (``get_if_exists``).
Placement, chosen in config: ``num_cpus`` per actor, custom ``resources`` (e.g. ``{"codegym_env": 1}``,
a resource only the CPU nodes advertise), and/or ``placement_group``: a list of bundles (a placement
group named ``<fleet>-pg`` is made with ``placement_strategy``) or the name of an existing one.

A session sticks to one actor (the least loaded when it opened). The client keeps its committed
calls; when the actor dies (``ray.kill``, a node lost, a crash), the slot gets a new actor (Ray
restarts it, or the first client to notice creates it again), and the session is rebuilt on a live
actor by replaying those calls in one round trip, every answer checked against the first run (a
different answer fails the session: ``NONDETERMINISTIC``). The call in flight when the actor died
is then made again once, so no episode is lost.

Actors are reference counted by Ray: unless ``detached``, they die with the last handle of the
process that created them, and the other processes then make new ones and replay their sessions
there (nothing is lost, but a long-lived owner, or ``detached=True`` plus :meth:`shutdown_fleet` at
the end of training, avoids that churn).

Ray is connected with ``ray.init(address=address)`` unless this process already is (a veRL worker).
The package must be importable on the env nodes (install it there, or use a Ray ``runtime_env``).
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from .. import errors
from ..calls import ToolCall
from ..catalog import Catalog, EnvSpec
from ..envstring import EnvRef
from ..errors import CodeGymError, RuntimeClosed
from ..tools import Action
from .base import CLOSED, CRASHED, NONDETERMINISTIC, OracleTrace, Runtime, Session, SessionInfo, StepResult
from .ray_actor import EnvActor

EnvArg = str | EnvRef | tuple[EnvSpec, dict[str, Any]]
_TRIES = 10  # attempts of one operation while actors keep dying
_PAUSE_S = 0.2  # wait before looking a dead actor's slot up again


def _raise(answer: tuple) -> None:
    cls = getattr(errors, answer[1], None)
    cls = cls if isinstance(cls, type) and issubclass(cls, CodeGymError) else CodeGymError
    raise cls(answer[2])


class RayRuntime(Runtime):
    """Sessions on a fleet of Ray actors. Options: ``actors`` (fleet size), ``num_cpus``,
    ``resources``, ``placement_group``, ``placement_strategy``, ``fleet`` (name), ``namespace``,
    ``detached`` (the fleet outlives this process), ``address`` (for ``ray.init``),
    ``max_concurrency`` (calls one actor serves at once); every other keyword (``workers``,
    ``step_timeout``, ``memory_mb``, ...) configures each actor's sandbox runtime."""

    name = "ray"

    def __init__(self, catalog: Catalog | None = None, *, actors: int = 2, num_cpus: float = 1.0,
                 resources: Mapping[str, float] | None = None, placement_group: str | Sequence[Mapping] | None = None,
                 placement_strategy: str = "SPREAD", fleet: str = "codegym-envs", namespace: str = "codegym",
                 detached: bool = False, address: str | None = None, max_concurrency: int = 4096,
                 **sandbox_options: Any) -> None:
        super().__init__(catalog)
        if actors < 1:
            raise ValueError("the ray runtime needs at least one actor")
        self.actors, self.fleet, self.namespace = int(actors), fleet, namespace
        self._placement = (num_cpus, dict(resources or {}), placement_group, placement_strategy)
        self._detached, self._address, self._max_concurrency = detached, address, max_concurrency
        self._sandbox_options = {k: v for k, v in sandbox_options.items() if v is not None}
        self._handles: list[Any] = [None] * self.actors
        self._load = [0] * self.actors
        self._pg: Any = None
        self._sessions: weakref.WeakSet[RaySession] = weakref.WeakSet()
        self._closed = False
        self.stats: dict[str, int] = {"actors_lost": 0, "rebuilds": 0, "retries": 0}

    # -- the fleet ------------------------------------------------------------------------------
    def _connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        if self._address or os.environ.get("RAY_ADDRESS"):
            ray.init(address=self._address, log_to_driver=False, ignore_reinit_error=True)
        else:  # no cluster named: a local one, kept small
            ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)

    def _strategy(self, slot: int) -> Any:
        num_cpus, resources, pg, strategy = self._placement
        if pg is None:
            return None
        from ray.util import get_placement_group, placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        if self._pg is None:
            if isinstance(pg, str):
                self._pg = get_placement_group(pg)
            else:
                name = f"{self.fleet}-pg"
                try:
                    self._pg = get_placement_group(name)
                except ValueError:
                    self._pg = placement_group([dict(b) for b in pg], strategy=strategy, name=name,
                                               lifetime="detached" if self._detached else None)
        bundles = len(self._pg.bundle_specs)
        return PlacementGroupSchedulingStrategy(placement_group=self._pg, placement_group_bundle_index=slot % bundles)

    def _actor(self, slot: int) -> Any:
        """The live handle of ``slot``, found by name or created."""
        if self._closed:
            raise RuntimeClosed("the ray runtime is closed")
        handle = self._handles[slot]
        if handle is None:
            import ray

            self._connect()
            num_cpus, resources, _pg, _s = self._placement
            options: dict[str, Any] = {
                "name": f"{self.fleet}-{slot}", "namespace": self.namespace, "get_if_exists": True,
                "num_cpus": num_cpus, "resources": resources, "max_restarts": -1,
                "max_concurrency": self._max_concurrency, "lifetime": "detached" if self._detached else None,
            }
            strategy = self._strategy(slot)
            if strategy is not None:
                options["scheduling_strategy"] = strategy
            handle = ray.remote(EnvActor).options(**options).remote(self._sandbox_options)
            self._handles[slot] = handle
        return handle

    def _lost(self, slot: int, handle: Any) -> None:
        """The actor behind ``handle`` died: forget it, so the slot is looked up (or made) again."""
        if self._handles[slot] is handle:
            self._handles[slot] = None
            self.stats["actors_lost"] += 1

    def _pick(self) -> int:
        low = min(self._load)
        return random.choice([i for i, n in enumerate(self._load) if n == low])

    async def _remote(self, slot: int, method: str, *args: Any) -> Any:
        """Call ``method`` on the actor of ``slot``; a dead actor raises ``_ActorLost``."""
        from ray.exceptions import ActorUnavailableError, RayActorError

        handle = self._actor(slot)
        try:
            return await getattr(handle, method).remote(*args)
        except (RayActorError, ActorUnavailableError) as exc:
            self._lost(slot, handle)
            await asyncio.sleep(_PAUSE_S)
            raise _ActorLost(f"{type(exc).__name__}") from None

    async def _anywhere(self, method: str, *args: Any) -> Any:
        last = ""
        for _ in range(_TRIES):
            try:
                return await self._remote(self._pick(), method, *args)
            except _ActorLost as lost:
                last = str(lost)
        raise CodeGymError(f"the ray env fleet {self.fleet!r} kept losing actors ({last})")

    async def start(self) -> list[dict[str, Any]]:
        """Create (or find) every actor and wait until each answers; returns their ``hello``."""
        return [await self._retrying(slot, "hello") for slot in range(self.actors)]

    async def _retrying(self, slot: int, method: str, *args: Any) -> Any:
        for _ in range(_TRIES):
            try:
                return await self._remote(slot, method, *args)
            except _ActorLost:
                continue
        raise CodeGymError(f"actor {slot} of the ray env fleet {self.fleet!r} keeps dying")

    async def fleet_counters(self) -> list[dict[str, Any]]:
        """Each actor's sandbox counters, quarantined envs, worker pids and session count."""
        return [await self._retrying(slot, "counters") for slot in range(self.actors)]

    async def shutdown_fleet(self) -> None:
        """Close every actor's sessions and workers and kill the actors (for every process sharing
        the fleet). ``close()`` does not: other processes may be using it."""
        import ray

        for slot in range(self.actors):
            handle = self._handles[slot]
            if handle is None:
                continue
            try:
                await handle.shutdown.remote()
            except Exception:  # already dead  # noqa: BLE001
                pass
            ray.kill(handle)
            self._handles[slot] = None
        if self._pg is not None and not isinstance(self._placement[2], str):
            ray.util.remove_placement_group(self._pg)
            self._pg = None

    # -- runtime API ----------------------------------------------------------------------------
    async def open(self, env: EnvArg) -> RaySession:
        spec, options = self.resolve(env)
        for _ in range(_TRIES):
            slot, sid = self._pick(), uuid.uuid4().hex
            self._load[slot] += 1
            try:
                answer = await self._remote(slot, "open", sid, spec, options)
            except _ActorLost:
                self._load[slot] -= 1
                continue
            if answer[0] != "ok":
                self._load[slot] -= 1
                _raise(answer)
            opened = answer[1]
            info = SessionInfo(env_name=spec.name, options=options,
                               actions=[Action.from_dict(a) for a in opened["actions"]],
                               reset_observation=opened["reset_observation"], task=spec.task or opened["task"])
            session = RaySession(self, spec, options, info, slot, sid)
            self._sessions.add(session)
            return session
        raise CodeGymError(f"opening {spec.name}: the ray env fleet {self.fleet!r} kept losing actors")

    async def oracle(self, env: EnvArg) -> OracleTrace:
        spec, options = self.resolve(env)
        return await self._anywhere("oracle", spec, options)

    async def module_info(self, env: EnvArg) -> dict[str, Any]:
        spec, _ = self.resolve(env)
        answer = await self._anywhere("module_info", spec)
        return answer[1] if answer[0] == "ok" else _raise(answer)

    async def generate_config(self, env: EnvArg, seed: int, size: int) -> dict[str, Any]:
        spec, _ = self.resolve(env)
        answer = await self._anywhere("generate_config", spec, int(seed), int(size))
        return answer[1] if answer[0] == "ok" else _raise(answer)

    def counters(self) -> dict[str, int]:
        return dict(self.stats)

    async def close(self) -> None:
        """Close this process's sessions (their envs leave the actors); the fleet stays up for the
        other processes that share it (see :meth:`shutdown_fleet`)."""
        if not self._closed:
            await asyncio.gather(*(s.close() for s in list(self._sessions)), return_exceptions=True)
            self._closed = True


class _ActorLost(Exception):
    pass


class RaySession(Session):
    """A session on one actor of the fleet; its committed calls are kept here for replay."""

    def __init__(self, runtime: RayRuntime, spec: EnvSpec, options: dict[str, Any], info: SessionInfo,
                 slot: int, sid: str) -> None:
        self._rt, self._spec, self._options, self.info = runtime, spec, options, info
        self._slot, self._sid = slot, sid
        self._log: list[tuple[str, Any]] = []  # committed calls: ("step", (name, args)) or ("attr", name)
        self._answers: list[Any] = []  # what each of them returned
        self._lock = asyncio.Lock()
        self._failed: StepResult | None = None
        self._closed = False

    @property
    def slot(self) -> int:
        """The fleet slot (actor) this session is on now."""
        return self._slot

    async def step(self, call: ToolCall) -> StepResult:
        start = asyncio.get_running_loop().time()
        async with self._lock:
            result = await self._step(call)
        result.elapsed_s = asyncio.get_running_loop().time() - start
        return result

    async def _step(self, call: ToolCall) -> StepResult:
        if self._closed or self._rt._closed:
            return StepResult("Error: this session is closed.", error=CLOSED, fatal=True)
        if self._failed is not None:
            return StepResult(self._failed.observation, error=self._failed.error, fatal=True)
        for attempt in range(_TRIES):
            try:
                answer = await self._rt._remote(self._slot, "step", self._sid, call.name, call.arguments)
            except _ActorLost:
                answer = None
            if answer is None:  # the actor died, or is a new incarnation without this session
                if attempt:
                    self._rt.stats["retries"] += 1
                failed = await self._rebuild()
                if failed is not None:
                    return failed
                continue
            observation, finished, reward, error, fatal = answer
            result = StepResult(observation, finished, reward, error, fatal)
            if error is None or error == "exception":
                self._log.append(("step", (call.name, call.arguments)))
                self._answers.append(answer)
            if fatal:
                self._failed = result
            return result
        return StepResult(f"Error: {call.name} on {self._spec.name} could not run: its actors kept dying; "
                          "the call was not applied.", error=CRASHED)

    async def _rebuild(self) -> StepResult | None:
        rt, spec = self._rt, self._spec
        rt.stats["rebuilds"] += 1
        rt._load[self._slot] -= 1
        for _ in range(_TRIES):
            slot, sid = rt._pick(), uuid.uuid4().hex
            try:
                answer = await rt._remote(slot, "replay", sid, spec, self._options, list(self._log))
            except _ActorLost:
                continue
            rt._load[slot] += 1
            self._slot, self._sid = slot, sid
            if answer[0] != "ok":
                return self._fail(f"{spec.name} could not be rebuilt after its actor died: {answer[2]}", CRASHED)
            _, reset_observation, answers = answer
            if reset_observation != self.info.reset_observation:
                return self._mismatch("its reset observation")
            for i, ((kind, payload), want) in enumerate(zip(self._log, self._answers, strict=True)):
                got = answers[i] if i < len(answers) else None
                if got != (want if kind == "step" else ("attr", want)):
                    return self._mismatch(f"call {i + 1} ({payload[0] if kind == 'step' else payload})")
            return None
        rt._load[self._slot] += 1
        return self._fail(f"{spec.name} could not be rebuilt: the fleet's actors kept dying", CRASHED)

    def _mismatch(self, what: str) -> StepResult:
        return self._fail(f"env {self._spec.name} is not deterministic: rebuilding it after its actor died, {what} "
                          "gave a different answer than before", NONDETERMINISTIC)

    def _fail(self, text: str, kind: str) -> StepResult:
        self._failed = StepResult(f"Error: {text}; the session cannot continue.", error=kind, fatal=True)
        return self._failed

    async def attribute(self, name: str) -> Any:
        async with self._lock:
            if self._closed or self._rt._closed:
                raise RuntimeClosed(f"the session of {self._spec.name} is closed")
            if self._failed is not None:
                raise CodeGymError(self._failed.observation)
            for _ in range(_TRIES):
                try:
                    answer = await self._rt._remote(self._slot, "attribute", self._sid, name)
                except _ActorLost:
                    answer = ("lost",)
                if answer[0] == "lost":
                    failed = await self._rebuild()
                    if failed is not None:
                        raise CodeGymError(failed.observation)
                    continue
                if answer[0] != "ok":
                    _raise(answer)
                self._log.append(("attr", name))
                self._answers.append(answer[1])
                return answer[1]
            raise CodeGymError(f"reading {name!r} on {self._spec.name}: its actors kept dying")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._rt._load[self._slot] -= 1
        if self._rt._closed:
            return
        try:
            await self._rt._remote(self._slot, "close", self._sid)
        except (_ActorLost, RuntimeClosed):
            pass
