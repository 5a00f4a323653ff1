"""Per-turn CPU overhead of the CodeGym agent loop against veRL's stock ``tool_agent`` loop.

Both loops run inside veRL's real ``AgentLoopWorker`` on the same trajectories, replayed by the same
fake server (:class:`verl_plugin.replay.ReplayServer`, pre-tokenized turns), with the same tiny
Qwen2-style tokenizer, the same prompt (native tool schemas through the chat template), the same
observations (tool messages) and the same in-process env runtime:

* ours:  ``codegym_agent`` (prompt_style=native, the episode contract from the core);
* stock: ``tool_agent`` with ``multi_turn.format=codegym`` (our tool parser) and one ``BaseTool`` per
  env action, stepping a session held per trajectory (the stock loop cannot hold one itself).

The batch is ``--trajectories`` samples of one task (a GRPO group), each replaying the env's oracle.
The stock loop needs one extra model turn per trajectory (it cannot end at ``Done``), so costs are
compared per model turn. CPU time is the process's (all threads: tokenization, env steps).

Run: ``.venv-verl/bin/python benchmarks/bench_verl_loop.py [--trajectories 64] [--repeat 5]``.
Prints both loops' CPU and wall time per model turn (median of the repeats) and the ratio
ours / stock; the target is a ratio <= 1.0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import hydra  # noqa: E402
from hydra import compose, initialize_config_module  # noqa: E402
from verl.experimental.agent_loop import AgentLoopWorker  # noqa: E402
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, ToolListWrap, _agent_loop_registry  # noqa: E402
from verl.protocol import DataProto  # noqa: E402
from verl.tools.base_tool import BaseTool  # noqa: E402
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse  # noqa: E402
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn  # noqa: E402

from codegym_adapters.calls import ToolCall  # noqa: E402
from codegym_adapters.policies import get_policy  # noqa: E402
from codegym_adapters.prompts import build_prompt  # noqa: E402
from codegym_adapters.runtime import make_runtime  # noqa: E402
from codegym_adapters.runtime.base import Runtime, Session  # noqa: E402
from codegym_adapters.tasks import Task  # noqa: E402
from verl_plugin.replay import ReplayServer  # noqa: E402
from verl_plugin.runtimes import close_shared_runtimes  # noqa: E402
from verl_plugin.tiny_model import write_tiny_model  # noqa: E402

ENV = "Bundled_A01__HouseRobberEnv@" + json.dumps({"houses": [3, 90, 4, 5, 88, 2, 1, 70, 60, 3, 2, 45, 46, 7, 0, 12, 30, 31, 5]})


class EnvActionTool(BaseTool):
    """One env action as a stock veRL tool; the trajectory's session is kept in ``sessions``."""

    def __init__(self, schema: dict[str, Any], runtime: Runtime, sessions: dict[str, Session]) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # BaseTool prints its schema
            super().__init__({}, OpenAIFunctionToolSchema.model_validate(schema))
        self.runtime = runtime
        self.sessions = sessions

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs: Any):
        agent_data = kwargs["agent_data"]
        session = self.sessions.get(agent_data.request_id)
        if session is None:
            session = self.sessions[agent_data.request_id] = await self.runtime.open(ENV)
        result = await session.step(ToolCall(self.name, parameters))
        return ToolResponse(text=result.observation), 0.0, {}


def make_config(model_dir: Path, agent: str, response_length: int):
    overrides = [
        f"actor_rollout_ref.model.path={model_dir}",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.agent.default_agent_loop={agent}",
        "actor_rollout_ref.rollout.multi_turn.format=codegym",
        "actor_rollout_ref.rollout.calculate_log_probs=false",
        "data.max_prompt_length=4096",
        f"data.max_response_length={response_length}",
        "env.runtime=inprocess",
        "env.episode.prompt_style=native",
    ]
    with initialize_config_module("verl_plugin.config", version_base=None):
        return compose("codegym_trainer", overrides=overrides)


async def prepare() -> tuple[list[dict], list[str], list[dict]]:
    """The native prompt, its tool schemas, and the oracle's turns."""
    runtime = make_runtime("inprocess")
    try:
        task = Task.from_env_string(ENV)
        session = await runtime.open(ENV)
        prompt = build_prompt("native", session.info, "codegym")
        turns = await get_policy("oracle").script(runtime, task, session.info, "codegym")
        return prompt.messages, turns, prompt.tools or []
    finally:
        await runtime.close()


def write_rows(path: Path, messages: list[dict], count: int) -> Path:
    import pandas as pd

    row = {"data_source": "codegym_v1", "prompt": messages, "ability": f"codegym_v1@{ENV}",
           "reward_model": {"style": "agent_env", "ground_truth": None}, "plugin_call_max_round": 256}
    rows = [{**row, "extra_info": {"index": i}} for i in range(count)]
    pd.DataFrame(rows).to_parquet(path)
    return path


