"""OpenRLHF plugin: CodeGym episodes in OpenRLHF's multi-turn agent executor.

Pass :func:`agent_file_path` (``codegym openrlhf-agent-path``) to OpenRLHF's
``--train.agent_func_path``; configure it with ``CODEGYM_*`` environment variables (see README.md
beside this file). Importing this package does not import OpenRLHF.
"""

from __future__ import annotations

from pathlib import Path


def agent_file_path() -> str:
    """The absolute path of the agent file OpenRLHF loads."""
    return str(Path(__file__).resolve().with_name("agent_file.py"))


__all__ = ["agent_file_path"]
