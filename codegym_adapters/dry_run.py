"""The trainer-agnostic half of a rollout dry run, where scripted policies stand in for the model.

A trainer's dry run (``python -m verl_plugin.dry_run``, ``python -m openrlhf_plugin.dry_run``) sends
dataset rows through that trainer's real rollout code with a model that replays scripted turns, then
decodes each trajectory back from its tokens into one record in the format of ``codegym eval --out``.
The trainers differ only in how tokens travel; this module is the rest, and knows no trainer and no
tokens:

* the options every dry run shares (:func:`add_run_options`), choosing the rows (:func:`spread`) and
  the policies (:func:`parse_policies`);
* :func:`plan_scripts`: for each row, its policy, the prompt its episode will show and the turns the
  policy writes for it (what the replaying model says);
* turning decoded text into record turns (:func:`model_turn`, :func:`add_observation`,
  :func:`unframe`) and checking them against the script (:func:`script_checks`);
* shaping a record (:func:`ordered_summary`, :func:`episode_record`);
* reporting the run (:class:`RecordLog`, :func:`batch_counts`, :func:`summary_lines`,
  :func:`finish_run`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from .argtypes import positive_int_or_all
from .calls import parse_call
from .episode import EpisodeConfig, EpisodeMetrics
from .policies import POLICIES, get_policy
from .prompts import build_prompt
from .report import summarize
from .runtime.base import Runtime
from .tasks import Task

DEFAULT_POLICIES = ("oracle", "wrong", "malformed", "random")  # assigned to rows in turn
# The key order of Episode.summary(), for records that read like `codegym eval --out` ones.
SUMMARY_ORDER = ("env", "reward", "env_reward", "done_reason", "turn_limit", "solve_fc_round", "error",
                 *(f.name for f in fields(EpisodeMetrics)))


# -- the rows and their scripts ---------------------------------------------------------------------
def spread(total: int, limit: int) -> list[int]:
    """``limit`` row indices spread evenly over ``total`` rows (all of them when ``limit`` is 0 or
    ``total`` or more)."""
    if limit <= 0 or limit >= total:
        return list(range(total))
    return [i * total // limit for i in range(limit)]


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--out``, ``--policy`` and ``--limit``: the options every trainer's dry run has after ``--data``;
    :func:`check_run_options` reads them."""
    p.add_argument("--out", type=Path, required=True, metavar="JSONL", help="episode records (overwritten)")
    p.add_argument("--policy", default=",".join(DEFAULT_POLICIES),
                   help="scripted policies, comma-separated, assigned to rows in turn (default: %(default)s)")
    p.add_argument("--limit", type=positive_int_or_all, default=64, metavar="N",
                   help="rows to run, spread evenly over the file, or 'all' (default: %(default)s)")


