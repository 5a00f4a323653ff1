"""A rollout dry run through veRL's real agent-loop worker: no GPU, no model, no Ray.

``python -m verl_plugin.dry_run --data DIR/train.parquet --out records.jsonl``

Training rows (e.g. from ``codegym build-data``) are read by veRL's own ``RLHFDataset``, batched by its
``collate_fn`` and run through a real ``AgentLoopWorker`` (config: ``ppo_trainer`` + ``env=codegym``)
in this process, so every episode goes through the ``codegym_agent`` loop, the env runtime
(``sandbox`` by default) and veRL's padding, masks and reward placement exactly as in training. Only
the LLM is replaced: a server replays, for each row, the turns of a scripted policy (``oracle``,
``wrong``, ``malformed``, ``random``, mixed across the batch), tokenized by a local Qwen2-style
tokenizer (or the one at ``--model``). The server finds each trajectory's row by its ``priority``,
which (as veRL's ``AgentLoopManager`` does) is the row's position in the run.

Each episode's output is decoded back from tokens: prompt and response ids, the response mask
(mask-1 spans are model turns, mask-0 spans observations), ``rm_scores``, ``__num_turns__`` and the
``codegym_*`` extra fields. It becomes one JSON line in the format of ``codegym eval --out``, so
``codegym report`` renders it, plus ``"trainer": "verl"`` and token facts (``prompt_tokens``,
``response_tokens``, ``mask_ones``, ``num_turns``, ``rm_score``). The last turn's observation is
empty: an episode's final observation is never fed back to the model, so it is not in the tokens;
what the env answered is the turn's ``env_observation`` (from the agent loop's extra fields).

Each episode is also checked (``token_checks`` lists what failed): the model tokens are the scripted
turns, the reward sits on the last response token and equals the episode's, the turn counts agree.
The command exits with 1 if any check failed.

What is not about veRL (choosing rows, scripting the policies, shaping and reporting records) is
:mod:`codegym_adapters.dry_run`; this module is veRL's token plumbing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codegym_adapters import dry_run as core

_REPLY, _OBSERVATION = "CODEGYMPROBEREPLY", "CODEGYMPROBEOBSERVATION"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m verl_plugin.dry_run",
        description="Run dataset rows through veRL's real AgentLoopWorker with scripted policies as the "
                    "model; write one episode record per line (the format of `codegym eval --out`).",
    )
    p.add_argument("--data", type=Path, required=True, metavar="PARQUET", help="training rows (veRL parquet)")
    core.add_run_options(p)
    p.add_argument("--batch", type=int, default=32, metavar="B",
                   help="rows per generate_sequences call (default: %(default)s)")
    p.add_argument("--runtime", choices=("sandbox", "inprocess"), default=None,
                   help="where env code runs (default: the config's, sandbox)")
    p.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="a model folder whose tokenizer to use (default: a tiny local Qwen2-style one)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random policy")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="Hydra overrides of the trainer config, e.g. data.max_response_length=8192")
    args = p.parse_args(argv)
    core.check_run_options(p, args)
    if args.batch < 1:
        p.error("--batch must be at least 1")
    return args


# -- scripts: the model turns each row's policy writes ---------------------------------------------
async def prepare_scripts(runtime: Any, rows: Sequence[dict[str, Any]], policies: Sequence[str], settings: Any,
                          seed: int = 0) -> list[dict[str, Any]]:
    """Per row: its policy, the prompt the episode will show, the scripted turns (and a policy error);
    a row that carries its env's source has it indexed first, as the agent loop does."""
    from codegym_adapters.tasks import Task

    from .agent_loop import _add_carried_env

    def task_of(row: dict[str, Any]) -> Task:
        task = Task.from_row(row)
        _add_carried_env(runtime.catalog, task, row)
        return task

    return await core.plan_scripts(runtime, rows, policies, settings.episode, seed, task_of=task_of,
                                   prompt_of=lambda row: row.get("raw_prompt") or [])


