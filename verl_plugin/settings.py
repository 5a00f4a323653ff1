"""The ``env:`` block of a veRL trainer config, read and checked.

``env/codegym.yaml`` (the Hydra config group) writes the block; :func:`load_settings` turns it into
:class:`EnvSettings`, or raises :class:`ConfigError` with a message that says how to fix the config.
The most common mistake gets its own message: ``env`` holding the bare string ``"codegym"``, which is
what Hydra makes of ``+env=codegym`` (or of ``env: codegym`` in a YAML body) when the config group
is not on its search path.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from codegym_adapters.catalog import Catalog
from codegym_adapters.episode import EpisodeConfig
from codegym_adapters.runtime import RUNTIMES, make_runtime
from codegym_adapters.runtime.base import Runtime

HOW_TO_ENABLE = (
    "Enable CodeGym with one of: `python -m verl.trainer.main_ppo +env=codegym ...` (needs codegym-adapters "
    "installed in this environment, whose Hydra search-path plugin adds the `env` config group); "
    "`defaults: [ppo_trainer, {env: codegym}, _self_]` in your own YAML; or "
    "`python -m verl_plugin.main_ppo env=codegym ...`."
)

# Options of the block that map to runtime constructor arguments (passed where the runtime takes them).
_RUNTIME_ARGS = ("step_timeout", "memory_mb", "workers", "max_observation_chars")


class ConfigError(ValueError):
    """The trainer config does not enable CodeGym correctly; the message says what to change."""


@dataclass(frozen=True)
class EnvSettings:
    """Everything the CodeGym agent loop needs from the ``env:`` block.

    ``runtime``: where env code runs (``sandbox``: isolated worker pool; ``inprocess``: trusted envs
    only). ``step_timeout`` (s), ``memory_mb`` and ``workers`` are sandbox limits;
    ``max_observation_chars`` caps each observation; ``env_paths`` adds env files or folders to the
    installed env packs; ``runtime_options`` is passed to the runtime verbatim.
    """

    runtime: str = "sandbox"
    step_timeout: float = 10.0
    memory_mb: int = 1024
    workers: int | None = None
    max_observation_chars: int = 8192
    env_paths: tuple[str, ...] = ()
    runtime_options: Mapping[str, Any] = field(default_factory=dict)
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)

    @property
    def runtime_key(self) -> str:
        """Equal for settings that can share one runtime."""
        return json.dumps(
            [self.runtime, self.step_timeout, self.memory_mb, self.workers, self.max_observation_chars,
             list(self.env_paths), dict(self.runtime_options)],
            sort_keys=True, default=str,
        )  # fmt: skip

    def make_runtime(self) -> Runtime:
        """A new runtime over the installed env packs plus ``env_paths``."""
        catalog = Catalog.from_paths(self.env_paths, installed=True)
        options = dict(self.runtime_options)
        accepted = _runtime_parameters(self.runtime)
        for name in _RUNTIME_ARGS:
            value = getattr(self, name)
            if value is not None and (accepted is None or name in accepted) and name not in options:
                options[name] = value
        return make_runtime(self.runtime, catalog, **options)


def load_settings(trainer_config: Any) -> EnvSettings:
    """Read ``trainer_config.env`` (a DictConfig or a mapping); raise :class:`ConfigError` if wrong."""
    block = _get(trainer_config, "env")
    if block is None:
        raise ConfigError(f"the trainer config has no `env` block, so CodeGym is not configured. {HOW_TO_ENABLE}")
    if isinstance(block, str):
        raise ConfigError(
            f"`env` is the string {block!r}, not the CodeGym config group: Hydra did not find "
            f"`env/{block}.yaml` on its search path and stored the text instead. {HOW_TO_ENABLE}"
        )
    values = _plain(block)
    if not isinstance(values, dict):
        raise ConfigError(f"`env` must be a mapping (the CodeGym config group), got {type(values).__name__}")
    return settings_from_mapping(values)


def settings_from_mapping(values: Mapping[str, Any]) -> EnvSettings:
    """Build settings from a plain ``env:`` block; unknown keys and bad values raise :class:`ConfigError`."""
    values = dict(values)
    known = set(EnvSettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in `env`; known: {sorted(known)}")
    runtime = values.get("runtime", EnvSettings.runtime)
    if runtime not in RUNTIMES:
        raise ConfigError(f"env.runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}")
    for name in ("step_timeout", "memory_mb", "max_observation_chars"):
        if name in values and (not isinstance(values[name], (int, float)) or values[name] <= 0):
            raise ConfigError(f"env.{name} must be a positive number; got {values[name]!r}")
    paths = values.get("env_paths") or ()
    if isinstance(paths, str):
        paths = (paths,)
    values["env_paths"] = tuple(str(p) for p in paths)
    options = values.get("runtime_options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"env.runtime_options must be a mapping; got {options!r}")
    values["runtime_options"] = dict(options)
    episode = values.get("episode") or {}
    if not isinstance(episode, Mapping):
        raise ConfigError(f"env.episode must be a mapping; got {episode!r}")
    try:
        values["episode"] = EpisodeConfig.from_mapping(episode)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"env.episode: {exc}") from None
    return EnvSettings(**values)


def _runtime_parameters(name: str) -> set[str] | None:
    """Keyword options the runtime's constructor takes; None when it takes any (``**options``)."""
    if name == "inprocess":
        from codegym_adapters.runtime.inprocess import InProcessRuntime as cls
    else:
        from codegym_adapters.runtime.sandbox import SandboxRuntime as cls  # type: ignore[no-redef]
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return set(parameters)


def _get(config: Any, key: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(key)
    getter = getattr(config, "get", None)
    return getter(key) if getter else getattr(config, key, None)


def _plain(value: Any) -> Any:
    """A DictConfig/ListConfig as plain containers (interpolations resolved); anything else as is."""
    try:
        from omegaconf import OmegaConf
    except ImportError:  # pragma: no cover - veRL always brings omegaconf
        return value
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value
