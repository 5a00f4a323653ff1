"""OpenRLHF plugin: CodeGym episodes in OpenRLHF's multi-turn agent executor.

Pass :func:`agent_file_path` (``codegym openrlhf-agent-path``) to OpenRLHF's
``--train.agent_func_path``; configure it with ``CODEGYM_*`` environment variables (see README.md
beside this file). Importing this package does not import OpenRLHF.

* :mod:`.agent` - the agent executor: one CodeGym episode per sample; :mod:`.agent_file` - the file
  OpenRLHF loads; :mod:`.command` - its ``codegym openrlhf-*`` subcommands.
* :mod:`.settings` - the ``CODEGYM_*`` options; :mod:`.shared_runtime` - the process's env runtime;
  :mod:`.chat_turns` - the text around observations; :mod:`.extra_logs` - per-episode metrics.
* :mod:`.dry_run` - ``python -m openrlhf_plugin.dry_run``: rows through OpenRLHF's real executor
  (:mod:`.inprocess`) with scripted policies as the model; its OpenRLHF token plumbing only, the rest
  is :mod:`codegym_adapters.dry_run`.
"""

from __future__ import annotations

from pathlib import Path


def agent_file_path() -> str:
    """The absolute path of the agent file OpenRLHF loads."""
    return str(Path(__file__).resolve().with_name("agent_file.py"))


__all__ = ["agent_file_path"]
