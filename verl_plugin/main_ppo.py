"""``python -m verl_plugin.main_ppo env=codegym ...``: veRL's PPO/GRPO trainer with CodeGym.

The primary config (``config/codegym_trainer.yaml``) is veRL's ``ppo_trainer`` plus the ``env``
group, so every veRL override works unchanged. The ``env:`` block is checked here, before Ray
starts, so a misconfiguration fails in seconds rather than at the first rollout.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import verl_plugin.register  # noqa: F401 - registers the agent loop and tool parser in the driver

from .settings import load_settings


@hydra.main(config_path="config", config_name="codegym_trainer", version_base=None)
def main(config: DictConfig) -> None:
    load_settings(config)
    from verl.trainer.main_ppo import main as verl_main

    verl_main.__wrapped__(config)


if __name__ == "__main__":
    main()
