"""Fixtures for the veRL plugin tests (run with .venv-verl/bin/pytest tests/verl)."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

# These tests need veRL, which lives in its own environment (.venv-verl, made by scripts/venv-verl.sh);
# elsewhere this folder is not collected. Checked by distribution: this folder itself would pass for
# a `verl` namespace package.
try:
    importlib.metadata.version("verl")
except importlib.metadata.PackageNotFoundError:
    collect_ignore_glob = ["*.py"]

REPO = Path(__file__).resolve().parents[2]
# The Hydra search-path plugin lives in the `hydra_plugins` namespace at the repo root; make it
# importable even where the package was installed before it was listed, so Hydra finds it.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verl_plugin.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)
