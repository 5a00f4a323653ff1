"""The text around observations, as a model's chat template frames a conversation.

OpenRLHF appends our feedback text to the token stream right after the tokens vLLM generated. vLLM
keeps the stop token (e.g. ``<|im_end|>``) in those tokens but leaves it out of the text, so the
feedback must start just after it: the rest of the turn boundary, the observation as a message of
its role, and the header of the next assistant turn. :class:`ChatTurns` learns these pieces once per
tokenizer and role by rendering a probe conversation through the tokenizer's own chat template
(``template``), or uses fixed ChatML pieces (``chatml``, Qwen's format).
"""

from __future__ import annotations

import logging
from typing import Any

from codegym_adapters.prompts import Prompt

logger = logging.getLogger(__name__)

_REPLY = "CODEGYMPROBEREPLY"
_OBSERVATION = "CODEGYMPROBEOBSERVATION"


class ChatTurns:
    """Renders prompts and feedback for one tokenizer (``None``: ChatML pieces, dataset prompts)."""

    def __init__(self, tokenizer: Any = None, boundary: str = "template") -> None:
        self.tokenizer = tokenizer
        self.boundary = boundary if tokenizer is not None else "chatml"
        self._pieces: dict[str, tuple[str, str]] = {}

    def feedback(self, role: str, text: str) -> str:
        """What to append after a generated reply so the model reads ``text`` as a ``role`` message
        and answers next."""
        if role not in self._pieces:
            self._pieces[role] = self._learn(role)
        before, after = self._pieces[role]
        return f"{before}{text}{after}"

    def prompt(self, prompt: Prompt) -> str | None:
        """The episode's opening messages (and tool schemas) rendered with a generation prompt, or
        ``None`` when there is no tokenizer to render with."""
        if self.tokenizer is None:
            return None
        kwargs = {"tools": prompt.tools} if prompt.tools else {}
        return self.tokenizer.apply_chat_template(
            prompt.messages, tokenize=False, add_generation_prompt=True, **kwargs
        )

    def _learn(self, role: str) -> tuple[str, str]:
        if self.boundary == "template":
            for probe_role in dict.fromkeys((role, "user")):
                try:
                    pieces = self._probe(probe_role)
                except Exception as exc:  # a template may reject a role or a probe conversation
                    logger.warning("chat template cannot render a %r observation (%s: %s)",
                                   probe_role, type(exc).__name__, exc)
                    continue
                if probe_role != role:
                    logger.warning("feeding %r observations back as %r messages", role, probe_role)
                return pieces
            logger.warning("falling back to ChatML turn boundaries for %r observations", role)
        return f"\n<|im_start|>{role}\n", "<|im_end|>\n<|im_start|>assistant\n"

    def _probe(self, role: str) -> tuple[str, str]:
        messages = [
            {"role": "user", "content": "Hello."},
            {"role": "assistant", "content": _REPLY},
            {"role": role, "content": _OBSERVATION},
        ]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        start = text.index(_REPLY) + len(_REPLY)
        middle = text.index(_OBSERVATION, start)
        before, after = text[start:middle], text[middle + len(_OBSERVATION):]
        return before[len(self._stop_prefix(before)):], after

    def _stop_prefix(self, text: str) -> str:
        """The special token the boundary starts with (the end-of-turn token vLLM stopped on), if any."""
        specials = {str(t) for t in (getattr(self.tokenizer, "all_special_tokens", None) or [])}
        decoder = getattr(self.tokenizer, "added_tokens_decoder", None) or {}
        specials.update(str(t) for t in decoder.values() if getattr(t, "special", False))
        matches = [s for s in specials if s and text.startswith(s)]
        return max(matches, key=len, default="")
