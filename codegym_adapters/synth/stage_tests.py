"""Stage (b), unit tests: the model writes configurations at three difficulty levels. Each is kept when,
in the sandbox, the env resets with it and ``get_ref_answer()`` computes within ``ref_time_s`` and
``ref_memory_mb`` (peak traced allocation, measured by :mod:`tracemalloc` in the worker), gives the
same answer twice, is short (``max_answer_chars`` as JSON), and, when the problem has a reference
solution, equals what that solution computes on the same options. The env is kept when at least
``min_unit_tests`` and ``min_pass_fraction`` of the configurations pass."""

from __future__ import annotations

import ast
import asyncio
import json
import math
import textwrap
from typing import Any

from .. import pyast
from ..catalog import EnvSpec
from ..configs import options_json
from ..envstring import parse_env_string
from ..errors import CodeGymError
from .context import Context, limit_reason, most_common, rejected, spec_of
from .problems import Problem
from .replies import MalformedReply, json_value
from .splice import add_method

STAGE = "unit_tests"
LEVELS = ("easy", "medium", "hard")
PROBE = "_codegym_ref_probe"
_PROBE_SOURCE = f'''
def {PROBE}(self):
    import json as _json
    import time as _time
    start = _time.perf_counter()
    answer = self.get_ref_answer()
    elapsed = _time.perf_counter() - start
    peak = None
    try:
        import tracemalloc as _tracemalloc
    except ImportError:
        _tracemalloc = None
    if _tracemalloc is None:
        again = self.get_ref_answer()
    else:
        _tracemalloc.start()
        try:
            again = self.get_ref_answer()
            peak = _tracemalloc.get_traced_memory()[1]
        finally:
            _tracemalloc.stop()
    try:
        same = _json.dumps(answer, sort_keys=True) == _json.dumps(again, sort_keys=True)
    except (TypeError, ValueError):
        same = repr(answer) == repr(again)
    return {{"answer": answer, "time": elapsed, "mem": peak, "same": same}}
'''
_SOLUTION_CLASS = "SolutionCheckEnv"
_SOLUTION_WRAPPER = textwrap.dedent(f'''
    class {_SOLUTION_CLASS}:
        def __init__(self):
            self.func_mapping = {{"Observe": 0}}
            self.options = {{}}

        def reset(self, options=None):
            self.options = dict(options or {{}})
            return ""

        def Observe(self):
            """Nothing to observe.

            Args:
                None
            Returns:
                str: an empty string
            """
            return ""

        def expected(self):
            options = self.options
            return None
''')


async def run(ctx: Context, problem: Problem, env: dict[str, Any]) -> dict[str, Any]:
    store = ctx.stores[STAGE]
    done = store.result(problem.id)
    if done is not None:
        return done
    n = ctx.options.unit_tests
    messages = ctx.prompts.messages(STAGE, class_name=env["class_name"], task=env["task"], env_source=env["source"],
                                    count=n, per_level=max(1, math.ceil(n / len(LEVELS))))
    text = await ctx.ask(STAGE, problem.id, STAGE, messages)
    try:
        items = _items(json_value(text, "unit tests"))
    except MalformedReply as exc:
        return store.add_result(problem.id, rejected("malformed_reply",
                                                     str(exc) + ctx.cut_off(STAGE, problem.id, STAGE)))
    tests = _configs(items, env["class_name"])[:n]
    probe = spec_of(env["code_id"], env["class_name"], add_method(env["source"], env["class_name"], _PROBE_SOURCE))
    solution = _solution_spec(problem, env) if ctx.options.check_solution else None
    gate = asyncio.Semaphore(4)

    async def one(test: dict[str, Any]) -> None:
        if test.get("reason"):
            return
        async with gate:
            await _measure(ctx, probe, solution, test)

    await asyncio.gather(*(one(t) for t in tests))
    passed = [t for t in tests if t["ok"]]
    o = ctx.options
    summary = {"written": len(tests), "passed": len(passed)}
    if len(passed) < o.min_unit_tests or len(passed) < o.min_pass_fraction * max(1, len(tests)):
        failures = [t["reason"] for t in tests if not t["ok"]]
        counts = ", ".join(f"{r} x{failures.count(r)}" for r in sorted(set(failures)))
        detail = (f"{len(passed)} of {len(tests)} unit tests pass (need {o.min_unit_tests} and "
                  f"{o.min_pass_fraction:.0%}){'; failed: ' + counts if counts else ''}")
        if failures and all(r.startswith("solution_") for r in failures):
            detail += " (the problem's own solution did not run on these options; --no-solution-check skips it)"
        example = next((t for t in tests if not t["ok"]), None)
        if example:
            detail += f"; e.g. {example['unit_test'][:120]}: {example['detail'][:300]}"
        result = rejected(most_common(failures, "too_few_unit_tests"), detail, tests=tests, **summary)
    else:
        result = {"status": "ok", "reason": None, "detail": "", "tests": tests, **summary}
    return store.add_result(problem.id, result)


