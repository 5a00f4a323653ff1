"""Rows written by ``codegym build-data --format verl`` train as they are: through veRL's dataset
and AgentLoopWorker into the CodeGym agent loop (its ``agent_name``), oracle episode earning 1."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from harness import compose_config, run_worker

from codegym_adapters.policies import get_policy
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task

REPO = Path(__file__).resolve().parents[2]


def _oracle_turns(row: dict) -> list[str]:
    async def go():
        runtime = make_runtime("inprocess")
        task = Task.from_row(row)
        session = await runtime.open(task.env)
        turns = await get_policy("oracle").script(runtime, task, session.info, "codegym")
        await runtime.close()
        return turns

    return asyncio.run(go())


def test_build_data_rows_run_an_oracle_episode_to_reward_one(model_dir: Path, tmp_path: Path) -> None:
    codegym = Path(sys.executable).parent / "codegym"
    built = subprocess.run(
        [str(codegym), "build-data", "--format", "verl", "--envs", str(REPO / "envs" / "Bundled_A01__HouseRobberEnv.py"),
         "--out", str(tmp_path / "data"), "--per-env", "1", "--runtime", "inprocess"],
        capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    table = pq.read_table(tmp_path / "data" / "train.parquet").slice(0, 1)
    row = table.to_pylist()[0]
    assert row["agent_name"] == "codegym_agent"
    pq.write_table(table, tmp_path / "one.parquet")

    out, _, _ = run_worker(compose_config(model_dir), tmp_path / "one.parquet", {"": _oracle_turns(row)})
    fields = out.non_tensor_batch
    assert fields["codegym_done_reason"][0] == "done" and fields["codegym_reward"][0] == 1.0
    assert fields["codegym_solve_fc_round"][0] == row["extra_info"]["solve_fc_round"] > 0
    assert float(out.batch["rm_scores"][0].sum()) == 1.0