async def run_once(config, parquet: Path, turns: list[str], tools: list[dict], stock: bool,
                   sequential: bool = False) -> dict[str, float]:
    """One batch through a fresh worker. ``sequential``: run the agent loops one at a time and time
    only their ``run()`` (no batching, padding or other worker work); else the whole batch at once."""
    worker = AgentLoopWorker(config, llm_client=None)
    server = ReplayServer(worker.tokenizer, {"": turns})
    worker.llm_client = server
    runtime = make_runtime("inprocess")
    sessions: dict[str, Session] = {}
    if stock:
        worker.tools = [EnvActionTool(schema, runtime, sessions) for schema in tools]
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = RLHFDataset(data_files=[str(parquet)], tokenizer=worker.tokenizer, config=config.data)
    batch = DataProto.from_single_dict(collate_fn([dataset[i] for i in range(len(dataset))]))
    if sequential:
        cpu, wall, tokens = await _run_loops_one_by_one(worker, config, batch)
    else:
        cpu, wall = time.process_time(), time.perf_counter()
        out = await worker.generate_sequences(batch)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        tokens = int(out.batch["attention_mask"][:, out.batch["prompts"].shape[1]:].sum())
    for session in sessions.values():
        await session.close()
    await runtime.close()
    await close_shared_runtimes()
    model_turns = len(server.calls)
    return {"cpu_s": cpu, "wall_s": wall, "model_turns": model_turns, "response_tokens": tokens}


async def _run_loops_one_by_one(worker: AgentLoopWorker, config, batch: DataProto) -> tuple[float, float, int]:
    """Build each trajectory's agent loop as the worker does, and time its ``run()`` alone."""
    name = config.actor_rollout_ref.rollout.agent.default_agent_loop
    sampling = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": False}
    cpu = wall = 0.0
    tokens = 0
    for i in range(len(batch)):
        kwargs = {k: v[i] for k, v in batch.non_tensor_batch.items() if k != "agent_name"}
        loop = hydra.utils.instantiate(
            _agent_loop_registry[name], trainer_config=DictConfigWrap(config), server_manager=worker.llm_client,
            tokenizer=worker.tokenizer, processor=None, hf_model_type=worker.hf_model_type,
            dataset_cls=worker.dataset_cls, data_config=DictConfigWrap(config.data), tools=ToolListWrap(worker.tools),
        )
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        output = await loop.run(sampling, **kwargs)
        cpu += time.process_time() - start_cpu
        wall += time.perf_counter() - start_wall
        tokens += len(output.response_ids)
    return cpu, wall, tokens


MODES = {"loop": True, "worker": False}  # mode -> sequential (see run_once)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trajectories", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = write_tiny_model(Path(tmp) / "model")
        messages, turns, tools = asyncio.run(prepare())
        parquet = write_rows(Path(tmp) / "rows.parquet", messages, args.trajectories)
        configs = {name: make_config(model_dir, agent, 8192)
                   for name, agent in (("ours", "codegym_agent"), ("stock", "tool_agent"))}
        for mode, sequential in MODES.items():
            for i in range(args.repeat + 1):  # the first round warms caches and is dropped
                for name in ("ours", "stock") if i % 2 else ("stock", "ours"):
                    result = asyncio.run(run_once(configs[name], parquet, turns, tools, name == "stock", sequential))
                    if i:
                        runs.setdefault((mode, name), []).append(result)

    summary: dict[str, Any] = {"env": ENV, "trajectories": args.trajectories, "oracle_turns": len(turns),
                               "repeat": args.repeat}
    for (mode, name), results in runs.items():
        summary.setdefault(mode, {})[name] = {
            "model_turns": results[0]["model_turns"],
            "response_tokens": results[0]["response_tokens"],
            "cpu_us_per_turn": statistics.median(r["cpu_s"] / r["model_turns"] for r in results) * 1e6,
            "wall_us_per_turn": statistics.median(r["wall_s"] / r["model_turns"] for r in results) * 1e6,
        }
    for mode in MODES:
        both = summary[mode]
        both["cpu_ratio"] = both["ours"]["cpu_us_per_turn"] / both["stock"]["cpu_us_per_turn"]
        both["wall_ratio"] = both["ours"]["wall_us_per_turn"] / both["stock"]["wall_us_per_turn"]
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{args.trajectories} trajectories of {ENV.split('@')[0]} ({len(turns)} oracle turns), "
          f"median of {args.repeat} runs; loop = agent-loop run() alone, worker = whole batch")
    print(f"{'mode':<8}{'loop':<7}{'model turns':>12}{'resp tokens':>12}{'CPU us/turn':>13}{'wall us/turn':>14}")
    for mode in MODES:
        for name in ("ours", "stock"):
            s = summary[mode][name]
            print(f"{mode:<8}{name:<7}{s['model_turns']:>12}{s['response_tokens']:>12}"
                  f"{s['cpu_us_per_turn']:>13.0f}{s['wall_us_per_turn']:>14.0f}")
        both = summary[mode]
        print(f"{mode:<8}ratio ours/stock: CPU {both['cpu_ratio']:.2f}, wall {both['wall_ratio']:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
