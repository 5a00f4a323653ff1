"""One env runtime per worker process, shared by every CodeGym agent loop in it.

veRL builds one agent-loop object per trajectory; env runtimes (a sandbox worker pool, a catalog of
thousands of envs) must not be rebuilt each time. :func:`shared_runtime` creates a runtime lazily,
keyed by the settings and by the running event loop (a runtime may hold loop-bound pipes), and
closes every runtime it made when the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import weakref

from codegym_adapters.runtime.base import Runtime

from .settings import EnvSettings

_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Runtime]] = weakref.WeakKeyDictionary()
_ALL: list[Runtime] = []


def shared_runtime(settings: EnvSettings) -> Runtime:
    """The runtime for ``settings`` on the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    runtimes = _BY_LOOP.setdefault(loop, {})
    key = settings.runtime_key
    runtime = runtimes.get(key)
    if runtime is None:
        runtime = settings.make_runtime()
        runtimes[key] = runtime
        if not _ALL:
            atexit.register(_close_all_at_exit)
        _ALL.append(runtime)
    return runtime


async def close_shared_runtimes() -> None:
    """Close the runtimes made on the running loop (tests and dry runs call this when done)."""
    runtimes = _BY_LOOP.pop(asyncio.get_running_loop(), {})
    for runtime in runtimes.values():
        await runtime.close()
        if runtime in _ALL:
            _ALL.remove(runtime)


def _close_all_at_exit() -> None:
    while _ALL:
        runtime = _ALL.pop()
        try:
            asyncio.run(runtime.close())
        except Exception:  # noqa: BLE001 - best effort at exit; sandbox workers also die with us
            pass
