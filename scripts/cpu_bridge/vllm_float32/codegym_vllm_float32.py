"""vLLM's CPU platform, with the model computing in float32 where ``CODEGYM_VLLM_DTYPE=float32``.

Upstream limitation: OpenRLHF 0.11.2's ``create_vllm_engines`` (``trainer/ray/vllm_engine.py``)
passes ``dtype="bfloat16"`` to every vLLM engine, with no flag to change it. The OpenRLHF CPU test
compares vLLM's log-probs of the generated tokens with OpenRLHF's ``Actor`` in float32 to 1e-3; in
bfloat16, vLLM alone is ~1.5e-3 off on average (measured), which would hide a token or mask error.

vLLM picks an out-of-tree platform from the ``vllm.platform_plugins`` entry point when its function
returns a class name. :func:`platform` does so only where ``CODEGYM_VLLM_DTYPE=float32`` is set (the
test sets it in the Ray runtime environment of the engine actors) and vLLM's own CPU platform would be
chosen; everywhere else it returns ``None`` and vLLM detects its platform as usual. The class is
vLLM's ``CpuPlatform``, unchanged except that after vLLM's own configuration checks it sets the
model's dtype to float32, which the engine and its workers then load and run the weights in.
Delete this plugin once OpenRLHF lets the vLLM dtype be chosen.
"""

from __future__ import annotations

import functools
import os

VARIABLE = "CODEGYM_VLLM_DTYPE"


def platform() -> str | None:
    """The platform class name for vLLM, or ``None`` (not asked for, or not vLLM's CPU backend)."""
    if os.environ.get(VARIABLE, "").strip().lower() not in ("float32", "fp32"):
        return None
    from vllm.platforms import cpu_platform_plugin

    if cpu_platform_plugin() is None:  # vLLM would not choose its CPU platform here
        return None
    return "codegym_vllm_float32.Float32CpuPlatform"


@functools.cache
def _platform_class():
    import torch
    from vllm.platforms.cpu import CpuPlatform

    class Float32CpuPlatform(CpuPlatform):
        """vLLM's CPU platform; the model's dtype is float32 whatever the engine arguments asked."""

        @classmethod
        def check_and_update_config(cls, vllm_config) -> None:
            super().check_and_update_config(vllm_config)
            if vllm_config.model_config is not None and vllm_config.model_config.dtype != torch.float32:
                vllm_config.model_config.dtype = torch.float32

    return Float32CpuPlatform


def __getattr__(name: str):
    # vLLM imports the class by name after the plugin function chose it; build it only then, so that
    # discovering the entry point never imports vLLM's platform modules early.
    if name == "Float32CpuPlatform":
        return _platform_class()
    raise AttributeError(name)
