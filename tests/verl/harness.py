"""Drive veRL's real ``AgentLoopWorker`` in this process, on CodeGym rows, with a replaying server.

Rows are written to parquet in the published CodeGym schema and read back by veRL's own
``RLHFDataset`` and ``collate_fn``, so the agent loop receives exactly what a trainer would hand it.
Only the LLM is replaced (by :class:`verl_plugin.replay.ReplayServer`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from codegym_adapters.catalog import Catalog
from codegym_adapters.episode import EpisodeConfig
from codegym_adapters.policies import get_policy
from codegym_adapters.prompts import build_prompt
from codegym_adapters.rollout import run_episode
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task
from verl_plugin.inprocess import compose_config as _compose_config
from verl_plugin.inprocess import load_batch, new_worker, segments, verl_config_dir

__all__ = ["segments"]  # re-exported for the tests

VERL_CONFIG_DIR = verl_config_dir()
HOUSES = "Bundled_A01__HouseRobberEnv"
# The tests' defaults: a small budget (fast), trusted bundled envs in process.
TEST_OVERRIDES = ("data.max_prompt_length=2048", "data.max_response_length=1024", "env.runtime=inprocess")


def compose_config(model_dir: Path, *overrides: str, config_dir: str = VERL_CONFIG_DIR,
                   config_name: str = "ppo_trainer", env_group: str = "+env=codegym") -> DictConfig:
    """veRL's trainer config plus the CodeGym group, pointed at the tiny model, runnable on CPU."""
    return _compose_config(model_dir, *TEST_OVERRIDES, *overrides, config_dir=config_dir,
                           config_name=config_name, env_group=env_group)


@dataclass
class Case:
    """One row and the scripted model turns to replay for it."""

    tag: str
    env: str
    policy: str | None = None  # a core scripted policy, or None with ``turns`` given
    turns: list[str] = field(default_factory=list)
    turn_limit: int = 256
    prompt_style: str = "codegym"
    call_format: str = "codegym"


async def prepare(cases: Sequence[Case], env_paths: Sequence[Path] = ()) -> list[dict]:
    """Fill in each case's turns (from its policy) and build its dataset row."""
    runtime = make_runtime("inprocess", Catalog.from_paths(env_paths, installed=True))
    rows = []
    try:
        for i, case in enumerate(cases):
            task = Task.from_env_string(case.env, turn_limit=case.turn_limit)
            session = await runtime.open(task.env)
            if case.policy:
                case.turns = await get_policy(case.policy).script(runtime, task, session.info, case.call_format)
            prompt = build_prompt("codegym", session.info, case.call_format)
            await session.close()
            messages = prompt.messages
            messages[-1] = {**messages[-1], "content": f"[{case.tag}] {messages[-1]['content']}"}
            rows.append({
                "data_source": "codegym_v1",
                "prompt": messages,
                "ability": f"codegym_v1@{case.env}",
                "reward_model": {"style": "agent_env", "ground_truth": None},
                "answer": "",
                "plugin_call_max_round": case.turn_limit,
                "extra_info": {"index": i, "solve_fc_round": 0},
                "agent_name": "codegym_agent",
            })
    finally:
        await runtime.close()
    return rows


async def reference(case: Case, episode: EpisodeConfig, env_paths: Sequence[Path] = ()) -> dict[str, Any]:
    """The core's own run of the case's turns (summary and observations), to compare with."""
    runtime = make_runtime("inprocess", Catalog.from_paths(env_paths, installed=True))
    try:
        task = Task.from_env_string(case.env, turn_limit=case.turn_limit)
        return await run_episode(runtime, task, _Fixed(case.turns), episode, keep_trajectory=True)
    finally:
        await runtime.close()


class _Fixed:
    name = "fixed"

    def __init__(self, turns: list[str]) -> None:
        self.turns = turns

    async def script(self, *args: Any) -> list[str]:
        return list(self.turns)


def write_rows(rows: list[dict], path: Path) -> Path:
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["prompt"] = frame["prompt"].map(lambda m: [dict(x) for x in m])
    frame.to_parquet(path)
    return path


def run_worker(config: DictConfig, parquet: Path, scripts: dict[str, list[str]], **server_kw: Any):
    """Run a parquet file's rows through a real AgentLoopWorker; returns (output, worker, server)."""
    from verl_plugin.replay import ReplayServer
    from verl_plugin.runtimes import close_shared_runtimes

    async def go():
        worker = new_worker(config)
        server = ReplayServer(worker.tokenizer, scripts, **server_kw)
        worker.llm_client = server
        batch = load_batch(config, parquet, worker.tokenizer)
        try:
            return await worker.generate_sequences(batch), worker, server
        finally:
            await close_shared_runtimes()

    return asyncio.run(go())


def call_text(name: str, **arguments: Any) -> str:
    return "<|FunctionCallBegin|>" + json.dumps([{"name": name, "parameters": arguments}]) + "<|FunctionCallEnd|>"
