"""Run veRL's real trainer on CodeGym for a few GRPO steps, on CPU (or on a GPU where one is usable).

``python -m codegym_cpu_bridge.train --data DATA --model MODEL --out OUT`` launches
``python -m verl.trainer.main_ppo +env=codegym ...``: veRL's Ray trainer, vLLM as the rollout
server, our ``codegym_agent`` loop with the sandbox runtime, FSDP actor, GRPO. On a CPU host it adds
the settings of :data:`CPU_OVERRIDES` and the environment of :func:`cpu_environment` (the bridges
of this package); on a host where torch sees CUDA it runs the same command without them.

It writes into OUT: ``train.log`` (the trainer's output), ``metrics.jsonl`` (veRL's file logger: one
line per step), ``rollouts/tokens-step<N>.jsonl`` (the ``codegym_record`` trainer mode), then, from
those, ``episodes.jsonl`` (one episode record per trajectory, the format ``codegym report`` reads) and
``training.json`` (per-step training metrics; :mod:`codegym_adapters.report_training`). Exit status:
the trainer's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .recorder import RECORD_ENV, TRAINER_MODE

# What a CPU run changes, each for a reason (see ../README.md for the bridges):
CPU_OVERRIDES = [
    "trainer.device=cpu",  # veRL's platform: the `cpu` one from this package (VERL_PLATFORM=cpu)
    "trainer.n_gpus_per_node=1",  # one Ray "GPU" slot that stands for the CPU (see platform.py)
    "+ray_kwargs.ray_init.num_gpus=1",
    # Logical CPUs for Ray's bookkeeping only: veRL's workers ask for more CPU slots than 2 cores give.
    "ray_kwargs.ray_init.num_cpus=16",
    "+ray_kwargs.ray_init.include_dashboard=false",
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",  # flash-attn is CUDA-only
    "actor_rollout_ref.model.use_remove_padding=false",  # the remove-padding path needs flash-attn
    "actor_rollout_ref.actor.use_torch_compile=false",
    # FSDP1 moves parameters to `device_id` (an index, read as a CUDA device); FSDP2 uses the mesh's device.
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.actor.fsdp_config.strategy=fsdp2",
    # float32 throughout: FSDP's default mixed precision computes in bf16, which puts the actor's
    # log-probs ~1e-2 away from vLLM's float32 ones.
    "actor_rollout_ref.actor.fsdp_config.dtype=float32",
    "+actor_rollout_ref.actor.fsdp_config.mixed_precision={param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}",
    "actor_rollout_ref.actor.fsdp_config.use_torch_compile=false",
    "actor_rollout_ref.rollout.dtype=float32",
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
    "actor_rollout_ref.rollout.enforce_eager=true",  # no CUDA graphs
    # vLLM's sleep mode (frees GPU memory between rollouts) does not exist on its CPU platform.
    "actor_rollout_ref.rollout.free_cache_engine=false",
    "+actor_rollout_ref.rollout.enable_sleep_mode=false",
    "data.dataloader_num_workers=0",
    # veRL's defaults start 8 storage units and 8 reward workers; on 2 cores and 24 GB that makes
    # Ray kill workers for memory, after which the run hangs.
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
    "reward.num_workers=1",
    "actor_rollout_ref.rollout.agent.num_workers=1",  # agent-loop workers (default 8)
    # The weight-sync buffer is shared memory on CPU (default 2 GiB); the tiny policy needs far less.
    "actor_rollout_ref.rollout.checkpoint_engine.update_weights_bucket_megabytes=64",
]


def training_overrides(data: Path, model: Path, out: Path, args: argparse.Namespace) -> list[str]:
    """The run itself (the same on CPU and GPU): GRPO on CodeGym for ``args.steps`` steps."""
    return [
        "+env=codegym",
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=false",
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'val.parquet'}",
        f"data.train_batch_size={args.prompts}",
        f"data.max_prompt_length={args.prompt_length}",
        f"data.max_response_length={args.response_length}",
        f"data.seed={args.seed}",
        f"actor_rollout_ref.model.path={model}",
        f"actor_rollout_ref.actor.optim.lr={args.lr}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={args.prompts}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={args.prompts * args.n}",
        "actor_rollout_ref.actor.use_kl_loss=false",
        "actor_rollout_ref.actor.entropy_coeff=0",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.n={args.n}",
        "actor_rollout_ref.rollout.calculate_log_probs=true",  # vLLM's log-probs, to compare with the actor's
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={args.prompts * args.n}",
        f"actor_rollout_ref.rollout.max_model_len={args.prompt_length + args.response_length}",
        f"actor_rollout_ref.rollout.max_num_batched_tokens={args.prompt_length + args.response_length}",
        f"actor_rollout_ref.rollout.prompt_length={args.prompt_length}",
        f"actor_rollout_ref.rollout.response_length={args.response_length}",
        # The episode contract: with `penalty`, turns without a valid call cost 0.1 each, so rewards
        # differ inside a GRPO group even before the policy solves anything.
        "env.runtime=sandbox",
        f"env.episode.invalid_call_policy={args.invalid_call_policy}",
        "env.episode.end_on_no_call=false",
        f"env.episode.default_turn_limit={args.turn_limit}",
        "trainer.critic_warmup=0",
        f"trainer.total_training_steps={args.steps}",
        "trainer.total_epochs=1000",
        "trainer.val_before_train=false",
        "trainer.test_freq=-1",
        "trainer.save_freq=-1",
        "trainer.logger=[console,file]",
        "trainer.project_name=codegym",
        "trainer.experiment_name=train",
        f"trainer.rollout_data_dir={out / 'rollouts'}",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        f"trainer.v1.trainer_mode={TRAINER_MODE}",
    ]


def use_cpu(device: str) -> bool:
    if device != "auto":
        return device == "cpu"
    import torch

    return not torch.cuda.is_available()


def cpu_environment(base: dict[str, str]) -> dict[str, str]:
    """The environment of a CPU run (inherited by Ray, hence by every worker and vLLM process)."""
    from .platform import NOSET_ENV

    env = dict(base)
    env.update({
        "VERL_PLATFORM": "cpu",  # bridge 1: the platform registered by this package
        NOSET_ENV: "1",  # bridge 2: veRL's Worker selects the device, so the platform opens gloo
        # bridge 8: veRL registers its FSDP engine for devices cuda and npu only; its own override
        # picks that (device-agnostic) implementation, which then runs on the platform's device.
        "VERL_ENGINE_DEVICE": "cuda",
        "VLLM_CPU_KVCACHE_SPACE": env.get("VLLM_CPU_KVCACHE_SPACE", "1"),  # GiB; vLLM's default is 4
        "VLLM_CPU_OMP_THREADS_BIND": env.get("VLLM_CPU_OMP_THREADS_BIND", "nobind"),  # share the cores
    })  # fmt: skip
    return env


class PeakMemory:
    """Samples the resident memory of a process and all its descendants (Ray's processes, vLLM,
    sandbox workers) once a second; ``peak_bytes`` is the largest sum seen (pages shared between
    processes count once per process, so this is an upper bound)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_bytes = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(1.0):
            try:
                root = psutil.Process(self.pid)
                total = sum(_rss(p) for p in [root, *root.children(recursive=True)])
            except psutil.Error:
                continue
            self.peak_bytes = max(self.peak_bytes, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_bytes


def _rss(process: Any) -> int:
    try:
        return int(process.memory_info().rss)
    except Exception:  # noqa: BLE001 - a process that ended between listing and reading
        return 0


def run_trainer(command: list[str], env: dict[str, str], log: Path) -> tuple[int, int]:
    """Run ``command``, streaming its output to the terminal and to ``log``; returns its exit status
    and the peak resident memory of its process tree, in bytes."""
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   errors="replace", bufsize=1)  # fmt: skip
        memory = PeakMemory(process.pid)
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            if not os.environ.get("CODEGYM_TRAIN_QUIET"):
                sys.stdout.write(line)
        status = process.wait()
        return status, memory.stop()


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with train.parquet and val.parquet")
    parser.add_argument("--model", type=Path, required=True, help="Hugging Face model folder")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--steps", type=int, default=2, help="GRPO steps (default 2)")
    parser.add_argument("--prompts", type=int, default=2, help="prompts per step (default 2)")
    parser.add_argument("--n", type=int, default=4, help="rollouts per prompt, the GRPO group (default 4)")
    parser.add_argument("--prompt-length", type=int, default=6144, help="max prompt tokens (default 6144)")
    parser.add_argument("--response-length", type=int, default=512, help="response token budget (default 512)")
    parser.add_argument("--turn-limit", type=int, default=8, help="turns for rows without their own limit")
    parser.add_argument("--invalid-call-policy", default="penalty", choices=["feedback", "penalty", "stop"])
    parser.add_argument("--lr", type=float, default=2e-5,
                        help="actor learning rate (default 2e-5: larger steps teach the random policy to stop "
                             "ending turns within one step, and then every reward of a group is equal)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="auto: GPU settings where torch sees CUDA, else the CPU bridges")
    args, extra = parser.parse_known_args(argv)
    return args, extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    data, model, out = args.data.resolve(), args.model.resolve(), args.out.resolve()
    for needed in (data / "train.parquet", data / "val.parquet", model / "config.json"):
        if not needed.exists():
            raise SystemExit(f"codegym_cpu_bridge.train: {needed} is missing")
    out.mkdir(parents=True, exist_ok=True)
    for old in [out / "metrics.jsonl", *(out / "rollouts").glob("tokens-step*.jsonl")]:
        old.unlink(missing_ok=True)  # a rerun must not report an earlier run's steps
    cpu = use_cpu(args.device)
    overrides = training_overrides(data, model, out, args) + (CPU_OVERRIDES if cpu else []) + extra
    env = cpu_environment(dict(os.environ)) if cpu else dict(os.environ)
    env.update({RECORD_ENV: "1", "VERL_FILE_LOGGER_PATH": str(out / "metrics.jsonl"),
                "TOKENIZERS_PARALLELISM": "false", "HYDRA_FULL_ERROR": "1"})  # fmt: skip
    command = [sys.executable, "-m", "verl.trainer.main_ppo", *overrides]
    (out / "command.txt").write_text(" \\\n  ".join(command) + "\n")
    print(f"codegym train: {'CPU (bridges on)' if cpu else 'GPU'}; {args.steps} GRPO steps; log: {out / 'train.log'}",
          flush=True)
    started = time.monotonic()
    status, peak = run_trainer(command, env, out / "train.log")
    seconds = time.monotonic() - started
    print(f"codegym train: trainer exited {status} after {seconds:.0f}s; peak memory {peak / 2**30:.1f} GiB "
          "(resident, summed over its processes)", flush=True)
    if status == 0:
        from .results import write_results

        write_results(out, data, model, seconds=seconds, device="cpu" if cpu else "gpu", peak_memory_bytes=peak)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
