"""``codegym`` subcommands of the OpenRLHF plugin (registered through ``codegym_adapters.cli``).

* ``codegym openrlhf-agent-path``: the agent file for ``--train.agent_func_path``.
* ``codegym openrlhf-runtime-env``: a Ray ``runtime_env`` JSON forwarding the ``CODEGYM_*`` variables
  set here (checked first), for ``ray job submit --runtime-env-json``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any

from . import agent_file_path
from .settings import AgentSettings, forwarded_variables, variables


def cmd_agent_path(args: argparse.Namespace) -> int:
    print(agent_file_path())
    return 0


def cmd_runtime_env(args: argparse.Namespace) -> int:
    AgentSettings.from_environ()  # a malformed variable fails here, not in every engine actor
    env: dict[str, Any] = {"env_vars": forwarded_variables()}
    for name in sorted(set(env["env_vars"]) - set(variables())):  # a misspelt option would do nothing
        near = difflib.get_close_matches(name, variables(), n=1)
        print(f"codegym openrlhf-runtime-env: warning: {name} is forwarded but the agent does not read it"
              + (f" (did you mean {near[0]}?)" if near else ""), file=sys.stderr)
    if args.working_dir:
        env["working_dir"] = args.working_dir
    print(json.dumps(env))
    return 0


def register(subparsers: Any) -> None:
    """Add the plugin's subcommands to the ``codegym`` parser."""
    p = subparsers.add_parser("openrlhf-agent-path", help="print the agent file for --train.agent_func_path")
    p.set_defaults(func=cmd_agent_path)
    p = subparsers.add_parser(
        "openrlhf-runtime-env", help="print a Ray runtime_env JSON with the CODEGYM_* variables",
        description="Print a Ray runtime_env JSON (for `ray job submit --runtime-env-json`) that forwards "
                    "the CODEGYM_* variables set in this shell, checked first."
    )
    p.add_argument("--working-dir", default="", metavar="DIR",
                   help="also ship this folder as the job's working_dir (relative paths in the job "
                        "resolve inside it)")
    p.set_defaults(func=cmd_runtime_env)
