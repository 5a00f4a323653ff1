"""veRL's real ``AgentLoopWorker`` in this process, without Ray or a GPU (tests, benchmarks, dry runs).

* :func:`compose_config` - veRL's trainer config plus the CodeGym group (``+env=codegym``), pointed at
  a local model directory (e.g. :func:`verl_plugin.tiny_model.write_tiny_model`).
* :func:`read_dataset` / :func:`collate` / :func:`load_batch` - rows read by veRL's own
  ``RLHFDataset`` and ``collate_fn``: exactly what a trainer hands the agent-loop worker.
* :func:`unpad` / :func:`segments` - one trajectory of the worker's output batch, without padding, and
  its response cut into runs of equal mask (1: generated, 0: observations).

Only the LLM server must be supplied (e.g. :class:`verl_plugin.replay.ReplayServer`): set it as the
worker's ``llm_client`` before calling ``generate_sequences``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig


def verl_config_dir() -> str:
    """The folder of veRL's own trainer configs (``ppo_trainer.yaml``, ...)."""
    import verl.trainer

    return str(Path(verl.trainer.__file__).parent / "config")


def compose_config(model_dir: str | Path, *overrides: str, config_dir: str | None = None,
                   config_name: str = "ppo_trainer", env_group: str = "+env=codegym") -> DictConfig:
    """veRL's trainer config with the CodeGym group, the model at ``model_dir``, runnable on CPU;
    ``overrides`` (Hydra syntax) come last and win."""
    base = [f"actor_rollout_ref.model.path={model_dir}", "actor_rollout_ref.rollout.name=vllm"]
    with initialize_config_dir(config_dir=config_dir or verl_config_dir(), version_base=None):
        return compose(config_name, overrides=[env_group, *base, *overrides])


def read_dataset(config: DictConfig, files: Sequence[str | Path], tokenizer: Any, quiet: bool = True) -> Any:
    """veRL's ``RLHFDataset`` over parquet ``files`` (it drops prompts longer than
    ``data.max_prompt_length`` when ``data.filter_overlong_prompts`` is set). ``quiet`` hides its prints."""
    import datasets
    from verl.utils.dataset.rl_dataset import RLHFDataset

    if not quiet:
        return RLHFDataset(data_files=[str(f) for f in files], tokenizer=tokenizer, config=config.data)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return RLHFDataset(data_files=[str(f) for f in files], tokenizer=tokenizer, config=config.data)
    finally:
        if bars:
            datasets.enable_progress_bars()


def collate(items: Sequence[dict[str, Any]]) -> Any:
    """A ``DataProto`` batch of dataset items, through veRL's ``collate_fn``."""
    from verl.protocol import DataProto
    from verl.utils.dataset.rl_dataset import collate_fn

    return DataProto.from_single_dict(collate_fn(list(items)))


def load_batch(config: DictConfig, parquet: str | Path, tokenizer: Any) -> Any:
    """The batch veRL's trainer would build from the whole parquet file."""
    dataset = read_dataset(config, [parquet], tokenizer, quiet=False)
    return collate([dataset[i] for i in range(len(dataset))])


def new_worker(config: DictConfig, llm_client: Any = None, quiet: bool = False) -> Any:
    """A real ``AgentLoopWorker`` for ``config``; ``quiet`` hides what it prints."""
    from verl.experimental.agent_loop import AgentLoopWorker

    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        return AgentLoopWorker(config, llm_client=llm_client)


def unpad(output: Any, i: int) -> tuple[list[int], list[int], list[int]]:
    """Trajectory ``i`` of a worker output: ``(prompt_ids, response_ids, response_mask)``, padding removed."""
    width = output.batch["prompts"].shape[1]
    attention = output.batch["attention_mask"][i].bool()
    prompt = output.batch["prompts"][i][attention[:width]].tolist()
    response = output.batch["responses"][i][attention[width:]].tolist()
    mask = output.batch["response_mask"][i][attention[width:]].tolist()
    return prompt, response, mask


def segments(mask: Sequence[int], ids: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Runs of equal mask values: ``[(mask value, ids), ...]``."""
    runs: list[tuple[int, list[int]]] = []
    for m, t in zip(mask, ids, strict=True):
        if runs and runs[-1][0] == m:
            runs[-1][1].append(t)
        else:
            runs.append((m, [t]))
    return runs
