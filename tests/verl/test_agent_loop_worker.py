"""The CodeGym agent loop inside veRL's real AgentLoopWorker: tokens, masks, rewards, turns, fields.

Each batch goes through ``AgentLoopWorker.generate_sequences`` exactly as in training (config
composed from ``ppo_trainer`` + ``env=codegym``, rows read by ``RLHFDataset``), with a Qwen2-style
tokenizer and a server replaying scripted policies. Expected observations and episode summaries
come from running the same turns through the core alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from harness import (
    HOUSES,
    Case,
    call_text,
    compose_config,
    prepare,
    reference,
    run_worker,
    segments,
    write_rows,
)

from codegym_adapters.episode import EpisodeConfig
from codegym_adapters.prompts import build_prompt
from codegym_adapters.runtime import make_runtime
from verl_plugin.replay import SILENT_TURN

ENVS = Path(__file__).parent / "envs"
SMALL = HOUSES + '@{"houses": [2, 7, 9, 3, 1]}'
LONG = HOUSES + '@{"houses": [4, 8, 15, 16, 23, 42, 8, 15, 4, 16, 23, 42, 1, 2, 3, 4]}'
SUMMARY_KEYS = ("env", "reward", "env_reward", "done_reason", "turn_limit", "turns", "valid_calls",
                "invalid_calls", "extra_calls", "error_observations", "env_errors", "error")


class Run:
    """One worker run: its output batch and helpers to read row ``i`` back."""

    def __init__(self, config, cases, tmp: Path, env_paths=(), untagged: bool = False):
        self.cases = cases
        self.rows = asyncio.run(prepare(cases, env_paths))
        # native prompts are built from the env, not the row, so they carry no tag: one case only
        scripts = {"": cases[0].turns} if untagged else {c.tag: c.turns for c in cases}
        self.out, self.worker, self.server = run_worker(config, write_rows(self.rows, tmp / "rows.parquet"), scripts)
        self.tok = self.worker.tokenizer
        self.prompt_width = self.out.batch["prompts"].shape[1]

    def index(self, tag: str) -> int:
        return next(i for i, c in enumerate(self.cases) if c.tag == tag)

    def prompt_ids(self, i: int) -> list[int]:
        attention = self.out.batch["attention_mask"][i][: self.prompt_width].bool()
        return self.out.batch["prompts"][i][attention].tolist()

    def response(self, i: int) -> tuple[list[int], list[int]]:
        attention = self.out.batch["attention_mask"][i][self.prompt_width :].bool()
        ids = self.out.batch["responses"][i][attention].tolist()
        mask = self.out.batch["response_mask"][i][attention].tolist()
        return ids, mask

    def field(self, i: int, key: str):
        return self.out.non_tensor_batch[f"codegym_{key}"][i]

    def num_turns(self, i: int) -> int:
        return int(self.out.non_tensor_batch["__num_turns__"][i])


def _turn_ids(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False) + [tok.eos_token_id]


def assert_trajectory(run: Run, i: int, turns: list[str], observations: list[str], role: str = "user") -> None:
    """Model turns appear token for token under mask 1; each observation, wrapped by the chat
    template as a ``role`` turn, appears under mask 0; nothing else is in the response."""
    ids, mask = run.response(i)
    runs = segments(mask, ids)
    generated = [t for m, t in runs if m == 1]
    context = [t for m, t in runs if m == 0]
    turns = [*turns, *[SILENT_TURN] * len(generated)]  # the server goes quiet once a script ends
    assert generated == [_turn_ids(run.tok, t) for t in turns[: len(generated)]]
    assert len(context) == len(observations)
    for tokens, observation in zip(context, observations, strict=True):
        if role == "user":
            wrapped = f"\n<|im_start|>user\n{observation}<|im_end|>\n<|im_start|>assistant\n"
        else:
            wrapped = f"\n<|im_start|>user\n<tool_response>\n{observation}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
        assert run.tok.decode(tokens) == wrapped
    # padding after the response carries neither mask nor attention
    width = run.out.batch["responses"].shape[1]
    assert run.out.batch["response_mask"][i][len(ids) :].sum() == 0
    assert len(ids) <= width


def assert_reward(run: Run, i: int, reward: float) -> None:
    scores = run.out.batch["rm_scores"][i]
    ids, _ = run.response(i)
    assert float(scores.sum()) == reward
    if reward:
        assert scores.nonzero().flatten().tolist() == [len(ids) - 1]  # on the last response token
    assert run.field(i, "reward") == reward


def assert_matches_core(run: Run, i: int, ref: dict) -> None:
    for key in SUMMARY_KEYS:
        assert run.field(i, key) == ref[key], key
    model_turns = len(ref["trajectory"])
    observations = [t["observation"] for t in ref["trajectory"][:-1]]
    assert_trajectory(run, i, run.cases[i].turns, observations)
    assert run.num_turns(i) == 1 + model_turns + len(observations)
    assert_reward(run, i, ref["reward"])


# ------------------------------------------------------------------------------------------------
# One batch with a normal budget: oracle, wrong answer, malformed calls, turn limit


@pytest.fixture(scope="module")
def main_run(model_dir: Path, tmp_path_factory) -> Run:
    cases = [
        Case("oracle-0", SMALL, policy="oracle"),
        Case("wrong-1", SMALL, policy="wrong"),
        Case("malformed-2", SMALL, policy="malformed"),
        Case("limit-3", SMALL, turns=[call_text("Observe")] * 10, turn_limit=3),
        Case("oracle-4", LONG, policy="oracle"),
    ]
    return Run(compose_config(model_dir), cases, tmp_path_factory.mktemp("main"))


def _reference(run: Run, tag: str) -> dict:
    return asyncio.run(reference(run.cases[run.index(tag)], EpisodeConfig()))


def test_prompt_ids_are_the_rows_messages_through_the_chat_template(main_run: Run) -> None:
    for i, row in enumerate(main_run.rows):
        expected = main_run.tok.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        assert main_run.tok.decode(main_run.prompt_ids(i)) == expected


@pytest.mark.parametrize("tag", ["oracle-0", "oracle-4"])
def test_oracle_episode_earns_reward_one(main_run: Run, tag: str) -> None:
    ref = _reference(main_run, tag)
    i = main_run.index(tag)
    assert ref["reward"] == 1.0 and ref["done_reason"] == "done"
    assert_matches_core(main_run, i, ref)


def test_wrong_answer_earns_zero_and_ends_at_done(main_run: Run) -> None:
    ref = _reference(main_run, "wrong-1")
    i = main_run.index("wrong-1")
    assert main_run.field(i, "done_reason") == "done" and main_run.field(i, "reward") == 0.0
    assert_matches_core(main_run, i, ref)


def test_malformed_calls_get_error_observations_then_silence_ends_it(main_run: Run) -> None:
    ref = _reference(main_run, "malformed-2")
    i = main_run.index("malformed-2")
    assert main_run.field(i, "invalid_calls") == 5
    assert main_run.field(i, "done_reason") == "no_call"
    assert all(t["observation"].startswith("Error") for t in ref["trajectory"][:5])
    assert_matches_core(main_run, i, ref)


def test_never_calling_done_stops_at_the_rows_turn_limit(main_run: Run) -> None:
    ref = _reference(main_run, "limit-3")
    i = main_run.index("limit-3")
    assert main_run.field(i, "done_reason") == "turn_limit"
    assert main_run.field(i, "turns") == 3 and main_run.field(i, "turn_limit") == 3
    assert len(main_run.server.calls) >= 3
    assert_matches_core(main_run, i, ref)


def test_extra_fields_have_the_same_json_like_keys_for_every_trajectory(main_run: Run) -> None:
    keys = [k for k in main_run.out.non_tensor_batch if k.startswith("codegym_")]
    assert {f"codegym_{k}" for k in SUMMARY_KEYS} <= set(keys)
    for key in keys:
        values = main_run.out.non_tensor_batch[key]
        assert len(values) == len(main_run.cases)
        assert all(v is not None and isinstance(v, (str, int, float)) for v in values), key


def test_metrics_report_generation_and_env_time(main_run: Run) -> None:
    metrics = main_run.out.meta_info["metrics"]
    assert len(metrics) == len(main_run.cases)
    assert all(m["generate_sequences"] >= 0 and m["tool_calls"] > 0 and m["num_preempted"] == 0 for m in metrics)


def test_one_request_id_per_trajectory_and_budget_passed_as_max_tokens(main_run: Run) -> None:
    assert len({c["request_id"] for c in main_run.server.calls}) == len(main_run.cases)
    assert all(0 < c["max_tokens"] <= 1024 for c in main_run.server.calls)


# ------------------------------------------------------------------------------------------------
# The response budget


@pytest.fixture(scope="module")
def budget_run(model_dir: Path, tmp_path_factory) -> Run:
    cases = [
        Case("cut-0", SMALL, turns=["Let me think about this. " * 200, call_text("Observe")]),
        Case("full-1", LONG, turns=[call_text("Observe")] * 5),  # 16-token turns, 84-token observations
    ]
    config = compose_config(model_dir, "data.max_response_length=160")
    return Run(config, cases, tmp_path_factory.mktemp("budget"))


def test_a_turn_cut_by_the_budget_ends_with_length_and_reward_zero(budget_run: Run) -> None:
    i = budget_run.index("cut-0")
    ids, mask = budget_run.response(i)
    assert budget_run.field(i, "done_reason") == "length" and budget_run.field(i, "reward") == 0.0
    assert len(ids) == 160 and mask == [1] * 160
    assert ids == _turn_ids(budget_run.tok, budget_run.cases[i].turns[0])[:160]
    # the cut turn counts as a turn but was never read or handed to the env (the core's rule)
    assert budget_run.field(i, "turns") == 1 and budget_run.field(i, "valid_calls") == 0
    assert budget_run.num_turns(i) == 2
    assert_reward(budget_run, i, 0.0)


def test_observations_that_no_longer_fit_end_with_length(budget_run: Run) -> None:
    i = budget_run.index("full-1")
    ids, mask = budget_run.response(i)
    assert budget_run.field(i, "done_reason") == "length" and budget_run.field(i, "reward") == 0.0
    # turn, observation, turn: the second observation would reach the budget, so it is left out
    assert budget_run.field(i, "turns") == 2 and len(ids) == 16 + 84 + 16 and mask[-16:] == [1] * 16
    ref = asyncio.run(reference(budget_run.cases[i], EpisodeConfig()))
    assert_trajectory(budget_run, i, budget_run.cases[i].turns, [ref["trajectory"][0]["observation"]])
    assert budget_run.num_turns(i) == 4


# ------------------------------------------------------------------------------------------------
# Native tool calling: tool schemas through the chat template, observations as tool messages


def test_native_prompt_style_with_hermes_calls(model_dir: Path, tmp_path: Path) -> None:
    case = Case("native", SMALL, policy="oracle", call_format="hermes")
    config = compose_config(model_dir, "env.episode.prompt_style=native", "env.episode.call_format=hermes")
    run = Run(config, [case], tmp_path, untagged=True)
    ref = asyncio.run(reference(case, EpisodeConfig(prompt_style="native", call_format="hermes")))
    assert ref["reward"] == 1.0

    async def native_prompt():
        runtime = make_runtime("inprocess")
        session = await runtime.open(SMALL)
        prompt = build_prompt("native", session.info, "hermes")
        await runtime.close()
        return prompt

    prompt = asyncio.run(native_prompt())
    expected = run.tok.apply_chat_template(prompt.messages, tools=prompt.tools, add_generation_prompt=True,
                                           tokenize=False)
    assert run.tok.decode(run.prompt_ids(0)) == expected and "<tools>" in expected
    assert_trajectory(run, 0, case.turns, [t["observation"] for t in ref["trajectory"][:-1]], role="tool")
    assert_reward(run, 0, 1.0)


# ------------------------------------------------------------------------------------------------
# An env that hangs: the sandbox's deadline answers the call with an error; the episode goes on


def test_env_step_timeout_becomes_an_error_observation(model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("codegym_adapters.runtime.sandbox")
    env = 'Slow_01__StallEnv@{"secret": 5}'
    turns = [call_text("Stall"), call_text("Observe"), call_text("Done", answer=5)]
    case = Case("stall", env, turns=turns)
    config = compose_config(model_dir, "env.runtime=sandbox", "env.step_timeout=1.0", f"env.env_paths=[{ENVS}]")
    run = Run(config, [case], tmp_path, env_paths=[ENVS])
    assert run.field(0, "done_reason") == "done" and run.field(0, "reward") == 1.0
    assert run.field(0, "env_errors") == 1 and run.field(0, "turns") == 3
    ids, mask = run.response(0)
    first_observation = run.tok.decode([t for m, t in segments(mask, ids) if m == 0][0])
    assert "Error" in first_observation and "5" not in first_observation
    assert_reward(run, 0, 1.0)


# ------------------------------------------------------------------------------------------------
# Published rows carry their env's source in extra_info.gym_env: no env pack needed


def test_a_row_carrying_its_env_source_runs_without_an_installed_env(model_dir: Path, tmp_path: Path) -> None:
    source = (ENVS / "Slow_01__StallEnv.py").read_text()
    row = {
        "data_source": "codegym_v1",
        "prompt": [{"role": "system", "content": "functions"}, {"role": "user", "content": "Find the secret."}],
        "ability": 'codegym_v1@Carried_01__StallEnv@{"secret": 3}',
        "reward_model": {"style": "agent_env", "ground_truth": None},
        "plugin_call_max_round": 8,
        "extra_info": {"index": 0, "gym_env": source},
    }
    turns = [call_text("Observe"), call_text("Done", answer=3)]
    out, _, _ = run_worker(compose_config(model_dir), write_rows([row], tmp_path / "rows.parquet"), {"": turns})
    assert out.non_tensor_batch["codegym_env"][0] == "Carried_01__StallEnv"
    assert out.non_tensor_batch["codegym_done_reason"][0] == "done"
    assert out.non_tensor_batch["codegym_reward"][0] == 1.0


def test_an_env_that_cannot_be_opened_still_returns_an_output(model_dir: Path, tmp_path: Path) -> None:
    row = {
        "data_source": "codegym_v1",
        "prompt": [{"role": "user", "content": "Solve it."}],
        "ability": "codegym_v1@Missing_01__NowhereEnv@{}",
        "reward_model": {"style": "agent_env", "ground_truth": None},
        "extra_info": {"index": 0},
    }
    out, _, server = run_worker(compose_config(model_dir), write_rows([row], tmp_path / "rows.parquet"), {"": []})
    fields = out.non_tensor_batch
    assert fields["codegym_done_reason"][0] == "env_error" and "NowhereEnv" in fields["codegym_error"][0]
    assert fields["codegym_reward"][0] == 0.0 and int(out.batch["response_mask"][0].sum()) == 0
    assert server.calls == []  # no model turn is spent on an episode that never started


def test_rollout_logprobs_follow_the_mask(model_dir: Path, tmp_path: Path) -> None:
    case = Case("lp", SMALL, policy="wrong")
    rows = asyncio.run(prepare([case]))
    out, _, _ = run_worker(compose_config(model_dir), write_rows(rows, tmp_path / "rows.parquet"),
                           {case.tag: case.turns}, logprobs=True)
    mask = out.batch["response_mask"][0]
    logprobs = out.batch["rollout_log_probs"][0]
    assert mask.sum() > 0 and bool(((logprobs == -0.5) == mask.bool()).all())


def test_a_row_with_a_broken_env_string_still_returns_an_output(model_dir: Path, tmp_path: Path) -> None:
    rows = [
        {
            "data_source": "codegym_v1",
            "prompt": [{"role": "user", "content": "Solve it."}],
            "ability": ability,
            "reward_model": {"style": "agent_env", "ground_truth": None},
            "extra_info": {"index": i},
        }
        for i, ability in enumerate(["codegym_v1@Bad Name@{}", "codegym_v1@X_1__YEnv@{not options"])
    ]
    out, _, server = run_worker(compose_config(model_dir), write_rows(rows, tmp_path / "rows.parquet"), {"": []})
    fields = out.non_tensor_batch
    assert list(fields["codegym_done_reason"]) == ["env_error", "env_error"]
    assert "bad env name" in fields["codegym_error"][0] and "cannot parse options" in fields["codegym_error"][1]
    assert list(fields["codegym_reward"]) == [0.0, 0.0] and server.calls == []
