"""A task: one env configuration to run an episode on, read from a dataset row or an env string.

Rows follow veRL's RL dataset layout as CodeGym publishes it (``codegym-format.md`` section 2):
``ability`` names the env and options; ``plugin_call_max_round`` may sit at the top level or inside
``extra_info``; ``extra_info.std_traj`` may hold the oracle's calls. Numeric fields and ``extra_info``
text are read by :mod:`codegym_adapters.rows` (``read_count``, ``read_extra_info``), the same
functions ``codegym build-data`` uses, so a row means the same turn limit in training and in data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .calls import ToolCall, parse_call
from .envstring import DATA_SOURCE_PREFIXES, parse_env_string
from .errors import CodeGymError, OptionsError

DEFAULT_DATA_SOURCE = "codegym_v1"


@dataclass
class Task:
    """One env configuration plus what a dataset row says about it."""

    env: str  # "<code_id>__<ClassName>@<options>" (any accepted spelling)
    prompt: list[dict[str, Any]] | None = None  # the row's own messages, if any
    turn_limit: int | None = None  # the row's plugin_call_max_round
    solve_fc_round: int | None = None  # upstream's count: every env step of the oracle, nested ones too
    oracle_turns: int | None = None  # the oracle's top-level calls (rows built by build-data carry it)
    oracle_calls: list[ToolCall] | None = None  # from extra_info.std_traj
    data_source: str = DEFAULT_DATA_SOURCE
    index: int | None = None
    extra_info: dict[str, Any] = field(default_factory=dict)

    @property
    def env_name(self) -> str:
        """``<code_id>__<ClassName>``; for a broken env string, its raw name part."""
        try:
            return parse_env_string(self.env).name
        except CodeGymError:
            head, _, rest = self.env.partition("@")
            return (rest.partition("@")[0] if head in DATA_SOURCE_PREFIXES else head)[:120]

    @property
    def ability(self) -> str:
        """The row's ``ability`` spelling: ``codegym_v1@<env string>``."""
        return self.env if self.env.split("@", 1)[0] in DATA_SOURCE_PREFIXES else f"{DEFAULT_DATA_SOURCE}@{self.env}"

    @classmethod
    def from_env_string(cls, env: str, **kwargs: Any) -> Task:
        parse_env_string(env)  # fail early on a bad string
        return cls(env=env, **kwargs)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Task:
        """A task from a training row (published or built by ``codegym build-data``)."""
        ability = row.get("ability") or row.get("label") or row.get("env")
        if not isinstance(ability, str) or "@" not in ability:
            raise OptionsError(f"row has no CodeGym 'ability' env string (got {str(ability)[:80]!r})")
        parse_env_string(ability)
        from .rows import read_count, read_extra_info  # rows builds on this module

        extra = read_extra_info(row.get("extra_info"))
        prompt = row.get("prompt")
        where = f"row {ability[:120]!r}"

        def number(name: str, *values: Any) -> int | None:  # the first placement that holds a number
            return next((n for n in (read_count(v, name, where) for v in values) if n is not None), None)

        return cls(
            env=ability,
            prompt=_messages(prompt),
            turn_limit=number("plugin_call_max_round", row.get("plugin_call_max_round"),
                              extra.get("plugin_call_max_round")),
            solve_fc_round=number("solve_fc_round", extra.get("solve_fc_round"), row.get("solve_fc_round")),
            oracle_turns=number("oracle_turns", extra.get("oracle_turns")),
            oracle_calls=parse_trajectory(extra.get("std_traj")),
            data_source=str(row.get("data_source") or DEFAULT_DATA_SOURCE),
            index=number("index", extra.get("index"), row.get("index")),
            extra_info=extra,
        )


def task_for_row(row: Mapping[str, Any]) -> Task:
    """:meth:`Task.from_row`, except that a row with a broken env string still gives a task.

    Trainers must return an output for every row: such a task's episode ends at start with
    ``env_error``, and its error names what is wrong with the env string.
    """
    try:
        return Task.from_row(row)
    except CodeGymError:
        env = row.get("ability") or row.get("label") or row.get("env")
        return Task(env=env if isinstance(env, str) else "", prompt=_messages(row.get("prompt")))


def parse_trajectory(value: Any) -> list[ToolCall] | None:
    """Read a recorded call list (``std_traj``): a list, or JSON text of one, whose items are call
    objects (``name`` with ``parameters``/``arguments``) or call texts in any format."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            parsed = parse_call(value)
            return [parsed.call] if parsed.call else None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return None
    calls = []
    for item in value:
        if isinstance(item, str):
            parsed = parse_call(item)
            if parsed.call is None:
                return None
            calls.append(parsed.call)
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            args = item.get("parameters", item.get("arguments", {}))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    return None
            calls.append(ToolCall(item["name"], dict(args) if isinstance(args, Mapping) else {}))
        else:
            return None
    return calls or None


def _first(*values: Any) -> Any:
    """The first value that is not None (parquet fills absent columns with nulls)."""
    return next((v for v in values if v is not None), None)


def _messages(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [{"role": "user", "content": value}]
    if value is None or not hasattr(value, "__iter__"):
        return None
    messages = [dict(m) for m in value if isinstance(m, Mapping)]
    return messages or None

