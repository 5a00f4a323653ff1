"""One table of scripted trajectories, each with the reward and done reason the episode contract gives it.

The core suite (``codegym eval`` against a served model), the veRL suite (the real ``AgentLoopWorker``)
and the OpenRLHF suite (the real executor) all import this table and assert the same outcome for every
row, so a trajectory is scored the same wherever it runs (issue 11). Turns are built from the oracle's
calls on one fixed configuration of a bundled env; a :class:`~codegym_adapters.policies.CutTurn` is a
turn the token budget cut (the replaying servers send it with finish reason ``length``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codegym_adapters.calls import ToolCall, render_call
from codegym_adapters.policies import CutTurn, oracle_calls, perturb

ENV_NAME = "Bundled_A01__HouseRobberEnv"
OPTIONS = {"houses": [2, 7, 9, 3, 1]}
ENV = f"{ENV_NAME}@{json.dumps(OPTIONS)}"
ROW_TURN_LIMIT = 64


def cg(call: ToolCall) -> str:
    return render_call(call, "codegym")


def hm(call: ToolCall) -> str:
    return render_call(call, "hermes")


def js(call: ToolCall) -> str:
    return render_call(call, "json")


@dataclass(frozen=True)
class Trajectory:
    """``turns(oracle_calls)`` gives the model turns; ``episode`` the episode settings that differ from
    the defaults (the same keys as ``env.episode``, ``CODEGYM_*`` and the eval options)."""

    name: str
    turns: Callable[[list[ToolCall]], list[str]]
    reward: float
    done_reason: str
    episode: dict[str, Any] = field(default_factory=dict)
    turn_limit: int = ROW_TURN_LIMIT


def _wrong_done(oracle: list[ToolCall]) -> ToolCall:
    done = oracle[-1]
    return ToolCall("Done", {k: perturb(v) for k, v in done.arguments.items()})


BAD_JSON = '<tool_call>{"name": "Observe", "arguments": {</tool_call>'
PENALTY = {"invalid_call_policy": "penalty", "invalid_penalty": 0.25}
STOP = {"invalid_call_policy": "stop", "max_consecutive_invalid": 3}
ARGUMENTS_NOT_PARAMETERS = '<|FunctionCallBegin|>[{"name": "Observe", "arguments": {}}]<|FunctionCallEnd|>'

TABLE: tuple[Trajectory, ...] = (
    Trajectory("oracle_codegym", lambda o: [cg(c) for c in o], 1.0, "done"),
    Trajectory("oracle_hermes", lambda o: [hm(c) for c in o], 1.0, "done"),
    Trajectory("oracle_bare_json", lambda o: [js(c) for c in o], 1.0, "done"),
    Trajectory("oracle_thinking_first", lambda o: [f"<think>Next: {c.name}.</think>{cg(c)}" for c in o], 1.0, "done"),
    Trajectory("wrong_answer", lambda o: [cg(ToolCall("Observe", {})), cg(_wrong_done(o))], 0.0, "done"),
    Trajectory("done_only_in_reasoning", lambda o: [f"<think>I could just try {hm(o[-1])}</think>Let me look first."],
               0.0, "no_call"),
    Trajectory("wrong_draft_in_reasoning_then_oracle",
               lambda o: [f"<think>{cg(_wrong_done(o))}</think>{cg(o[0])}", *map(cg, o[1:])], 1.0, "done"),
    Trajectory("lone_closing_marker_then_oracle",
               lambda o: [f"{js(_wrong_done(o))} no.</think>{js(o[0])}", *map(js, o[1:])], 1.0, "done"),
    Trajectory("unterminated_reasoning", lambda o: [f"<think>So the answer: {cg(o[-1])}"], 0.0, "no_call"),
    Trajectory("cut_inside_the_marker", lambda o: [CutTurn("<|FunctionCallBe")], 0.0, "length"),
    Trajectory("cut_inside_the_json_mid_episode", lambda o: [*map(cg, o[:3]), CutTurn(cg(o[3])[:32])],
               0.0, "length"),
    Trajectory("cut_after_a_complete_done", lambda o: [*map(cg, o[:-1]), CutTurn(cg(o[-1]) + " Now, why it is righ")],
               0.0, "length"),
    Trajectory("cut_inside_the_reasoning", lambda o: [CutTurn(f"<think>I should call {o[-1].name} with")],
               0.0, "length"),
    Trajectory("cut_inside_the_json_under_penalty", lambda o: [CutTurn(hm(o[-1])[:25])], 0.0, "length", PENALTY),
    # the cut turn costs nothing; the invalid call before it keeps its penalty (no escape by the budget)
    Trajectory("cut_after_an_invalid_call_under_penalty", lambda o: [BAD_JSON, CutTurn(cg(o[-1]))], -0.25, "length",
               PENALTY),
    Trajectory("invalid_then_oracle_feedback", lambda o: [BAD_JSON, *map(cg, o)], 1.0, "done"),
    Trajectory("invalid_then_oracle_penalty", lambda o: [BAD_JSON, *map(cg, o)], 0.75, "done", PENALTY),
    Trajectory("unknown_function_then_oracle_penalty", lambda o: [cg(ToolCall("Fly", {})), *map(cg, o)], 0.75,
               "done", PENALTY),
    Trajectory("three_invalid_under_stop", lambda o: [BAD_JSON] * 3 + [cg(o[-1])], 0.0, "invalid_calls", STOP),
    Trajectory("two_invalid_then_oracle_under_stop", lambda o: [BAD_JSON] * 2 + [cg(c) for c in o], 1.0, "done",
               STOP),
    Trajectory("no_call", lambda o: ["I think the answer is probably 42."], 0.0, "no_call"),
    Trajectory("turn_limit", lambda o: [cg(ToolCall("Observe", {}))] * 5, 0.0, "turn_limit", turn_limit=3),
    Trajectory("max_turns_caps_the_row_limit", lambda o: [cg(ToolCall("Observe", {}))] * 5, 0.0, "turn_limit",
               {"max_turns": 2}),
    Trajectory("strict_rejects_arguments_under_penalty", lambda o: [ARGUMENTS_NOT_PARAMETERS, *map(cg, o)], 0.75,
               "done", {"call_format": "strict", **PENALTY}),
    Trajectory("auto_accepts_arguments_under_penalty", lambda o: [ARGUMENTS_NOT_PARAMETERS, *map(cg, o)], 1.0,
               "done", PENALTY),
    Trajectory("binary_reward", lambda o: [cg(c) for c in o], 1.0, "done", {"reward": "binary"}),
    Trajectory("reasoning_stripping_off", lambda o: [f"<think>{cg(o[-1])}</think>Let me look first."], 1.0,
               "done", {"reasoning": False}),
)


async def oracle_for_table() -> list[ToolCall]:
    """The oracle's calls on :data:`ENV` (the env's own ``solve()``)."""
    from codegym_adapters.runtime import make_runtime
    from codegym_adapters.tasks import Task

    async with make_runtime("inprocess") as runtime:
        return await oracle_calls(runtime, Task.from_env_string(ENV))


def groups(table: Sequence[Trajectory] = TABLE) -> dict[tuple[tuple[str, Any], ...], list[Trajectory]]:
    """Trajectories by their episode settings (one trainer run, or one eval run, per group)."""
    out: dict[tuple[tuple[str, Any], ...], list[Trajectory]] = {}
    for t in table:
        out.setdefault(tuple(sorted(t.episode.items())), []).append(t)
    return out


def cli_flags(settings: dict[str, Any]) -> list[str]:
    """The ``codegym eval`` options for episode settings."""
    flags = []
    for key, value in settings.items():
        if isinstance(value, bool):
            flags.append(f"--{'' if value else 'no-'}{key.replace('_', '-')}")
        else:
            flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags


def verl_overrides(settings: dict[str, Any]) -> list[str]:
    """The Hydra overrides (``env.episode.*``) for episode settings."""
    return [f"env.episode.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in settings.items()]


def openrlhf_variables(settings: dict[str, Any]) -> dict[str, str]:
    """The ``CODEGYM_*`` variables for episode settings."""
    return {f"CODEGYM_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()}
