"""A stand-in for veRL's LLM server that replays scripted model turns (tests, benchmarks, dry runs).

:class:`ReplayServer` has the ``generate`` method agent loops call on ``server_manager``. Each
trajectory is matched to its script on its first call, by a tag found in the decoded prompt (give
every row a unique tag in its user message); later calls with the same ``request_id`` return the
script's next turn, followed by the end-of-turn token; a turn cut to ``max_tokens`` (as a real server
cuts it) or scripted as a :class:`~codegym_adapters.policies.CutTurn` comes without it and with
``stop_reason="length"``. When the script runs out the server keeps answering with :data:`SILENT_TURN`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from verl.workers.rollout.replica import TokenOutput

from codegym_adapters.policies import CutTurn

SILENT_TURN = "I have nothing more to do."


class ReplayServer:
    """Replays ``scripts`` (tag -> model turns as text); texts are tokenized once, up front."""

    def __init__(self, tokenizer: Any, scripts: Mapping[str, Sequence[str]], *, logprobs: bool = False) -> None:
        self.tokenizer = tokenizer
        self.end_ids = [tokenizer.eos_token_id]
        self.scripts = {tag: [self._encode(t) for t in turns] for tag, turns in scripts.items()}
        self.silent = self._encode(SILENT_TURN)
        self.stop_reasons: list[str] = []  # of every call
        self.logprobs = logprobs
        self.calls: list[dict[str, Any]] = []  # request_id, prompt length, max_tokens of every call
        self._cursor: dict[str, tuple[list[list[int]], int]] = {}

    def _encode(self, text: str) -> tuple[list[int], bool]:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return (ids, True) if isinstance(text, CutTurn) else (ids + self.end_ids, False)

    def _script_for(self, prompt_ids: list[int]) -> list[tuple[list[int], bool]]:
        text = self.tokenizer.decode(prompt_ids)
        found = [tag for tag in self.scripts if tag in text]
        if len(found) != 1:
            raise LookupError(f"replay: expected one script tag in the prompt, found {found or 'none'}")
        return self.scripts[found[0]]

    async def generate(
        self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kwargs: Any
    ) -> TokenOutput:
        if request_id not in self._cursor:
            self._cursor[request_id] = (self._script_for(prompt_ids), 0)
        script, turn = self._cursor[request_id]
        self._cursor[request_id] = (script, turn + 1)
        tokens, cut = script[turn] if turn < len(script) else self.silent
        limit = sampling_params.get("max_tokens")
        self.calls.append({"request_id": request_id, "prompt_length": len(prompt_ids), "max_tokens": limit})
        if limit is not None and len(tokens) > limit:
            tokens, cut = tokens[:limit], True
        self.stop_reasons.append("length" if cut else "completed")
        return TokenOutput(
            token_ids=list(tokens),
            log_probs=[-0.5] * len(tokens) if self.logprobs else None,
            stop_reason="length" if cut else "completed",
            num_preempted=0,
        )
