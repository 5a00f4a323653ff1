"""Helpers for the OpenRLHF plugin tests: CodeGym rows in the dataset schema and the scripted turns of
policies; the vLLM stand-in and the OpenRLHF steps around the executor (prompt preprocessing,
conversion into a training sample) live in :mod:`openrlhf_plugin.inprocess` and are re-exported here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openrlhf_plugin.inprocess import (
    STOP,
    ScriptedEngine,
    run_sample,
    sampling_params,
    stub_vllm,
    to_experience,
)

__all__ = ["STOP", "ScriptedEngine", "run_sample", "sampling_params", "stub_vllm", "to_experience"]  # re-exported

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "openrlhf"


def ability(env: str, options: dict[str, Any]) -> str:
    return f"codegym_v1@{env}@{json.dumps(options)}"


async def make_row(env: str, options: dict[str, Any], prompt_style: str = "codegym", **extra: Any) -> dict[str, Any]:
    """A training row in the CodeGym dataset schema (codegym-format.md section 2), as ``codegym
    build-data`` writes it, with the prompt built by the core from the env."""
    from codegym_adapters.prompts import build_prompt
    from codegym_adapters.runtime import make_runtime

    label = ability(env, options)
    async with make_runtime("inprocess") as runtime:
        async with await runtime.open(label) as session:
            prompt = build_prompt(prompt_style, session.info, "codegym")
    return {
        "data_source": "codegym_v1",
        "datasource": "codegym_v1",
        "prompt": prompt.messages,
        "ability": label,
        "reward_model": {"style": "agent_env", "ground_truth": None},
        "answer": "",
        "extra_info": {"index": 0, **extra},
    }


async def bundled_configs(env: str) -> list[dict[str, Any]]:
    from codegym_adapters.runtime import make_runtime

    async with make_runtime("inprocess") as runtime:
        return (await runtime.module_info(env))["configs"]


async def policy_turns(policy: str, label: str, fmt: str = "codegym") -> list[str]:
    """The model turns a scripted policy writes for ``label``."""
    from codegym_adapters.policies import get_policy
    from codegym_adapters.runtime import make_runtime
    from codegym_adapters.tasks import Task

    task = Task.from_env_string(label)
    async with make_runtime("inprocess") as runtime:
        async with await runtime.open(task.env) as session:
            return await get_policy(policy).script(runtime, task, session.info, fmt)


def prompt_length(tokenizer: Any, row: dict[str, Any]) -> int:
    """Tokens of the row's prompt as OpenRLHF renders it."""
    text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    return len(tokenizer.encode(text, add_special_tokens=False))
