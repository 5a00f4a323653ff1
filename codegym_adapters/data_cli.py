"""``codegym build-data``: training rows for veRL (parquet) and OpenRLHF (jsonl), from envs or from
upstream rows (``--convert``). See :mod:`codegym_adapters.data` for what is built and how."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .calls import FORMATS as CALL_FORMATS
from .catalog import read_rows
from .configs import load_envs
from .data import (
    BuildOptions,
    EnvRows,
    assign_splits,
    build_from_envs,
    convert_rows,
    envs_without_task,
    manifest,
    missing_task_error,
    write_dataset,
)
from .errors import CodeGymError
from .prompts import PROMPT_STYLES
from .rows import FORMATS
from .runtime_args import add_runtime_options, make_runtime_from_args
from .task_text import attach_tasks, read_task_file

_DESCRIPTION = """Build training rows in the CodeGym layout for veRL (DIR/train.parquet, DIR/val.parquet, with
agent_name) and OpenRLHF (DIR/train.jsonl, DIR/val.jsonl, with datasource), plus DIR/manifest.json.
From envs: per env, its fixed configurations then generated ones, each solved by the env's oracle to
measure solve_fc_round (as upstream counts it: every env step, nested ones too), kept if within the
rounds filter; each env needs task text (a record's gym_task, rows' prompts, --tasks, or the file's
TASK). With --convert: upstream rows in our layout, prompts unchanged.
The validation split is made of whole held-out envs; the same inputs and seed give identical files."""
_EPILOG = """examples:
  codegym build-data --envs envs/ --out data/ --per-env 16 --val-envs 2 --seed 0
  codegym build-data --envs upstream_envs/ --configs rows.jsonl --out data/   # tasks from the rows' prompts
  codegym build-data --envs upstream_envs/ --tasks tasks.jsonl --out data/    # {"code_id": ..., "task": ...}
  codegym build-data --convert task_en.parquet --out data/ --val-envs 50 --max-pass-rate 0.25"""


def _sizes(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    try:
        return (int(lo), int(hi)) if sep else (int(lo), int(lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX, e.g. 4:64; got {text!r}") from None


def register(sub: Any) -> None:
    """Add ``codegym build-data`` to the CLI's subparsers."""
    p = sub.add_parser("build-data", help="build training rows for veRL (parquet) and OpenRLHF (jsonl)",
                       description=_DESCRIPTION, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--envs", nargs="+", action="extend", metavar="PATH",
                        help="env files, folders, record JSON or row files carrying env code")
    source.add_argument("--convert", nargs="+", action="extend", metavar="ROWS",
                        help="upstream training rows (.jsonl/.json/.parquet) to convert instead")
    p.add_argument("--configs", action="append", default=[], metavar="FILE",
                   help="more configurations for --envs: env strings (.txt), rows with 'ability' or records "
                        "with 'unit_test_list' (.json/.jsonl/.parquet); repeatable")
    p.add_argument("--tasks", action="append", default=[], metavar="FILE",
                   help="task texts for --envs whose files carry none: rows (.jsonl/.json/.parquet) of code_id "
                        "or env_name with task (or gym_task); repeatable. Records' gym_task and the prompts of "
                        "rows given with --configs or beside the envs come first")
    p.add_argument("--allow-missing-task", action="store_true",
                   help="write rows for envs with no task text anyway (a generic placeholder; extra_info says "
                        "task_missing); without it such envs stop the build with an error naming them")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--format", choices=FORMATS, default="both",
                   help="verl: parquet with agent_name; openrlhf: jsonl with datasource (default %(default)s)")
    p.add_argument("--per-env", type=int, default=BuildOptions.per_env, metavar="N",
                   help="candidate configurations per env, fixed ones first (default %(default)s)")
    p.add_argument("--sizes", type=_sizes, default=BuildOptions.sizes, metavar="MIN:MAX",
                   help="generate_config sizes to spread generated configurations over (default 4:64)")
    p.add_argument("--min-rounds", type=int, default=BuildOptions.min_rounds, metavar="N",
                   help="drop configurations the oracle solves in fewer calls (default %(default)s)")
    p.add_argument("--max-rounds", type=int, default=BuildOptions.max_rounds, metavar="N",
                   help="drop configurations the oracle needs more calls for (default %(default)s)")
    p.add_argument("--max-pass-rate", type=float, default=None, metavar="P",
                   help="with --convert: drop rows whose recorded 32B pass rate is above P (paper: 0.25)")
    p.add_argument("--val-envs", type=int, default=0, metavar="K",
                   help="hold out K whole envs, chosen from the seed, as the validation split")
    p.add_argument("--seed", type=int, default=0, help="seed for generated configurations and the split")
    p.add_argument("--prompt-style", choices=PROMPT_STYLES, default="codegym",
                   help="codegym: the functions system message and the user message; native: messages plus "
                        "tool schemas in extra_info.tools (default %(default)s)")
    p.add_argument("--call-format", choices=(*CALL_FORMATS, "strict"), default="codegym",
                   help="the call format the codegym prompt asks for; strict (the paper's reading) asks for "
                        "the codegym format (default %(default)s)")
    p.add_argument("--turn-limit", type=int, default=BuildOptions.turn_limit, metavar="N",
                   help="plugin_call_max_round of built rows, and of converted rows without one (default %(default)s)")
    p.add_argument("--jobs", type=int, default=8, metavar="N", help="envs processed at once (default %(default)s)")
    add_runtime_options(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(),
                   help="show a progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_build_data)


def cmd_build_data(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    options = BuildOptions(
        per_env=args.per_env, min_rounds=args.min_rounds, max_rounds=args.max_rounds, val_envs=args.val_envs,
        seed=args.seed, prompt_style=args.prompt_style, call_format="codegym" if args.call_format == "strict" else args.call_format, turn_limit=args.turn_limit,
        sizes=args.sizes, max_pass_rate=args.max_pass_rate, allow_missing_task=args.allow_missing_task,
    )
    if args.out.exists() and not args.out.is_dir():
        raise CodeGymError(f"--out {args.out} exists and is not a folder")
    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")

    if args.convert:
        if args.configs or args.tasks:
            raise CodeGymError("--configs and --tasks go with --envs; converted rows bring their own prompts")
        if args.prompt_style != "codegym":
            raise CodeGymError("--convert keeps the rows' own CodeGym prompts; --prompt-style native needs --envs")
        groups: list[EnvRows] = []
        for path in args.convert:
            raw = read_rows(path)
            if not raw:
                raise CodeGymError(f"{path}: no rows")
            groups += convert_rows(raw, options, origin=str(path))
        groups = _merge(groups)
        mode, inputs, reindex = "convert", [str(p) for p in args.convert], False
    else:
        if args.max_pass_rate is not None:
            raise CodeGymError("--max-pass-rate needs recorded pass rates: use it with --convert")
        catalog, extra = load_envs(args.envs, args.configs)
        task_files = [read_task_file(path) for path in args.tasks]
        attach_tasks(catalog, extra.tasks, *task_files)  # after each record's own gym_task
        runtime = make_runtime_from_args(args, catalog)
        specs = sorted(catalog, key=lambda s: s.name)

        async def main() -> list[EnvRows]:
            async with runtime:
                if not options.allow_missing_task:  # refuse before any oracle runs
                    missing = await envs_without_task(runtime, specs, args.jobs)
                    if missing:
                        return missing
                bar = tqdm(total=len(specs) * options.per_env, desc="build-data", unit="config", file=sys.stderr,
                           disable=not args.progress)
                try:
                    return await build_from_envs(runtime, specs, options, extra=extra, jobs=args.jobs,
                                                 on_candidate=lambda: bar.update(1))
                finally:
                    bar.close()

        groups = asyncio.run(main())
        mode, inputs, reindex = "envs", [str(p) for p in args.envs], True
        refusal = missing_task_error(groups)
        if refusal:
            raise CodeGymError(refusal)

    if not any(g.rows for g in groups):
        reasons = sorted({f"{g.env}: {g.error}" for g in groups if g.error})[:5]
        raise CodeGymError("no rows left to write" + (f" ({'; '.join(reasons)})" if reasons else ""))
    splits = assign_splits(groups, options, reindex=reindex)
    files = write_dataset(args.out, splits, args.format)
    info = manifest(groups, splits, options, mode=mode, fmt=args.format, files=files, inputs=inputs)
    (args.out / "manifest.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    counts = info["counts"]
    print(f"wrote {counts['train_rows']} train and {counts['val_rows']} val rows "
          f"({len(info['split']['train'])} + {len(info['split']['val'])} envs) to {args.out}")
    if not counts["val_rows"]:
        print("no validation split: hold out whole envs with --val-envs K")
    dropped = ", ".join(f"{k}={v}" for k, v in counts["dropped"].items() if v)
    if dropped:
        print(f"dropped: {dropped}")
    failed = {name: e["error"] for name, e in info["envs"].items() if not e["rows"]}
    for name, error in failed.items():
        print(f"no rows from {name}: {error}", file=sys.stderr)
    return 0


def _merge(groups: list[EnvRows]) -> list[EnvRows]:
    """One group per env when several files carry rows of the same env."""
    merged: dict[str, EnvRows] = {}
    for g in groups:
        into = merged.setdefault(g.env, EnvRows(env=g.env))
        into.rows += g.rows
        into.candidates += g.candidates
        into.dropped.update(g.dropped)
    for g in merged.values():
        g.error = None if g.rows else "every row was dropped"
    return list(merged.values())
