"""``codegym doctor``: which of the sandbox's protection layers this host gives, and what to do about
the ones it lacks.

It starts one real sandbox worker and reads what the worker found in force once confined (its
``protections`` report, which the worker checks against the kernel's own view: ``/proc/self/status``
for seccomp and capabilities, its process id for the PID namespace). Exit status: 0 when every
layer is in force, 1 when at least one is missing, 2 when no sandbox worker could start at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
from typing import Any

from .catalog import Catalog
from .errors import CodeGymError
from .runtime.limits import LAYERS, SandboxLimits

EXIT_OK, EXIT_MISSING, EXIT_NO_SANDBOX = 0, 1, 2
_WHAT = {
    "seccomp": "a seccomp filter: no sockets, no other processes, no memfd, namespaces, bpf, io_uring ...",
    "pid_namespace": "its own PID namespace: no other process can be seen or signalled",
    "filesystem": "a read-only view of only the Python installation, with a private tmpfs to write in",
    "capabilities": "no capabilities at all (e.g. it cannot read /etc/shadow)",
    "memory": "a memory cap that also counts shared memory",
    "network": "a private network namespace (no interface up)",
}
_SYSCTLS = ("/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces",
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")


def host_facts() -> dict[str, Any]:
    """What decides which layers are possible here."""
    facts: dict[str, Any] = {"euid": os.geteuid(), "kernel": platform.release(), "python": sys.version.split()[0]}
    for path in _SYSCTLS:
        try:
            with open(path) as f:
                facts[path.rsplit("/", 1)[1]] = f.read().strip()
        except OSError:
            pass
    return facts


def advice(layer: str, detail: str, facts: dict[str, Any]) -> str:
    """What to do about a missing ``layer``, given the worker's ``detail`` and the host ``facts``."""
    if "turned off in the sandbox limits" in detail:
        return "it is turned off in the sandbox limits: leave that option at its default (on)"
    if layer == "seccomp":
        if "pyseccomp" in detail:
            return "install the Python bindings: pip install pyseccomp (a dependency of codegym-adapters on Linux)"
        if "libseccomp" in detail:
            return ("install the system library libseccomp: apt-get install libseccomp2 (Debian, Ubuntu), "
                    "dnf install libseccomp (Fedora, RHEL), apk add libseccomp (Alpine)")
        return ("the kernel refused the filter: it needs CONFIG_SECCOMP_FILTER; in a container, allow the "
                "seccomp() system call (e.g. docker --security-opt seccomp=<profile allowing it>)")
    if layer == "memory":
        return "it rests on the seccomp layer (which denies memfd_create and shared memory): fix that one first"
    if layer == "capabilities" and "root (drop_privileges off)" in detail:
        return "turn drop_privileges back on in the sandbox limits"
    if facts.get("euid") == 0:
        return ("the kernel refused new namespaces even to root: in a container, give it CAP_SYS_ADMIN "
                "(docker run --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt "
                "apparmor=unconfined, or --privileged), or run the trainer on the host")
    steps = ["run the trainer as root (workers then drop to nobody without capabilities)",
             "or allow unprivileged user namespaces"]
    if facts.get("unprivileged_userns_clone") == "0":
        steps.append("sysctl -w kernel.unprivileged_userns_clone=1")
    if facts.get("apparmor_restrict_unprivileged_userns") == "1":
        steps.append("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 23.10 and later)")
    if facts.get("max_user_namespaces") == "0":
        steps.append("sysctl -w user.max_user_namespaces=15000")
    return "; ".join(steps)


async def _protections(limits: SandboxLimits) -> dict[str, Any]:
    from .runtime.sandbox import SandboxRuntime

    runtime = SandboxRuntime(Catalog(), workers=1, limits=limits)
    async with runtime:
        await runtime.start()
        return dict(runtime.protections)


def diagnose(limits: SandboxLimits | None = None) -> tuple[int, dict[str, Any]]:
    """Start one sandbox worker with ``limits`` and judge each layer. Returns ``(exit status, report)``;
    the report has ``layers`` ({name: {in_force, detail, what, advice}}), ``protections``, ``host``."""
    facts = host_facts()
    try:
        protections = asyncio.run(_protections(limits or SandboxLimits()))
    except CodeGymError as exc:
        return EXIT_NO_SANDBOX, {"ok": False, "error": str(exc), "host": facts, "layers": {}, "protections": {}}
    missing = set(protections.get("missing", LAYERS))
    layers = {}
    for layer in LAYERS:
        detail = str(protections.get(layer, "missing (not reported by the worker)"))
        layers[layer] = {"in_force": layer not in missing, "detail": detail, "what": _WHAT[layer],
                         "advice": None if layer not in missing else advice(layer, detail, facts)}
    ok = not missing
    return (EXIT_OK if ok else EXIT_MISSING), {"ok": ok, "layers": layers, "protections": protections, "host": facts}


def format_text(status: int, report: dict[str, Any]) -> str:
    host = report["host"]
    who = "root" if host["euid"] == 0 else f"uid {host['euid']}"
    lines = [f"codegym doctor: the sandbox on this host (Linux {host['kernel']}, {who}, Python {host['python']})", ""]
    if status == EXIT_NO_SANDBOX:
        lines.append(f"No sandbox worker could start: {report['error']}")
        return "\n".join(lines)
    for name, layer in report["layers"].items():
        state = "in force" if layer["in_force"] else "MISSING"
        lines.append(f"  {name:<14} {state:<9} {layer['what']}")
        lines.append(f"  {'':<14} {'':<9} {layer['detail']}")
        if layer["advice"]:
            lines.append(f"  {'':<14} {'':<9} what to do: {layer['advice']}")
    count = sum(not layer["in_force"] for layer in report["layers"].values())
    lines += ["", "Every layer is in force." if not count else
              f"{count} of {len(report['layers'])} layers missing: env code is less confined than it could be."]
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    status, report = diagnose()
    print(json.dumps(report, indent=2) if args.json else format_text(status, report))
    return status


def register(sub: Any) -> None:
    """Add ``codegym doctor`` to the CLI's subparsers."""
    p = sub.add_parser("doctor", help="which sandbox protections this host gives, and what to do about missing ones",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_doctor)
