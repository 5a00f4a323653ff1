"""The session contract every runtime honours (in-process, sandbox, and later Ray and HTTP).

A :class:`Runtime` opens a :class:`Session` for an env string; a session is one live env instance for
one episode. Every operation is awaitable and never blocks the event loop. Env failures never raise
out of :meth:`Session.step`: they come back as a :class:`StepResult` whose observation starts with
``"Error: "`` and whose ``error`` names what happened.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from ..calls import ToolCall
from ..catalog import Catalog, EnvSpec
from ..envstring import EnvRef
from ..tools import Action

# StepResult.error values
EXCEPTION = "exception"  # the env raised out of step(); the call still counts (state may have changed)
TIMEOUT = "timeout"  # the step broke its deadline; the call is not committed
CRASHED = "crashed"  # the worker hosting the env died during the step; the call is not committed
LIMIT = "limit"  # the step broke a resource limit (memory, output size); not committed
NONDETERMINISTIC = "nondeterministic"  # replay after a crash gave other observations: session failed
QUARANTINED = "quarantined"  # the env failed too often in this run: session failed
CLOSED = "closed"  # the session or runtime is closed
INVALID_REWARD = "invalid_reward"  # the env's reward is not a finite number in reward_range: session failed


@dataclass
class StepResult:
    """What one env step produced."""

    observation: str
    finished: bool = False
    reward: float = 0.0
    error: str | None = None
    fatal: bool = False  # the session cannot go on (the episode ends with done_reason "env_error")
    elapsed_s: float = 0.0


@dataclass
class OracleTrace:
    """The calls an env's own ``solve()`` made, recorded on a shadow instance."""

    calls: list[ToolCall]
    final_observation: str
    reward: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.reward == 1.0


@dataclass
class SessionInfo:
    """What a runtime knows about a session once it is open."""

    env_name: str
    options: dict[str, Any]
    actions: list[Action]
    reset_observation: str
    task: str | None = None  # the env's task text (bundled envs' TASK, a record's gym_task)
    extras: dict[str, Any] = field(default_factory=dict)


class Session(abc.ABC):
    """One live env instance, held for a whole episode."""

    info: SessionInfo

    @abc.abstractmethod
    async def step(self, call: ToolCall) -> StepResult:
        """Run one call against the env. Never raises for env failures."""

    @abc.abstractmethod
    async def attribute(self, name: str) -> Any:
        """A JSON-like value of the env: an attribute, or the result of a zero-argument method
        (``get_ref_answer``). Raises :class:`~codegym_adapters.errors.CodeGymError` on failure."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the env instance. Idempotent."""

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Runtime(abc.ABC):
    """Opens sessions; owns where env code runs."""

    name: str = "abstract"

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else Catalog.default()

    def resolve(self, env: str | EnvRef | tuple[EnvSpec, dict[str, Any]]) -> tuple[EnvSpec, dict[str, Any]]:
        """An env string, a parsed reference, or an already-resolved ``(spec, options)``."""
        if isinstance(env, tuple):
            return env
        return self.catalog.resolve(env)

    @abc.abstractmethod
    async def open(self, env: str | EnvRef | tuple[EnvSpec, dict[str, Any]]) -> Session:
        """Load the env, reset it with the options and return its session.

        Raises :class:`~codegym_adapters.errors.CodeGymError` subclasses naming the env when it
        cannot be found, loaded, or reset.
        """

    @abc.abstractmethod
    async def oracle(self, env: str | EnvRef | tuple[EnvSpec, dict[str, Any]]) -> OracleTrace:
        """Run the env's ``solve()`` on a shadow instance and record its top-level calls."""

    @abc.abstractmethod
    async def module_info(self, env: str | EnvRef | tuple[EnvSpec, dict[str, Any]]) -> dict[str, Any]:
        """Module-level extras of an env file: ``{"task", "configs", "has_generator"}``."""

    @abc.abstractmethod
    async def generate_config(
        self, env: str | EnvRef | tuple[EnvSpec, dict[str, Any]], seed: int, size: int
    ) -> dict[str, Any]:
        """Call the env file's ``generate_config(seed, size)`` (bundled envs have one)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every resource (worker processes, temporary folders). Idempotent."""

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
