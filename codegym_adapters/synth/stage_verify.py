"""The rest of stage (d) and stage (e): the ``solve_fc_round`` range, the full ``codegym verify`` gate
(:func:`..verify.verify_env` on the env with the winning oracle and its unit tests), and the output:
``envs/<code_id>__<ClassName>.py`` and ``records/<code_id>__<ClassName>.json`` in the upstream record
layout (``code_id``, ``idx``, ``env_name``, ``gym_env``, ``gym_task``, ``docstring``, ``unit_test_list``
of ``{unit_test, ref_answer, time, mem, solve_fc_round}``; ``time`` in seconds, ``mem`` in MiB)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..configs import ConfigIndex
from ..verify import VerifyOptions, verify_env
from .context import Context, rejected, spec_of
from .problems import Problem
from .splice import action_docs

STAGE = "verify"


async def run(ctx: Context, problem: Problem, env: dict[str, Any], tests: list[dict[str, Any]],
              oracle: dict[str, Any]) -> dict[str, Any]:
    store = ctx.stores[STAGE]
    done = store.result(problem.id)
    if done is not None:
        return done
    o = ctx.options
    rounds = oracle["rounds"]
    kept = [t for t in tests if t["ok"] and o.min_rounds <= rounds.get(t["unit_test"], -1) <= o.max_rounds]
    unit_tests = [{"unit_test": t["unit_test"], "ref_answer": t["ref_answer"], "time": t["time"], "mem": t["mem"],
                   "solve_fc_round": rounds[t["unit_test"]], "level": t["level"]} for t in kept]
    if not kept:
        seen = sorted(rounds.values())
        return store.add_result(problem.id, rejected(
            "rounds_out_of_range", f"solve_fc_round {seen[0]}..{seen[-1]} on {len(seen)} unit tests; none within "
                                   f"{o.min_rounds}..{o.max_rounds}", gate="rounds"))
    record = {"code_id": env["code_id"], "env_name": env["class_name"], "gym_env": oracle["source"],
              "gym_task": env["task"], "docstring": action_docs(oracle["source"], env["class_name"], env["actions"]),
              "unit_test_list": unit_tests}
    if o.verify:
        spec = spec_of(env["code_id"], env["class_name"], oracle["source"], env["task"])
        index = ConfigIndex()
        index.add_item(record, origin="synthesize")
        report = await verify_env(ctx.runtime, spec, index, VerifyOptions(generated=0, env_timeout=o.env_timeout_s))
        if not report.passed:
            return store.add_result(problem.id, rejected(str(report.reason), report.detail, gate="verify"))
    return store.add_result(problem.id, {"status": "ok", "reason": None, "detail": "", "record": record})


def write_output(out: Path, record: dict[str, Any], idx: int) -> Path:
    """Write the env file and its record (atomically, so a killed run leaves no half file); returns the
    record's path."""
    name = f"{record['code_id']}__{record['env_name']}"
    record = {"code_id": record["code_id"], "idx": idx, **{k: v for k, v in record.items() if k != "code_id"}}
    for folder, file_name, text in (("envs", f"{name}.py", record["gym_env"]),
                                    ("records", f"{name}.json", json.dumps(record, indent=2, ensure_ascii=False))):
        path = out / folder / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return out / "records" / f"{name}.json"
