"""Importing this module registers CodeGym with veRL in the current process.

It is the target of the ``verl.plugins`` entry point (veRL imports it inside ``import verl``, in the
driver and in every Ray worker) and of ``actor_rollout_ref.model.external_lib`` (imported by each
worker that builds a model config). It also puts the ``env`` config group on Hydra's search path
(:mod:`verl_plugin.searchpath`), so ``+env=codegym`` works on veRL's own command line. Idempotent.
"""

from __future__ import annotations

from .agent_loop import AGENT_NAME, CodeGymAgentLoop
from .searchpath import register_search_path
from .tool_parser import PARSER_NAME, CodeGymToolParser

register_search_path()

__all__ = ["AGENT_NAME", "PARSER_NAME", "CodeGymAgentLoop", "CodeGymToolParser"]
