"""``codegym verify PATH...``: run the verification gate over envs, print a table, write a JSON report,
and exit non-zero if any env is quarantined."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .argtypes import positive_int
from .configs import load_envs
from .runtime_args import add_runtime_options, make_runtime_from_args, runtime_limits
from .verify import REASONS, EnvReport, VerifyOptions, verify_envs

_DESCRIPTION = (
    "Check that envs may be trained on: the file imports, the class honours the CodeGym contract, and on\n"
    "every configuration the reference answer and the oracle's solve() work within limits, the oracle\n"
    "reaches reward 1 (its call count is recorded as solve_fc_round), a wrong answer gets 0, and the same\n"
    "calls give the same observations. Reasons an env is quarantined:\n"
    + "\n".join(f"  {k:<21} {v}" for k, v in REASONS.items())
)


def report_dict(reports: Sequence[EnvReport], *, runtime: str, limits: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: a summary, the quarantine list, then every env's details."""
    failed = [r for r in reports if not r.passed]
    no_configs = sum(r.status == "no_configs" for r in reports)
    return {
        "version": 1,
        "runtime": runtime,
        "limits": limits,
        "summary": {"envs": len(reports), "passed": len(reports) - len(failed), "failed": len(failed) - no_configs,
                    "no_configs": no_configs, "configs_checked": sum(len(r.configs) for r in reports)},
        "quarantined": [{"env": r.env, "reason": r.reason, "detail": r.detail} for r in failed],
        "envs": [r.to_dict() for r in reports],
    }


def format_table(reports: Sequence[EnvReport]) -> str:
    """One line per env: status, configurations checked, solve_fc_round (upstream's count of env steps)
    and oracle turns (the turns a model needs: set turn limits above it), actions, reason."""
    width = max([len(r.env) for r in reports] + [3])
    lines = [f"{'env':<{width}}  status  configs  rounds      turns       actions  reason"]
    for r in reports:
        rounds = r.rounds
        turns = [c.oracle_turns for c in r.configs if c.ok and c.oracle_turns is not None]
        span = f"{min(rounds)}-{max(rounds)}" if rounds else "-"
        turn_span = f"{min(turns)}-{max(turns)}" if turns else "-"
        reason = "" if r.passed else str(r.reason)
        status = {"passed": "ok", "no_configs": "NO CFG"}.get(r.status, "FAILED")
        lines.append(f"{r.env:<{width}}  {status:<6}  {len(r.configs):>7}  {span:<10}  {turn_span:<10}  "
                     f"{len(r.actions):>7}  {reason}")
    passed = sum(r.passed for r in reports)
    lines.append(f"{passed} of {len(reports)} envs passed")
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add ``codegym verify`` to the CLI's subparsers."""
    p = sub.add_parser("verify", help="check envs before training: contract, oracle, determinism",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH", help="env files, folders, record JSON or row files")
    p.add_argument("--envs", action="append", default=[], metavar="PATH",
                   help="same as a positional PATH (repeatable), the spelling the other commands use")
    p.add_argument("--configs", action="append", default=[], metavar="FILE",
                   help="more configurations: env strings (.txt), rows with 'ability' or records with "
                        "'unit_test_list' (.json/.jsonl/.parquet); repeatable")
    p.add_argument("--generated", type=int, default=VerifyOptions.generated, metavar="N",
                   help="also check N configurations from each env's generate_config (default %(default)s)")
    p.add_argument("--max-configs", type=positive_int, default=0, metavar="N",
                   help="check at most N configurations per env (default: all)")
    p.add_argument("--jobs", type=int, default=8, metavar="N", help="envs verified at once (default %(default)s)")
    p.add_argument("--report", default="verify-report.json", metavar="FILE",
                   help="where to write the JSON report (default %(default)s; '' for none)")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    add_runtime_options(p)
    p.add_argument("--env-timeout", type=float, default=VerifyOptions.env_timeout, metavar="S",
                   help="seconds for one whole env (default %(default)s)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(),
                   help="show a progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: Any) -> int:
    from tqdm import tqdm

    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    paths = [*args.paths, *args.envs]
    if not paths:
        raise ValueError("give the envs to verify: codegym verify PATH... (or --envs PATH)")
    catalog, extra = load_envs(paths, args.configs)
    options = VerifyOptions(generated=args.generated, max_configs=args.max_configs, env_timeout=args.env_timeout)
    runtime = make_runtime_from_args(args, catalog)

    async def main() -> list[EnvReport]:
        async with runtime:
            bar = tqdm(total=len(catalog), desc="verify", unit="env", file=sys.stderr, disable=not args.progress)
            try:
                return await verify_envs(runtime, list(catalog), extra_configs=extra, options=options,
                                         jobs=args.jobs, on_done=lambda r: bar.update(1))
            finally:
                bar.close()

    reports = asyncio.run(main())
    report = report_dict(reports, runtime=runtime.name, limits=runtime_limits(args))
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    if args.report:
        Path(args.report).write_text(text + "\n", encoding="utf-8")
    if args.json:
        print(text)
    else:
        print(format_table(reports))
        quarantined = report["quarantined"]
        if quarantined:
            print(f"\nquarantined ({len(quarantined)}):")
            for q in quarantined:
                print(f"  {q['env']}: {q['reason']} - {q['detail']}")
        if args.report:
            print(f"report: {args.report}")
    summary = report["summary"]
    return 1 if summary["failed"] or summary["no_configs"] else 0
