"""The CodeGym call format in veRL's ToolParser registry (``multi_turn.format=codegym``)."""

from __future__ import annotations

import asyncio
import json

import pytest
from verl.experimental.agent_loop.tool_parser import ToolParser

import verl_plugin.register  # noqa: F401


def _extract(tokenizer, text: str):
    parser = ToolParser.get_tool_parser("codegym", tokenizer)
    ids = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
    return asyncio.run(parser.extract_tool_calls(ids))


def test_codegym_format_is_registered(tokenizer) -> None:
    assert type(ToolParser.get_tool_parser("codegym", tokenizer)).__name__ == "CodeGymToolParser"


def test_a_codegym_call_becomes_a_function_call_with_json_arguments(tokenizer) -> None:
    text = 'Let me look. <|FunctionCallBegin|>[{"name": "ComputeDpValue", "parameters": {"index": 3}}]<|FunctionCallEnd|>'
    content, calls = _extract(tokenizer, text)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("ComputeDpValue", {"index": 3})]
    assert "FunctionCall" not in content and content.startswith("Let me look.")


def test_only_the_first_call_of_a_turn_is_used(tokenizer) -> None:
    text = '<|FunctionCallBegin|>[{"name": "Observe", "parameters": {}}, {"name": "Done", "parameters": {"answer": 1}}]<|FunctionCallEnd|>'
    _, calls = _extract(tokenizer, text)
    assert [c.name for c in calls] == ["Observe"]


@pytest.mark.parametrize("text", [
    '<|FunctionCallBegin|>[{"name": "Observe", "parameters": {]<|FunctionCallEnd|>',
    "No call here, just an answer: 42.",
])
def test_malformed_or_missing_calls_give_no_function_call(tokenizer, text: str) -> None:
    content, calls = _extract(tokenizer, text)
    assert calls == []
    if "FunctionCallBegin" not in text:
        assert content.startswith(text)


def test_a_call_inside_the_reasoning_is_no_function_call(tokenizer) -> None:
    draft = '<|FunctionCallBegin|>[{"name": "Done", "parameters": {"answer": 1}}]<|FunctionCallEnd|>'
    _, calls = _extract(tokenizer, f"<think>{draft}</think>Let me look first.")
    assert calls == []
    _, calls = _extract(tokenizer, f"<think>{draft}</think>" + draft.replace("Done", "Observe"))
    assert [c.name for c in calls] == ["Observe"]
