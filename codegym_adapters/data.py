"""Dataset building: training rows from envs (or from upstream rows) for veRL and OpenRLHF.

From envs, per env: up to ``per_env`` configurations (record and ``--configs`` configurations, the
file's self-test env strings and its fixed ``CONFIGS`` first, then ``generate_config`` with seeds
derived from the build seed and sizes spread over a range); each is solved by the env's oracle.
The row's ``solve_fc_round`` is upstream's count (the env's ``step_count`` after ``solve()``, nested
``self.step`` calls included) and ``oracle_turns`` the oracle's top-level calls; rows whose
``solve_fc_round`` falls outside ``[min_rounds, max_rounds]``, or whose ``oracle_turns`` exceed the
turn limit, are dropped. An env without task text (``task_text.py`` says where it may come from)
gives no rows unless ``allow_missing_task`` is set; its rows then carry ``task_missing: true``.
The validation split is made of whole envs held out (``val_envs`` of them, picked from the seed), as the
paper does. The same inputs and seed give byte-identical files.

Output folder: ``train.parquet``/``val.parquet`` (veRL), ``train.jsonl``/``val.jsonl`` (OpenRLHF), and
``manifest.json`` (counts, filters, the env split, file digests). No val files without held-out envs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import rows as layout
from .catalog import EnvSpec
from .configs import Config, ConfigIndex, derived_seed, known_configs
from .errors import CodeGymError
from .prompts import PROMPT_STYLES, build_prompt
from .rounds import solve_fc_round
from .runtime.base import Runtime
from .task_text import MISSING_TASK_ADVICE
from .tasks import DEFAULT_DATA_SOURCE
from .tools import openai_tools

SPLITS = ("train", "val")
DROP_REASONS = ("duplicate", "generator_failed", "oracle_failed", "rounds_below_min", "rounds_above_max",
                "over_turn_limit", "pass_rate_above_max")
NO_TASK = "no task text"


@dataclass(frozen=True)
class BuildOptions:
    """How rows are chosen, filtered, split and prompted. Invalid values raise ``ValueError``."""

    per_env: int = 16
    min_rounds: int = 10
    max_rounds: int = 256
    val_envs: int = 0
    seed: int = 0
    prompt_style: str = "codegym"
    call_format: str = "codegym"
    turn_limit: int = 256
    sizes: tuple[int, int] = (4, 64)  # generate_config sizes, spread evenly over this range
    max_pass_rate: float | None = None  # converted rows only: drop rows a 32B model passes more often
    allow_missing_task: bool = False  # write rows of envs without task text (they say so in extra_info)

    def __post_init__(self) -> None:
        if self.per_env < 1:
            raise ValueError(f"--per-env must be at least 1, got {self.per_env}")
        if self.min_rounds < 0 or self.max_rounds < self.min_rounds:
            raise ValueError(f"need 0 <= --min-rounds <= --max-rounds, got {self.min_rounds} and {self.max_rounds}")
        if self.val_envs < 0:
            raise ValueError(f"--val-envs must be >= 0, got {self.val_envs}")
        if self.turn_limit < 1:
            raise ValueError(f"--turn-limit must be at least 1, got {self.turn_limit}")
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"unknown prompt style {self.prompt_style!r}; expected {', '.join(PROMPT_STYLES)}")
        if not 1 <= self.sizes[0] <= self.sizes[1]:
            raise ValueError(f"--sizes must be MIN:MAX with 1 <= MIN <= MAX, got {self.sizes[0]}:{self.sizes[1]}")

    def filters(self) -> dict[str, Any]:
        return {"min_rounds": self.min_rounds, "max_rounds": self.max_rounds, "turn_limit": self.turn_limit,
                "max_pass_rate": self.max_pass_rate}


@dataclass
class EnvRows:
    """The rows one env gave, and why candidates were dropped."""

    env: str
    source_hash: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    candidates: int = 0
    error: str | None = None  # the env gave no rows at all because of this
    task_missing: bool = False  # no task text anywhere: the prompt holds a generic placeholder


# -- from envs -----------------------------------------------------------------------------------
def plan_configs(spec: EnvSpec, known: Sequence[Config], options: BuildOptions, generator: bool) -> \
        list[Config | tuple[int, int]]:
    """The candidates of one env: known configurations first, then ``(seed, size)`` generator requests."""
    plan: list[Config | tuple[int, int]] = list(known[: options.per_env])
    missing = options.per_env - len(plan) if generator else 0
    lo, hi = options.sizes
    for j in range(missing):
        size = lo if missing == 1 else lo + round((hi - lo) * j / (missing - 1))
        plan.append((derived_seed(options.seed, spec.name, "build", j), size))
    return plan


async def env_rows(runtime: Runtime, spec: EnvSpec, options: BuildOptions, extra: ConfigIndex | None = None,
                   on_candidate: Callable[[], None] | None = None) -> EnvRows:
    """Candidate rows of one env (not yet split or indexed). Never raises for env failures."""
    result = EnvRows(env=spec.name)
    try:
        result.source_hash = spec.source_hash
        module = await runtime.module_info((spec, {}))
        known = known_configs(spec, module.get("configs") or [], extra)
        plan = plan_configs(spec, known, options, bool(module.get("has_generator")))
    except CodeGymError as exc:
        result.error = str(exc)
        return result
    result.task_missing = not (spec.task and spec.task.strip()) and not module.get("task")
    if result.task_missing and not options.allow_missing_task:
        result.error = NO_TASK
        return result
    if not plan:
        result.error = "no configurations: no CONFIGS, no records and no generate_config"
        return result
    prompt: tuple[list[dict[str, Any]], str | None] | None = None
    seen: set[str] = set()
    for item in plan:
        result.candidates += 1
        try:
            config = item if isinstance(item, Config) else await _generated(runtime, spec, *item)
        except Exception:  # CodeGymError, or the generator's own error in the in-process runtime
            result.dropped["generator_failed"] += 1
            continue
        finally:
            if on_candidate:
                on_candidate()
        if config.key in seen:
            result.dropped["duplicate"] += 1
            continue
        seen.add(config.key)
        try:
            trace = await runtime.oracle((spec, config.options))
        except CodeGymError:
            trace = None
        if trace is None or not trace.ok:
            result.dropped["oracle_failed"] += 1
            continue
        turns = len(trace.calls)
        rounds = await solve_fc_round(runtime, (spec, config.options), trace.calls)
        drop = ("rounds_below_min" if rounds < options.min_rounds else "rounds_above_max"
                if rounds > options.max_rounds else "over_turn_limit" if turns > options.turn_limit else None)
        if drop:
            result.dropped[drop] += 1
            continue
        if prompt is None:
            try:
                prompt = await _prompt(runtime, spec, config.options, options)
            except CodeGymError as exc:
                result.error = f"cannot build the prompt: {exc}"
                return result
        messages, tools = prompt
        extra_info = {
            "index": None, "solve_fc_round": rounds, "plugin_call_max_round": options.turn_limit,
            "env_name": spec.name, "split": None, "config_source": config.source, "config_seed": config.seed,
            "config_size": config.size, "source_hash": result.source_hash,
            "prompt_style": options.prompt_style, "tools": tools, "oracle_turns": turns,
        }
        if result.task_missing:
            extra_info["task_missing"] = True
        result.rows.append(layout.training_row(
            ability=f"{DEFAULT_DATA_SOURCE}@{spec.name}@{config.key}",
            prompt=messages,
            turn_limit=options.turn_limit,
            extra_info=extra_info,
        ))
    if not result.rows and not result.error:
        result.error = "every configuration was dropped"
    return result


async def _generated(runtime: Runtime, spec: EnvSpec, seed: int, size: int) -> Config:
    return Config(await runtime.generate_config((spec, {}), seed, size), "generated", seed=seed, size=size)


async def _prompt(runtime: Runtime, spec: EnvSpec, options: dict[str, Any], build: BuildOptions) -> \
        tuple[list[dict[str, Any]], str | None]:
    """The env's prompt messages (the same for all its configurations) and, for the native style,
    its tools as OpenAI function schemas (JSON text)."""
    async with await runtime.open((spec, options)) as session:
        info = session.info
    prompt = build_prompt(build.prompt_style, info, build.call_format)
    tools = json.dumps(openai_tools(info.actions), ensure_ascii=False) if build.prompt_style == "native" else None
    return prompt.messages, tools


async def build_from_envs(
    runtime: Runtime, specs: Sequence[EnvSpec], options: BuildOptions, *, extra: ConfigIndex | None = None,
    jobs: int = 4, on_candidate: Callable[[], None] | None = None,
) -> list[EnvRows]:
    """Every env's candidate rows, ``jobs`` envs at a time, in the order of ``specs``."""
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(spec: EnvSpec) -> EnvRows:
        async with gate:
            result = await env_rows(runtime, spec, options, extra, on_candidate)
        if on_candidate:  # an env with fewer candidates still fills its share of the progress bar
            for _ in range(options.per_env - result.candidates):
                on_candidate()
        return result

    return list(await asyncio.gather(*(one(s) for s in specs)))


