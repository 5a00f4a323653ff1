"""A tiny, randomly initialised Qwen2 policy over the project's tiny tokenizer, for training on CPU.

No weights can be downloaded here, so the demo and the ``train`` tests train a model built on the
spot: Qwen2 architecture (what veRL and vLLM both load), hidden size 128, 2 layers, float32, over the
byte-level BPE tokenizer and ChatML template of :func:`verl_plugin.tiny_model.write_tiny_model`.

A random model almost never samples ``<|im_end|>`` (1 token in ~1,200), so every turn would run to
the response budget. Scaling that token's (tied) embedding row makes its logit large wherever the
final hidden state leans its way, so sampled turns end after tens of tokens and episodes have
several turns: enough for the episode contract (calls, observations, penalties) to show in a run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HIDDEN = 128
LAYERS = 2
END_SCALE = 20.0  # measured: sampled turns end after a median of ~35 tokens (12: ~150)


def write_tiny_policy(path: str | Path, *, seed: int = 0, end_scale: float = END_SCALE) -> Path:
    """Write tokenizer, ``config.json`` and float32 safetensors weights into ``path``; returns it."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from verl_plugin.tiny_model import write_tiny_model

    path = Path(path)
    write_tiny_model(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=2 * HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=16384,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight[tokenizer.eos_token_id] *= end_scale
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    (path / "codegym-tiny-policy.json").write_text(
        json.dumps({"seed": seed, "end_scale": end_scale, "hidden_size": HIDDEN, "layers": LAYERS}) + "\n"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="model directory to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end-scale", type=float, default=END_SCALE)
    args = parser.parse_args(argv)
    print(write_tiny_policy(args.out, seed=args.seed, end_scale=args.end_scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
