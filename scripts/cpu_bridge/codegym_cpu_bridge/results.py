"""What a training run wrote, read back: per-step metrics, episode records, log-prob agreement, replay.

Reads ``metrics.jsonl`` (veRL's file logger) and ``rollouts/tokens-step<N>.jsonl`` (the
``codegym_record`` trainer mode) from a run folder, and writes ``episodes.jsonl`` (episode records in
the format ``codegym report`` reads, one per trajectory, with ``step``) and ``training.json`` (the
per-step training metrics :mod:`codegym_adapters.report_training` plots). The tests use the same
functions to check the run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

EXTRA_PREFIX = "codegym_"
# veRL metric names (verl/workers/utils/losses.py, trainer/ppo/metric_utils.py) -> ours
VERL_METRICS = {"actor/pg_loss": "pg_loss", "actor/grad_norm": "grad_norm", "critic/score/mean": "score_mean",
                "critic/advantages/max": "advantage_max", "critic/advantages/min": "advantage_min",
                "actor/lr": "lr", "perf/time_per_step": "step_seconds"}  # fmt: skip


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def step_records(out: Path) -> dict[int, list[dict[str, Any]]]:
    """``{step: [trajectory record, ...]}`` from ``out/rollouts/tokens-step<N>.jsonl``."""
    found = {}
    for path in (out / "rollouts").glob("tokens-step*.jsonl"):
        found[int(path.stem.removeprefix("tokens-step"))] = read_jsonl(path)
    return dict(sorted(found.items()))


def step_metrics(out: Path) -> dict[int, dict[str, Any]]:
    """``{step: veRL's metrics}`` from ``out/metrics.jsonl`` (veRL's file logger)."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return {}
    return {int(line["step"]): line.get("data", {}) for line in read_jsonl(path)}


def summary_of(record: dict[str, Any]) -> dict[str, Any]:
    """The agent loop's episode summary (``codegym_*`` extra fields), without the prefix."""
    extra = record.get("extra_fields") or {}
    return {k[len(EXTRA_PREFIX):]: v for k, v in extra.items() if k.startswith(EXTRA_PREFIX)}


def logprob_abs_diffs(record: dict[str, Any]) -> list[float]:
    """``|vLLM log-prob - actor log-prob|`` for every generated (mask 1) token of a trajectory."""
    rollout, actor, mask = record["rollout_log_probs"], record["old_log_probs"], record["response_mask"]
    return [abs(float(r) - float(a)) for r, a, m in zip(rollout, actor, mask, strict=True) if m]


def segments(mask: list[int], ids: list[int]) -> list[tuple[int, list[int]]]:
    """Runs of equal mask values: ``[(mask value, ids), ...]`` in order."""
    runs: list[tuple[int, list[int]]] = []
    for m, token in zip(mask, ids, strict=True):
        if runs and runs[-1][0] == m:
            runs[-1][1].append(token)
        else:
            runs.append((m, [token]))
    return runs


def model_turns(record: dict[str, Any], tokenizer: Any, budget: int) -> list[tuple[str, bool]]:
    """The texts the episode stepped, in order (trailing stop tokens left out, as the agent loop does),
    each with whether the response budget cut it short (only the last can be: the loop steps it with
    ``cut=True``, which the core never reads)."""
    special = frozenset(tokenizer.all_special_ids)
    spans = [ids for m, ids in segments(record["response_mask"], record["response_ids"]) if m == 1]
    runs = segments(record["response_mask"], record["response_ids"])
    cut = (bool(runs) and runs[-1][0] == 1 and len(record["response_ids"]) >= budget
           and runs[-1][1][-1] not in special)  # fmt: skip
    texts = []
    for i, ids in enumerate(spans):
        end = len(ids)
        while end and ids[end - 1] in special:
            end -= 1
        texts.append((tokenizer.decode(ids[:end], skip_special_tokens=False), cut and i == len(spans) - 1))
    return texts


async def replay(record: dict[str, Any], texts: list[tuple[str, bool]], runtime: Any, config: Any) -> dict[str, Any]:
    """Run the trajectory's model turns through a fresh episode; returns its summary."""
    from codegym_adapters.episode import Episode
    from codegym_adapters.tasks import Task

    task = Task.from_row({"ability": record["ability"], "extra_info": record.get("extra_info") or {},
                          "prompt": []})  # fmt: skip
    episode = Episode(runtime, task, config)
    try:
        await episode.start()
        for text, cut in texts:
            if episode.done:
                break
            await episode.step(text, cut=cut)
        if not episode.done:
            await episode.end("length")
        return episode.summary()
    finally:
        await episode.close()


