"""The verification gate: may an env be trained on?

For each env, in this order (the first failure quarantines the env, with its reason):

1. ``import_error``: the source parses, defines the class, and imports;
2. ``contract``: the class has the required members, ``func_mapping`` names documented methods
   (``Args:`` and ``Returns:``), among them ``Observe`` and ``Done``;
3. ``generator_failed``: a bundled env's ``generate_config`` gives configurations (``--generated``);
4. per configuration (``configs.py`` says where they come from: ``--configs`` and records, the
   file's self-test env strings, ``CONFIGS``, ``generate_config``), each run within the runtime's limits:
   ``reset_failed`` (the env cannot be created with the options), ``ref_answer_failed``
   (``get_ref_answer()`` fails), ``oracle_failed`` (``solve()`` raises or makes no ``Done``),
   ``nondeterministic`` (two replays of the oracle's calls on fresh sessions differ),
   ``oracle_not_solved`` (a replay of the oracle's calls does not end at its first ``Done`` with
   reward 1), ``rewards_wrong_answer`` (a wrong answer gets a reward);
   a broken limit is reported as ``timeout``, ``memory`` or ``crashed``;
5. ``no_configs``: the env has no configuration anywhere and its defaults (``{}`` options) cannot be
   built or solved: not a verdict on the env, a request for configurations (the advice says how).

Each configuration records ``solve_fc_round`` as upstream counts it (the env's ``step_count`` after
``solve()``, nested ``self.step`` calls included: :mod:`codegym_adapters.rounds`) and ``oracle_turns``
(the oracle's top-level calls: the turns a model needs). Verification
runs env code: use the sandbox runtime for anything untrusted (the in-process runtime has no limits,
so an env that loops forever hangs it).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import contract
from .calls import ToolCall
from .catalog import EnvSpec
from .configs import Config, ConfigIndex, dedupe, generator_requests, known_configs
from .errors import CodeGymError
from .policies import WRONG_SENTINEL, perturb
from .rounds import solve_fc_round
from .runtime.base import CRASHED, LIMIT, NONDETERMINISTIC, TIMEOUT, Runtime, StepResult
from .verdicts import (  # noqa: F401 - re-exported: the report types are part of verify's API
    _DEFAULT_FAILURES,
    _MAX_SHOWN,
    NO_CONFIGS_ADVICE,
    REASONS,
    ConfigResult,
    EnvReport,
    Rejected,
    VerifyOptions,
)


# -- one env -------------------------------------------------------------------------------------
async def verify_env(
    runtime: Runtime, spec: EnvSpec, extra_configs: ConfigIndex | None = None,
    options: VerifyOptions = VerifyOptions(),  # noqa: B008 - frozen, so sharing it is safe
) -> EnvReport:
    """Verify one env; never raises for env failures (they are the report's ``reason``)."""
    report = EnvReport(env=spec.name, origin=spec.origin)
    start = time.perf_counter()
    try:
        await asyncio.wait_for(_verify(runtime, spec, extra_configs or ConfigIndex(), options, report),
                               options.env_timeout)
        report.passed = True
    except Rejected as exc:
        report.reason, report.detail = exc.reason, exc.detail
    except asyncio.TimeoutError:
        report.reason = "timeout"
        report.detail = f"verification took more than {options.env_timeout:g} s in all"
    except CodeGymError as exc:  # a runtime failure the checks did not anticipate
        report.reason, report.detail = _reason_of(str(exc), "crashed"), str(exc)
    except Exception as exc:  # env code escaping an unlimited runtime: one env must not end the run
        report.reason, report.detail = "crashed", f"{type(exc).__name__}: {exc}"
    report.elapsed_s = time.perf_counter() - start
    return report


async def _verify(runtime: Runtime, spec: EnvSpec, extra: ConfigIndex, options: VerifyOptions,
                  report: EnvReport) -> None:
    try:
        source = spec.source
        report.source_hash = spec.source_hash
    except CodeGymError as exc:
        raise Rejected("import_error", str(exc)) from None
    try:
        shape = contract.class_shape(source, spec.class_name)
    except SyntaxError as exc:
        raise Rejected("import_error", f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except LookupError as exc:
        raise Rejected("import_error", str(exc)) from None
    try:
        module = await runtime.module_info((spec, {}))
    except CodeGymError as exc:
        raise Rejected(_reason_of(str(exc), "import_error"), str(exc)) from None
    missing = contract.missing_members(shape)
    if missing:
        raise Rejected("contract", f"{spec.class_name} lacks {', '.join(missing)}")
    if shape.external_bases:
        report.notes.append(f"inherits from {', '.join(shape.external_bases)}: members not checked")

    configs = await _configs(runtime, spec, module, extra, options, report)
    for i, config in enumerate(configs):
        result = ConfigResult(options=config.options, source=config.source)
        report.configs.append(result)
        try:
            await _check_config(runtime, spec, config, result, report, first=i == 0)
        except Rejected as exc:
            result.reason, result.error = exc.reason, exc.detail
            if exc.reason == "contract":
                raise
            if config.source == "default" and exc.reason in _DEFAULT_FAILURES:
                raise Rejected("no_configs", f"with no configuration, the env's defaults ({{}} options) fail "
                               f"({exc.reason}: {exc.detail}); {NO_CONFIGS_ADVICE}") from None
            shown = json.dumps(config.options, sort_keys=True)
            shown = shown if len(shown) <= 120 else shown[:117] + "..."
            raise Rejected(exc.reason, f"{exc.detail} (configuration {i}, {config.source}: {shown})") from None
        result.ok = True


async def _configs(runtime: Runtime, spec: EnvSpec, module: dict[str, Any], extra: ConfigIndex,
                   options: VerifyOptions, report: EnvReport) -> list[Config]:
    configs = known_configs(spec, module.get("configs") or [], extra)
    if module.get("has_generator"):
        for seed, size in generator_requests(spec.name, options.generated, options.seed):
            try:
                generated = await runtime.generate_config((spec, {}), seed, size)
            except Exception as exc:  # the in-process runtime lets the generator's own errors through
                text = str(exc) if isinstance(exc, CodeGymError) else f"{type(exc).__name__}: {exc}"
                raise Rejected(_reason_of(text, "generator_failed"),
                               f"generate_config(seed={seed}, size={size}) failed: {text}") from None
            configs.append(Config(generated, "generated", seed=seed, size=size))
    configs = dedupe(configs)
    if not configs:
        report.notes.append("no configurations (no --configs, records, self-test env strings or CONFIGS): "
                            "checked with {} options")
        configs = [Config({}, "default")]
    if options.max_configs and len(configs) > options.max_configs:
        report.notes.append(f"checked {options.max_configs} of {len(configs)} configurations")
        configs = configs[: options.max_configs]
    if not module.get("task") and not spec.task:
        report.notes.append("no task text (TASK or a record's gym_task): prompts use a generic one")
    return configs


async def _check_config(runtime: Runtime, spec: EnvSpec, config: Config, result: ConfigResult,
                        report: EnvReport, *, first: bool) -> None:
    env = (spec, config.options)
    session = await _open(runtime, env)
    try:
        if first:
            await _check_actions(session, spec, report)
        try:
            ref = await session.attribute("get_ref_answer")
        except Exception as exc:  # the in-process runtime lets the env's own exceptions through
            text = str(exc) if isinstance(exc, CodeGymError) else f"{type(exc).__name__}: {exc}"
            raise Rejected(_reason_of(text, "ref_answer_failed"), f"get_ref_answer() failed: {text}") from None
        result.ref_answer = _shown(ref)
        if config.has_ref_answer and _canonical(ref) != _canonical(config.ref_answer):
            report.notes.append(f"a record's ref_answer {_shown(config.ref_answer)!r} differs from "
                                f"get_ref_answer() {_shown(ref)!r}")
        done_param = next((a.params[0].name for a in session.info.actions if a.name == "Done" and a.params),
                          "answer")
    finally:
        await session.close()

    try:
        trace = await runtime.oracle(env)
    except CodeGymError as exc:
        raise Rejected(_reason_of(str(exc), "oracle_failed"), f"solve() failed: {exc}") from None
    if trace.error:
        raise Rejected(_reason_of(trace.error, "oracle_failed"), f"solve() failed: {trace.error}")
    if not any(c.name == "Done" for c in trace.calls):
        raise Rejected("oracle_failed", f"solve() made {len(trace.calls)} calls but never called Done")
    result.oracle_turns = len(trace.calls)
    if trace.reward != 1.0:
        raise Rejected("oracle_not_solved", f"solve() ends with reward {trace.reward:g} after "
                       f"{len(trace.calls)} calls: {_shown(trace.final_observation)!r}")

    first_run = await _replay(runtime, env, trace.calls)
    second_run = await _replay(runtime, env, trace.calls)
    result.max_step_s = round(max(first_run.max_step_s, second_run.max_step_s), 4)
    _compare(first_run, second_run, trace.calls)
    if first_run.reward != 1.0:
        raise Rejected("oracle_not_solved", first_run.describe_end(len(trace.calls)))
    result.solve_fc_round = await solve_fc_round(runtime, env, trace.calls)

    # the first Done is the one that counts; keep its other arguments, change the answer
    done_args = next(c.arguments for c in trace.calls if c.name == "Done")
    for wrong in _wrong_answers(done_args.get(done_param, ref), ref):
        done = await _replay(runtime, env, [ToolCall("Done", {**done_args, done_param: wrong})])
        if done.reward > 0:
            raise Rejected("rewards_wrong_answer", f"Done({done_param}={_shown(wrong)!r}) got reward "
                           f"{done.reward:g}; the reference answer is {_shown(ref)!r}")


async def _open(runtime: Runtime, env: tuple[EnvSpec, dict[str, Any]]) -> Any:
    try:
        return await runtime.open(env)
    except CodeGymError as exc:
        raise Rejected(_reason_of(str(exc), "reset_failed"), str(exc)) from None


async def _check_actions(session: Any, spec: EnvSpec, report: EnvReport) -> None:
    """``func_mapping`` (as the running env has it) names documented methods, Observe and Done among them."""
    try:
        mapping = await session.attribute("func_mapping")
    except Exception as exc:  # the in-process runtime lets the env's own exceptions through
        text = str(exc) if isinstance(exc, CodeGymError) else f"{type(exc).__name__}: {exc}"
        raise Rejected(_reason_of(text, "contract"), f"cannot read func_mapping: {text}") from None
    if not isinstance(mapping, dict) or not mapping:
        raise Rejected("contract", f"func_mapping is not a non-empty dict (got {_shown(mapping)!r})")
    names = list(mapping)
    report.actions = names
    lacking = [n for n in ("Observe", "Done") if n not in names]
    if lacking:
        raise Rejected("contract", f"func_mapping lacks {', '.join(lacking)}")
    shape = contract.class_shape(spec.source, spec.class_name)
    problems, notes = contract.action_doc_problems(shape, names)
    if problems:
        raise Rejected("contract", "; ".join(problems))
    report.notes.extend(notes)
    if len(names) < 4:
        report.notes.append(f"only {len(names)} actions (the paper's filter wants at least 4 distinct tools)")


@dataclass
class _Run:
    reset_observation: str
    observations: list[str]
    reward: float = 0.0
    ended_at: int | None = None  # index of the call that ended the episode
    max_step_s: float = 0.0

    def describe_end(self, planned: int) -> str:
        if self.ended_at is None:
            return f"replaying the oracle's {planned} calls never ended the episode (no successful Done)"
        last = self.observations[self.ended_at]
        return (f"replaying the oracle's calls ends at call {self.ended_at + 1} of {planned} with reward "
                f"{self.reward:g}: {_shown(last)!r}")


async def _replay(runtime: Runtime, env: tuple[EnvSpec, dict[str, Any]], calls: Sequence[ToolCall]) -> _Run:
    """Run ``calls`` on a fresh session until the episode would end (the first ``Done``, as in
    :class:`~codegym_adapters.episode.Episode`)."""
    session = await _open(runtime, env)
    run = _Run(session.info.reset_observation, [])
    try:
        for i, call in enumerate(calls):
            step: StepResult = await session.step(call)
            run.max_step_s = max(run.max_step_s, step.elapsed_s)
            run.observations.append(step.observation)
            if step.error in (TIMEOUT, LIMIT, CRASHED) or step.fatal:
                reason = {TIMEOUT: "timeout", LIMIT: _reason_of(step.observation, "memory"),
                          NONDETERMINISTIC: "nondeterministic"}.get(step.error or "",
                                                                    _reason_of(step.observation, "crashed"))
                raise Rejected(reason, f"call {i + 1} {call.name}({_args(call)}): {_shown(step.observation)}")
            ok_done = call.name == "Done" and not step.error and not step.observation.startswith("Error")
            if step.finished or ok_done:
                run.reward, run.ended_at = step.reward, i
                break
    finally:
        await session.close()
    return run


def _compare(a: _Run, b: _Run, calls: Sequence[ToolCall]) -> None:
    if a.reset_observation != b.reset_observation:
        raise Rejected("nondeterministic", f"reset gave {_shown(a.reset_observation)!r}, then "
                       f"{_shown(b.reset_observation)!r}")
    for i, (x, y) in enumerate(zip(a.observations, b.observations, strict=False)):
        if x != y:
            call = calls[i]
            raise Rejected("nondeterministic", f"call {i + 1} {call.name}({_args(call)}) gave {_shown(x)!r}, "
                           f"then {_shown(y)!r} on a fresh session")
    if (a.ended_at, a.reward) != (b.ended_at, b.reward):
        raise Rejected("nondeterministic", f"the same calls ended with reward {a.reward:g} after "
                       f"{a.ended_at}, then {b.reward:g} after {b.ended_at}")


def _wrong_answers(answer: Any, ref: Any) -> list[Any]:
    wrong = [perturb(answer)]
    if _canonical(perturb(ref)) != _canonical(wrong[0]):
        wrong.append(perturb(ref))
    wrong.append(WRONG_SENTINEL)
    return [w for w in wrong if _canonical(w) not in (_canonical(answer), _canonical(ref))]


def _reason_of(text: str, default: str) -> str:
    """A limit named in an error message wins over the check's own reason."""
    low = text.lower()
    if "timed out" in low or "timeout" in low or "deadline" in low or "time limit" in low:
        return "timeout"
    if "memory" in low:
        return "memory"
    if "worker died" in low or "crashed" in low or "killed" in low:
        return "crashed"
    return default


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _shown(value: Any) -> Any:
    """A value small enough for a report: JSON-like values up to a size, else a clipped string."""
    text = value if isinstance(value, str) else _canonical(value)
    if len(text) <= _MAX_SHOWN:
        return value
    return text[: _MAX_SHOWN - 3] + "..."


def _args(call: ToolCall) -> str:
    text = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in call.arguments.items())
    return text if len(text) <= 80 else text[:77] + "..."


# -- many envs -----------------------------------------------------------------------------------
async def verify_envs(
    runtime: Runtime,
    specs: Iterable[EnvSpec],
    *,
    extra_configs: ConfigIndex | None = None,
    options: VerifyOptions = VerifyOptions(),  # noqa: B008
    jobs: int = 4,
    on_done: Callable[[EnvReport], None] | None = None,
) -> list[EnvReport]:
    """Verify ``specs``, ``jobs`` envs at a time; reports come back in the order of ``specs``."""
    specs = list(specs)
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(spec: EnvSpec) -> EnvReport:
        async with gate:
            report = await verify_env(runtime, spec, extra_configs, options)
        if on_done:
            on_done(report)
        return report

    return list(await asyncio.gather(*(one(s) for s in specs)))
