"""Hosting env instances inside the current process.

:class:`EnvHost` is where env code actually runs. The in-process runtime calls it directly; every
sandbox worker process runs one. It is synchronous and knows nothing about deadlines or isolation:
those belong to the runtime around it. Everything it returns is plain data (picklable, JSON-like),
and its text is fit for a tokenizer: observations are exact ``str``, capped, with lone surrogates
replaced (:mod:`.replies`). A reward that is not a finite number in ``reward_range`` ends the
session with an ``invalid_reward`` error instead of reaching the trainer.
"""

from __future__ import annotations

import json
import math
import time
import types
from dataclasses import dataclass
from typing import Any

from ..calls import ToolCall
from ..catalog import load_env_module
from ..construct import build_env
from ..errors import CodeGymError, EnvContractError, EnvLoadError
from ..tools import Action, action_names, actions_of
from .base import EXCEPTION, INVALID_REWARD, OracleTrace, StepResult
from .replies import DEFAULT_REWARD_RANGE, cap_text, check_reward, exact_text, observation_text, safe_text

DEFAULT_MAX_OBSERVATION_CHARS = 20_000
MAX_ORACLE_CALLS = 10_000


cap_observation = cap_text


def to_json_like(value: Any, depth: int = 0) -> Any:
    """Convert an env value to plain JSON data (tuples to lists, unknown objects to ``str``)."""
    if depth > 50:
        return safe_text(exact_text(value))
    if value is None or type(value) in (bool, int):
        return value
    if isinstance(value, str):
        return safe_text(exact_text(value))
    if isinstance(value, int):  # an int subclass: its own methods are not trusted
        return int.__index__(value)
    if isinstance(value, float):
        value = float.__float__(value)
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return [to_json_like(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {safe_text(exact_text(k)): to_json_like(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((to_json_like(v, depth + 1) for v in value), key=repr)
    return safe_text(exact_text(value))


@dataclass
class _EnvClass:
    module: types.ModuleType
    cls: type
    actions: list[Action] | None = None


class EnvHost:
    """Live env instances of one process, addressed by session id."""

    def __init__(self, max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS,
                 reward_range: tuple[float, float] = DEFAULT_REWARD_RANGE) -> None:
        self.max_observation_chars = max_observation_chars
        self.reward_range = (float(reward_range[0]), float(reward_range[1]))
        self._classes: dict[str, _EnvClass] = {}
        self._envs: dict[Any, Any] = {}

    # -- env code ---------------------------------------------------------------------------
    def has_source(self, source_hash: str) -> bool:
        return source_hash in self._classes

    def load(self, source_hash: str, source: str, class_name: str, env_name: str = "") -> None:
        """Compile an env source once; later calls with the same hash are free."""
        if source_hash not in self._classes:
            module = load_env_module(source, class_name, env_name)
            self._classes[source_hash] = _EnvClass(module, getattr(module, class_name))

    def _class(self, source_hash: str) -> _EnvClass:
        try:
            return self._classes[source_hash]
        except KeyError:
            raise EnvLoadError(f"env source {source_hash} was never loaded in this host") from None

    def module_info(self, source_hash: str) -> dict[str, Any]:
        """Module-level extras of bundled envs: ``TASK`` text and fixed ``CONFIGS``."""
        module = self._class(source_hash).module
        task = getattr(module, "TASK", None)
        configs = getattr(module, "CONFIGS", None)
        return {
            "task": task if isinstance(task, str) else None,
            "configs": to_json_like(configs) if isinstance(configs, list) else [],
            "has_generator": callable(getattr(module, "generate_config", None)),
        }

    def generate_config(self, source_hash: str, seed: int, size: int) -> dict[str, Any]:
        """Call a bundled env's ``generate_config(seed, size)``."""
        gen = getattr(self._class(source_hash).module, "generate_config", None)
        if not callable(gen):
            raise EnvContractError(f"env source {source_hash} has no generate_config(seed, size)")
        try:
            config = gen(seed, size)
        except Exception as exc:
            raise EnvContractError(f"generate_config({seed}, {size}) failed: {type(exc).__name__}: {said(exc)}") from None
        if not isinstance(config, dict):
            raise EnvContractError(f"generate_config returned {type(config).__name__}, not a dict")
        return to_json_like(config)

    def _new_env(self, source_hash: str, options: dict[str, Any], label: str) -> tuple[Any, str]:
        entry = self._class(source_hash)
        try:  # the upstream way (from_env_str first), never a default reset({}) before the options
            env, observation = build_env(entry.cls, dict(options))
        except Exception as exc:
            raise EnvLoadError(f"env {label}: creating or resetting it failed: {type(exc).__name__}: {said(exc)}") \
                from None
        if entry.actions is None:
            try:
                entry.actions = actions_of(entry.cls, action_names(env))
            except CodeGymError:
                raise
            except Exception as exc:
                raise EnvContractError(f"env {label}: cannot read its actions: {said(exc)}") from None
            if not entry.actions:
                raise EnvContractError(f"env {label}: func_mapping names no action methods")
        return env, "" if observation is None else exact_text(observation)

    # -- sessions ---------------------------------------------------------------------------
    def open(self, sid: Any, source_hash: str, options: dict[str, Any], label: str = "") -> dict[str, Any]:
        """Create and reset an env for session ``sid``; returns its reset text and actions."""
        env, observation = self._new_env(source_hash, options, label or source_hash)
        self._envs[sid] = env
        actions = self._class(source_hash).actions or []
        return {
            "reset_observation": observation_text(observation, self.max_observation_chars),
            "actions": [a.to_dict() for a in actions],
        }

    def step(self, sid: Any, name: str, arguments: dict[str, Any]) -> StepResult:
        """One call on session ``sid``'s env, as the env's own ``step(action_json)``."""
        env = self._envs[sid]
        start = time.perf_counter()
        error = None
        try:
            action = json.dumps({"name": name, "parameters": arguments}, ensure_ascii=False)
            result = env.step(action)
            message = result[1] if isinstance(result, tuple) and len(result) >= 2 else result
            observation = message if isinstance(message, str) else json.dumps(to_json_like(message))
        except Exception as exc:  # env bug: step() is supposed to catch its own errors
            error = EXCEPTION
            observation = f"Error: the environment failed on {name}: {type(exc).__name__}: {said(exc)}"
        finished, reward, problem = self._status(env)
        if problem is not None:
            return StepResult(f"Error: the environment gave an invalid reward after {name}: {problem}; "
                              "the session cannot continue.", error=INVALID_REWARD, fatal=True,
                              elapsed_s=time.perf_counter() - start)
        return StepResult(
            observation=observation_text(observation, self.max_observation_chars),
            finished=finished,
            reward=reward,
            error=error,
            elapsed_s=time.perf_counter() - start,
        )

    def status(self, sid: Any) -> tuple[bool, float, str | None]:
        """Session ``sid``'s ``(finished, reward, why the reward is refused or None)``, read from its env
        now (its ``finished`` and ``reward`` properties). Raises ``KeyError`` for a session not open."""
        return self._status(self._envs[sid])

    def _status(self, env: Any) -> tuple[bool, float, str | None]:
        """``(finished, reward, why the reward is refused or None)``; a reward property that raises
        counts as 0 (CodeGym envs set it only at Done)."""
        try:
            finished = bool(env.finished)
        except Exception:
            finished = bool(getattr(env, "_done", False))
        try:
            value = env.reward
        except Exception:
            return finished, 0.0, None
        try:
            reward = _number(value)
        except Exception:
            reward = value  # check_reward names its type
        problem = check_reward(reward, self.reward_range)
        return finished, (0.0 if problem else float(reward)), problem

    def attribute(self, sid: Any, name: str) -> Any:
        """An env attribute, or the result of calling it if it is a zero-argument method."""
        if name.startswith("__"):
            raise CodeGymError(f"attribute {name!r} is not readable")
        env = self._envs[sid]
        if not hasattr(env, name):
            raise CodeGymError(f"env has no attribute {name!r}")
        try:
            value = getattr(env, name)
            if callable(value):
                value = value()
        except Exception as exc:
            raise CodeGymError(f"reading {name} of the env failed: {type(exc).__name__}: {said(exc)}") from None
        return to_json_like(value)

    def close(self, sid: Any) -> None:
        self._envs.pop(sid, None)

    def __len__(self) -> int:
        return len(self._envs)

    # -- oracle -----------------------------------------------------------------------------
    def oracle(self, source_hash: str, options: dict[str, Any], label: str = "") -> OracleTrace:
        """Run ``solve()`` on a shadow instance, recording the calls it makes through ``step``.

        Only top-level calls are recorded: an action that calls ``self.step`` itself is one call.
        """
        env, _ = self._new_env(source_hash, options, label or source_hash)
        calls: list[ToolCall] = []
        depth = 0
        original_step = env.step

        def recording_step(action: str) -> Any:
            nonlocal depth
            if depth == 0:
                if len(calls) >= MAX_ORACLE_CALLS:
                    raise RuntimeError(f"solve() made more than {MAX_ORACLE_CALLS} calls")
                calls.append(_call_from_action(action))
            depth += 1
            try:
                return original_step(action)
            finally:
                depth -= 1

        env.step = recording_step
        try:
            final = env.solve()
        except Exception as exc:
            return OracleTrace(calls, "", 0.0, error=f"solve() raised {type(exc).__name__}: {said(exc)}")
        _, reward, problem = self._status(env)
        final_text = observation_text(final, self.max_observation_chars)
        if problem is not None:
            return OracleTrace(calls, final_text, 0.0, error=f"solve() left an invalid reward: {problem}")
        return OracleTrace(calls, final_text, reward)


def _number(value: Any) -> int | float:
    """``value`` as an exact int or float, read once (a subclass's own methods could answer
    differently each time)."""
    if type(value) in (int, float):
        return value
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError("text is not a reward")
    number = float(value)
    return float.__float__(number)


def said(exc: BaseException) -> str:
    """An exception's text, safely: its ``__str__`` is env code and may raise anything (a
    ``BaseException`` whose own ``__str__`` raises, too) or lie."""
    try:
        return safe_text(exact_text(exc))[:2000]
    except BaseException:  # not only Exception: an escaping one would crash the worker, and be blamed
        return "<unprintable>"


def _call_from_action(action: Any) -> ToolCall:
    data = json.loads(action) if isinstance(action, str) else action
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise RuntimeError(f"solve() made a call that is not a CodeGym action: {str(action)[:200]}")
    args = data.get("parameters", data.get("arguments", {}))
    return ToolCall(data["name"], args if isinstance(args, dict) else {})
