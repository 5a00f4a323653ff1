"""Running whole episodes with scripted policies, and the metrics the paper reports.

This is what ``codegym eval`` and the dry run use; trainer plugins drive :class:`Episode` themselves.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .episode import DONE_REASONS, Episode, EpisodeConfig
from .policies import ScriptedPolicy
from .runtime.base import Runtime
from .tasks import Task


async def run_episode(
    runtime: Runtime,
    task: Task,
    policy: ScriptedPolicy,
    config: EpisodeConfig | None = None,
    *,
    keep_trajectory: bool = False,
) -> dict[str, Any]:
    """Run one episode of ``task`` with ``policy``; returns its summary (and turns, if asked).

    Never raises for env or policy failures: they are reported in the summary.
    """
    config = config or EpisodeConfig()
    episode = Episode(runtime, task, config)
    turns: list[dict[str, Any]] = []
    policy_error = ""
    prompt = None
    try:
        prompt = await episode.start()
        if not episode.done:
            assert episode.info is not None
            try:
                texts = await policy.script(runtime, task, episode.info, config.call_format)
            except Exception as exc:  # a policy that cannot plan says nothing
                policy_error = f"{type(exc).__name__}: {exc}"
                texts = []
            for i in range(episode.turn_limit):
                text = texts[i] if i < len(texts) else ""
                turn = await episode.step(text)
                if keep_trajectory:
                    turns.append({
                        "text": text,
                        "kind": turn.kind,
                        "call": turn.call.to_dict() if turn.call else None,
                        "observation": turn.observation,
                    })
                if turn.done:
                    break
            if not episode.done:  # only when end_on_no_call is off and the limit loop ran out
                await episode.end("turn_limit")
    finally:
        await episode.close()
    record = {"task": task.env, "policy": policy.name, **episode.summary()}
    if policy_error:
        record["policy_error"] = policy_error
    if keep_trajectory:
        record["prompt"] = prompt.messages if prompt else []
        record["trajectory"] = turns
    return record


async def run_episodes(
    runtime: Runtime,
    tasks: Sequence[Task],
    policy: ScriptedPolicy,
    config: EpisodeConfig | None = None,
    *,
    concurrency: int = 32,
    keep_trajectory: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every task, ``concurrency`` at a time; results keep the order of ``tasks``."""
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(task: Task) -> dict[str, Any]:
        async with semaphore:
            record = await run_episode(runtime, task, policy, config, keep_trajectory=keep_trajectory)
        if on_done:
            on_done(record)
        return record

    return list(await asyncio.gather(*(one(t) for t in tasks)))


def aggregate(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy (share of episodes whose env reward is 1), average reward, turns, invalid-call rate,
    env errors, turns whose only call was inside the reasoning, and done reasons, over ``records``."""
    n = len(records)
    turns = sum(r["turns"] for r in records)
    reasons = Counter(r["done_reason"] for r in records)
    return {
        "episodes": n,
        "accuracy": sum(1 for r in records if r["env_reward"] >= 1.0) / n if n else 0.0,
        "avg_reward": sum(r["reward"] for r in records) / n if n else 0.0,
        "avg_turns": turns / n if n else 0.0,
        "invalid_call_rate": sum(r["invalid_calls"] for r in records) / turns if turns else 0.0,
        "env_errors": sum(r["env_errors"] for r in records),
        "calls_in_reasoning": sum(int(r.get("calls_in_reasoning") or 0) for r in records),
        "done_reasons": {k: reasons.get(k, 0) for k in DONE_REASONS},
    }
