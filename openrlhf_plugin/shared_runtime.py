"""The env runtime of this process: made on first use, shared by every episode, closed at exit.

A vLLM engine actor runs many episodes at once on one event loop; they share one runtime (one worker
pool) rather than one each. The runtime is made on the loop that first asks for it; if that loop is
closed later (a new ``asyncio.run``), the next request replaces it.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from pathlib import Path

from codegym_adapters.catalog import Catalog
from codegym_adapters.runtime import make_runtime
from codegym_adapters.runtime.base import Runtime

from .settings import AgentSettings

logger = logging.getLogger(__name__)


class SharedRuntime:
    """Lazily makes the runtime that ``settings`` describe."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self._runtime: Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def get(self) -> Runtime:
        """The runtime; raises what making it raises (a bad catalog path, an unknown runtime option)."""
        loop = asyncio.get_running_loop()
        if self._runtime is not None and (self._loop is loop or not self._loop_closed()):
            return self._runtime
        self._locks = {lp: lock for lp, lock in self._locks.items() if not lp.is_closed()}
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            if self._runtime is not None and self._loop_closed():
                old, self._runtime = self._runtime, None
                try:
                    await old.close()
                except Exception:  # bound to a dead loop: its resources go with the old loop's objects
                    pass
            if self._runtime is None:
                catalog = await asyncio.to_thread(self._catalog)  # may read a large row file
                self._runtime = make_runtime(self.settings.runtime, catalog, **dict(self.settings.runtime_options))
                self._loop = loop
                logger.info("codegym: %s runtime ready (%d envs)", self.settings.runtime, len(self._runtime.catalog))
        return self._runtime

    def _loop_closed(self) -> bool:
        return self._loop is None or self._loop.is_closed()

    def check(self) -> None:
        """Fail now, naming the variables, if the runtime cannot be made from these settings (an
        option the runtime does not take, an env path that does not exist). Starts nothing."""
        missing = [p for p in self.settings.envs if not Path(p).expanduser().exists()]
        if missing:
            raise ValueError(f"CODEGYM_ENVS names paths that do not exist: {', '.join(missing)}")
        try:
            make_runtime(self.settings.runtime, Catalog(), **dict(self.settings.runtime_options))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"CODEGYM_RUNTIME_OPTIONS / CODEGYM_STEP_TIMEOUT do not fit the {self.settings.runtime} "
                f"runtime: {exc}"
            ) from None

    def _catalog(self) -> Catalog:
        envs = self.settings.envs
        return Catalog.from_paths(envs, installed=True)

    async def close(self) -> None:
        """Close the runtime (a later :meth:`get` makes a new one). Never raises."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            try:
                await runtime.close()
            except Exception as exc:
                logger.warning("codegym: closing the %s runtime failed: %s", self.settings.runtime, exc)


_SHARED: dict[str, SharedRuntime] = {}


def shared_runtime(settings: AgentSettings) -> SharedRuntime:
    """This process's runtime for ``settings`` (one per distinct runtime, catalog and options)."""
    return _SHARED.setdefault(settings.key(), SharedRuntime(settings))


async def close_all() -> None:
    """Close every shared runtime of this process."""
    for shared in list(_SHARED.values()):
        await shared.close()


@atexit.register
def _close_at_exit() -> None:
    if any(s._runtime is not None for s in _SHARED.values()):
        try:
            asyncio.run(close_all())
        except Exception:  # the interpreter is going away; worker processes die with it
            pass
