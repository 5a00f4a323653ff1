"""Fixtures for the OpenRLHF plugin tests: a tiny local tokenizer with a ChatML chat template, and a
clean ``CODEGYM_*`` environment.

Only the LLM is replaced. OpenRLHF's own executor, data preprocessing and experience code run as
shipped; vLLM (GPU-only) is stubbed in ``sys.modules`` as OpenRLHF's own tests do, and the stub's
engine is never used: every test passes an ``openrlhf_harness.ScriptedEngine``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
from typing import Any

import pytest

try:  # by distribution: this folder itself would pass for an `openrlhf` namespace package
    importlib.metadata.version("openrlhf")
except importlib.metadata.PackageNotFoundError:
    # Another environment's run (e.g. the core venv's `pytest tests`): this suite needs
    # .venv-openrlhf (scripts/venv-openrlhf.sh). There, collecting nothing fails the run.
    collect_ignore_glob = ["*.py"]
else:
    from openrlhf_harness import stub_vllm

    stub_vllm()


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A byte-level BPE tokenizer trained here, saved and loaded back through AutoTokenizer."""
    from transformers import AutoTokenizer

    from openrlhf_plugin.inprocess import write_tiny_tokenizer

    return AutoTokenizer.from_pretrained(write_tiny_tokenizer(tmp_path_factory.mktemp("tiny-chatml-tokenizer")))


@pytest.fixture
def agent_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean ``CODEGYM_*`` environment on the in-process runtime; shared runtimes closed after."""
    from openrlhf_plugin import shared_runtime

    for name in [k for k in os.environ if k.startswith("CODEGYM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CODEGYM_RUNTIME", "inprocess")
    yield monkeypatch
    asyncio.run(shared_runtime.close_all())
