"""The Ray actor behind the ``ray`` runtime: one sandbox runtime (a pool of confined worker
processes, with its limits, quarantine and replay recovery) on whatever node Ray placed it.

Plain class here; :mod:`.ray_runtime` wraps it with ``ray.remote`` and its placement options. It is an
async actor: every method runs on the actor's one event loop, which its sandbox runtime belongs to.
Env failures come back as step results, and errors the core raises come back as ``("error", kind,
message)`` rather than as Ray task errors, so the client can raise the same class again.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from ..calls import ToolCall
from ..catalog import Catalog, EnvSpec
from ..errors import CodeGymError
from .base import OracleTrace, Session


class EnvActor:
    """Hosts sessions, keyed by the client's session id, on a local sandbox runtime."""

    def __init__(self, sandbox_options: dict[str, Any]) -> None:
        self._options = dict(sandbox_options)
        self._runtime: Any = None
        self._sessions: dict[str, Session] = {}
        self.incarnation = uuid.uuid4().hex  # a restarted actor is a new incarnation with no sessions

    def _sandbox(self) -> Any:
        if self._runtime is None:
            from .sandbox import SandboxRuntime

            self._runtime = SandboxRuntime(Catalog(), **self._options)
        return self._runtime

    async def hello(self) -> dict[str, Any]:
        """Who this actor is: incarnation, node, process."""
        import ray

        return {"incarnation": self.incarnation, "node_id": ray.get_runtime_context().get_node_id(),
                "pid": os.getpid(), "sessions": len(self._sessions)}

    async def open(self, sid: str, spec: EnvSpec, options: dict[str, Any]) -> tuple:
        try:
            session = await self._sandbox().open((spec, options))
        except CodeGymError as exc:
            return ("error", type(exc).__name__, str(exc))
        self._sessions[sid] = session
        info = session.info
        return ("ok", {"actions": [a.to_dict() for a in info.actions], "reset_observation": info.reset_observation,
                       "task": info.task})

    async def replay(self, sid: str, spec: EnvSpec, options: dict[str, Any], log: list[tuple[str, Any]]) -> tuple:
        """Open the env and run the committed calls again, in one round trip; returns ("ok", reset
        observation, [answer, ...]) for the client to compare, or ("error", kind, message)."""
        opened = await self.open(sid, spec, options)
        if opened[0] != "ok":
            return opened
        session, answers = self._sessions[sid], []
        for kind, payload in log:
            if kind == "step":
                result = await session.step(ToolCall(payload[0], payload[1]))
                answers.append(_outcome(result))
                if result.fatal:
                    break
            else:
                try:
                    answers.append(("attr", await session.attribute(payload)))
                except CodeGymError as exc:
                    answers.append(("attr-error", str(exc)))
        return ("ok", opened[1]["reset_observation"], answers)

    async def step(self, sid: str, name: str, arguments: dict[str, Any]) -> tuple | None:
        """(observation, finished, reward, error, fatal), or None if this actor has no such session."""
        session = self._sessions.get(sid)
        if session is None:
            return None
        return _outcome(await session.step(ToolCall(name, arguments)))

    async def attribute(self, sid: str, name: str) -> tuple:
        session = self._sessions.get(sid)
        if session is None:
            return ("lost",)
        try:
            return ("ok", await session.attribute(name))
        except CodeGymError as exc:
            return ("error", type(exc).__name__, str(exc))

    async def close(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            await session.close()

    async def oracle(self, spec: EnvSpec, options: dict[str, Any]) -> OracleTrace:
        return await self._sandbox().oracle((spec, options))

    async def module_info(self, spec: EnvSpec) -> tuple:
        try:
            return ("ok", await self._sandbox().module_info((spec, {})))
        except CodeGymError as exc:
            return ("error", type(exc).__name__, str(exc))

    async def generate_config(self, spec: EnvSpec, seed: int, size: int) -> tuple:
        try:
            return ("ok", await self._sandbox().generate_config((spec, {}), seed, size))
        except CodeGymError as exc:
            return ("error", type(exc).__name__, str(exc))

    async def counters(self) -> dict[str, Any]:
        rt = self._runtime
        return {"counters": rt.counters() if rt else {}, "quarantined": rt.quarantined() if rt else {},
                "worker_pids": rt.worker_pids() if rt else [], "sessions": len(self._sessions)}

    async def shutdown(self) -> None:
        """Close every session and the sandbox workers (before the actor is killed)."""
        for sid in list(self._sessions):
            await self.close(sid)
        if self._runtime is not None:
            await self._runtime.close()


def _outcome(result: Any) -> tuple:
    return (result.observation, bool(result.finished), float(result.reward), result.error, bool(result.fatal))