def replay_server(tokenizer: Any, scripts: dict[int, list[str]]) -> Any:
    """A :class:`~verl_plugin.replay.ReplayServer` that finds each trajectory's script by its priority."""
    from .replay import ReplayServer

    class RowReplayServer(ReplayServer):
        def __init__(self) -> None:
            super().__init__(tokenizer, {})
            self.by_priority = {p: [self._encode(t) for t in turns] for p, turns in scripts.items()}

        async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any],
                           priority: int | None = None, **kwargs: Any) -> Any:
            if request_id not in self._cursor:
                if priority not in self.by_priority:
                    raise LookupError(f"replay: no script for priority {priority!r}")
                self._cursor[request_id] = (self.by_priority[int(priority)], 0)
            return await super().generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params,
                                          priority=priority, **kwargs)

    return RowReplayServer()


# -- decoding the worker's output -------------------------------------------------------------------
def observation_frame(tokenizer: Any, role: str) -> tuple[str, str]:
    """The text the chat template puts before and after a ``role`` observation that follows a model
    turn (the model's own stop token, which ends its span, left out)."""
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "Hello."}, {"role": "assistant", "content": _REPLY},
             {"role": role, "content": _OBSERVATION}], tokenize=False, add_generation_prompt=True)
        start = text.index(_REPLY) + len(_REPLY)
        middle = text.index(_OBSERVATION, start)
    except Exception:  # a template that cannot render the probe: observations stay framed
        return "", ""
    before, after = text[start:middle], text[middle + len(_OBSERVATION):]
    eos = tokenizer.eos_token or ""
    return (before[len(eos):] if eos and before.startswith(eos) else before), after


def _model_text(tokenizer: Any, ids: list[int], special: frozenset[int]) -> str:
    end = len(ids)
    while end and ids[end - 1] in special:
        end -= 1
    return tokenizer.decode(ids[:end], skip_special_tokens=False)


def decode_turns(tokenizer: Any, response: list[int], mask: list[int], frame: tuple[str, str],
                 call_format: Any) -> list[dict[str, Any]]:
    """The episode's turns from its response tokens: each mask-1 span is a model turn (its text, kind
    and parsed call), the mask-0 span after it the observation the model was shown."""
    from .inprocess import segments

    special = frozenset(tokenizer.all_special_ids)
    turns: list[dict[str, Any]] = []
    for m, ids in segments(mask, response):
        if m == 1 or not turns:
            turns.append(core.model_turn(_model_text(tokenizer, ids, special), call_format))
        else:
            observation = tokenizer.decode(ids, skip_special_tokens=False)
            core.add_observation(turns[-1], core.unframe(observation, frame))
    return turns


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def decode_record(output: Any, i: int, row: dict[str, Any], plan: dict[str, Any], tokenizer: Any,
                  frame: tuple[str, str], call_format: Any) -> dict[str, Any]:
    """Trajectory ``i`` of a worker output as an episode record (see the module docstring)."""
    from codegym_adapters.tasks import Task

    from .agent_loop import EXTRA_PREFIX
    from .inprocess import unpad
    from .replay import SILENT_TURN

    prompt_ids, response, mask = unpad(output, i)
    fields = output.non_tensor_batch
    found = {k[len(EXTRA_PREFIX):]: _plain(v[i]) for k, v in fields.items() if k.startswith(EXTRA_PREFIX)}
    summary = core.ordered_summary(found)
    turns = decode_turns(tokenizer, response, mask, frame, call_format)
    scores = output.batch["rm_scores"][i] if "rm_scores" in output.batch.keys() else None
    rm_score = float(scores.sum()) if scores is not None else 0.0
    num_turns = int(fields["__num_turns__"][i])
    observations = sum(1 for m, _ in _runs(mask) if m == 0)

    failed = core.script_checks(turns, plan["turns"], SILENT_TURN, summary.get("done_reason") == "length")
    if abs(rm_score - float(summary.get("reward", 0.0))) > 1e-6:
        failed.append("rm_score")
    if scores is not None and any(j != len(response) - 1 for j in scores.nonzero().flatten().tolist()):
        failed.append("reward_position")
    if num_turns != 1 + len(turns) + observations:
        failed.append("num_turns")
    if summary.get("turns") not in (len(turns), len(turns) - 1 if summary.get("done_reason") == "length" else -1):
        failed.append("turns")

    return core.episode_record(
        Task.from_row(row).env, plan, "verl", summary, turns,
        prompt_tokens=len(prompt_ids),
        response_tokens=len(response),
        mask_ones=int(sum(mask)),
        num_turns=num_turns,
        rm_score=rm_score,
        row=_plain(row.get("index")),
        token_checks=failed,
    )