# -- from upstream rows --------------------------------------------------------------------------
def convert_rows(raw: Sequence[Mapping[str, Any]], options: BuildOptions, origin: str = "rows") -> list[EnvRows]:
    """Upstream rows in our layout, filtered like built rows, grouped by env (in order of appearance)."""
    groups: dict[str, EnvRows] = {}
    for i, source in enumerate(raw):
        row = layout.convert_row(source, default_turn_limit=options.turn_limit, where=f"{origin}:{i + 1}")
        env = row["extra_info"]["env_name"]
        group = groups.setdefault(env, EnvRows(env=env))
        group.candidates += 1
        rounds = layout.rounds_of(row)
        rate = layout.pass_rate_of(row)
        drop = None
        if rounds is not None and rounds < options.min_rounds:
            drop = "rounds_below_min"
        elif rounds is not None and rounds > options.max_rounds:
            drop = "rounds_above_max"
        elif rounds is not None and rounds > row["plugin_call_max_round"]:
            drop = "over_turn_limit"
        elif options.max_pass_rate is not None and rate is not None and rate > options.max_pass_rate:
            drop = "pass_rate_above_max"
        if drop:
            group.dropped[drop] += 1
        else:
            group.rows.append(row)
    for group in groups.values():
        if not group.rows:
            group.error = "every row was dropped"
    return list(groups.values())


