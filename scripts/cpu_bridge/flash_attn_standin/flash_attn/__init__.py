"""Import-only stand-in for flash-attention, for OpenRLHF 0.11.2 on a machine without CUDA.

Upstream limitation: ``openrlhf.models.ring_attn_utils`` (imported by ``openrlhf.models.actor``)
imports ``flash_attn.bert_padding`` and ``flash_attn.utils.distributed`` at module load, and the
real flash-attn (a hard dependency of OpenRLHF) only builds with CUDA. OpenRLHF uses those names
only when it packs samples or runs ring attention, which the CPU test turns off. So this package
provides the names and nothing else: calling any of them raises :class:`NotImplementedError`.

It deliberately has no ``flash_attn.ops``: OpenRLHF's ``log_probs_from_logits`` tries
``flash_attn.ops.triton.cross_entropy`` and falls back to plain torch on ``ImportError``.
Delete this package once OpenRLHF imports flash-attn lazily.
"""

from __future__ import annotations

__version__ = "0.0.0+codegym.standin"


def unavailable(name: str):
    """A function named ``name`` that raises: flash-attention does not exist here."""

    def missing(*args, **kwargs):
        raise NotImplementedError(
            f"flash_attn.{name} is an import-only stand-in (codegym CPU tests): flash-attention needs CUDA"
        )

    missing.__name__ = name.rsplit(".", 1)[-1]
    return missing
