"""Bridge 1 and 2: a ``cpu`` platform for veRL's platform registry.

Upstream limitation (veRL 0.9.1): ``verl.plugin.platform`` registers only ``nvidia``/``npu``/``rocm``
and falls back to ``nvidia`` on a host without an accelerator, so every worker asks ``torch.cuda``
for a device. veRL's own answer for new hardware is a registered :class:`PlatformBase` subclass chosen
with ``VERL_PLATFORM``; this is one for the host CPU: device ``cpu``, collectives on ``gloo``.

Bridge 2 lives here too. veRL builds the process-group backend as
``f"cpu:gloo,{device}:{backend}"`` (``verl/utils/distributed.py``), which on this platform reads
``cpu:gloo,cpu:gloo``; torch rejects a device named twice. The platform therefore opens the default
process group itself, with plain ``gloo``, the first time a worker selects its device
(:meth:`CpuPlatform.set_device`, which veRL's ``Worker`` calls before it would open the group; see
:func:`_open_gloo_group`), and veRL, finding the group open, keeps it.

Ray: veRL places actors by the resource this platform names. It names ``GPU`` so that the trainer's
resource pools and vLLM's placement work unchanged; the runner starts Ray with one declared GPU slot
(``ray_kwargs.ray_init.num_gpus``) that stands for "the CPU". Nothing reads CUDA through it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
from verl.plugin.platform import PlatformBase, PlatformRegistry

# veRL's Worker only calls set_device when one of Ray's NOSET variables is set (ray_utils.py); the
# runner sets this one for the CPU run. Ray then leaves CUDA_VISIBLE_DEVICES alone as well.
NOSET_ENV = "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"
CPU = torch.device("cpu")


class CpuDevice:
    """What veRL calls on ``get_torch_device()`` (its ``torch.cuda`` stand-in), answered for the CPU.

    Memory queries report this process's resident memory and the host's free memory (psutil);
    cache, stream and IPC calls are no-ops; anything else falls through to ``torch.cpu``.
    """

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return 1

    def current_device(self) -> torch.device:
        return CPU

    def set_device(self, index: int | str | torch.device) -> None:
        _open_gloo_group()

    def get_device_name(self, index: int = 0) -> str:
        return "cpu"

    def synchronize(self, index: int | None = None) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def ipc_collect(self) -> None:
        return None

    def set_per_process_memory_fraction(self, fraction: float, index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed

    def get_rng_state(self, index: int | str = "cpu") -> torch.Tensor:
        return torch.get_rng_state()

    def set_rng_state(self, state: torch.Tensor, index: int | str = "cpu") -> None:
        torch.set_rng_state(state)

    def mem_get_info(self, index: int | None = None) -> tuple[int, int]:
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.available), int(memory.total)

    def memory_allocated(self, index: int | None = None) -> int:
        import psutil

        return int(psutil.Process().memory_info().rss)

    memory_reserved = max_memory_allocated = max_memory_reserved = memory_allocated

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cpu, name)


def _open_gloo_group() -> None:
    """Open the default process group with ``gloo`` from the env veRL's worker group exported."""
    import torch.distributed as dist

    if dist.is_initialized() or "MASTER_ADDR" not in os.environ:
        return
    dist.init_process_group(
        backend="gloo",
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        timeout=timedelta(minutes=30),
    )


@PlatformRegistry.register(platform="cpu")
class CpuPlatform(PlatformBase):
    """veRL's platform interface for the host CPU (see the module docstring)."""

    _device = CpuDevice()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> Any:
        return self._device

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: a run opts in with VERL_PLATFORM=cpu, so GPU hosts are unaffected.
        return False

    def current_device(self) -> torch.device:
        # veRL passes this index straight to `.to(...)`, `device=` and `torch.device(...)`: a bare 0
        # would mean cuda:0 there, the CPU device means the CPU everywhere it is used on this path.
        return CPU

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        _open_gloo_group()

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return [NOSET_ENV]

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None