def _runs(mask: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for m in mask:
        if runs and runs[-1][0] == m:
            runs[-1] = (m, runs[-1][1] + 1)
        else:
            runs.append((m, 1))
    return runs


# -- the run ------------------------------------------------------------------------------------------
async def _run(args: argparse.Namespace, model_dir: Path, rows_file: Path, total_rows: int) -> list[dict[str, Any]]:
    import numpy as np

    from .inprocess import collate, compose_config, new_worker, read_dataset
    from .runtimes import close_shared_runtimes, shared_runtime
    from .settings import load_settings

    overrides = [f"env.runtime={args.runtime}"] if args.runtime else []
    config = compose_config(model_dir, *overrides, *args.overrides)
    settings = load_settings(config)
    worker = new_worker(config, quiet=True)
    tokenizer = worker.tokenizer
    dataset = read_dataset(config, [rows_file], tokenizer)
    rows = [dataset[i] for i in range(len(dataset))]
    dropped = f" ({total_rows - len(rows)} dropped by veRL's prompt-length filter)" if len(rows) < total_rows else ""
    core.say(f"verl: {len(rows)} rows through RLHFDataset{dropped}; runtime {settings.runtime}, "
             f"response budget {worker.rollout_config.response_length} tokens")
    try:
        start = time.perf_counter()
        plans = await prepare_scripts(shared_runtime(settings), rows, args.policies, settings, args.seed)
        core.say(f"verl: scripted {len(plans)} episodes ({', '.join(args.policies)}) in "
                 f"{time.perf_counter() - start:.1f}s")
        worker.llm_client = replay_server(tokenizer, {i: p["turns"] for i, p in enumerate(plans)})
        frame = observation_frame(tokenizer, core.observation_role(settings.episode))
        batches = range(0, len(rows), args.batch)
        with core.RecordLog(args.out, "verl", len(batches)) as log:
            for first in batches:
                chunk = rows[first:first + args.batch]
                batch = collate(chunk)
                batch.non_tensor_batch["priority"] = np.arange(first, first + len(chunk), dtype=np.int64)
                start = time.perf_counter()
                output = await worker.generate_sequences(batch)
                elapsed = time.perf_counter() - start
                log.add_batch([decode_record(output, j, chunk[j], plans[first + j], tokenizer, frame,
                                             settings.episode) for j in range(len(chunk))], elapsed)
    finally:
        await close_shared_runtimes()
    return log.records


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(f"verl dry run: no such file: {args.data}", file=sys.stderr)
        return 2
    import pyarrow.parquet as pq

    from .tiny_model import write_tiny_model

    started = time.perf_counter()
    table = pq.read_table(args.data)
    picked = core.spread(table.num_rows, args.limit)
    if not picked:
        print(f"verl dry run: {args.data} has no rows", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="codegym-dry-run-") as tmp:
        rows_file = Path(tmp) / "rows.parquet"
        pq.write_table(table.take(picked), rows_file)
        model_dir = args.model or write_tiny_model(Path(tmp) / "tiny-qwen2")
        core.say(f"verl: {len(picked)} of {table.num_rows} rows from {args.data}; "
                 f"policies {', '.join(args.policies)}; tokenizer {'from ' + str(args.model) if args.model else 'tiny Qwen2-style (local)'}")
        records = asyncio.run(_run(args, model_dir, rows_file, len(picked)))
    return core.finish_run(records, "verl", args.out, started)


if __name__ == "__main__":
    sys.exit(main())