# -- split and write -----------------------------------------------------------------------------
def split_envs(envs: Sequence[str], k: int, seed: int) -> tuple[list[str], list[str]]:
    """``(train, val)`` env names: ``k`` envs held out, chosen by ``seed`` alone (not by input order)."""
    names = sorted(set(envs))
    if k and k >= len(names):
        raise CodeGymError(f"--val-envs {k} leaves no env to train on: only {len(names)} envs gave rows")
    val = sorted(random.Random(derived_seed(seed, "val-envs")).sample(names, k)) if k else []
    return [n for n in names if n not in val], val


def assign_splits(groups: Sequence[EnvRows], options: BuildOptions, *, reindex: bool = True) -> \
        dict[str, list[dict[str, Any]]]:
    """Rows per split, envs in name order; ``index`` counts rows within a split unless ``reindex`` is
    off (converted rows keep their upstream index)."""
    with_rows = sorted((g for g in groups if g.rows), key=lambda g: g.env)
    train, val = split_envs([g.env for g in with_rows], options.val_envs, options.seed)
    out: dict[str, list[dict[str, Any]]] = {"train": [], "val": []}
    for split, names in (("train", train), ("val", val)):
        chosen = set(names)
        for group in with_rows:
            if group.env in chosen:
                for row in group.rows:
                    extra = dict(row["extra_info"])
                    extra["split"] = split
                    if reindex or extra.get("index") is None:
                        extra["index"] = len(out[split])
                    out[split].append({**row, "extra_info": extra})
    # one key set for both splits, so that train and val files have the same columns
    uniform = layout.normalize(out["train"] + out["val"])
    return {"train": uniform[: len(out["train"])], "val": uniform[len(out["train"]):]}


