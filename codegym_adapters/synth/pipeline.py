"""Running the stages over every problem, ``concurrency`` problems at a time, each problem through
env -> unit tests -> oracle -> rounds and verify -> (score) -> output. One problem's failure (a model
that stays unreachable, a bug) never stops the others; it is reported and not stored, so a rerun tries
it again."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model_client import ModelRequestError
from . import score, stage_env, stage_oracle, stage_tests, stage_verify
from .context import STAGES, Context
from .problems import Problem


@dataclass
class Outcome:
    """Where one problem's journey ended: the gate that stopped it (``None`` when it became an env),
    why, and the record written, if any."""

    id: str
    gate: str | None = None
    reason: str | None = None
    detail: str = ""
    env_name: str | None = None
    record_path: str | None = None
    solve_fc_round: list[int] = field(default_factory=list)
    pass_rate: float | None = None

    @property
    def passed(self) -> bool:
        return self.gate is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": "passed" if self.passed else "rejected", "gate": self.gate,
                "reason": self.reason, "detail": self.detail, "env": self.env_name, "record": self.record_path,
                "solve_fc_round": self.solve_fc_round, "pass_rate": self.pass_rate}


class _Bars:
    """One tqdm bar per stage; a bar's total grows as problems reach its stage."""

    def __init__(self, stages: Sequence[str], total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bars = {s: tqdm(total=total if i == 0 else 0, desc=f"{s:<10}", unit="problem", position=i,
                             file=sys.stderr, disable=not enabled, leave=True) for i, s in enumerate(stages)}

    def enter(self, stage: str) -> None:
        bar = self.bars.get(stage)
        if bar is not None and stage != next(iter(self.bars)):
            bar.total += 1
            bar.refresh()

    def leave(self, stage: str) -> None:
        if stage in self.bars:
            self.bars[stage].update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


async def _one(ctx: Context, out: Path, problem: Problem, idx: int, bars: _Bars) -> Outcome:
    outcome = Outcome(problem.id)

    async def stage(name: str, coro: Any) -> dict[str, Any] | None:
        bars.enter(name)
        try:
            result = await coro
        finally:
            bars.leave(name)
        if "pass_rate" in result:
            outcome.pass_rate = result["pass_rate"]
        if result["status"] != "ok":
            outcome.gate = result.get("gate") or name
            outcome.reason, outcome.detail = result["reason"], result.get("detail", "")
            return None
        return result

    try:
        env = await stage("env", stage_env.run(ctx, problem))
        if env is None:
            return outcome
        outcome.env_name = env["env_name"]
        tests = await stage("unit_tests", stage_tests.run(ctx, problem, env))
        if tests is None:
            return outcome
        oracle = await stage("oracle", stage_oracle.run(ctx, problem, env, tests["tests"]))
        if oracle is None:
            return outcome
        verified = await stage("verify", stage_verify.run(ctx, problem, env, tests["tests"], oracle))
        if verified is None:
            return outcome
        record = verified["record"]
        outcome.solve_fc_round = [t["solve_fc_round"] for t in record["unit_test_list"]]
        if ctx.score_client is not None:
            scored = await stage("score", score.run(ctx, problem, record))
            if scored is None:
                return outcome
            record = {**record, "model_pass_rate": scored["pass_rate"], "scored_by": scored["scored_by"]}
        outcome.record_path = str(stage_verify.write_output(out, record, idx))
    except ModelRequestError as exc:
        outcome.gate, outcome.reason, outcome.detail = "model", "model_error", str(exc)
    except Exception as exc:  # a bug must cost one problem, not the run
        outcome.gate, outcome.reason, outcome.detail = "internal", "internal_error", f"{type(exc).__name__}: {exc}"
    return outcome


async def run_pipeline(ctx: Context, out: Path, problems: Sequence[Problem], *, progress: bool) -> list[Outcome]:
    """Every problem through the stages; outcomes in the order of ``problems``."""
    stages = [s for s in STAGES if s != "score" or ctx.score_client is not None]
    bars = _Bars(stages, len(problems), progress)
    gate = asyncio.Semaphore(ctx.options.concurrency)

    async def limited(i: int, problem: Problem) -> Outcome:
        async with gate:
            return await _one(ctx, out, problem, i, bars)

    try:
        return list(await asyncio.gather(*(limited(i, p) for i, p in enumerate(problems))))
    finally:
        bars.close()
