"""The CodeGym call format as a veRL tool parser (``actor_rollout_ref.rollout.multi_turn.format=codegym``).

Lets veRL's stock loops (``tool_agent``) read ``<|FunctionCallBegin|>[{"name": ..., "parameters":
{...}}]<|FunctionCallEnd|>``. Parsing is the core's :func:`~codegym_adapters.calls.parse_call`; as in
CodeGym, a turn holds at most one call, so only the first is returned. Calls inside reasoning blocks
(``<think>...</think>``) are not calls, as in the CodeGym agent loop.
"""

from __future__ import annotations

import json
import re

from verl.experimental.agent_loop.tool_parser import FunctionCall, ToolParser

from codegym_adapters.calls import CODEGYM_BEGIN, CODEGYM_END, parse_call
from codegym_adapters.reasoning import DEFAULT_REASONING_MARKERS

PARSER_NAME = "codegym"
_BLOCK = re.compile(re.escape(CODEGYM_BEGIN) + r".*?(?:" + re.escape(CODEGYM_END) + r"|$)", re.DOTALL)


@ToolParser.register(PARSER_NAME)
class CodeGymToolParser(ToolParser):
    """Extracts the first CodeGym call of a turn; the text outside call blocks is the content."""

    async def extract_tool_calls(self, responses_ids: list[int], tools: list | None = None) -> tuple[str, list]:
        text = self.tokenizer.decode(responses_ids)
        if CODEGYM_BEGIN not in text:
            return text, []
        parsed = parse_call(text, "codegym", DEFAULT_REASONING_MARKERS)
        content = _BLOCK.sub("", text)
        if parsed.call is None:
            return content, []
        arguments = json.dumps(parsed.call.arguments, ensure_ascii=False)
        return content, [FunctionCall(name=parsed.call.name, arguments=arguments)]
