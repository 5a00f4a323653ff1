"""Where env code runs. :func:`make_runtime` is the one door; see :mod:`.base` for the contract."""

from __future__ import annotations

from typing import Any

from ..catalog import Catalog
from .base import OracleTrace, Runtime, Session, SessionInfo, StepResult

RUNTIMES = ("inprocess", "sandbox", "ray", "http")
DEFAULT_RUNTIME = "sandbox"

__all__ = ["RUNTIMES", "DEFAULT_RUNTIME", "OracleTrace", "Runtime", "Session", "SessionInfo", "StepResult",
           "make_runtime"]


def make_runtime(name: str = DEFAULT_RUNTIME, catalog: Catalog | None = None, **options: Any) -> Runtime:
    """A runtime by name: ``inprocess`` (trusted code), ``sandbox`` (isolated worker pool), ``ray``
    (sandbox pools in Ray actors on a cluster) or ``http`` (remote env servers)."""
    if name == "inprocess":
        from .inprocess import InProcessRuntime

        return InProcessRuntime(catalog, **options)
    if name == "sandbox":
        from .sandbox import SandboxRuntime

        return SandboxRuntime(catalog, **options)
    if name == "ray":
        from .ray_runtime import RayRuntime

        return RayRuntime(catalog, **options)
    if name == "http":
        from .http_runtime import HttpRuntime

        return HttpRuntime(catalog, **options)
    raise ValueError(f"unknown runtime {name!r}; expected one of {', '.join(RUNTIMES)}")
