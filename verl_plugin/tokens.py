"""The token stream of one trajectory, built with veRL's own Continuous Token helpers.

Model tokens are appended exactly as generated (mask 1, with their logprobs); observations are
appended as chat-template suffixes (mask 0) by the builder veRL chose for the model family, so the
ids match what veRL's stock loops and trainer expect, with no re-tokenization of earlier turns.

This is also the one place that knows veRL version differences: 0.9.1 names the context merge
``ct_merge_context_msg``, 0.9.0 ``ct_merge_non_assistant_msg`` (and only has a builder when
``data.continuous_token.enable`` is set).
"""

from __future__ import annotations

from typing import Any


class TokenStream:
    """Prompt ids, then response ids with their mask (1 = generated) and logprobs."""

    def __init__(self, agent_loop: Any, prompt_ids: list[int]) -> None:
        self._loop = agent_loop
        self._builder = agent_loop.continuous_token_builder
        if self._builder is None:
            raise RuntimeError(
                "the CodeGym agent loop needs veRL's Continuous Token builder; on veRL 0.9.0 set "
                "data.continuous_token.enable=true (it is always on from 0.9.1)"
            )
        merge = getattr(agent_loop, "ct_merge_context_msg", None) or agent_loop.ct_merge_non_assistant_msg
        self._merge_context = merge
        self.ids: list[int] = list(prompt_ids)
        self.mask: list[int] = []
        self.logprobs: list[float] | None = None

    def add_generated(self, token_ids: list[int], logprobs: list[float] | None) -> None:
        """Append one model turn (mask 1). Runs inline: it only concatenates lists."""
        if logprobs and self.logprobs is None:
            self.logprobs = [0.0] * len(self.mask)
        merged = self._builder.merge_assistant_tokens(self.ids, token_ids)
        self.mask, self.logprobs = self._builder.align_response_metadata(
            merged, self.mask, self.logprobs,
            assistant_logprobs=(logprobs or [0.0] * len(token_ids)) if self.logprobs is not None else None,
        )  # fmt: skip
        self.ids = merged.token_ids

    async def add_context(
        self, previous: list[dict[str, Any]], updated: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
        budget: int,
    ) -> bool:
        """Append the messages ``updated`` adds to ``previous`` (mask 0), unless the response would then
        reach ``budget`` tokens; returns whether they were appended."""
        merged, mask, logprobs = await self._merge_context(
            previous, updated, self.ids, self.mask, self.logprobs, tools=tools
        )
        if len(mask) >= budget:
            return False
        self.ids, self.mask, self.logprobs = merged.token_ids, mask, logprobs
        return True

    @property
    def response_length(self) -> int:
        return len(self.mask)

    def split(self, limit: int) -> tuple[list[int], list[int], list[int], list[float] | None]:
        """``(prompt_ids, response_ids, response_mask, response_logprobs)``, the response cut to ``limit``."""
        n = len(self.mask)
        prompt = self.ids[: len(self.ids) - n]
        response = self.ids[len(self.ids) - n :]
        logprobs = self.logprobs[:limit] if self.logprobs is not None else None
        return prompt, response[:limit], self.mask[:limit], logprobs
