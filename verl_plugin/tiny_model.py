"""A tiny Qwen2-style model directory (tokenizer, chat template, ``config.json``; no weights).

Tests, benchmarks and dry runs need a real Hugging Face tokenizer with a ChatML chat template, and a
``config.json`` whose ``model_type`` makes veRL pick its Qwen token builder, but nothing may be
downloaded. :func:`write_tiny_model` trains a byte-level BPE on a small corpus (so every text
round-trips exactly) and saves it with our own ChatML template, which renders system, user,
assistant (with ``tool_calls``) and ``tool`` messages and tool schemas the way Qwen2.5 models see them.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Added as ordinary (non-special) tokens, as Qwen2.5 does for its tool tags: decoding keeps them.
TOOL_TOKENS = [
    "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
    "<|FunctionCallBegin|>", "<|FunctionCallEnd|>",
]  # fmt: skip

# Our own ChatML template (Qwen2-style layout). Tool schemas go into the system turn; consecutive
# tool messages share one user turn of <tool_response> blocks.
CHAT_TEMPLATE = r"""
{%- set ns = namespace(start=0) -%}
{%- if messages and messages[0].role == 'system' -%}
  {%- set system_text = messages[0].content -%}
  {%- set ns.start = 1 -%}
{%- else -%}
  {%- set system_text = 'You are a helpful assistant.' -%}
{%- endif -%}
{{- '<|im_start|>system\n' + system_text -}}
{%- if tools -%}
  {{- '\n\n# Tools\nCall a function by writing <tool_call>{"name": ..., "arguments": {...}}</tool_call>.\n<tools>' -}}
  {%- for tool in tools -%}{{- '\n' + (tool | tojson) -}}{%- endfor -%}
  {{- '\n</tools>' -}}
{%- endif -%}
{{- '<|im_end|>\n' -}}
{%- for message in messages[ns.start:] -%}
  {%- if message.role == 'tool' -%}
    {%- if loop.first or loop.previtem.role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
    {{- '\n<tool_response>\n' + message.content + '\n</tool_response>' -}}
    {%- if loop.last or loop.nextitem.role != 'tool' -%}{{- '<|im_end|>\n' -}}{%- endif -%}
  {%- elif message.role == 'assistant' -%}
    {{- '<|im_start|>assistant\n' + (message.content or '') -}}
    {%- for call in message.tool_calls or [] -%}
      {%- set fn = call.function if call.function is defined else call -%}
      {{- '\n<tool_call>\n{"name": "' + fn.name + '", "arguments": ' -}}
      {{- (fn.arguments if fn.arguments is string else (fn.arguments | tojson)) + '}\n</tool_call>' -}}
    {%- endfor -%}
    {{- '<|im_end|>\n' -}}
  {%- else -%}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
""".strip()

_CORPUS = [
    "You are a helpful assistant. Solve the task step by step with function calls.",
    "Observe the environment, compute values, then call Done with the answer.",
    'Call {"name": "Observe", "parameters": {}} and {"name": "Done", "arguments": {"answer": 12}}.',
    "Error: unknown function. Available functions: ComputeDpValue, Done, GetDpValue, InitializeDp, Observe.",
    "houses: [2, 7, 9, 3, 1, 5, 8, 4] dp table initialized. The value at index 3 is 11. reward=1 reward=0",
    "Function: def Observe(): Returns the visible state. Args: index (int): position. Returns: str.",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ []{}(),.:;\"'_-+*/=<>|@#\n",
]


def write_tiny_model(path: str | Path, vocab_size: int = 1200) -> Path:
    """Write the tokenizer files and ``config.json`` into ``path``; returns ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    tokenizer.add_tokens(TOOL_TOKENS)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    config = {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 65536,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": True,
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    return path
