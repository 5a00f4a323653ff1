"""Scripted policies: stand-ins for an LLM in tests, demos and dry runs.

A policy writes the whole list of model turns for an episode up front (:meth:`ScriptedPolicy.script`),
as text in a call format, so that fake inference servers can replay it token by token. After the
script runs out the policy says nothing (a turn with no call).

* ``oracle``: the calls the env's own ``solve()`` makes (recorded on a shadow instance), or the row's
  ``extra_info.std_traj`` where present.
* ``wrong``: ``Observe``, then ``Done`` with an answer that differs from the oracle's.
* ``random``: random valid-looking calls (seeded), ending with a random ``Done``.
* ``malformed``: text that looks like calls but does not parse.
* ``silent``: prose without any call.
"""

from __future__ import annotations

import abc
import random
from typing import Any

from .calls import PARSE_FORMATS, ToolCall, render_call, render_format
from .runtime.base import Runtime, SessionInfo
from .tasks import Task
from .tools import Action

WRONG_SENTINEL = "__codegym_wrong_answer__"


class CutTurn(str):
    """A scripted turn that the token budget cuts: replaying stand-ins for a model server send it
    without its end-of-turn token and with finish reason ``length``, as a server does at ``max_tokens``."""

    __slots__ = ()


class ScriptedPolicy(abc.ABC):
    name = "abstract"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @abc.abstractmethod
    async def calls(self, runtime: Runtime, task: Task, info: SessionInfo) -> list[ToolCall | str]:
        """The turns: calls to render, or raw text to send as is."""

    async def script(self, runtime: Runtime, task: Task, info: SessionInfo, fmt: str = "codegym") -> list[str]:
        """The model turns as text in ``fmt`` (``auto`` and ``strict`` mean ``codegym``)."""
        if fmt not in PARSE_FORMATS:
            raise ValueError(f"unknown call format {fmt!r}; expected one of {', '.join(PARSE_FORMATS)}")
        fmt = render_format(fmt)
        turns = await self.calls(runtime, task, info)
        return [t if isinstance(t, str) else render_call(t, fmt) for t in turns]


async def oracle_calls(runtime: Runtime, task: Task) -> list[ToolCall]:
    """The oracle's calls for ``task``: the row's recorded trajectory, else the env's ``solve()``."""
    if task.oracle_calls:
        return list(task.oracle_calls)
    trace = await runtime.oracle(task.env)
    if trace.error:
        raise RuntimeError(f"oracle for {task.env_name} failed: {trace.error}")
    return trace.calls


class OraclePolicy(ScriptedPolicy):
    name = "oracle"

    async def calls(self, runtime: Runtime, task: Task, info: SessionInfo) -> list[ToolCall | str]:
        return list(await oracle_calls(runtime, task))


class WrongPolicy(ScriptedPolicy):
    name = "wrong"

    async def calls(self, runtime: Runtime, task: Task, info: SessionInfo) -> list[ToolCall | str]:
        done = _action(info, "Done")
        param = done.params[0].name if done and done.params else "answer"
        answer: Any = WRONG_SENTINEL
        try:
            oracle = await oracle_calls(runtime, task)
        except RuntimeError:
            oracle = []
        final = [c for c in oracle if c.name == "Done"]
        if final and param in final[-1].arguments:
            answer = perturb(final[-1].arguments[param])
        turns: list[ToolCall | str] = []
        if _action(info, "Observe"):
            turns.append(ToolCall("Observe", {}))
        turns.append(ToolCall("Done", {param: answer}))
        return turns


class RandomPolicy(ScriptedPolicy):
    name = "random"

    async def calls(self, runtime: Runtime, task: Task, info: SessionInfo) -> list[ToolCall | str]:
        rng = random.Random(f"{self.seed}:{task.env}")
        others = [a for a in info.actions if a.name != "Done"] or list(info.actions)
        turns: list[ToolCall | str] = [
            ToolCall(a.name, {p.name: _random_value(rng, p.type) for p in a.params})
            for a in (rng.choice(others) for _ in range(rng.randint(1, 8)))
        ]
        done = _action(info, "Done")
        if done:
            turns.append(ToolCall("Done", {p.name: _random_value(rng, p.type) for p in done.params}))
        return turns


MALFORMED_TURNS = (
    '<|FunctionCallBegin|>[{"name": "Observe", "parameters": {]<|FunctionCallEnd|>',
    '<|FunctionCallBegin|>[{"parameters": {}}]<|FunctionCallEnd|>',
    '<|FunctionCallBegin|>["Observe"]<|FunctionCallEnd|>',
    '<tool_call>{"name": "Observe", "arguments": [1, 2]}</tool_call>',
    '<tool_call>{"name": Observe}</tool_call>',
)


class MalformedPolicy(ScriptedPolicy):
    name = "malformed"

    async def calls(self, runtime: Runtime, task: Task, info: SessionInfo) -> list[ToolCall | str]:
        return list(MALFORMED_TURNS)


class SilentPolicy(ScriptedPolicy):
    name = "silent"

    async def calls(self, runtime: Runtime, task: Task, info: SessionInfo) -> list[ToolCall | str]:
        return ["I think the answer is probably 42, but I will not call any function."]


POLICIES: dict[str, type[ScriptedPolicy]] = {
    cls.name: cls for cls in (OraclePolicy, WrongPolicy, RandomPolicy, MalformedPolicy, SilentPolicy)
}


def get_policy(name: str, seed: int = 0) -> ScriptedPolicy:
    try:
        return POLICIES[name](seed)
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICIES)}") from None


def perturb(value: Any) -> Any:
    """A value of the same kind that is not ``==`` to ``value``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "_wrong" if value else "wrong"
    if isinstance(value, list):
        return [*value, perturb(value[-1]) if value else 0]
    if isinstance(value, dict):
        return {**value, "__wrong__": True}
    return WRONG_SENTINEL


def _action(info: SessionInfo, name: str) -> Action | None:
    return next((a for a in info.actions if a.name == name), None)


def _random_value(rng: random.Random, kind: str | None) -> Any:
    if kind == "integer":
        return rng.randint(-2, 20)
    if kind == "number":
        return round(rng.uniform(-2, 20), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [rng.randint(0, 9) for _ in range(rng.randint(0, 4))]
    if kind == "object":
        return {}
    if kind == "string":
        return rng.choice(["a", "abc", "", "x y", "0"])
    return rng.choice([0, 1, "a", [1]])