def write_dataset(out_dir: Path, splits: Mapping[str, Sequence[Mapping[str, Any]]], fmt: str) -> dict[str, str]:
    """Write each non-empty split in each layout of ``fmt``; returns ``{file name: sha256}``.

    An empty split gets no files (``datasets`` cannot load an empty parquet file); a stale file of
    that name from an earlier build is removed, so the folder never mixes two builds.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name in layout.layouts_of(fmt):
        every = [layout.for_layout(r, name) for split in SPLITS for r in splits.get(split, [])]
        for split in SPLITS:
            rows = [layout.for_layout(r, name) for r in splits.get(split, [])]
            path = out_dir / f"{split}{layout.SUFFIX[name]}"
            if not rows:
                path.unlink(missing_ok=True)
                continue
            if name == "verl":
                layout.write_parquet(rows, path, schema_rows=every)
            else:
                layout.write_jsonl(rows, path)
            digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


async def envs_without_task(runtime: Runtime, specs: Sequence[EnvSpec], jobs: int = 4) -> list[EnvRows]:
    """The envs of ``specs`` with no task text anywhere (checked before any oracle runs), as groups
    whose error is :data:`NO_TASK`. Envs that fail to load are left to the build to report."""
    gate = asyncio.Semaphore(max(1, jobs))

    async def lacks(spec: EnvSpec) -> bool:
        if spec.task and spec.task.strip():
            return False
        async with gate:
            try:
                return not (await runtime.module_info((spec, {}))).get("task")
            except CodeGymError:
                return False

    flags = await asyncio.gather(*(lacks(s) for s in specs))
    return [EnvRows(env=s.name, error=NO_TASK, task_missing=True) for s, flag in zip(specs, flags, strict=True) if flag]


def missing_task_error(groups: Sequence[EnvRows]) -> str | None:
    """The refusal for envs left without task text (``None`` when every env has one)."""
    names = sorted(g.env for g in groups if g.error == NO_TASK)
    if not names:
        return None
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return (f"{len(names)} env(s) have no task text, so their prompts would hold no problem statement: {shown}. "
            f"{MISSING_TASK_ADVICE[0].upper()}{MISSING_TASK_ADVICE[1:]}; or write them anyway with "
            "--allow-missing-task (their rows say task_missing in extra_info)")


def manifest(groups: Sequence[EnvRows], splits: Mapping[str, Sequence[Mapping[str, Any]]],
             options: BuildOptions, *, mode: str, fmt: str, files: Mapping[str, str],
             inputs: Sequence[str]) -> dict[str, Any]:
    """What was built and why: deterministic (no times, no absolute paths beyond the inputs given)."""
    dropped: Counter[str] = Counter()
    for g in groups:
        dropped.update(g.dropped)
    split_of = {r["extra_info"]["env_name"]: s for s, rows in splits.items() for r in rows}
    envs = {}
    for g in sorted(groups, key=lambda g: g.env):
        rounds = [layout.rounds_of(r) for r in g.rows]
        rounds = [r for r in rounds if r is not None]
        envs[g.env] = {
            "split": split_of.get(g.env), "rows": len(g.rows), "candidates": g.candidates,
            "task_missing": g.task_missing,
            "dropped": dict(sorted(g.dropped.items())), "source_hash": g.source_hash or None,
            "solve_fc_round": [min(rounds), max(rounds)] if rounds else None, "error": g.error,
        }
    return {
        "version": 1,
        "mode": mode,
        "inputs": list(inputs),
        "format": fmt,
        "seed": options.seed,
        "per_env": options.per_env if mode == "envs" else None,
        "sizes": list(options.sizes) if mode == "envs" else None,
        "prompt_style": options.prompt_style if mode == "envs" else "as given",
        "call_format": options.call_format if mode == "envs" else "as given",
        "filters": options.filters(),
        "counts": {
            "candidates": sum(g.candidates for g in groups),
            "train_rows": len(splits.get("train", [])),
            "val_rows": len(splits.get("val", [])),
            "dropped": {k: dropped.get(k, 0) for k in DROP_REASONS},
            "envs_with_rows": sum(1 for g in groups if g.rows),
            "envs_without_rows": sum(1 for g in groups if not g.rows),
        },
        "split": {s: sorted({r["extra_info"]["env_name"] for r in splits.get(s, [])}) for s in SPLITS},
        "envs": envs,
        "files": dict(sorted(files.items())),
    }