def check_run_options(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Sets ``args.policies`` from ``--policy``; an unknown or empty policy list is a usage error."""
    try:
        args.policies = parse_policies(args.policy)
    except ValueError as exc:
        p.error(str(exc))


def parse_policies(text: str) -> list[str]:
    """The policies of a ``--policy`` value (comma-separated names); ``ValueError`` names unknown ones."""
    policies = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in policies if x not in POLICIES]
    if not policies or unknown:
        raise ValueError(f"--policy: unknown {unknown or 'empty list'}; choose from {', '.join(POLICIES)}")
    return policies


async def plan_scripts(runtime: Runtime, sources: Sequence[Any], policies: Sequence[str],
                       episode: EpisodeConfig, seed: int = 0, *, task_of: Callable[[Any], Task] | None = None,
                       prompt_of: Callable[[Any], Sequence[Mapping[str, Any]]] | None = None,
                       concurrency: int = 16) -> list[dict[str, Any]]:
    """One plan per source (a dataset row, a trainer's label, or a :class:`Task`), in order.

    A plan is a dict: ``policy`` (``policies`` in turn), ``prompt`` (the messages the episode will
    show), ``turns`` (the texts the policy scripts, in the episode's call format) and, where the task
    could not be built, opened or scripted, ``policy_error``; then ``turns`` is empty and ``prompt``
    is ``prompt_of(source)`` (default none): the episode itself will report why (``env_error``), and
    the model stays silent. ``task_of`` builds a source's task (default: the source is one).
    """
    fmt = "codegym" if episode.call_format == "auto" else episode.call_format
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int, source: Any) -> dict[str, Any]:
        policy = policies[i % len(policies)]
        prompt = list(prompt_of(source)) if prompt_of else []
        plan: dict[str, Any] = {"policy": policy, "turns": [], "prompt": prompt}
        async with semaphore:
            try:
                task = task_of(source) if task_of else source
                session = await runtime.open(task.env)
                try:
                    plan["prompt"] = build_prompt(episode.prompt_style, session.info, episode.call_format,
                                                  task.prompt).messages
                    plan["turns"] = await get_policy(policy, seed).script(runtime, task, session.info, fmt)
                finally:
                    await session.close()
            except Exception as exc:  # the episode itself will report why (env_error); the model stays silent
                plan["policy_error"] = f"{type(exc).__name__}: {exc}"
        return plan

    return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(sources))))


def observation_role(episode: EpisodeConfig) -> str:
    """The chat role under which observations are fed back to the model (see ``build_prompt``)."""
    return "tool" if episode.prompt_style == "native" else "user"


# -- decoded text as record turns --------------------------------------------------------------------
def model_turn(text: str, call_format: str | EpisodeConfig) -> dict[str, Any]:
    """A record turn for a model turn's decoded ``text``: its kind and parsed call, read as the episode
    reads it when given its :class:`EpisodeConfig` (reasoning blocks included); no observation yet."""
    parsed = call_format.read_turn(text) if isinstance(call_format, EpisodeConfig) else parse_call(text, call_format)
    return {"text": text, "kind": parsed.kind, "call": parsed.call.to_dict() if parsed.call else None,
            "observation": ""}


def add_observation(turn: dict[str, Any], text: str) -> None:
    """Append observation ``text`` (what the model was shown next) to ``turn``; a call the env answered
    with "unknown function" becomes invalid, as the episode counts it."""
    turn["observation"] += text
    if turn["call"] and text.startswith("Error: unknown function"):
        turn["kind"], turn["call"] = "invalid", None  # the episode rejects unknown names


def unframe(text: str, frame: tuple[str, str]) -> str:
    """``text`` without the chat template's ``frame`` (the text before and after an observation),
    where it has both."""
    before, after = frame
    if before and text.startswith(before) and text.endswith(after) and len(text) >= len(before) + len(after):
        return text[len(before):len(text) - len(after)]
    return text


def script_checks(trajectory: Sequence[Mapping[str, Any]], script: Sequence[str], after_script: str,
                  last_cut: bool) -> list[str]:
    """``["model_tokens(turn K)"]`` for the first decoded turn that is not the scripted one, else ``[]``.

    Past the script the replaying model says ``after_script``; when ``last_cut`` (the budget cut the
    last turn) that turn need only begin the scripted text.
    """
    expected = [*script, *[after_script] * len(trajectory)]
    for k, turn in enumerate(trajectory):
        cut_short = last_cut and k == len(trajectory) - 1
        if not (turn["text"] == expected[k] or (cut_short and expected[k].startswith(turn["text"]))):
            return [f"model_tokens(turn {k + 1})"]
    return []


# -- records ----------------------------------------------------------------------------------------
def ordered_summary(found: Mapping[str, Any]) -> dict[str, Any]:
    """Episode summary fields in the key order of ``Episode.summary()``, any others after, sorted."""
    rest = dict(found)
    return {k: rest.pop(k) for k in SUMMARY_ORDER if k in rest} | dict(sorted(rest.items()))


def episode_record(task: str, plan: Mapping[str, Any], trainer: str, summary: Mapping[str, Any],
                   trajectory: list[dict[str, Any]], **facts: Any) -> dict[str, Any]:
    """A record in the format of ``codegym eval --out`` for the episode of ``task`` run on ``plan``
    (from :func:`plan_scripts`), plus ``trainer`` and the trainer's token ``facts``, in that order."""
    summary = dict(summary)
    final = summary.pop("final_observation", "")  # the env's answer after the last turn, if the trainer says
    if final and trajectory and not trajectory[-1].get("observation"):
        trajectory = [*trajectory[:-1], {**trajectory[-1], "env_observation": final}]
    record: dict[str, Any] = {"task": task, "policy": plan["policy"], "trainer": trainer, **summary}
    if plan.get("policy_error"):
        record["policy_error"] = plan["policy_error"]
    record.update(
        prompt=[{k: v for k, v in dict(m).items() if v is not None} for m in plan["prompt"]],
        trajectory=trajectory,
        **facts,
    )
    return record


# -- reporting the run -------------------------------------------------------------------------------
def say(text: str) -> None:
    print(text, flush=True)


def batch_counts(records: Sequence[Mapping[str, Any]]) -> str:
    """``solved S/N; <done reason> <count>, ...``, most common reason first."""
    reasons = Counter(r["done_reason"] for r in records)
    solved = sum(1 for r in records if r.get("env_reward", 0) >= 1.0)
    return f"solved {solved}/{len(records)}; " + ", ".join(f"{k} {v}" for k, v in reasons.most_common())


class RecordLog:
    """A run's records file: ``path`` is overwritten, one JSON line a record, flushed after each batch,
    and each batch is announced with its counts. Use it as a context manager."""

    def __init__(self, path: Path, trainer: str, batches: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.trainer, self.batches = trainer, batches
        self.records: list[dict[str, Any]] = []
        self._done_batches = 0
        self._file = path.open("w", encoding="utf-8")

    def add_batch(self, records: Sequence[dict[str, Any]], seconds: float) -> None:
        """Write a batch's records and say how it went (``seconds``: its rollout time)."""
        for record in records:
            self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        self.records.extend(records)
        self._done_batches += 1
        say(f"{self.trainer}: batch {self._done_batches}/{self.batches}: {len(records)} episodes in "
            f"{seconds:.1f}s: {batch_counts(records)}")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summary_lines(records: Sequence[dict[str, Any]], trainer: str) -> list[str]:
    """A few lines about the records: overall and per-policy metrics, done reasons, token checks."""
    s = summarize(records)
    reasons = ", ".join(f"{k} {v}" for k, v in s["done_reasons"].items() if v)
    per_policy = ", ".join(f"{p} {m['accuracy']:.2f}" for p, m in s["per_policy"].items())
    bad = sum(1 for r in records if r.get("token_checks"))
    return [
        f"{trainer}: {s['episodes']} episodes, accuracy {s['accuracy']:.3f}, avg reward {s['avg_reward']:.3f}, "
        f"avg turns {s['avg_turns']:.1f}, invalid-call rate {s['invalid_call_rate']:.3f}",
        f"{trainer}: done reasons: {reasons}; accuracy per policy: {per_policy}",
        f"{trainer}: token checks: {len(records) - bad}/{len(records)} episodes ok",
    ]


def finish_run(records: Sequence[dict[str, Any]], trainer: str, out: Path, started: float) -> int:
    """Say the summary lines and where the records went (``started``: the run's ``perf_counter``);
    the exit status: 1, with the first failure on stderr, if any episode failed its token checks."""
    for line in summary_lines(records, trainer):
        say(line)
    say(f"{trainer}: wrote {len(records)} records to {out} in {time.perf_counter() - started:.1f}s")
    bad = [r for r in records if r.get("token_checks")]
    if bad:
        print(f"{trainer} dry run: FAILED token checks in {len(bad)} episode(s), e.g. {bad[0]['task']} "
              f"({bad[0]['policy']}): {', '.join(bad[0]['token_checks'])}", file=sys.stderr)
        return 1
    return 0
