"""The example training scripts' arguments pass OpenRLHF 0.11.2's own argument parser and the checks
its ``train_ppo_ray`` entry point runs before training.

The parser is built inside ``if __name__ == "__main__":`` of ``openrlhf/cli/train_ppo_ray.py``; the
test runs that block as shipped, with ``train`` replaced by a function that keeps the arguments
(the module's GPU imports above it are not needed for parsing).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from openrlhf_harness import EXAMPLES

import openrlhf_plugin

SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.sh") if not p.name.startswith("_"))


def script_args(script: str, data_dir: Path, **env: str) -> list[str]:
    """The trainer arguments ``script`` would submit (its ``PRINT_ARGS`` mode)."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGYM_", "WANDB_"))}
    run_env.update(PRINT_ARGS="1", AGENT=openrlhf_plugin.agent_file_path(), DATA_DIR=str(data_dir), **env)
    out = subprocess.run(["bash", str(EXAMPLES / script)], capture_output=True, env=run_env, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode().split("\0")[:-1]


def openrlhf_main(argv: list[str]) -> SimpleNamespace:
    """Run train_ppo_ray's ``__main__`` block on ``argv``; returns the arguments ``train`` would get."""
    origin = importlib.util.find_spec("openrlhf.cli.train_ppo_ray").origin
    tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    main = next(node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
    code = compile(ast.Module(body=main.body, type_ignores=[]), origin, "exec")
    trained: list[SimpleNamespace] = []
    namespace = {"__name__": "__main__", "argparse": argparse, "os": os, "datetime": datetime,
                 "train": trained.append}
    saved = sys.argv
    sys.argv = ["train_ppo_ray.py", *argv]
    try:
        exec(code, namespace)  # noqa: S102 - OpenRLHF's own parser and checks
    finally:
        sys.argv = saved
    assert len(trained) == 1
    return trained[0]


def test_there_are_example_scripts():
    assert len(SCRIPTS) >= 2


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("with_eval_and_wandb", [False, True])
def test_example_flags_are_accepted_by_openrlhfs_parser(script, with_eval_and_wandb, tmp_path):
    (tmp_path / "train.jsonl").write_text("{}\n")
    env = {}
    if with_eval_and_wandb:
        (tmp_path / "val.jsonl").write_text("{}\n")
        env["WANDB_API_KEY"] = "test-key"
    argv = script_args(script, tmp_path, **env)
    args = openrlhf_main(argv)

    assert args.train.agent_func_path == openrlhf_plugin.agent_file_path()
    assert args.reward.remote_url == ["agent"]  # OpenRLHF's marker: the reward comes from the agent
    assert args.data.prompt_dataset == str(tmp_path / "train.jsonl")
    assert (args.data.input_key, args.data.label_key, args.data.apply_chat_template) == ("prompt", "label", True)
    assert args.rollout.n_samples_per_prompt > 1
    assert (args.eval.dataset is not None) == with_eval_and_wandb
    assert (args.logger.wandb.key is not None) == with_eval_and_wandb
