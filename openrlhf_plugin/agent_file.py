"""The agent file for OpenRLHF: pass its path to ``--train.agent_func_path``.

``codegym openrlhf-agent-path`` prints that path. OpenRLHF loads this file by path (not as a package
module) in every vLLM engine actor and constructs ``AgentExecutor()``; options come from ``CODEGYM_*``
environment variables (``openrlhf_plugin/README.md``).
"""

from openrlhf_plugin.agent import AgentExecutor

__all__ = ["AgentExecutor"]
