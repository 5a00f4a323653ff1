"""A rollout dry run through OpenRLHF's real multi-turn agent executor: no GPU, no vLLM, no Ray.

``python -m openrlhf_plugin.dry_run --data DIR/train.jsonl --out records.jsonl``

Training rows (e.g. from ``codegym build-data``) go through OpenRLHF's own ``PromptDataset``
(``--data.input_key prompt --data.label_key label --data.apply_chat_template``), then each sample
through our :class:`~openrlhf_plugin.agent.AgentExecutor`, i.e. OpenRLHF's ``MultiTurnAgentExecutor.execute``,
with the env runtime from the ``CODEGYM_*`` settings (``sandbox`` by default), and finally through
OpenRLHF's own conversion into a training sample (``_process_response_into_experience``). Only the
LLM is replaced: a :class:`~openrlhf_plugin.inprocess.ScriptedEngine` per sample replays the turns of
a scripted policy (``oracle``, ``wrong``, ``malformed``, ``random``, mixed across the rows), with a
local ChatML tokenizer (or the one at ``--model``). vLLM is stubbed where it is not installed.

Each response is decoded back from tokens: the action ranges are the model turns, the tokens between
them the observations. It becomes one JSON line in the format of ``codegym eval --out`` (``codegym
report`` renders it), plus ``"trainer": "openrlhf"`` and token facts (``prompt_tokens``,
``response_tokens``, ``mask_ones`` = the experience's action-mask ones, ``rm_score`` = its reward,
``action_ranges``).
The last turn's observation is empty: a final observation is never fed back to the model; what the
env answered is the turn's ``env_observation`` (from the agent, through ``codegym_summary``).
Each episode is checked (``token_checks`` lists what failed): the model tokens are the scripted turns,
the experience's reward and action mask and the ``extra_logs`` agree with the episode. The command
exits with 1 if any check failed.

What is not about OpenRLHF (choosing rows, scripting the policies, shaping and reporting records) is
:mod:`codegym_adapters.dry_run`; this module is OpenRLHF's token plumbing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from codegym_adapters import dry_run as core
from codegym_adapters.catalog import read_rows
from codegym_adapters.errors import CodeGymError
from codegym_adapters.rows import read_count, read_extra_info

_PROBE = "CODEGYMPROBEOBSERVATION"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m openrlhf_plugin.dry_run",
        description="Run dataset rows through OpenRLHF's real MultiTurnAgentExecutor with scripted policies "
                    "as the model; write one episode record per line (the format of `codegym eval --out`).",
    )
    p.add_argument("--data", type=Path, required=True, metavar="JSONL", help="training rows (OpenRLHF jsonl)")
    core.add_run_options(p)
    p.add_argument("--batch", type=int, default=32, metavar="B", help="samples run at once (default: %(default)s)")
    p.add_argument("--runtime", choices=("sandbox", "inprocess"), default=None,
                   help="where env code runs (default: CODEGYM_RUNTIME, else sandbox)")
    p.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="a model folder whose tokenizer to use (default: a tiny local ChatML one)")
    p.add_argument("--max-len", type=int, default=32768, metavar="N",
                   help="OpenRLHF's --data.max_len: prompt plus all turns, in tokens (default: %(default)s)")
    p.add_argument("--label-key", default="label", help="OpenRLHF's --data.label_key (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random policy")
    args = p.parse_args(argv)
    core.check_run_options(p, args)
    if args.batch < 1 or args.max_len < 1:
        p.error("--batch and --max-len must be positive")
    return args


def recording_executor(settings: Any) -> Any:
    """Our :class:`~openrlhf_plugin.agent.AgentExecutor`, whose agents also put the episode's full
    summary into the response (``codegym_summary``; OpenRLHF ignores the key)."""
    from .agent import AgentExecutor, CodeGymAgent

    class RecordingAgent(CodeGymAgent):
        async def finish(self, response: dict) -> None:
            await super().finish(response)
            if response and self.episode is not None:
                response["codegym_summary"] = {**self.episode.summary(), "final_observation": self.final_observation}

    executor = AgentExecutor(settings)
    executor.agent_instance_cls = RecordingAgent
    return executor


# -- decoding a response ----------------------------------------------------------------------------
def _model_text(tokenizer: Any, ids: list[int], special: frozenset[int]) -> str:
    end = len(ids)
    while end and ids[end - 1] in special:
        end -= 1
    return tokenizer.decode(ids[:end], skip_special_tokens=False)


def decode_turns(tokenizer: Any, tokens: list[int], ranges: list[tuple[int, int]], frame: tuple[str, str],
                 call_format: Any) -> list[dict[str, Any]]:
    """The episode's turns: each action range a model turn (its text, kind and parsed call), the tokens
    up to the next range the observation the model was shown."""
    special = frozenset(tokenizer.all_special_ids)
    turns = []
    for k, (start, end) in enumerate(ranges):
        turn = core.model_turn(_model_text(tokenizer, tokens[start:end], special), call_format)
        following = tokens[end:ranges[k + 1][0]] if k + 1 < len(ranges) else tokens[end:]
        observation = tokenizer.decode(following, skip_special_tokens=False) if following else ""
        core.add_observation(turn, core.unframe(observation, frame))
        turns.append(turn)
    return turns


def summary_from_logs(logs: dict[str, Any], env: str) -> dict[str, Any]:
    """An episode summary as far as the ``extra_logs`` OpenRLHF receives tell it."""
    from codegym_adapters.episode import DONE_REASONS, EpisodeMetrics

    def value(name: str) -> Any:
        v = logs.get(f"codegym_{name}", 0.0)
        return float(v.item() if hasattr(v, "item") else v)

    code = int(value("end_code"))
    summary: dict[str, Any] = {
        "env": env, "reward": value("reward"), "env_reward": value("env_reward"),
        "done_reason": DONE_REASONS[code] if 0 <= code < len(DONE_REASONS) else "", "turn_limit": int(value("turn_limit")),
        "solve_fc_round": int(value("solve_fc_round")), "error": "",
    }
    for f in dataclasses.fields(EpisodeMetrics):
        summary[f.name] = value(f.name) if f.type in (float, "float") else int(value(f.name))
    return summary


def decode_record(response: dict[str, Any], label: Any, plan: dict[str, Any], tokenizer: Any, max_len: int,
                  frame: tuple[str, str], call_format: Any, row: dict[str, Any] | None = None) -> dict[str, Any]:
    """One executor response as an episode record (see the module docstring); ``row`` (the dataset row)
    supplies the oracle's round count where the label does not carry it."""
    from .agent import task_from_label
    from .inprocess import AFTER_SCRIPT, to_experience

    tokens = list(response["observation_tokens"])
    ranges = [tuple(r) for r in response["action_ranges"]]
    task = task_from_label(label)
    logs = response.get("extra_logs") or {}
    summary = summary_from_logs(logs, task.env_name)
    exact = response.get("codegym_summary")
    if exact:
        summary.update(exact)
    turns = decode_turns(tokenizer, tokens, ranges, frame, call_format)
    experience = to_experience(response, max_len=max_len)
    mask_ones = int(experience.action_mask.sum())
    rm_score = float(experience.info["reward"].sum()) if "reward" in experience.info else 0.0
    prompt_tokens = ranges[0][0] if ranges else len(tokens)

    # the budget may cut the last turn; OpenRLHF still hands it to the env (e.g. ending with no_call)
    cut = summary.get("done_reason") == "length" or bool(response.get("truncated"))
    failed = core.script_checks(turns, plan["turns"], AFTER_SCRIPT, cut)
    if abs(rm_score - float(summary["reward"])) > 1e-6 or abs(float(response["reward"]) - rm_score) > 1e-6:
        failed.append("reward")
    if len(tokens) <= max_len and mask_ones != sum(end - start for start, end in ranges):
        failed.append("action_mask")
    if exact and (abs(summary_from_logs(logs, "")["reward"] - exact["reward"]) > 1e-6
                  or summary_from_logs(logs, "")["done_reason"] != exact["done_reason"]
                  or int(logs.get("codegym_turns", -1)) != exact["turns"]):
        failed.append("extra_logs")
    if summary.get("turns") not in (len(turns), len(turns) - 1):
        failed.append("turns")

    extra = read_extra_info((row or {}).get("extra_info"))
    rounds = read_count(extra.get("solve_fc_round"), "solve_fc_round")
    if not summary.get("solve_fc_round") and rounds:
        summary["solve_fc_round"] = rounds  # an `ability` label does not carry it
    return core.episode_record(
        task.env, plan, "openrlhf", summary, turns,
        prompt_tokens=prompt_tokens,
        response_tokens=len(tokens) - prompt_tokens,
        mask_ones=mask_ones,
        action_ranges=len(ranges),
        rm_score=rm_score,
        truncated=bool(response.get("truncated")),
        row=extra.get("index"),
        token_checks=failed,
    )


