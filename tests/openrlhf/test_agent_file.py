"""The agent file loads the way OpenRLHF's vLLM engine actor loads it, and the ``codegym``
subcommands that point OpenRLHF at it work."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from openrlhf_harness import bundled_configs, make_row, policy_turns, run_sample

import openrlhf_plugin
from openrlhf_plugin import command

ROBBER = "Bundled_A01__HouseRobberEnv"


def test_agent_file_loads_through_openrlhfs_own_loader_and_runs_an_episode(agent_env, tokenizer):
    from openrlhf.trainer.ray.vllm_engine import _load_agent_executor
    from openrlhf.utils.agent import AgentExecutorBase, MultiTurnAgentExecutor

    path = openrlhf_plugin.agent_file_path()
    assert Path(path).is_absolute() and Path(path).is_file()
    before = set(sys.modules)
    executor = _load_agent_executor(path)

    assert isinstance(executor, AgentExecutorBase) and isinstance(executor, MultiTurnAgentExecutor)
    assert "agent_module" not in sys.modules  # loaded by path, as a module nobody can import
    assert not any("agent_file" in name for name in set(sys.modules) - before)

    row = asyncio.run(make_row(ROBBER, asyncio.run(bundled_configs(ROBBER))[0]))
    turns = asyncio.run(policy_turns("oracle", row["ability"]))
    response, _ = asyncio.run(run_sample(executor, tokenizer, row, turns))
    assert response["reward"] == 1.0


def test_agent_file_loads_in_a_fresh_interpreter(agent_env):
    harness = Path(__file__).resolve().parent
    code = (
        f"import sys; sys.path.insert(0, {str(harness)!r}); import openrlhf_harness; openrlhf_harness.stub_vllm()\n"
        "from openrlhf.trainer.ray.vllm_engine import _load_agent_executor\n"
        f"executor = _load_agent_executor({openrlhf_plugin.agent_file_path()!r})\n"
        "print(type(executor).__module__, type(executor).__name__, executor.settings.runtime)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["openrlhf_plugin.agent", "AgentExecutor", "inprocess"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codegym")
    command.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_agent_path_command_prints_the_agent_file(capsys):
    args = _parser().parse_args(["openrlhf-agent-path"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == openrlhf_plugin.agent_file_path()


def test_runtime_env_command_forwards_every_codegym_variable(agent_env, capsys):
    agent_env.setenv("CODEGYM_DEFAULT_TURN_LIMIT", "512")
    agent_env.setenv("CODEGYM_PROMPT_STYLE", "native")
    args = _parser().parse_args(["openrlhf-runtime-env"])
    assert args.func(args) == 0
    env = json.loads(capsys.readouterr().out)
    assert env == {"env_vars": {"CODEGYM_RUNTIME": "inprocess", "CODEGYM_DEFAULT_TURN_LIMIT": "512",
                                "CODEGYM_PROMPT_STYLE": "native"}}


def test_runtime_env_command_refuses_a_malformed_variable(agent_env):
    agent_env.setenv("CODEGYM_DEFAULT_TURN_LIMIT", "lots")
    args = _parser().parse_args(["openrlhf-runtime-env"])
    with pytest.raises(ValueError, match="CODEGYM_DEFAULT_TURN_LIMIT"):
        args.func(args)


def test_codegym_cli_has_the_plugin_commands():
    from codegym_adapters import cli

    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if "openrlhf-agent-path" not in sub.choices:
        pytest.skip("openrlhf_plugin.command.register is not in codegym_adapters.cli._COMMANDS yet")
    out = subprocess.run([sys.executable, "-m", "codegym_adapters.cli", "openrlhf-agent-path"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == openrlhf_plugin.agent_file_path()
