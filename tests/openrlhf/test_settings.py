"""Options reach the agent through ``CODEGYM_*`` environment variables; bad ones fail at engine start,
naming the variable; every variable is documented."""

from __future__ import annotations

import pytest

from codegym_adapters.episode import EpisodeConfig
from openrlhf_plugin import settings
from openrlhf_plugin.settings import AgentSettings

README = settings.__file__.replace("settings.py", "README.md")


def test_defaults_are_the_core_defaults():
    s = AgentSettings.from_environ({})
    assert s.episode == EpisodeConfig()
    assert s.runtime == settings.default_runtime() and s.envs == () and dict(s.runtime_options) == {}
    assert s.turn_boundary == "template"


def test_every_episode_option_is_read_from_its_variable():
    env = {
        "CODEGYM_CALL_FORMAT": "hermes",
        "CODEGYM_PROMPT_STYLE": "native",
        "CODEGYM_DEFAULT_TURN_LIMIT": "512",
        "CODEGYM_INVALID_CALL_POLICY": "penalty",
        "CODEGYM_INVALID_PENALTY": "0.5",
        "CODEGYM_MAX_CONSECUTIVE_INVALID": "7",
        "CODEGYM_END_ON_NO_CALL": "false",
        "CODEGYM_MAX_TURNS": "64",
        "CODEGYM_REASONING": "false",
        "CODEGYM_REASONING_MARKERS": "<r>,</r>;<think>,</think>",
        "CODEGYM_REWARD": "binary",
    }
    assert set(env) == set(settings.episode_variables())
    episode = AgentSettings.from_environ(env).episode
    assert episode == EpisodeConfig("hermes", "native", 512, "penalty", 0.5, 7, False, 64, False,
                                    (("<r>", "</r>"), ("<think>", "</think>")), "binary")
    assert AgentSettings.from_environ({"CODEGYM_MAX_TURNS": "none"}).episode.max_turns is None
    with pytest.raises(ValueError, match="CODEGYM_MAX_TURNS"):
        AgentSettings.from_environ({"CODEGYM_MAX_TURNS": "many"})


def test_runtime_variables():
    s = AgentSettings.from_environ({
        "CODEGYM_RUNTIME": "inprocess",
        "CODEGYM_ENVS": "/a/envs:/b/train.jsonl",
        "CODEGYM_RUNTIME_OPTIONS": '{"threads": 2}',
        "CODEGYM_TURN_BOUNDARY": "chatml",
    })
    assert (s.runtime, s.envs, dict(s.runtime_options), s.turn_boundary) == (
        "inprocess", ("/a/envs", "/b/train.jsonl"), {"threads": 2}, "chatml")
    timed = AgentSettings.from_environ({"CODEGYM_RUNTIME": "sandbox", "CODEGYM_STEP_TIMEOUT": "2.5"})
    assert dict(timed.runtime_options) == {"step_timeout": 2.5}


@pytest.mark.parametrize("name, value", [
    ("CODEGYM_DEFAULT_TURN_LIMIT", "many"),
    ("CODEGYM_DEFAULT_TURN_LIMIT", "0"),
    ("CODEGYM_END_ON_NO_CALL", "maybe"),
    ("CODEGYM_PROMPT_STYLE", "fancy"),
    ("CODEGYM_INVALID_PENALTY", "-1"),
    ("CODEGYM_RUNTIME", "gpu"),
    ("CODEGYM_RUNTIME_OPTIONS", "[1, 2]"),
    ("CODEGYM_RUNTIME_OPTIONS", "{not json"),
    ("CODEGYM_STEP_TIMEOUT", "soon"),
    ("CODEGYM_TURN_BOUNDARY", "llama"),
])
def test_a_malformed_value_names_its_variable(name, value):
    with pytest.raises(ValueError, match=name):
        AgentSettings.from_environ({name: value})


def test_the_executor_refuses_options_its_runtime_does_not_take(agent_env):
    from openrlhf_plugin.agent import AgentExecutor

    agent_env.setenv("CODEGYM_STEP_TIMEOUT", "3")  # the in-process runtime has no deadline
    with pytest.raises(ValueError, match="CODEGYM_STEP_TIMEOUT"):
        AgentExecutor()


def test_the_executor_refuses_env_paths_that_do_not_exist(agent_env, tmp_path):
    from openrlhf_plugin.agent import AgentExecutor

    agent_env.setenv("CODEGYM_ENVS", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="CODEGYM_ENVS"):
        AgentExecutor()


def test_executors_with_the_same_settings_share_one_runtime(agent_env):
    from openrlhf_plugin.agent import AgentExecutor

    assert AgentExecutor().runtime is AgentExecutor().runtime
    agent_env.setenv("CODEGYM_RUNTIME_OPTIONS", '{"threads": 2}')
    assert AgentExecutor().runtime is not AgentExecutor(AgentSettings(runtime="inprocess")).runtime


def test_the_readme_documents_every_variable():
    text = open(README, encoding="utf-8").read()
    missing = [name for name in settings.variables() if f"`{name}`" not in text]
    assert not missing
