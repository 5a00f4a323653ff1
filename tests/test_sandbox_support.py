"""Shared pieces of the sandbox tests (no tests here): the catalog of bundled and adversarial envs,
clean oracle episodes computed in this process, drivers that run them through a runtime, and checks
for processes and folders left behind."""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from codegym_adapters.calls import ToolCall
from codegym_adapters.catalog import Catalog, EnvSpec
from codegym_adapters.runtime.base import Session, StepResult
from codegym_adapters.runtime.host import EnvHost
from codegym_adapters.runtime.sandbox import SandboxRuntime

REPO = Path(__file__).resolve().parent.parent
ADVERSARIAL = REPO / "tests" / "adversarial_envs"
T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    folders = [ADVERSARIAL] + ([REPO / "envs"] if any((REPO / "envs").glob("*__*.py")) else [])
    return Catalog.from_paths(folders)


@dataclass
class CleanEpisode:
    """An oracle episode and what each of its calls returned in a clean, in-process run."""

    spec: EnvSpec
    options: dict[str, Any]
    calls: list[ToolCall]
    expected: list[tuple]


def outcome(result: StepResult) -> tuple:
    return result.observation, result.finished, result.reward, result.error


@functools.lru_cache(maxsize=4)
def clean_episodes(count: int) -> list[CleanEpisode]:
    """``count`` episodes over the good envs and their configs, round-robin."""
    host = EnvHost()
    pool = []
    for spec in catalog():
        if spec.code_id.startswith("Adv_"):
            continue
        host.load(spec.source_hash, spec.source, spec.class_name, spec.name)
        for options in host.module_info(spec.source_hash)["configs"][:4]:
            pool.append((spec, options))
    episodes = []
    for i in range(count):
        spec, options = pool[(i * 7) % len(pool)]
        trace = host.oracle(spec.source_hash, options, spec.name)
        host.open("clean", spec.source_hash, options, spec.name)
        expected = [outcome(host.step("clean", c.name, c.arguments)) for c in trace.calls]
        host.close("clean")
        episodes.append(CleanEpisode(spec, options, trace.calls, expected))
    return episodes


async def drive(session: Session, calls: list[ToolCall], pause: float = 0.0) -> list[tuple]:
    results = []
    for call in calls:
        results.append(outcome(await session.step(call)))
        if pause:
            await asyncio.sleep(pause)
    return results


async def timed(awaitable: Awaitable[T]) -> tuple[T | BaseException, float]:
    start = time.monotonic()
    try:
        value: Any = await awaitable
    except Exception as exc:  # the caller asserts on the kind
        value = exc
    return value, time.monotonic() - start


async def with_bystanders(runtime: SandboxRuntime, count: int,
                          attack: Callable[[], Awaitable[T]]) -> tuple[T | BaseException, float]:
    """Run ``count`` clean episodes; halfway through, run ``attack`` alongside their second halves.
    Asserts that every episode gives exactly its clean results; returns the attack's outcome and
    how long it took."""
    episodes = clean_episodes(count)
    sessions = await asyncio.gather(*(runtime.open((e.spec, e.options)) for e in episodes))
    halves = [len(e.calls) // 2 for e in episodes]
    first = await asyncio.gather(*(drive(s, e.calls[:h]) for s, e, h in zip(sessions, episodes, halves, strict=True)))
    attack_task = asyncio.get_running_loop().create_task(timed(attack()))
    await asyncio.sleep(0.05)  # the attack is in flight: the second halves queue up behind it
    second = await asyncio.gather(*(drive(s, e.calls[h:]) for s, e, h in zip(sessions, episodes, halves, strict=True)))
    outcome_, elapsed = await attack_task
    for i, (episode, a, b) in enumerate(zip(episodes, first, second, strict=True)):
        assert a + b == episode.expected, f"bystander {i} ({episode.spec.name}) differs from its clean run"
    await asyncio.gather(*(s.close() for s in sessions))
    return outcome_, elapsed


# -- what a run leaves behind -------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def processes_of(worker_pids: set[int]) -> list[int]:
    """Live processes that are workers or in a worker's session (their children, grandchildren)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[0] != "Z" and (int(entry) in worker_pids or int(fields[3]) in worker_pids):
                found.append(int(entry))
    return found


def wait_gone(worker_pids: set[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = processes_of(worker_pids)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def own_sandbox_dirs() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"codegym-sandbox-{os.getpid()}-*"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def all_worker_pids(runtime: SandboxRuntime) -> set[int]:
    """Every worker process the runtime started, and its worker templates."""
    pool = runtime._pool
    return set(pool.pids_started) | set(pool.template_pids) if pool is not None else set()
