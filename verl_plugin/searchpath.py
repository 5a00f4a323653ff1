"""Puts the CodeGym config group on Hydra's search path, and veRL's configs after it.

With it, ``python -m verl.trainer.main_ppo +env=codegym`` finds ``env/codegym.yaml``, and a user's
own YAML (``--config-path``/``--config-name``) can say ``defaults: [ppo_trainer, {env: codegym},
_self_]`` because ``ppo_trainer`` is found too. Both are appended, so an app's own configs win.

Hydra finds the plugin two ways: in the ``hydra_plugins`` namespace (a regular install), and through
:func:`register_search_path`, which ``verl_plugin.register`` calls on ``import verl`` (editable installs
leave the ``hydra_plugins`` namespace empty, so Hydra's own scan misses it there).
"""

from __future__ import annotations

import importlib.util

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

CODEGYM_CONFIGS = "pkg://verl_plugin.config"
VERL_CONFIGS = "pkg://verl.trainer.config"


class CodeGymSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="codegym-adapters", path=CODEGYM_CONFIGS)
        if importlib.util.find_spec("verl") is not None:
            search_path.append(provider="codegym-adapters", path=VERL_CONFIGS)


def register_search_path() -> None:
    """Register the plugin with Hydra in this process (idempotent)."""
    Plugins.instance().register(CodeGymSearchPathPlugin)
