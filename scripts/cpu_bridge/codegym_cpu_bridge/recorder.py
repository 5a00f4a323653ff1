"""The ``codegym_record`` trainer mode: veRL's synchronous PPO trainer, plus a token-level record.

Not a workaround but an observer, through veRL's own trainer registry (``register_trainer``, chosen
with ``trainer.v1.trainer_mode=codegym_record``). veRL's ``trainer.rollout_data_dir`` dump keeps only
decoded text and the summed score; the checks of a real run need the tokens. At the same point in
each step (after the policy update, before the step's data is cleared) this mode writes
``<rollout_data_dir>/tokens-step<N>.jsonl``, one line per trajectory:

``key``, ``prompt_ids``, ``response_ids``, ``response_mask`` (1 = generated), ``rollout_log_probs``
(vLLM's, per response token), ``old_log_probs`` (the actor's recomputation before this step's update),
``advantages``, ``score`` (sum of the token-level reward) and ``extra_fields`` (the agent loop's
``codegym_*`` episode summary). Every list is cut to the trajectory's response length.

Registered only when ``CODEGYM_TRAINER_RECORD=1`` (the runner sets it), so other processes that
import veRL do not import the trainer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RECORD_ENV = "CODEGYM_TRAINER_RECORD"
TRAINER_MODE = "codegym_record"
FIELDS = ["prompts", "responses", "response_mask", "rollout_log_probs", "old_log_probs", "advantages",
          "rm_scores", "extra_fields"]  # fmt: skip
ROW_FIELDS = ["ability", "extra_info"]  # the dataset row's env string and extra_info (index, turn limit)


def _rows(value: Any) -> list[Any]:
    """A batch field as one Python value per row (nested/jagged tensors unbound, padding kept)."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_nested:
            return [t.tolist() for t in value.unbind()]
        return value.tolist()
    if hasattr(value, "tolist"):
        return list(value.tolist())
    return list(value)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def write_step_record(data: Any, keys: list[str], dest: Path) -> int:
    """Write one step's trajectories (``data``: the fields of :data:`FIELDS` fetched from veRL's
    TransferQueue) to ``dest``; returns the number of lines written."""
    columns = {name: _rows(data[name]) for name in FIELDS + ROW_FIELDS if name in data.keys()}
    lines = []
    for i, key in enumerate(keys):
        response = columns["responses"][i]
        n = len(response)
        row: dict[str, Any] = {"key": key, "prompt_ids": columns["prompts"][i], "response_ids": response}
        for name in ("response_mask", "rollout_log_probs", "old_log_probs", "advantages"):
            if name in columns:
                row[name] = columns[name][i][:n]
        if "rm_scores" in columns:
            row["score"] = float(sum(columns["rm_scores"][i][:n]))
        extra = columns.get("extra_fields", [None] * len(keys))[i]
        row["extra_fields"] = {k: v for k, v in (extra or {}).items() if isinstance(v, (str, int, float, bool))}
        for name in ROW_FIELDS:
            if name in columns:
                row[name] = _json_safe(columns[name][i])
        lines.append(json.dumps(row))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("".join(line + "\n" for line in lines))
    return len(lines)


if os.environ.get(RECORD_ENV) == "1":
    import transfer_queue as tq
    from verl.trainer.ppo.v1 import PPOTrainerSync, register_trainer

    @register_trainer(TRAINER_MODE)
    class RecordingPPOTrainer(PPOTrainerSync):
        """veRL's ``sync`` trainer; its rollout dump records tokens (see the module docstring)."""

        def _log_rollout_data(self, batch: Any, timing_raw: dict, rollout_data_dir: str) -> None:
            try:
                data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                                       select_fields=FIELDS + ROW_FIELDS)  # fmt: skip
            except Exception:  # noqa: BLE001 - a dataset without these columns: record the rest
                data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=FIELDS)
            dest = Path(rollout_data_dir) / f"tokens-step{self.global_steps}.jsonl"
            n = write_step_record(data, list(batch.keys), dest)
            print(f"codegym_record: wrote {n} trajectories to {dest}", flush=True)
