"""Feedback text is framed by the model's chat template: it starts right after the end-of-turn token
vLLM generated and ends with the next assistant header."""

from __future__ import annotations

from codegym_adapters.prompts import Prompt
from openrlhf_plugin.chat_turns import ChatTurns
from openrlhf_plugin.extra_logs import episode_logs

NEXT = "<|im_end|>\n<|im_start|>assistant\n"


def test_pieces_come_from_the_tokenizers_template(tokenizer):
    turns = ChatTurns(tokenizer)
    assert turns.feedback("user", "obs") == "\n<|im_start|>user\nobs" + NEXT
    assert turns.feedback("tool", "obs") == "\n<|im_start|>user\n<tool_response>\nobs\n</tool_response>" + NEXT


def test_chatml_pieces_on_request_or_without_a_tokenizer(tokenizer):
    for turns in (ChatTurns(tokenizer, "chatml"), ChatTurns(None)):
        assert turns.feedback("user", "obs") == "\n<|im_start|>user\nobs" + NEXT
    assert ChatTurns(None).prompt(Prompt([{"role": "user", "content": "hi"}], None, "user")) is None


def test_prompt_is_rendered_with_tool_schemas(tokenizer):
    tools = [{"type": "function", "function": {"name": "Observe", "parameters": {}}}]
    text = ChatTurns(tokenizer).prompt(Prompt([{"role": "user", "content": "hi"}], tools, "tool"))
    assert text.startswith("<|im_start|>system\n# Tools\n") and text.endswith("<|im_start|>assistant\n")


class NoToolRoleTokenizer:
    """A template that knows only system, user and assistant turns, with ``[/T]`` ending a turn."""

    all_special_tokens = ["[/T]"]

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False, **kwargs):
        if any(m["role"] == "tool" for m in messages):
            raise ValueError("unknown role: tool")
        text = "".join(f"[{m['role']}]{m['content']}[/T]" for m in messages)
        return text + ("[assistant]" if add_generation_prompt else "")


def test_a_role_the_template_rejects_is_fed_back_as_a_user_turn():
    assert ChatTurns(NoToolRoleTokenizer()).feedback("tool", "obs") == "[user]obs[/T][assistant]"


def test_a_template_that_cannot_render_a_conversation_falls_back_to_chatml():
    class Broken(NoToolRoleTokenizer):
        def apply_chat_template(self, *args, **kwargs):
            raise RuntimeError("no template")

    assert ChatTurns(Broken()).feedback("user", "obs") == "\n<|im_start|>user\nobs" + NEXT


def test_a_running_episode_is_logged_as_cut_by_the_budget():
    logs = episode_logs({"done_reason": "", "turns": 3})
    assert logs["codegym_end_length"] == 1.0 and logs["codegym_turns"] == 3.0
    assert set(logs) == set(episode_logs(None)) == set(episode_logs({"done_reason": "done", "reward": 1.0}))
