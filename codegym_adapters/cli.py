"""The ``codegym`` command: look at envs, play one by hand, and evaluate scripted policies.

Subcommands are added by the modules that own them (see ``_COMMANDS``); each has ``--help``, and every
option has help text (``tests/test_cli_help.py`` walks the parser to keep it so). Env sources are given
as ``--envs PATH`` (repeatable) by every command; ``list`` and ``verify`` also take them as positional
paths.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .argtypes import positive_count, positive_int
from .catalog import Catalog, read_rows
from .configs import DEFAULT_GENERATED, ConfigIndex, count_by_source, describe_counts, known_configs
from .episode_options import add_episode_arguments, episode_config_from_args
from .errors import CodeGymError
from .model_client import ModelRequestError, add_model_arguments, diagnose, eval_with_model
from .policies import POLICIES, get_policy
from .report import format_per_env, summarize
from .rollout import run_episodes
from .runtime.base import Runtime
from .runtime_args import add_runtime_options, make_runtime_from_args
from .tasks import Task


# -- shared options ------------------------------------------------------------------------------
def _add_env_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--envs", action="append", default=[], metavar="PATH",
                   help="env file, folder, record JSON or row file (repeatable); default: installed env packs")
    add_runtime_options(p)


def _catalog(args: argparse.Namespace, rows: Sequence[dict[str, Any]] = ()) -> Catalog:
    catalog = Catalog.from_paths(args.envs) if args.envs else Catalog.default()
    if rows:
        catalog.add_rows(rows, origin=str(getattr(args, "data", "rows")))
    return catalog


def _runtime(args: argparse.Namespace, catalog: Catalog) -> Runtime:
    return make_runtime_from_args(args, catalog)


# -- list / show ---------------------------------------------------------------------------------
async def _describe(runtime: Runtime, name: str, extra: Any = None) -> dict[str, Any]:
    """An env's actions and its configurations, counted as ``codegym verify`` checks them
    (``configs.known_configs`` plus ``DEFAULT_GENERATED`` from a generator: one source of truth)."""
    spec = runtime.catalog.get(name)
    info = await runtime.module_info((spec, {}))
    known = known_configs(spec, info["configs"], extra)
    counts = count_by_source(known, DEFAULT_GENERATED if info["has_generator"] else 0)
    async with await runtime.open((spec, known[0].options if known else {})) as session:
        actions = session.info.actions
    return {"name": spec.name, "origin": spec.origin, "task": spec.task or info["task"],
            "actions": actions, "configs": [c.options for c in known], "config_counts": counts,
            "has_generator": info["has_generator"]}


def cmd_list(args: argparse.Namespace) -> int:
    paths = [*args.envs, *args.paths]
    catalog = Catalog.from_paths(paths) if paths else Catalog.default()
    extra = ConfigIndex.from_paths(paths)  # records beside the envs, as verify reads them

    async def main() -> list[dict[str, Any]]:
        async with _runtime(args, catalog) as runtime:
            rows = []
            for spec in catalog:
                try:
                    d = await _describe(runtime, spec.name, extra)
                    rows.append({"env": spec.name, "actions": [a.name for a in d["actions"]],
                                 "configs": sum(d["config_counts"].values()), "config_counts": d["config_counts"],
                                 "error": ""})
                except CodeGymError as exc:
                    rows.append({"env": spec.name, "actions": [], "configs": 0, "error": str(exc)})
            return rows

    if paths and not len(catalog):
        raise CodeGymError(f"no envs found in {', '.join(map(str, paths))}")
    rows = asyncio.run(main())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["env"]) for r in rows), default=3)
    print(f"{'env':<{width}}  configs  actions")
    for r in rows:
        detail = ", ".join(r["actions"]) if not r["error"] else f"ERROR: {r['error']}"
        print(f"{r['env']:<{width}}  {r['configs']:>7}  {detail}")
    print(f"{len(rows)} env" + ("" if len(rows) == 1 else "s"))
    return 1 if any(r["error"] for r in rows) else 0


def cmd_show(args: argparse.Namespace) -> int:
    from .tools import tool_listing

    catalog = _catalog(args)

    async def main() -> dict[str, Any]:
        async with _runtime(args, catalog) as runtime:
            return await _describe(runtime, args.env, ConfigIndex.from_paths(args.envs))

    d = asyncio.run(main())
    print(f"{d['name']}  ({d['origin']})\n")
    print(f"Task:\n{d['task'] or '(no task text)'}\n")
    print(f"Actions ({len(d['actions'])}):\n{tool_listing(d['actions'])}\n")
    generated = d["config_counts"].get("generated", 0)
    print(f"Configurations verify checks: {describe_counts(d['config_counts'])}")
    for config in d["configs"][:3]:
        print(f"  {d['name']}@{json.dumps(config)[:150]}")
    if len(d["configs"]) > 3:
        print(f"  ... and {len(d['configs']) - 3} more")
    if generated:
        print(f"  + {generated} from generate_config(seed, size)")
    return 0


# -- play ----------------------------------------------------------------------------------------
PLAY_HELP = """Type one call per line, in any format:
  Observe                          a call without arguments
  Done {"answer": 3}               a name and JSON arguments
  <|FunctionCallBegin|>[...]<|FunctionCallEnd|>, <tool_call>...</tool_call>, or a JSON call object
