"""Runtime choice and limits on the command line, for commands that run untrusted env code
(``codegym verify``, ``codegym build-data``): the sandbox runtime by default, ``inprocess`` on request.
"""

from __future__ import annotations

import argparse
import json
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
                   help="seconds per env call, solve() included (sandbox, ray, http; default %(default)s)")
    p.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB, metavar="M",
                   help="memory cap per worker process in MiB (sandbox, ray; default %(default)s)")
    p.add_argument("--workers", type=positive_count, default=None, metavar="N",
                   help="sandbox worker processes per env source (default 1)")
    p.add_argument("--runtime-options", type=_json_object, default={}, metavar="JSON",
                   help="further options of the runtime, as a JSON object, e.g. for --runtime http "
                        "'{\"urls\": [\"http://host:8000\"]}' (the constructor's keywords, as veRL's "
                        "env.runtime_options and OpenRLHF's CODEGYM_RUNTIME_OPTIONS)")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def runtime_limits(args: argparse.Namespace) -> dict[str, Any]:
    """The limits in force, for reports and manifests."""
    if args.runtime != "sandbox":
        return {"step_timeout_s": None, "memory_mb": None}
    return {"step_timeout_s": args.step_timeout, "memory_mb": args.memory_mb}


def make_runtime_from_args(args: argparse.Namespace, catalog: Catalog) -> Runtime:
    """The runtime the options ask for. The sandbox limits reach ``sandbox`` and ``ray`` (its actors'
    sandbox pools) and ``--step-timeout`` reaches ``http``; ``--runtime-options`` go to any runtime.
    Raises ``ValueError`` naming an option the runtime does not take."""
    options: dict[str, Any] = {}
    if args.runtime in ("sandbox", "ray", "http"):
        options["step_timeout"] = args.step_timeout
    if args.runtime in ("sandbox", "ray"):
        options["memory_mb"] = args.memory_mb
        if args.workers:
            options["workers"] = args.workers
    options.update(getattr(args, "runtime_options", None) or {})
    try:
        return make_runtime(args.runtime, catalog, **options)
    except TypeError as exc:  # an unknown keyword in --runtime-options
        raise ValueError(f"--runtime-options: the {args.runtime} runtime does not take these options ({exc})") from None
