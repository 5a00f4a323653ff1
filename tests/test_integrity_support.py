"""Shared pieces of the integrity tests (no tests here): honest bystander episodes (half answering
wrongly) with their clean in-process results, and a driver that runs an attack env beside them on
one sandbox runtime and collects everything the acceptance criteria of issue 10 look at."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from test_sandbox_support import REPO, all_worker_pids, drive, outcome, own_sandbox_dirs, wait_gone

from codegym_adapters.calls import ToolCall
from codegym_adapters.catalog import Catalog, EnvSpec
from codegym_adapters.errors import CodeGymError
from codegym_adapters.policies import perturb
from codegym_adapters.runtime.base import StepResult
from codegym_adapters.runtime.host import EnvHost
from codegym_adapters.runtime.sandbox import SandboxRuntime

ATTACKS = REPO / "tests" / "attack_envs"
DEADLINE = 1.0
HONEST = 20
SLEEP = "__sleep__"


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    return Catalog.from_paths([ATTACKS, REPO / "envs"])


@dataclass
class Honest:
    spec: EnvSpec
    options: dict[str, Any]
    calls: list[ToolCall]
    expected: list[tuple]
    wrong: bool


@functools.lru_cache(maxsize=1)
def honest_episodes() -> list[Honest]:
    """HONEST episodes of honest envs (the bundled ones and MonthDaysEnv, which imports calendar),
    every second one answering wrongly, with what each call gives in a clean in-process run."""
    host = EnvHost()
    bundled, months = [], []
    for spec in catalog():
        if spec.code_id.startswith("Atk_"):
            continue
        host.load(spec.source_hash, spec.source, spec.class_name, spec.name)
        for options in host.module_info(spec.source_hash)["configs"][:2]:
            (months if spec.code_id.startswith("Honest_") else bundled).append((spec, options))
    episodes = []
    for i in range(HONEST):
        spec, options = months[i // 5 % len(months)] if i % 5 == 0 else bundled[(i * 7) % len(bundled)]
        calls = host.oracle(spec.source_hash, options, spec.name).calls
        wrong = i % 2 == 1
        if wrong:
            calls = [ToolCall(c.name, {k: perturb(v) for k, v in c.arguments.items()}) if c.name == "Done" else c
                     for c in calls]
        host.open("clean", spec.source_hash, options, spec.name)
        expected = [outcome(host.step("clean", c.name, c.arguments)) for c in calls]
        host.close("clean")
        if wrong:
            assert any(e[1] and e[2] == 0.0 for e in expected), f"{spec.name}: the wrong answer was rewarded"
        episodes.append(Honest(spec, options, calls, expected, wrong))
    return episodes


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


@dataclass
class AttackRun:
    """What happened: the attack's open and calls (results or exceptions, with seconds taken)."""

    spec: EnvSpec
    steps: list[tuple[str, StepResult | BaseException, float]] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def results(self) -> list[StepResult]:
        return [r for _, r, _ in self.steps if isinstance(r, StepResult)]

    def ended_badly(self) -> bool:
        """The attack env got an error, an exception, or a quarantine."""
        return (self.spec.source_hash in self.quarantined
                or any(isinstance(r, BaseException) or r.error or r.fatal for _, r, _ in self.steps))


async def _attack(runtime: SandboxRuntime, env: str, calls: list[ToolCall], run: AttackRun, sessions: int) -> None:
    """Open ``sessions`` sessions of the attack env (GRPO's samples of one prompt), then run the calls
    on each of them at once."""
    async def open_one() -> Any:
        start = time.monotonic()
        try:
            session = await runtime.open(env)
        except CodeGymError as exc:
            run.steps.append(("open", exc, time.monotonic() - start))
            return None
        run.steps.append(("open", StepResult(session.info.reset_observation), time.monotonic() - start))
        return session

    async def play(session: Any) -> None:
        for call in calls:
            if call.name == SLEEP:
                await asyncio.sleep(call.arguments["s"])
                continue
            start = time.monotonic()
            result = await session.step(call)
            run.steps.append((call.name, result, time.monotonic() - start))
        await session.close()

    opened = [s for s in [await open_one() for _ in range(sessions)] if s is not None]
    await asyncio.gather(*(play(s) for s in opened))


def run_attack(name: str, calls: list[ToolCall], options: dict[str, Any] | None = None, sessions: int = 1,
               **limits: Any) -> AttackRun:
    """Run the attack env ``name`` (its calls, in order, in each of ``sessions`` sessions of it) on a
    sandbox runtime beside HONEST honest
    episodes: half are opened before the attack, half after it opened. Asserts the acceptance
    criteria that hold for every attack: every honest result equals its clean run, every attacking
    call returns within deadline + 2 s, no honest source is blamed or quarantined, and nothing
    (process, folder) is left behind."""
    limits.setdefault("step_timeout", DEADLINE)
    episodes = honest_episodes()
    early, late = episodes[: HONEST // 2], episodes[HONEST // 2 :]
    spec = catalog().resolve(name)[0]
    run = AttackRun(spec)

    async def main() -> tuple[list[list[tuple]], set[int]]:
        runtime = SandboxRuntime(catalog(), **limits)
        async with runtime:
            firsts = await asyncio.gather(*(runtime.open((e.spec, e.options)) for e in early))
            halves = [len(e.calls) // 2 for e in early]
            done_early = await asyncio.gather(*(drive(s, e.calls[:h]) for s, e, h in zip(firsts, early, halves,
                                                                                          strict=True)))
            attack = asyncio.get_running_loop().create_task(
                _attack(runtime, f"{name}@{json.dumps(options or {})}", calls, run, sessions))
            await asyncio.sleep(0.1)  # the attack env is open (its module ran) and its calls are in flight

            async def late_episode(e: Honest) -> list[tuple]:
                async with await runtime.open((e.spec, e.options)) as session:
                    return await drive(session, e.calls)

            rest = await asyncio.gather(
                *(drive(s, e.calls[h:]) for s, e, h in zip(firsts, early, halves, strict=True)),
                *(late_episode(e) for e in late))
            await attack
            await asyncio.gather(*(s.close() for s in firsts))
            run.quarantined, run.counters = runtime.quarantined(), runtime.counters()
            run.failures = dict(runtime._failures)
            results = [a + b for a, b in zip(done_early, rest[: len(early)], strict=True)] + list(rest[len(early):])
        return results, all_worker_pids(runtime)

    results, pids = asyncio.run(main())
    for i, (episode, got) in enumerate(zip(episodes, results, strict=True)):
        assert got == episode.expected, f"honest episode {i} ({episode.spec.name}, wrong={episode.wrong}) " \
                                        f"differs from its clean run"
    deadline = limits["step_timeout"]
    for what, _result, elapsed in run.steps:
        assert elapsed <= deadline + 2.0, f"{what} of {name} took {elapsed:.2f} s"
    assert set(run.quarantined) <= {spec.source_hash}, "an honest env was quarantined"
    assert set(run.failures) <= {spec.source_hash}, "a failure was counted against an honest env"
    assert wait_gone(pids) == [], "a process survived the runtime"
    assert own_sandbox_dirs() == [], "a folder survived the runtime"
    return run


def step(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(name, arguments)


def pause(seconds: float) -> ToolCall:
    return ToolCall(SLEEP, {"s": seconds})


def outside_paths(tmp_path: Path) -> list[Path]:
    return [tmp_path / "pwned.txt", Path("/work/codegym-pwned.txt"), Path(f"/tmp/codegym-pwned-{id(tmp_path)}.txt")]