async def replay_all(records: list[dict[str, Any]], tokenizer: Any, budget: int, config: Any,
                     runtime_name: str = "inprocess") -> list[dict[str, Any]]:
    """:func:`replay` every record on one fresh runtime; returns the replayed summaries in order."""
    from codegym_adapters.runtime import make_runtime

    async with make_runtime(runtime_name) as runtime:
        return [await replay(r, model_turns(r, tokenizer, budget), runtime, config) for r in records]


def episode_record(record: dict[str, Any], step: int, tokenizer: Any, frame: tuple[str, str],
                   call_format: str) -> dict[str, Any]:
    """One trajectory as an episode record (the ``codegym eval --out`` format) plus training facts."""
    from verl_plugin.dry_run import decode_turns

    summary = summary_of(record)
    diffs = logprob_abs_diffs(record) if record.get("rollout_log_probs") else []
    advantages = [a for a, m in zip(record.get("advantages") or [], record["response_mask"], strict=False) if m]
    return {
        "task": record.get("ability", summary.get("env", "")), "policy": f"tiny policy, step {step}",
        "trainer": "verl", "step": step, **summary,
        "trajectory": decode_turns(tokenizer, record["response_ids"], record["response_mask"], frame, call_format),
        "prompt_tokens": len(record["prompt_ids"]), "response_tokens": len(record["response_ids"]),
        "rm_score": record.get("score"), "advantage": advantages[0] if advantages else None,
        "logprob_abs_diff_mean": statistics.fmean(diffs) if diffs else None,
    }  # fmt: skip


def step_summary(step: int, records: list[dict[str, Any]], metrics: dict[str, Any]) -> dict[str, Any]:
    """One step's training metrics: reward, done reasons, GRPO advantages, vLLM-vs-actor log-probs, and
    veRL's own pg loss and grad norm."""
    rewards = [float(r.get("score", 0.0)) for r in records]
    diffs = [d for r in records for d in logprob_abs_diffs(r)]
    advantages = [a for r in records for a, m in zip(r["advantages"], r["response_mask"], strict=False) if m]
    reasons = Counter(summary_of(r).get("done_reason") or "unknown" for r in records)
    out = {
        "step": step, "trajectories": len(records),
        "reward_mean": statistics.fmean(rewards) if rewards else 0.0,
        "reward_min": min(rewards, default=0.0), "reward_max": max(rewards, default=0.0),
        "done_reasons": dict(reasons.most_common()),
        "turns_mean": statistics.fmean([summary_of(r).get("turns", 0) for r in records]) if records else 0.0,
        "response_tokens_mean": statistics.fmean([len(r["response_ids"]) for r in records]) if records else 0.0,
        "logprob_abs_diff_mean": statistics.fmean(diffs) if diffs else None,
        "logprob_abs_diff_max": max(diffs) if diffs else None,
        "advantage_abs_max": max((abs(a) for a in advantages), default=0.0),
    }  # fmt: skip
    for theirs, ours in VERL_METRICS.items():
        if theirs in metrics:
            out[ours] = metrics[theirs]
    return out


def write_results(out: Path, data: Path, model: Path, *, seconds: float, device: str,
                  peak_memory_bytes: int = 0, call_format: str = "auto") -> dict[str, Any]:
    """Write ``episodes.jsonl`` and ``training.json`` for the run in ``out``; returns the latter."""
    from transformers import AutoTokenizer

    from verl_plugin.dry_run import observation_frame

    tokenizer = AutoTokenizer.from_pretrained(model)
    frame = observation_frame(tokenizer, "user")
    steps, metrics = step_records(out), step_metrics(out)
    with (out / "episodes.jsonl").open("w", encoding="utf-8") as sink:
        for step, records in steps.items():
            for record in records:
                sink.write(json.dumps(episode_record(record, step, tokenizer, frame, call_format)) + "\n")
    training = {
        "device": device, "trainer_seconds": round(seconds, 1), "peak_memory_gib": round(peak_memory_bytes / 2**30, 2),
        "model": str(model), "data": str(data),
        "steps": [step_summary(step, records, metrics.get(step, {})) for step, records in steps.items()],
    }  # fmt: skip
    (out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    return training


def replay_run(out: Path, model: Path, budget: int, config: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every recorded trajectory of the run with its replayed summary: ``[(record, replayed), ...]``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    records = [r for rs in step_records(out).values() for r in rs]
    return list(zip(records, asyncio.run(replay_all(records, tokenizer, budget, config)), strict=True))
