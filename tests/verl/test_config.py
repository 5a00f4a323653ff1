"""``env: codegym`` composes with veRL's real config in all three spellings; wrong ones fail with our
message; the example recipes compose and pass veRL's own config validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from harness import HOUSES, compose_config, run_worker, write_rows
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import OmegaConf

from verl_plugin.settings import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "verl"
USER_YAML = "defaults:\n  - ppo_trainer\n  - env: codegym\n  - _self_\n\ndata:\n  max_response_length: 3000\n"


def _cli(*args: str) -> subprocess.CompletedProcess:
    """Run a Hydra entry point in a fresh interpreter, as a user would (the repo root on the path
    stands in for an installed codegym-adapters, whose hydra_plugins Hydra then finds)."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environ, timeout=240,
                          cwd=str(REPO))


def _assert_codegym(config) -> None:
    settings = load_settings(config)
    assert config.actor_rollout_ref.rollout.agent.default_agent_loop == "codegym_agent"
    assert config.actor_rollout_ref.rollout.multi_turn.enable is True
    assert config.actor_rollout_ref.model.external_lib == "verl_plugin.register"
    assert config.reward.custom_reward_function.path == "pkg://verl_plugin.reward"
    assert settings.episode.call_format == "auto"


# -- spelling 1: python -m verl.trainer.main_ppo +env=codegym ------------------------------------


def test_plus_env_on_ppo_trainer_composes(model_dir: Path) -> None:
    config = compose_config(model_dir)
    _assert_codegym(config)
    assert config.data.max_prompt_length == 2048  # command-line overrides still win


def test_plus_env_on_verls_own_command_line() -> None:
    done = _cli("-m", "verl.trainer.main_ppo", "+env=codegym", "env.step_timeout=3", "--cfg", "job")
    assert done.returncode == 0, done.stderr[-3000:]
    config = OmegaConf.create(yaml.safe_load(done.stdout))
    assert config.env.step_timeout == 3 and config.actor_rollout_ref.rollout.agent.default_agent_loop == "codegym_agent"


# -- spelling 2: a user YAML with defaults [ppo_trainer, {env: codegym}, _self_] -------------------


def test_user_yaml_with_env_in_defaults_composes(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(USER_YAML)
    with initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        config = compose("mine")
    _assert_codegym(config)
    assert config.data.max_response_length == 3000  # the user's _self_ comes last


def test_user_yaml_on_verls_own_command_line(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(USER_YAML)
    done = _cli("-m", "verl.trainer.main_ppo", "--config-path", str(tmp_path), "--config-name", "mine", "--cfg", "job")
    assert done.returncode == 0, done.stderr[-3000:]
    assert yaml.safe_load(done.stdout)["env"]["runtime"] == "sandbox"


# -- spelling 3: python -m verl_plugin.main_ppo env=codegym ---------------------------------------


def test_verl_plugin_entry_point_composes() -> None:
    with initialize_config_module("verl_plugin.config", version_base=None):
        config = compose("codegym_trainer", overrides=["env=codegym", "env.episode.invalid_call_policy=stop"])
    _assert_codegym(config)
    assert load_settings(config).episode.invalid_call_policy == "stop"


def test_verl_plugin_entry_point_command_line() -> None:
    done = _cli("-m", "verl_plugin.main_ppo", "env=codegym", "--cfg", "job")
    assert done.returncode == 0, done.stderr[-3000:]
    assert yaml.safe_load(done.stdout)["env"]["episode"]["default_turn_limit"] == 256


# -- wrong spellings and values fail with our message ---------------------------------------------


def test_env_as_a_bare_string_fails_with_our_message(tmp_path: Path) -> None:
    (tmp_path / "wrong.yaml").write_text("defaults:\n  - ppo_trainer\n  - _self_\n\nenv: codegym\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        config = compose("wrong")
    with pytest.raises(ConfigError, match=r"`env` is the string 'codegym'.*\+env=codegym"):
        load_settings(config)


def test_a_codegym_row_under_a_config_without_the_group_fails_in_the_worker(model_dir: Path, tmp_path: Path) -> None:
    from harness import VERL_CONFIG_DIR

    config = compose_config(model_dir, env_group="+env=codegym", config_dir=VERL_CONFIG_DIR)
    config.env = "codegym"  # what Hydra stores when the group is not on its search path
    row = {"data_source": "codegym_v1", "prompt": [{"role": "user", "content": "x"}], "agent_name": "codegym_agent",
           "ability": f"codegym_v1@{HOUSES}@{{}}", "reward_model": {"style": "agent_env", "ground_truth": None},
           "extra_info": {"index": 0}}
    with pytest.raises(Exception, match="not the CodeGym config group") as failure:  # Hydra wraps it
        run_worker(config, write_rows([row], tmp_path / "rows.parquet"), {"": []})
    assert isinstance(failure.value, ConfigError) or isinstance(failure.value.__cause__, ConfigError)


@pytest.mark.parametrize(("override", "message"), [
    ("env.runtime=docker", "env.runtime must be one of"),
    ("+env.step_timeuot=3", r"unknown key\(s\) \['step_timeuot'\] in `env`"),
    ("env.episode.call_format=xml", "env.episode: call_format must be one of"),
    ("env.step_timeout=0", "env.step_timeout must be a positive number"),
])
def test_bad_env_values_fail_with_our_message(model_dir: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(compose_config(model_dir, override))


def test_verl_plugin_entry_point_fails_fast_before_starting_ray() -> None:
    done = _cli("-m", "verl_plugin.main_ppo", "env.runtime=docker")
    assert done.returncode != 0
    assert "env.runtime must be one of" in done.stderr and "ray init" not in done.stdout


# -- the example recipes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["codegym_grpo_qwen2_5_7b", "codegym_grpo_qwen2_5_0_5b"])
def test_example_recipe_composes_and_passes_verl_validation(name: str) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    with initialize_config_dir(config_dir=str(EXAMPLES / "config"), version_base=None):
        config = compose(name)
    _assert_codegym(config)
    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    assert config.algorithm.adv_estimator == "grpo" and rollout.n == 8
    assert actor.optim.lr == 1e-6 and not actor.use_kl_loss and not config.algorithm.use_kl_in_reward
    assert not need_reference_policy(config)  # no KL term: no reference model is loaded
    assert load_settings(config).runtime == "sandbox"


def test_7b_recipe_uses_the_papers_lengths() -> None:
    with initialize_config_dir(config_dir=str(EXAMPLES / "config"), version_base=None):
        config = compose("codegym_grpo_qwen2_5_7b")
    assert (config.data.max_prompt_length, config.data.max_response_length) == (5120, 24576)
    assert config.actor_rollout_ref.model.path == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.sh")))
def test_example_script_builds_verl_data_and_names_an_existing_recipe(script: str) -> None:
    text = (EXAMPLES / script).read_text()
    assert subprocess.run(["bash", "-n", str(EXAMPLES / script)]).returncode == 0
    assert "codegym build-data --format verl" in text
    name = text.split("--config-name", 1)[1].split()[0]
    assert (EXAMPLES / "config" / f"{name}.yaml").is_file()
