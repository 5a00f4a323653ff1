"""``solve_fc_round`` as upstream counts it: the env's ``step_count`` after its oracle ``solve()``.

Upstream records ``env.step_count`` once ``solve()`` returns (``codegym-format.md`` section 5), so the
``self.step`` calls an action makes inside itself count too; the paper's 10..256 filter is on that
number. Runtimes record the oracle's top-level calls (the turns a model needs: ``oracle_turns``);
this module replays them on a fresh session and reads the env's own ``step_count``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .calls import ToolCall
from .catalog import EnvSpec
from .errors import CodeGymError
from .runtime.base import CRASHED, LIMIT, TIMEOUT, Runtime


async def solve_fc_round(runtime: Runtime, env: tuple[EnvSpec, dict[str, Any]], calls: Sequence[ToolCall]) -> int:
    """The env's ``step_count`` after replaying the oracle's top-level ``calls`` on a fresh session.

    Falls back to ``len(calls)`` when the env keeps no usable ``step_count``, or when the replay
    cannot finish (a broken limit, a crash): the oracle check reports those itself.
    """
    try:
        session = await runtime.open(env)
    except CodeGymError:
        return len(calls)
    try:
        for call in calls:
            step = await session.step(call)
            if step.fatal or step.error in (TIMEOUT, LIMIT, CRASHED):
                return len(calls)
        try:
            count = await session.attribute("step_count")
        except Exception:  # no step_count: the in-process runtime lets env errors through
            return len(calls)
    finally:
        await session.close()
    if isinstance(count, bool) or not isinstance(count, (int, float)) or not math.isfinite(count):
        return len(calls)
    return int(count) if count >= len(calls) else len(calls)
