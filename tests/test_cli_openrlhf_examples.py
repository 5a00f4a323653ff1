"""The OpenRLHF example scripts compose a complete `ray job submit` command line (issue 14, item 13):
a `ray` stand-in on PATH records what the script runs, from a temp folder and with relative paths
given, as a newcomer would. Every path the job receives is absolute (a Ray job runs in a folder of
Ray's choosing), the runtime_env carries the CODEGYM_* variables and, when asked, the working_dir.
Whether OpenRLHF's own parser accepts the arguments is checked in tests/openrlhf/test_example_flags.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

EXAMPLES = REPO / "examples" / "openrlhf"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.sh") if not p.name.startswith("_"))
PATH_FLAGS = ("--train.agent_func_path", "--data.prompt_dataset", "--eval.dataset", "--ckpt.output_dir",
              "--ckpt.path", "--logger.tensorboard_dir")
RAY_STANDIN = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["RAY_ARGV_OUT"], "w") as f:
    json.dump({"argv": sys.argv[1:], "cwd": os.getcwd()}, f)
"""


def _submit(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    ray = bin_dir / "ray"
    ray.write_text(RAY_STANDIN)
    ray.chmod(0o755)
    record = tmp_path / "ray-argv.json"
    script = env.pop("SCRIPT", SCRIPTS[0])
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGYM_", "WANDB_", "PRINT_ARGS"))}
    run_env.update(PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   RAY_ARGV_OUT=str(record), **env)
    out = subprocess.run(["bash", str(EXAMPLES / script)], cwd=tmp_path / "work", capture_output=True, text=True,
                         env=run_env, timeout=120)
    return out, (json.loads(record.read_text()) if record.exists() else None)


@pytest.fixture
def work(tmp_path) -> Path:
    """A folder to submit from, with data as `codegym build-data --format openrlhf --out data` leaves it."""
    (tmp_path / "work" / "data").mkdir(parents=True)
    (tmp_path / "work" / "data" / "train.jsonl").write_text("{}\n")
    (tmp_path / "work" / "data" / "val.jsonl").write_text("{}\n")
    return tmp_path


def _flags(argv: list[str]) -> dict[str, str]:
    return {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a in PATH_FLAGS}


@pytest.mark.parametrize("script", SCRIPTS)
def test_submitted_command_is_complete_with_absolute_paths(script, work):
    out, ray = _submit(work, SCRIPT=script, DATA_DIR="data", SAVE_DIR="./runs/x", CODEGYM_STEP_TIMEOUT="5")
    assert out.returncode == 0, out.stderr
    assert ray is not None, "the script did not run `ray`"
    argv = ray["argv"]
    assert argv[:2] == ["job", "submit"]
    split = argv.index("--")
    options, command = argv[2:split], argv[split + 1:]
    assert "--address=http://127.0.0.1:8265" in options
    (runtime_json,) = [o.split("=", 1)[1] for o in options if o.startswith("--runtime-env-json=")]
    runtime_env = json.loads(runtime_json)
    assert runtime_env["env_vars"]["CODEGYM_STEP_TIMEOUT"] == "5"
    assert runtime_env["env_vars"]["CODEGYM_DEFAULT_TURN_LIMIT"] == "256"
    assert "working_dir" not in runtime_env
    assert command[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
    paths = _flags(command)
    assert set(paths) == set(PATH_FLAGS), f"missing: {set(PATH_FLAGS) - set(paths)}"
    assert all(Path(p).is_absolute() for p in paths.values()), paths
    assert paths["--data.prompt_dataset"] == str(work / "work" / "data" / "train.jsonl")
    assert paths["--eval.dataset"] == str(work / "work" / "data" / "val.jsonl")
    assert paths["--ckpt.path"] == str(work / "work" / "runs" / "x" / "ckpt")
    assert Path(paths["--train.agent_func_path"]).is_file()
    assert "--actor.model_name_or_path" in command and command[-1] != "--"


def test_working_dir_reaches_the_runtime_env_as_an_absolute_path(work):
    (work / "work" / "mycode").mkdir()
    out, ray = _submit(work, WORKING_DIR="mycode")
    assert out.returncode == 0, out.stderr
    (runtime_json,) = [o.split("=", 1)[1] for o in ray["argv"] if o.startswith("--runtime-env-json=")]
    assert json.loads(runtime_json)["working_dir"] == str(work / "work" / "mycode")


def test_missing_data_is_refused_before_submitting(work):
    out, ray = _submit(work, DATA_DIR="nowhere")
    assert out.returncode == 2 and ray is None
    assert "nowhere/train.jsonl" in out.stderr and "codegym build-data" in out.stderr
