"""The compute_score fallback veRL uses for CodeGym rows scored outside the CodeGym agent loop."""

from __future__ import annotations

from verl.utils.import_utils import load_extern_object

from verl_plugin.reward import compute_score


def test_the_env_reward_recorded_by_the_agent_loop_is_returned() -> None:
    result = compute_score("codegym_v1", "...", None, extra_info={"codegym_reward": 1.0, "index": 3})
    assert result == {"score": 1.0, "codegym_scored_by_env": True}


def test_text_that_never_ran_in_an_env_scores_zero() -> None:
    assert compute_score("codegym_v1", "Done(12)", None, extra_info={"index": 3})["score"] == 0.0
    assert compute_score("codegym_v1", "Done(12)", None)["codegym_scored_by_env"] is False


def test_the_config_groups_reward_path_loads_through_verl() -> None:
    fn = load_extern_object(module_path="pkg://verl_plugin.reward", object_name="compute_score")
    assert fn is compute_score
