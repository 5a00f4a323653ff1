"""The reward function veRL falls back to for CodeGym rows (``reward.custom_reward_function``).

The CodeGym agent loop always sets ``reward_score`` from the env, so veRL never calls this for its
trajectories. It exists for rows scored outside that loop (another agent loop, a reward worker that
re-scores): veRL merges a loop's ``extra_fields`` into ``extra_info``, so an env reward recorded
there is returned; text that never ran in an env earns 0, because only the env can verify an answer.
"""

from __future__ import annotations

from typing import Any

from .agent_loop import EXTRA_PREFIX

REWARD_KEY = EXTRA_PREFIX + "reward"


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """``{"score": <env reward or 0.0>, "codegym_scored_by_env": <whether an env reward was found>}``."""
    reward = (extra_info or {}).get(REWARD_KEY)
    try:
        score = float(reward)
    except (TypeError, ValueError):
        return {"score": 0.0, "codegym_scored_by_env": False}
    return {"score": score, "codegym_scored_by_env": True}
