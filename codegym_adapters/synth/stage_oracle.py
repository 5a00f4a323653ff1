"""Stage (c) and the first half of (d), oracle: the model writes candidate ``solve(self)`` functions one
at a time (at most ``oracle_candidates``). Each is read with :mod:`ast`, refused if it reaches the env
other than through ``self.step`` (:func:`.splice.non_action_uses`), spliced into the env class in place
of its own ``solve``, and run in the sandbox on every passing unit test. The first candidate that gets
reward 1 on all of them wins; its ``solve_fc_round`` on each unit test is the env's ``step_count`` after
``solve()``, nested ``self.step`` calls included, as upstream counts it."""

from __future__ import annotations

import json
from typing import Any

from ..errors import CodeGymError
from .context import Context, limit_reason, most_common, rejected, spec_of
from .problems import Problem
from .replies import MalformedReply, code_blocks, python_code
from .splice import SpliceError, parse_candidate, remove_method, replace_method

STAGE = "oracle"


async def run(ctx: Context, problem: Problem, env: dict[str, Any], tests: list[dict[str, Any]]) -> dict[str, Any]:
    store = ctx.stores[STAGE]
    done = store.result(problem.id)
    if done is not None:
        return done
    passing = [t for t in tests if t["ok"]]
    class_name = env["class_name"]
    shown = remove_method(env["source"], class_name, "solve")
    attempts: list[dict[str, Any]] = []
    tried: dict[str, dict[str, Any]] = {}  # verdicts by spliced source: a repeated candidate is not rerun
    total = ctx.options.oracle_candidates
    for k in range(1, total + 1):
        call = f"oracle-{k}"
        messages = ctx.prompts.messages(STAGE, class_name=class_name, task=env["task"], env_source=shown,
                                        attempt=k, attempts=total,
                                        example_config=json.dumps(passing[0]["options"]) if passing else "{}")
        text = await ctx.ask(STAGE, problem.id, call, messages)
        attempt = await _try(ctx, env, passing, text, tried)
        if attempt["reason"] == "oracle_malformed":
            attempt["detail"] += ctx.cut_off(STAGE, problem.id, call)
        attempts.append({"candidate": k, "reason": attempt["reason"], "detail": attempt["detail"]})
        if attempt["reason"] is None:
            result = {"status": "ok", "reason": None, "detail": "", "winner": k, "source": attempt["source"],
                      "rounds": attempt["rounds"], "attempts": attempts}
            return store.add_result(problem.id, result)
    detail = "; ".join(f"#{a['candidate']} {a['reason']}: {a['detail'][:160]}" for a in attempts)
    return store.add_result(problem.id, rejected(most_common([a["reason"] for a in attempts], "oracle_failed"),
                                                 f"no candidate solved every unit test: {detail}",
                                                 attempts=attempts))


async def _try(ctx: Context, env: dict[str, Any], tests: list[dict[str, Any]], text: str,
               tried: dict[str, dict[str, Any]]) -> dict[str, Any]:
    try:
        code = python_code(text, "solve()")
    except MalformedReply as exc:
        return {"reason": "oracle_malformed", "detail": str(exc)}
    candidate = parse_candidate(code)
    if candidate.reason == "oracle_syntax_error" and not code_blocks(text):
        return {"reason": "oracle_malformed", "detail": "no ```python block with def solve(self)"}
    if candidate.func is None:
        return {"reason": candidate.reason, "detail": candidate.detail}
    try:
        source = replace_method(env["source"], env["class_name"], candidate.func)
    except (SpliceError, SyntaxError) as exc:
        return {"reason": "oracle_malformed", "detail": str(exc)}
    if source in tried:
        return {**tried[source], "detail": "the same code as an earlier candidate: " + tried[source]["detail"]}
    tried[source] = verdict = await _run(ctx, env, tests, source)
    return verdict


async def _run(ctx: Context, env: dict[str, Any], tests: list[dict[str, Any]], source: str) -> dict[str, Any]:
    spec = spec_of(env["code_id"], env["class_name"], source, env["task"])
    rounds: dict[str, int] = {}
    for test in tests:
        try:
            async with await ctx.runtime.open((spec, test["options"])) as session:
                final = await session.attribute("solve")
                reward = await session.attribute("reward")
                steps = await session.attribute("step_count")
        except CodeGymError as exc:
            return {"reason": limit_reason(str(exc), "oracle", "oracle_raised"),
                    "detail": f"{test['unit_test'][:120]}: {exc}"}
        if reward != 1 and reward != 1.0:
            return {"reason": "oracle_wrong_answer",
                    "detail": f"{test['unit_test'][:120]}: reward {reward} ({str(final)[:200]})"}
        if not isinstance(steps, int) or steps < 1:
            return {"reason": "oracle_not_actions", "detail": f"step_count is {steps!r} after solve()"}
        rounds[test["unit_test"]] = steps
    return {"reason": None, "detail": "", "source": source, "rounds": rounds}
