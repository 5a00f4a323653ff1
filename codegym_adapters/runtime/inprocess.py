"""The in-process runtime: env code runs in this process, on a thread off the event loop.

For trusted code only (bundled or verified envs, tests): there is no deadline, no memory cap and no
isolation. An env that hangs here hangs its thread. Use the sandbox runtime for anything else.
What it returns is still made safe (:class:`.host.EnvHost`): exact, capped text without lone
surrogates, and rewards checked against ``reward_range``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..calls import ToolCall
from ..catalog import Catalog, EnvSpec
from ..envstring import EnvRef
from ..errors import RuntimeClosed
from ..tools import Action
from .base import CLOSED, OracleTrace, Runtime, Session, SessionInfo, StepResult
from .host import DEFAULT_MAX_OBSERVATION_CHARS, EnvHost
from .replies import DEFAULT_REWARD_RANGE

T = TypeVar("T")
EnvArg = str | EnvRef | tuple[EnvSpec, dict[str, Any]]


class InProcessRuntime(Runtime):
    """Runs env code in this process; ``threads`` env calls may run at once."""

    name = "inprocess"

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        threads: int = 4,
        max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS,
        reward_range: tuple[float, float] = DEFAULT_REWARD_RANGE,
    ) -> None:
        super().__init__(catalog)
        self.host = EnvHost(max_observation_chars=max_observation_chars, reward_range=reward_range)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="codegym-env")
        self._ids = itertools.count()
        self._closed = False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeClosed("the in-process runtime is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _prepare(self, env: EnvArg) -> tuple[EnvSpec, dict[str, Any]]:
        spec, options = self.resolve(env)
        if not self.host.has_source(spec.source_hash):
            await self._run(self.host.load, spec.source_hash, spec.source, spec.class_name, spec.name)
        return spec, options

    async def open(self, env: EnvArg) -> Session:
        spec, options = await self._prepare(env)
        sid = next(self._ids)
        opened = await self._run(self.host.open, sid, spec.source_hash, options, spec.name)
        extras = self.host.module_info(spec.source_hash)
        info = SessionInfo(
            env_name=spec.name,
            options=options,
            actions=[Action.from_dict(a) for a in opened["actions"]],
            reset_observation=opened["reset_observation"],
            task=spec.task or extras["task"],
        )
        return InProcessSession(self, sid, info)

    async def oracle(self, env: EnvArg) -> OracleTrace:
        spec, options = await self._prepare(env)
        return await self._run(self.host.oracle, spec.source_hash, options, spec.name)

    async def module_info(self, env: EnvArg) -> dict[str, Any]:
        """Bundled-env extras (``TASK``, ``CONFIGS``) of an env."""
        spec, _ = await self._prepare(env)
        return self.host.module_info(spec.source_hash)

    async def generate_config(self, env: EnvArg, seed: int, size: int) -> dict[str, Any]:
        """A bundled env's seeded configuration of difficulty ``size``."""
        spec, _ = await self._prepare(env)
        return await self._run(self.host.generate_config, spec.source_hash, seed, size)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=False, cancel_futures=True)


class InProcessSession(Session):
    def __init__(self, runtime: InProcessRuntime, sid: int, info: SessionInfo) -> None:
        self._runtime = runtime
        self._sid = sid
        self.info = info
        self._closed = False

    async def step(self, call: ToolCall) -> StepResult:
        if self._closed or self._runtime._closed:
            return StepResult("Error: this session is closed.", error=CLOSED, fatal=True)
        return await self._runtime._run(self._runtime.host.step, self._sid, call.name, call.arguments)

    async def attribute(self, name: str) -> Any:
        return await self._runtime._run(self._runtime.host.attribute, self._sid, name)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._runtime.host.close(self._sid)
