"""The agent's options, read from ``CODEGYM_*`` environment variables.

OpenRLHF constructs the agent with no arguments inside every vLLM engine actor, so options travel as
environment variables (forward them with Ray's ``runtime_env``; see ``openrlhf_plugin/README.md``).

Runtime: ``CODEGYM_RUNTIME`` (``sandbox`` where the core has it, else ``inprocess``),
``CODEGYM_ENVS`` (env files, folders, record JSON or row files, separated by ``os.pathsep``; default:
the installed env packs), ``CODEGYM_STEP_TIMEOUT`` (seconds per env step, sandbox runtime) and
``CODEGYM_RUNTIME_OPTIONS`` (a JSON object of further runtime options). ``CODEGYM_RUNTIME=ray`` runs
env sessions on a fleet of Ray actors (options ``actors``, ``num_cpus``, ``resources``,
``placement_group``, ``fleet``; see :mod:`codegym_adapters.runtime.ray_runtime`);
``CODEGYM_RUNTIME=http`` on env servers (options ``urls``, ``token``; see
:mod:`codegym_adapters.runtime.http_runtime`).
Episode: one variable per :class:`~codegym_adapters.episode.EpisodeConfig` field, named
``CODEGYM_<FIELD>`` (``CODEGYM_DEFAULT_TURN_LIMIT``, ``CODEGYM_MAX_TURNS``, ``CODEGYM_CALL_FORMAT``,
``CODEGYM_REASONING``, ``CODEGYM_REASONING_MARKERS`` (``open,close;open,close``), ``CODEGYM_REWARD``, ...).
Chat: ``CODEGYM_TURN_BOUNDARY`` (``template``: take the text around observations from the
tokenizer's chat template; ``chatml``: fixed ``<|im_start|>``/``<|im_end|>`` boundaries).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from codegym_adapters.episode import EpisodeConfig
from codegym_adapters.runtime import DEFAULT_RUNTIME, RUNTIMES

PREFIX = "CODEGYM_"
TURN_BOUNDARIES = ("template", "chatml")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def default_runtime() -> str:
    """The core's default runtime (the sandbox)."""
    return DEFAULT_RUNTIME


def variables() -> list[str]:
    """Every variable the agent reads."""
    runtime = [f"{PREFIX}{name}" for name in ("RUNTIME", "ENVS", "STEP_TIMEOUT", "RUNTIME_OPTIONS")]
    return [*runtime, *episode_variables(), f"{PREFIX}TURN_BOUNDARY"]


def episode_variables() -> dict[str, str]:
    """``CODEGYM_<FIELD>`` variable name -> EpisodeConfig field name."""
    return {f"{PREFIX}{f.name.upper()}": f.name for f in fields(EpisodeConfig)}


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent needs to know that a dataset row does not say."""

    runtime: str = field(default_factory=default_runtime)
    envs: tuple[str, ...] = ()
    runtime_options: Mapping[str, Any] = field(default_factory=dict)
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    turn_boundary: str = "template"

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"{PREFIX}RUNTIME must be one of {', '.join(RUNTIMES)}; got {self.runtime!r}")
        if self.turn_boundary not in TURN_BOUNDARIES:
            raise ValueError(
                f"{PREFIX}TURN_BOUNDARY must be one of {', '.join(TURN_BOUNDARIES)}; got {self.turn_boundary!r}"
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AgentSettings:
        """Read the settings; a malformed value raises ``ValueError`` naming its variable."""
        env = os.environ if environ is None else environ
        options: dict[str, Any] = {}
        if env.get(f"{PREFIX}RUNTIME_OPTIONS", "").strip():
            options = _json_object(f"{PREFIX}RUNTIME_OPTIONS", env[f"{PREFIX}RUNTIME_OPTIONS"])
        if env.get(f"{PREFIX}STEP_TIMEOUT", "").strip():
            options["step_timeout"] = _convert(f"{PREFIX}STEP_TIMEOUT", env[f"{PREFIX}STEP_TIMEOUT"], 1.0)
        defaults = EpisodeConfig()
        episode = {
            name: _convert(var, env[var], _EXAMPLES.get(name, getattr(defaults, name)))
            for var, name in episode_variables().items()
            if env.get(var, "").strip()
        }
        try:
            episode_config = EpisodeConfig.from_mapping(episode)
        except ValueError as exc:  # EpisodeConfig names the field; name the variable that set it
            names = [var for var, name in sorted(episode_variables().items(), key=lambda kv: -len(kv[1]))
                     if str(exc).startswith(name)]  # the longest field name that prefixes the message
            raise ValueError(f"{names[0] if names else 'CODEGYM_*'}: {exc}") from None
        return cls(
            runtime=env.get(f"{PREFIX}RUNTIME", "").strip() or default_runtime(),
            envs=tuple(p for p in env.get(f"{PREFIX}ENVS", "").split(os.pathsep) if p.strip()),
            runtime_options=options,
            episode=episode_config,
            turn_boundary=env.get(f"{PREFIX}TURN_BOUNDARY", "").strip() or "template",
        )

    def key(self) -> str:
        """What identifies the runtime these settings ask for (one runtime per key per process)."""
        return json.dumps([self.runtime, list(self.envs), dict(self.runtime_options)], sort_keys=True, default=str)


def forwarded_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``CODEGYM_*`` variables set here: what to put in Ray's ``runtime_env["env_vars"]``."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k.startswith(PREFIX)}


# Fields whose default says nothing of their type: a value of the type they take.
_EXAMPLES: dict[str, Any] = {"max_turns": 1}


def _convert(name: str, text: str, like: Any) -> Any:
    """``text`` as the type of ``like`` (bool, int or float; anything else stays text, which the
    config checks: e.g. ``CODEGYM_REASONING_MARKERS="<think>,</think>"``). ``none`` clears an int."""
    text = text.strip()
    if isinstance(like, int) and not isinstance(like, bool) and text.lower() in ("none", "null"):
        return None
    try:
        if isinstance(like, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if isinstance(like, int):
            return int(text)
        if isinstance(like, float):
            return float(text)
    except ValueError:
        kind = "true or false" if isinstance(like, bool) else "an integer" if isinstance(like, int) else "a number"
        raise ValueError(f"{name} must be {kind}; got {text!r}") from None
    return text


def _json_object(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object; got {type(value).__name__}")
    return value
