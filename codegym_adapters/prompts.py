"""Prompt styles: what the policy sees before its first turn, and how observations come back.

* ``codegym``: the dataset row's own CodeGym messages (a ``functions`` system message listing the
  tools, then a user message with instructions and the task). Built from the env when a row has none.
* ``native``: our instruction text and the task as messages, with the tools as OpenAI function schemas
  for the chat template's own tool rendering. Observations come back as ``tool`` messages.

The instruction text is ours; no upstream prompt wording is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .calls import call_instructions
from .runtime.base import SessionInfo
from .task_text import warn_missing_task
from .tools import openai_tools, tool_listing

PROMPT_STYLES = ("codegym", "native")

_RULES = (
    "Work step by step: make exactly one function call in each reply, then wait for its result, which "
    "arrives in the next message. Do not write or run code; use only the functions. When you are sure "
    "of the answer, submit it with Done; the first Done ends the episode."
)


@dataclass
class Prompt:
    """The opening messages, the tool schemas for the chat template (native style only), and the
    role under which observations are fed back."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    observation_role: str

    def observation_message(self, text: str) -> dict[str, Any]:
        return {"role": self.observation_role, "content": text}


def task_text(info: SessionInfo) -> str:
    """The task shown to the agent: the env's own task text, or (with a warning, once per env) a
    generic one naming the env (``task_text.py`` says where task text comes from)."""
    if info.task and info.task.strip():
        return info.task.strip()
    warn_missing_task(info.env_name)  # once per env: a prompt without its problem statement
    return (
        f"Solve the task of the environment {info.env_name}. Use Observe to see its current state, "
        "use the other functions to work towards the answer, and submit it with Done."
    )


def build_prompt(
    style: str,
    info: SessionInfo,
    call_format: str,
    row_messages: list[dict[str, Any]] | None = None,
) -> Prompt:
    """The prompt for one episode in ``style`` (see the module docstring)."""
    if style == "codegym":
        if row_messages:
            return Prompt([dict(m) for m in row_messages], None, "user")
        fmt = "codegym" if call_format == "auto" else call_format
        return Prompt(
            [
                {"role": "system", "name": "functions", "content": tool_listing(info.actions)},
                {
                    "role": "user",
                    "content": f"{_RULES} {call_instructions(fmt)}\n\nTask:\n{task_text(info)}",
                },
            ],
            None,
            "user",
        )
    if style == "native":
        return Prompt(
            [
                {"role": "system", "content": f"You are an agent that solves tasks with function calls. {_RULES}"},
                {"role": "user", "content": task_text(info)},
            ],
            openai_tools(info.actions),
            "tool",
        )
    raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(PROMPT_STYLES)}")