# -- the run ------------------------------------------------------------------------------------------
class _Strategy:
    """The two things OpenRLHF's ``PromptDataset`` asks of its training strategy."""

    def __init__(self, label_key: str) -> None:
        self.args = SimpleNamespace(data=SimpleNamespace(input_key="prompt", label_key=label_key,
                                                         apply_chat_template=True))

    def is_rank_0(self) -> bool:
        return False  # no progress bar


async def _run(args: argparse.Namespace, tokenizer: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row through the executor, ``args.batch`` samples at a time; writes and returns the records."""
    from openrlhf.datasets.prompts_dataset import PromptDataset

    from . import shared_runtime
    from .agent import task_from_label
    from .inprocess import ScriptedEngine, sampling_params
    from .settings import AgentSettings

    settings = AgentSettings.from_environ()
    if args.runtime:
        settings = dataclasses.replace(settings, runtime=args.runtime)
    dataset = PromptDataset(rows, tokenizer, _Strategy(args.label_key))
    executor = recording_executor(settings)
    core.say(f"openrlhf: {len(dataset)} samples through PromptDataset; runtime {settings.runtime}, "
             f"max_len {args.max_len}")
    try:
        start = time.perf_counter()
        plans = await core.plan_scripts(await executor.runtime.get(), dataset.labels, args.policies, settings.episode,
                                   args.seed, task_of=task_from_label)
        core.say(f"openrlhf: scripted {len(plans)} episodes ({', '.join(args.policies)}) in "
                 f"{time.perf_counter() - start:.1f}s")
        probe = executor.chat_turns(tokenizer).feedback(core.observation_role(settings.episode), _PROBE)
        frame = tuple(probe.split(_PROBE, 1))
        batches = range(0, len(dataset), args.batch)
        with core.RecordLog(args.out, "openrlhf", len(batches)) as log:
            for first in batches:
                indices = range(first, min(first + args.batch, len(dataset)))
                start = time.perf_counter()
                responses = await asyncio.gather(*(
                    executor.execute(dataset.prompts[i], dataset.labels[i], sampling_params(), args.max_len,
                                     tokenizer, ScriptedEngine(tokenizer, plans[i]["turns"]))
                    for i in indices))
                elapsed = time.perf_counter() - start
                log.add_batch([decode_record(r, dataset.labels[i], plans[i], tokenizer, args.max_len, frame,
                                             settings.episode, rows[i])
                               for i, r in zip(indices, responses, strict=True)], elapsed)
    finally:
        await shared_runtime.close_all()
    return log.records


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(f"openrlhf dry run: no such file: {args.data}", file=sys.stderr)
        return 2
    from .inprocess import stub_vllm, write_tiny_tokenizer

    stub_vllm()  # before anything imports OpenRLHF's engine modules
    from transformers import AutoTokenizer

    started = time.perf_counter()
    try:
        rows = read_rows(args.data)
    except CodeGymError as exc:
        print(f"openrlhf dry run: {exc}", file=sys.stderr)
        return 2
    picked = [rows[i] for i in core.spread(len(rows), args.limit)]
    if not picked:
        print(f"openrlhf dry run: {args.data} has no rows", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="codegym-dry-run-") as tmp:
        tokenizer = AutoTokenizer.from_pretrained(args.model or write_tiny_tokenizer(Path(tmp) / "tiny-chatml"))
    core.say(f"openrlhf: {len(picked)} of {len(rows)} rows from {args.data}; "
             f"policies {', '.join(args.policies)}; tokenizer {'from ' + str(args.model) if args.model else 'tiny ChatML (local)'}")
    records = asyncio.run(_run(args, tokenizer, picked))
    return core.finish_run(records, "openrlhf", args.out, started)


if __name__ == "__main__":
    sys.exit(main())