def _items(value: Any) -> list[Any]:
    if isinstance(value, dict):
        value = value.get("unit_tests", value.get("tests", value.get("configurations")))
    if not isinstance(value, list) or not value:
        raise MalformedReply("unit tests: expected a non-empty JSON list")
    return value


def _configs(items: list[Any], class_name: str) -> list[dict[str, Any]]:
    """Each item as a test entry (deduplicated by options); unusable items become failed entries."""
    tests, seen = [], set()
    for i, item in enumerate(items):
        level = item.get("level") if isinstance(item, dict) else None
        options: Any = item.get("options") if isinstance(item, dict) else None
        raw = item.get("unit_test") or item.get("env_str") if isinstance(item, dict) else item
        if options is None and isinstance(raw, str):
            try:
                options = parse_env_string(raw).options
            except CodeGymError as exc:
                tests.append(_entry(f"#{i}", level, None, "malformed_test", str(exc)))
                continue
        if not isinstance(options, dict):
            tests.append(_entry(f"#{i}", level, None, "malformed_test", f"item {i} has no options dict"))
            continue
        try:
            key = options_json(options)
        except (TypeError, ValueError) as exc:
            tests.append(_entry(f"#{i}", level, None, "malformed_test", f"options are not JSON: {exc}"))
            continue
        if key not in seen:
            seen.add(key)
            tests.append(_entry(f"{class_name}@{key}", level if level in LEVELS else None, options))
    return tests


def _entry(unit_test: str, level: Any, options: Any, reason: str | None = None, detail: str = "") -> dict[str, Any]:
    return {"unit_test": unit_test, "level": level, "options": options, "ok": False, "reason": reason,
            "detail": detail, "ref_answer": None, "time": None, "mem": None}


def _solution_spec(problem: Problem, env: dict[str, Any]) -> EnvSpec | None:
    """The problem's own solution wrapped in a minimal env whose ``expected()`` evaluates the solution
    call the model wrote (spliced in as an expression node), or None when there is nothing to check."""
    if not problem.solution.strip() or not env.get("solution_call"):
        return None
    wrapper = pyast.parse(_SOLUTION_WRAPPER)
    expected = next(n for n in ast.walk(wrapper) if isinstance(n, ast.FunctionDef) and n.name == "expected")
    ret = expected.body[-1]
    assert isinstance(ret, ast.Return)
    ret.value = pyast.parse(env["solution_call"], mode="eval").body
    source = problem.solution.rstrip() + "\n\n\n" + ast.unparse(ast.fix_missing_locations(wrapper)) + "\n"
    return spec_of(f"{env['code_id']}_solution", _SOLUTION_CLASS, source)


async def _measure(ctx: Context, probe: EnvSpec, solution: EnvSpec | None, test: dict[str, Any]) -> None:
    o = ctx.options
    options = test["options"]
    try:
        session = await ctx.runtime.open((probe, options))
    except CodeGymError as exc:  # the probe itself, if earlier probes got this env quarantined
        prefix = "ref_answer" if PROBE in str(exc) else "reset"
        test.update(reason=limit_reason(str(exc), prefix, "reset_failed"), detail=str(exc))
        return
    try:
        value = await session.attribute(PROBE)
    except CodeGymError as exc:
        test.update(reason=limit_reason(str(exc), "ref_answer", "ref_answer_failed"), detail=str(exc))
        return
    finally:
        await session.close()
    answer, seconds, peak = value.get("answer"), float(value.get("time") or 0.0), value.get("mem")
    mib = None if peak is None else peak / 2**20
    test.update(ref_answer=answer, time=round(seconds, 6), mem=None if mib is None else round(mib, 3))
    shown = json.dumps(answer, sort_keys=True)
    if seconds > o.ref_time_s:
        test.update(reason="ref_answer_timeout", detail=f"get_ref_answer() took {seconds:.2f} s (limit {o.ref_time_s:g})")
    elif mib is not None and mib > o.ref_memory_mb:
        test.update(reason="ref_answer_memory", detail=f"get_ref_answer() allocated {mib:.1f} MiB "
                                                        f"(limit {o.ref_memory_mb:g})")
    elif not value.get("same"):
        test.update(reason="ref_answer_nondeterministic", detail="get_ref_answer() gave two different answers")
    elif len(shown) > o.max_answer_chars:
        test.update(reason="ref_answer_too_long", detail=f"the answer is {len(shown)} characters as JSON "
                                                          f"(limit {o.max_answer_chars})")
    elif solution is not None:
        await _check_solution(ctx, solution, test, answer)
    else:
        test["ok"] = True


async def _check_solution(ctx: Context, solution: EnvSpec, test: dict[str, Any], answer: Any) -> None:
    try:
        async with await ctx.runtime.open((solution, test["options"])) as session:
            expected = await session.attribute("expected")
    except CodeGymError as exc:
        test.update(reason=limit_reason(str(exc), "solution", "solution_failed"),
                    detail=f"the reference solution failed on these options: {exc}")
        return
    if _same(answer, expected):
        test["ok"] = True
    else:
        test.update(reason="ref_answer_mismatch", detail=f"get_ref_answer() gives {json.dumps(answer)[:200]}, "
                                                          f"the reference solution {json.dumps(expected)[:200]}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