Commands: :tools (list the functions), :help, :quit"""


def _play_line_to_text(line: str) -> str:
    """Shorthand ``Name {json}`` becomes a JSON call; anything else is passed through as model text."""
    name, _, rest = line.strip().partition(" ")
    if name.isidentifier() and (not rest.strip() or rest.strip().startswith("{")):
        return json.dumps({"name": name, "arguments": json.loads(rest) if rest.strip() else {}})
    return line


def play_hint(line: str, actions: Sequence[Any]) -> str | None:
    """For a person at the prompt: a line that names an action but gives its arguments in a form play
    does not read (``Done 11``) gets a hint in the form it accepts; None for anything else."""
    name, _, rest = line.strip().partition(" ")
    action = next((a for a in actions if a.name == name), None)
    rest = rest.strip()
    if action is None or not rest or rest.startswith("{"):
        return None
    params = [p.name for p in action.params]
    try:
        value: Any = json.loads(rest)
    except ValueError:
        value = rest
    if len(params) == 1:
        example = json.dumps({params[0]: value}, ensure_ascii=False)
    else:
        example = json.dumps({p: "..." for p in params} or {}, ensure_ascii=False)
    return f"Hint: give the arguments of {name} as a JSON object, for example: {name} {example}"


def cmd_play(args: argparse.Namespace) -> int:
    from .episode import Episode
    from .tools import tool_listing

    catalog = _catalog(args)
    # a person's turn with no call is answered, not the end of the episode
    config = episode_config_from_args(args, end_on_no_call=False)

    async def main() -> int:
        async with _runtime(args, catalog) as runtime:
            episode = Episode(runtime, Task.from_env_string(args.env_string), config)
            await episode.start()
            if episode.done:
                print(f"error: {episode.error}", file=sys.stderr)
                return 2
            assert episode.info is not None
            print(f"{episode.info.env_name}: {episode.info.reset_observation}")
            print(PLAY_HELP)
            try:
                while not episode.done:
                    try:
                        line = input("call> ")
                    except EOFError:
                        await episode.end("no_call")
                        break
                    if line.strip() in (":quit", ":q"):
                        await episode.end("no_call")
                        break
                    if line.strip() in (":help", ""):
                        print(PLAY_HELP)
                        continue
                    if line.strip() == ":tools":
                        print(tool_listing(episode.info.actions))
                        continue
                    hint = play_hint(line, episode.info.actions)
                    if hint:  # a typo costs no turn
                        print(hint)
                        continue
                    try:
                        text = _play_line_to_text(line)
                    except ValueError as exc:
                        print(f"Error: arguments are not JSON: {exc}")
                        continue
                    turn = await episode.step(text)
                    print(turn.observation)
            finally:
                await episode.close()
            s = episode.summary()
            print(f"episode over: {s['done_reason']}, reward={s['reward']}, turns={s['turns']}")
            return 0

    return asyncio.run(main())


# -- eval ----------------------------------------------------------------------------------------
async def _default_tasks(runtime: Runtime) -> list[Task]:
    """Every fixed configuration of every env in the catalog, with its oracle call count (the task's
    difficulty, as ``solve_fc_round`` in rows; reports bucket rewards by it)."""
    tasks = []
    for spec in runtime.catalog:
        info = await runtime.module_info((spec, {}))
        for config in info["configs"]:
            tasks.append(Task.from_env_string(f"{spec.name}@{json.dumps(config)}"))
    semaphore = asyncio.Semaphore(32)

    async def measure(task: Task) -> None:
        async with semaphore:
            trace = await runtime.oracle(task.env)
        task.solve_fc_round = len(trace.calls) if trace.ok else None

    await asyncio.gather(*(measure(t) for t in tasks))
    return tasks


def _refuse_model_options(args: argparse.Namespace) -> None:
    """A served-model option given without ``--model`` would be ignored (``--samples 3`` with the oracle
    ran each task once): raise ``CodeGymError`` naming it."""
    parser = argparse.ArgumentParser(add_help=False)
    add_model_arguments(parser)
    defaults = vars(parser.parse_args([]))
    given = [f"--{name.replace('_', '-')}" for name, default in defaults.items()
             if name != "model" and hasattr(args, name) and getattr(args, name) != default]
    if given:
        raise CodeGymError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to a served model: "
                           f"add --model URL, or leave {'it' if len(given) == 1 else 'them'} out for --policy "
                           f"{args.policy}")


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    rows = read_rows(args.data) if args.data else []
    if rows and all(isinstance(r, dict) and "done_reason" in r and "ability" not in r for r in rows):
        raise CodeGymError(f"{args.data} holds episode records (as `codegym eval --out` writes them), not "
                           "training rows; --data takes rows from `codegym build-data` (or upstream rows), and "
                           f"`codegym report {args.data}` reads episode records")
    catalog = _catalog(args, rows)
    tasks = [Task.from_row(r) for r in rows]
    config = episode_config_from_args(args)
    model = getattr(args, "model", None)
    if not model:
        _refuse_model_options(args)
    policy = get_policy(args.policy, args.seed)
    # a model eval writes --out itself (flushed per episode, resumable)
    out = open(args.out, "w", encoding="utf-8") if args.out and not model else None  # noqa: SIM115

    async def main() -> list[dict[str, Any]]:
        async with _runtime(args, catalog) as runtime:
            chosen = tasks or await _default_tasks(runtime)
            if args.limit:
                chosen = chosen[: args.limit]
            if not chosen:
                raise CodeGymError("no tasks to evaluate: give --data ROWS or envs with fixed configurations")
            total = len(chosen) * (args.samples if model else 1)
            bar = tqdm(total=total, desc=f"eval {'model' if model else policy.name}", unit="ep",
                       file=sys.stderr, disable=not args.progress)

            def done(record: dict[str, Any]) -> None:
                bar.update(1)
                if out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")

            try:
                if model:
                    return await eval_with_model(args, runtime, chosen, config, done)
                return await run_episodes(runtime, chosen, policy, config, concurrency=args.concurrency,
                                          keep_trajectory=bool(out), on_done=done)
            finally:
                bar.close()

    try:
        records = asyncio.run(main())
    except ModelRequestError as exc:  # the model's name could not even be asked for
        print(f"codegym eval: error: the model at {args.model} could not be reached: {exc}", file=sys.stderr)
        print(f"codegym eval: diagnosis: {diagnose(str(exc), args.model, args.api_key_env)}", file=sys.stderr)
        return 1
    finally:
        if out:
            out.close()
    failed = [r for r in records if r.get("model_error")] if model else []
    if failed:  # said first, with the real cause, before any number
        what = "any" if len(failed) == len(records) else f"{len(failed)} of the"
        print(f"codegym eval: {'error' if len(failed) == len(records) else 'warning'}: the model at {args.model} "
              f"failed for {what} {len(records)} episodes: {failed[0]['model_error']}", file=sys.stderr)
        print(f"codegym eval: diagnosis: {diagnose(failed[0]['model_error'], args.model, args.api_key_env)}",
              file=sys.stderr)
    broken = [r for r in records if r.get("done_reason") == "env_error" and r.get("error")]
    if broken:  # the cause, which the summary's counts do not say (e.g. no env server at the url)
        every = len(broken) == len(records)
        what = f"all {len(records)}" if every else f"{len(broken)} of the {len(records)}"
        print(f"codegym eval: {'error' if every else 'warning'}: {what} episodes ended env_error; the first: "
              f"{broken[0]['error']}", file=sys.stderr)
    summary = summarize(records)
    summary["policy"] = f"model:{args.model_name}" if model else policy.name
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"episodes      {summary['episodes']}")
        print(f"accuracy      {summary['accuracy']:.3f}")
        print(f"avg reward    {summary['avg_reward']:.3f}")
        print(f"avg turns     {summary['avg_turns']:.1f}")
        print(f"invalid rate  {summary['invalid_call_rate']:.3f}")
        print(f"env errors    {summary['env_errors']}")
        if summary.get("calls_in_reasoning"):
            print(f"calls only in reasoning  {summary['calls_in_reasoning']} (not run)")
        if model:
            print(f"model errors  {summary['model_errors']}")
        print("done reasons  " + ", ".join(f"{k}={v}" for k, v in summary["done_reasons"].items() if v))
        if len(summary["per_env"]) > 1:
            print(format_per_env(summary))
    return 1 if (failed and len(failed) == len(records)) or (broken and len(broken) == len(records)) else 0


# -- entry point ---------------------------------------------------------------------------------
class _CommandListFormatter(argparse.HelpFormatter):
    """``codegym --help``: one line per command, its name and help side by side, never wrapped."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=26)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.choices and isinstance(action.choices, dict):  # the commands: indented under COMMAND
            self._action_max_length = max(self._action_max_length, 4 + max(map(len, action.choices)))

    def _split_lines(self, text: str, width: int) -> list[str]:
        return [" ".join(text.split())]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codegym", description="CodeGym tool-use environments for RL training with veRL and OpenRLHF.",
        epilog="`codegym COMMAND --help` describes a command and its options.", formatter_class=_CommandListFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND",
                                help="one of these (each has --help):")

    p = sub.add_parser("list", help="list envs with their actions and configurations",
                       description="List envs: name, number of fixed configurations, actions. Exit status 1 "
                                   "if an env cannot be loaded.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="same as --envs PATH")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    _add_env_options(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="show one env: task, tools, configurations",
                       description="Show one env: its task text, the tool listing the model sees, and its "
                                   "fixed configurations.")
    p.add_argument("env", help="<code_id>__<ClassName> or an unambiguous <ClassName>")
    _add_env_options(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("play", help="play an env by hand, one call per line, as a model would",
                       description="Play one env by hand: type calls, read the env's answers. Turns are read "
                                   "with the same episode settings as training and eval.")
    p.add_argument("env_string", help="<code_id>__<ClassName>@<options>")
    add_episode_arguments(p)
    _add_env_options(p)
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("eval", help="evaluate a scripted policy or a served model on tasks and report metrics",
                       description="Run episodes with a scripted policy (--policy) or a served model (--model URL) "
                                   "and report accuracy, rewards, turns and done reasons. Turns are read and "
                                   "rewarded with the same episode settings as training.")
    p.add_argument("--data", type=Path, help="rows (.jsonl/.parquet); default: every env's fixed configurations")
    p.add_argument("--policy", choices=sorted(POLICIES), default="oracle",
                   help="scripted policy to run when no --model is given (default: %(default)s)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="evaluate only the first N tasks (default: all)")
    p.add_argument("--concurrency", type=positive_count, default=32, metavar="N",
                   help="episodes (or model requests) run at the same time (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random policy (default: %(default)s)")
    p.add_argument("--out", type=Path, help="write one JSON line per episode, with its turns")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(),
                   help="show a progress bar on stderr (default: when stderr is a terminal)")
    add_episode_arguments(p)
    _add_env_options(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_eval)

    for register in _COMMANDS:
        register(sub)
    return parser


COMMAND_ENTRY_POINTS = "codegym_adapters.commands"


def _version() -> str:
    try:
        return metadata.version("codegym-adapters")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "(not installed)"


def _register_all() -> list[Callable[[Any], None]]:
    """The core's own extra commands, then those that installed plugins declare in the entry-point
    group ``codegym_adapters.commands`` (each a ``register(subparsers)`` function), so the core
    never imports a plugin."""
    from .data_cli import register as build_data
    from .doctor import register as doctor
    from .report import register as report
    from .serve_cli import register as serve
    from .synth.command import register as synthesize
    from .verify_cli import register as verify

    commands: list[Callable[[Any], None]] = [verify, build_data, report, doctor, synthesize, serve]
    for ep in metadata.entry_points(group=COMMAND_ENTRY_POINTS):
        try:
            commands.append(ep.load())
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            print(f"codegym: warning: plugin command {ep.name!r} failed to load: {exc}", file=sys.stderr)
    return commands


_COMMANDS: list[Callable[[Any], None]] = _register_all()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
        return code
    except BrokenPipeError:  # the reader went away (`codegym list | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit too
        return 141
    except (CodeGymError, ValueError, OSError) as exc:
        print(f"codegym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"codegym {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
