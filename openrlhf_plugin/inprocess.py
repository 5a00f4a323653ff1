"""OpenRLHF's real ``MultiTurnAgentExecutor`` in this process, without vLLM, Ray or a GPU (tests, dry runs).

* :func:`stub_vllm` - where vLLM is not installed (CPU), a module standing in for the few names OpenRLHF
  imports from it at module level; its engine is never used.
* :class:`ScriptedEngine` - stands in for OpenRLHF's vLLM engine actor: replays scripted model turns.
* :func:`write_tiny_tokenizer` - a small byte-level BPE tokenizer with a ChatML chat template, trained
  here (nothing is downloaded).
* :func:`preprocess` / :func:`run_sample` - a dataset row through OpenRLHF's own prompt preprocessing
  (``--data.input_key prompt --data.label_key ability --data.apply_chat_template``), then through an
  executor with a :class:`ScriptedEngine`.

Importing this module imports neither OpenRLHF nor vLLM.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

STOP = "<|im_end|>"
AFTER_SCRIPT = "I have nothing more to do."

# Our own ChatML template (the layout Qwen2/2.5 use): tools listed in the system turn, tool results
# as user turns wrapped in <tool_response>.
CHAT_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}"
    "{{- '# Tools\\n' }}{%- for tool in tools %}{{- tool | tojson }}{{- '\\n' }}{%- endfor %}"
    "{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' and tools %}"
    "{%- elif message.role == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_CORPUS = [
    'Observe the state and call one function per step. {"name": "Observe", "parameters": {}}',
    '<|FunctionCallBegin|>[{"name": "Done", "parameters": {"answer": 12}}]<|FunctionCallEnd|>',
    '<tool_call>{"name": "ComputeDpValue", "arguments": {"i": 3}}</tool_call>',
    "Function: def InitializeDp(): Args: Returns: str: the result. Error: unknown function",
    "houses robber value index reward=1 reward=0 Your answer is correct. Task: environment",
]


def write_tiny_tokenizer(folder: str | Path) -> Path:
    """Train a byte-level BPE tokenizer (every text round-trips exactly), give it the ChatML template
    and ``<|im_end|>`` as its end-of-turn token, and save it into ``folder``; returns ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<|endoftext|>", "<|im_start|>", STOP],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=STOP, pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    return folder


def stub_vllm() -> None:
    """Stand in for vLLM where it is not installed (CPU): only what OpenRLHF imports at module level.
    Idempotent; does nothing where vLLM is installed."""
    if "vllm" in sys.modules or importlib.util.find_spec("vllm") is not None:
        return

    @dataclass
    class SamplingParams:
        temperature: float = 1.0
        top_p: float = 1.0
        top_k: int = -1
        max_tokens: int | None = None
        min_tokens: int = 0
        skip_special_tokens: bool = True
        logprobs: int | None = None

    def _no_engine(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("vLLM is stubbed here: pass a ScriptedEngine")

    vllm = types.ModuleType("vllm")
    vllm.__version__ = "0.29.0"
    vllm.SamplingParams = SamplingParams
    vllm.AsyncEngineArgs = _no_engine
    vllm.AsyncLLMEngine = SimpleNamespace(from_engine_args=_no_engine)
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = dict
    utils = types.ModuleType("vllm.utils")
    utils.random_uuid = lambda: "0"
    vllm.inputs, vllm.utils = inputs, utils
    sys.modules.update({"vllm": vllm, "vllm.inputs": inputs, "vllm.utils": utils})


class ScriptedEngine:
    """Stands in for OpenRLHF's vLLM engine actor: each ``generate`` replays the next scripted turn as
    token ids ending in the stop token, which (as vLLM does) stays out of the text. A turn longer than
    the budget is cut to it with ``finish_reason="length"``, as is a turn scripted as a
    :class:`~codegym_adapters.policies.CutTurn` (without the stop token); after the script, the model
    writes prose."""

    def __init__(self, tokenizer: Any, turns: list[str], after_script: str = AFTER_SCRIPT) -> None:
        self.tokenizer = tokenizer
        self.turns = list(turns)
        self.after_script = after_script
        self.stop_id = tokenizer.convert_tokens_to_ids(STOP)
        self.prompts: list[list[int]] = []  # the prompt tokens of each call
        self.finishes: list[str] = []  # the finish reason of each call

    async def generate(self, prompt_token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None):
        await asyncio.sleep(0)  # other samples run between turns, as on vLLM's loop
        i = len(self.prompts)
        self.prompts.append(list(prompt_token_ids))
        from codegym_adapters.policies import CutTurn

        text = self.turns[i] if i < len(self.turns) else self.after_script
        cut = isinstance(text, CutTurn)
        ids = self.tokenizer.encode(text, add_special_tokens=False) + ([] if cut else [self.stop_id])
        finish = "length" if cut else "stop"
        if len(ids) > sampling_params.max_tokens:
            ids = ids[: sampling_params.max_tokens]
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            finish = "length"
        self.finishes.append(finish)
        logprobs = None
        if sampling_params.logprobs is not None:
            logprobs = [{t: SimpleNamespace(logprob=-0.5)} for t in ids]
        return SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, text=text, finish_reason=finish, logprobs=logprobs)])

    @property
    def calls(self) -> int:
        return len(self.prompts)


def sampling_params(logprobs: int | None = None) -> Any:
    """What OpenRLHF's samples generator sends for a multi-turn rollout (``max_tokens`` unset)."""
    from vllm import SamplingParams

    return SamplingParams(temperature=1.0, top_p=1.0, top_k=-1, max_tokens=None, min_tokens=1,
                          skip_special_tokens=False, logprobs=logprobs)


def preprocess(row: dict[str, Any], tokenizer: Any, label_key: str = "ability") -> tuple[str, Any]:
    """``(prompt, label)`` of a row, as OpenRLHF's prompt dataset makes them."""
    from openrlhf.datasets.prompts_dataset import preprocess_data

    return preprocess_data(row, None, "prompt", label_key, tokenizer.apply_chat_template)


async def run_sample(executor: Any, tokenizer: Any, row: dict[str, Any], turns: list[str], max_length: int = 8192,
                     logprobs: int | None = None, label_key: str = "ability") -> tuple[dict[str, Any], ScriptedEngine]:
    """Preprocess ``row`` as OpenRLHF does, then run the executor on it with a :class:`ScriptedEngine`
    replaying ``turns``; returns the executor's response and the engine."""
    prompt, label = preprocess(row, tokenizer, label_key)
    engine = ScriptedEngine(tokenizer, turns)
    response = await executor.execute(prompt, label, sampling_params(logprobs), max_length, tokenizer, engine)
    return response, engine


def to_experience(response: dict[str, Any], max_len: int) -> Any:
    """OpenRLHF's own conversion of an executor response into a training sample."""
    from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator

    generator = SamplesGenerator.__new__(SamplesGenerator)  # the conversion uses no generator state
    return generator._process_response_into_experience(response, max_len=max_len)
