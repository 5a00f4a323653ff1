"""The errors the core raises. Each message names the env and what is wrong."""

from __future__ import annotations


class CodeGymError(Exception):
    """Base class for every error raised by codegym-adapters."""


class EnvNotFound(CodeGymError, LookupError):
    """No env in the catalog matches the requested name."""


class AmbiguousEnv(CodeGymError, LookupError):
    """A bare class name matches envs from several code ids."""


class OptionsError(CodeGymError, ValueError):
    """An env string's options part cannot be parsed into a dict."""


class EnvLoadError(CodeGymError):
    """An env's source cannot be read, compiled, imported, or has no env class."""


class EnvContractError(CodeGymError):
    """An env class does not honour the CodeGym contract (missing members, bad return types)."""


class EnvQuarantined(EnvLoadError):
    """The env failed too often in this run; it is not run again."""


class EnvLimitError(CodeGymError):
    """An env operation broke a sandbox limit: the deadline, the memory cap, or crashed its worker."""


class WorkerStartError(CodeGymError):
    """No sandbox worker could be started (the message carries the worker's own error output)."""


class RuntimeClosed(CodeGymError):
    """An operation was attempted on a runtime or session that has been closed."""
