"""The session contract as one function (no tests here): what a runtime gives for clean episodes,
episodes run by scripted policies, and a closed session. Tests run it on the local runtimes and on
a remote one and require equal answers."""

from __future__ import annotations

import asyncio
from typing import Any

from test_sandbox_support import clean_episodes, drive, outcome

from codegym_adapters.episode import EpisodeConfig
from codegym_adapters.policies import get_policy
from codegym_adapters.rollout import run_episode
from codegym_adapters.runtime.base import Runtime
from codegym_adapters.tasks import Task

SUMMARY = ("reward", "env_reward", "done_reason", "turns", "valid_calls", "invalid_calls", "error_observations",
           "env_errors")


async def contract(runtime: Runtime, count: int = 16) -> dict[str, Any]:
    """Open ``count`` clean episodes at once and drive them; run oracle, wrong and malformed
    policies through the episode contract; step a closed session."""
    episodes = clean_episodes(count)

    async def one(e):
        session = await runtime.open((e.spec, e.options))
        info = (session.info.reset_observation, [a.name for a in session.info.actions], session.info.task)
        results = await drive(session, e.calls)
        ref = await session.attribute("get_ref_answer")
        await session.close()
        after_close = outcome(await session.step(e.calls[0]))
        return info, results, ref, after_close

    sessions = await asyncio.gather(*(one(e) for e in episodes))
    summaries = []
    for e in episodes[:4]:
        task = Task.from_env_string(f"{e.spec.name}@{e.options!r}")
        for policy in ("oracle", "wrong", "malformed"):
            record = await run_episode(runtime, task, get_policy(policy), EpisodeConfig(max_consecutive_invalid=2))
            summaries.append({k: record[k] for k in SUMMARY})
    return {"sessions": sessions, "summaries": summaries}
