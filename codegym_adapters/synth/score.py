"""Optional difficulty scoring (``--score-with URL``): a served model plays each new env's unit tests
(``--score-samples`` episodes each) with the project's model episode runner, as ``codegym eval --model``
does; its pass rate is recorded, and envs it solves more often than ``max_pass_rate`` are dropped as too
easy (the paper keeps envs a 32B model solves at most 25 % of the time)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..episode import EpisodeConfig
from ..model_client import ModelRequestError, Sampling, run_model_episode
from ..tasks import Task
from .context import Context, rejected, spec_of
from .problems import Problem

STAGE = "score"


async def run(ctx: Context, problem: Problem, record: dict[str, Any]) -> dict[str, Any]:
    store = ctx.stores[STAGE]
    done = store.result(problem.id)
    if done is not None:
        return done
    assert ctx.score_client is not None
    o = ctx.options
    spec = spec_of(record["code_id"], record["env_name"], record["gym_env"], record["gym_task"])
    ctx.runtime.catalog.add(spec)
    tasks = [Task.from_env_string(f"{record['code_id']}__{t['unit_test']}", solve_fc_round=t["solve_fc_round"])
             for t in record["unit_test_list"]]
    config = EpisodeConfig(default_turn_limit=o.score_turn_limit)
    sampling = Sampling(max_tokens=o.max_tokens, temperature=1.0 if o.score_samples > 1 else 0.0)
    gate = asyncio.Semaphore(4)

    async def one(task: Task, sample: int) -> dict[str, Any]:
        async with gate:
            return await run_model_episode(ctx.runtime, task, ctx.score_client, config, sampling, sample=sample)

    episodes = await asyncio.gather(*(one(t, s) for t in tasks for s in range(o.score_samples)))
    ctx.model_calls[STAGE] += sum(e["usage"]["requests"] for e in episodes)
    errors = [e["model_error"] for e in episodes if e.get("model_error")]
    if errors:  # not stored: a rerun scores this env again
        raise ModelRequestError(f"scoring: {len(errors)} of {len(episodes)} episodes failed: {errors[0]}")
    rate = sum(float(e.get("env_reward") or 0.0) > 0 for e in episodes) / len(episodes)
    data = {"pass_rate": round(rate, 4), "episodes": len(episodes), "scored_by": ctx.score_client.model}
    if rate > o.max_pass_rate:
        return store.add_result(problem.id, rejected("too_easy", f"the scoring model solved {rate:.0%} of "
                                                     f"{len(episodes)} episodes (limit {o.max_pass_rate:.0%})",
                                                     **data))
    return store.add_result(problem.id, {"status": "ok", "reason": None, "detail": "", **data})
