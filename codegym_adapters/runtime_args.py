"""Runtime choice and limits on the command line, for commands that run untrusted env code
(``codegym verify``, ``codegym build-data``): the sandbox runtime by default, ``inprocess`` on request.
"""

from __future__ import annotations

import argparse
from typing import Any

from .argtypes import positive_count
from .catalog import Catalog
from .runtime import DEFAULT_RUNTIME, RUNTIMES, make_runtime
from .runtime.base import Runtime

DEFAULT_STEP_TIMEOUT = 10.0
DEFAULT_MEMORY_MB = 1024


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=RUNTIMES, default=DEFAULT_RUNTIME,
                   help="where env code runs (default %(default)s; inprocess has no limits: trusted envs only)")
    p.add_argument("--step-timeout", type=float, default=DEFAULT_STEP_TIMEOUT, metavar="S",
                   help="seconds per env call, solve() included (sandbox; default %(default)s)")
    p.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB, metavar="M",
                   help="memory cap per worker process in MiB (sandbox; default %(default)s)")
    p.add_argument("--workers", type=positive_count, default=None, metavar="N",
                   help="sandbox worker processes per env source (default 1)")


def runtime_limits(args: argparse.Namespace) -> dict[str, Any]:
    """The limits in force, for reports and manifests."""
    if args.runtime != "sandbox":
        return {"step_timeout_s": None, "memory_mb": None}
    return {"step_timeout_s": args.step_timeout, "memory_mb": args.memory_mb}


def make_runtime_from_args(args: argparse.Namespace, catalog: Catalog) -> Runtime:
    if args.runtime != "sandbox":
        return make_runtime(args.runtime, catalog)
    options: dict[str, Any] = {"step_timeout": args.step_timeout, "memory_mb": args.memory_mb}
    if args.workers:
        options["workers"] = args.workers
    return make_runtime("sandbox", catalog, **options)
