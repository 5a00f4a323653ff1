"""Env and setup failures never escape into OpenRLHF: each ends (or dents) one episode, the response
still converts into a training sample, and ``extra_logs`` keeps the same numeric keys throughout."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from openrlhf_harness import (
    ScriptedEngine,
    bundled_configs,
    make_row,
    policy_turns,
    prompt_length,
    run_sample,
    sampling_params,
    to_experience,
)

from codegym_adapters.calls import ToolCall, render_call
from codegym_adapters.policies import MALFORMED_TURNS

ROBBER = "Bundled_A01__HouseRobberEnv"

SPIN_ENV = textwrap.dedent('''
    import ast
    import json

    import gymnasium


    class SpinEnv(gymnasium.Env):
        def __init__(self, env_str: str = None):
            super().__init__()
            self.OBSERVE, self.SPIN, self.CRASH, self.DONE = 0, 1, 2, 3
            self.func_mapping = {"Observe": self.OBSERVE, "Spin": self.SPIN, "Crash": self.CRASH,
                                 "Done": self.DONE}
            self.reset(ast.literal_eval(env_str.split("@", 1)[1]) if env_str else {})

        @staticmethod
        def from_env_str(env_str: str):
            return SpinEnv(env_str) if env_str.startswith("SpinEnv@") else None

        @property
        def finished(self):
            return self._done

        @property
        def reward(self):
            return float(self._reward)

        def reset(self, options: dict = {}):
            self.secret = options.get("secret", 7)
            self._reward, self._done, self.step_count = 0, False, 0
            return "Environment has been reset."

        def step(self, action: str):
            self.step_count += 1
            call = json.loads(action)
            if call["name"] == "Crash":
                return True, self.Crash()  # an env bug: the exception escapes step()
            try:
                return True, getattr(self, call["name"])(**call.get("parameters", {}))
            except Exception as exc:
                return True, f"Error: {exc}"

        def Observe(self):
            """Show the secret.

            Args:
                None
            Returns:
                str: the secret.
            Example Output:
                "7"
            """
            return str(self.secret)

        def Spin(self):
            """Never returns (an env that hangs).

            Args:
                None
            Returns:
                str: nothing, ever.
            Example Output:
                ""
            """
            while True:
                pass

        def Crash(self):
            """Raises (an env bug).

            Args:
                None
            Returns:
                str: nothing.
            Example Output:
                ""
            """
            raise RuntimeError("the env crashed")

        def Done(self, answer):
            """Submit the secret.

            Args:
                answer (int): the secret.
            Returns:
                str: the verdict.
            Example Output:
                "reward=1"
            """
            self._reward = 1 if answer == self.secret else 0
            self._done = True
            return f"Your answer: {answer}, reward={self._reward}"

        def get_ref_answer(self):
            return self.secret

        def solve(self):
            return self.step(json.dumps({"name": "Done", "parameters": {"answer": self.secret}}))[1]
''')
SPIN = "Test_01__SpinEnv"


def call(name: str, **arguments) -> str:
    return render_call(ToolCall(name, arguments), "codegym")


@pytest.fixture
def spin_envs(tmp_path: Path, agent_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    folder = tmp_path / "envs"
    folder.mkdir()
    (folder / f"{SPIN}.py").write_text(SPIN_ENV)
    agent_env.setenv("CODEGYM_ENVS", str(folder))
    return agent_env


def spin_row() -> dict:
    return asyncio.run(make_row_from(SPIN))


async def make_row_from(env: str) -> dict:
    label = f"codegym_v1@{env}@{json.dumps({'secret': 7})}"
    return {"prompt": [{"role": "user", "content": "Find the secret and submit it with Done."}],
            "ability": label, "datasource": "codegym_v1"}


def run(executor, tokenizer, row, turns, **kwargs):
    return asyncio.run(run_sample(executor, tokenizer, row, turns, **kwargs))


def test_an_action_that_raises_is_an_error_observation_and_the_episode_goes_on(spin_envs, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    turns = [call("Observe"), call("Crash"), call("Done", answer=7)]
    response, engine = run(AgentExecutor(), tokenizer, spin_row(), turns)

    assert engine.calls == 3 and response["reward"] == 1.0
    assert response["extra_logs"]["codegym_env_errors"] == 1.0
    assert "the env crashed" in tokenizer.decode(engine.prompts[2])
    to_experience(response, max_len=8192)


def test_an_env_step_past_its_deadline_is_cut_and_the_episode_goes_on(spin_envs, tokenizer):
    pytest.importorskip("codegym_adapters.runtime.sandbox", reason="the sandbox runtime enforces step deadlines")
    from openrlhf_plugin.agent import AgentExecutor

    spin_envs.setenv("CODEGYM_RUNTIME", "sandbox")
    spin_envs.setenv("CODEGYM_STEP_TIMEOUT", "1")
    spin_envs.setenv("CODEGYM_RUNTIME_OPTIONS", json.dumps({"workers": 1}))
    turns = [call("Observe"), call("Spin"), call("Observe"), call("Done", answer=7)]
    executor, row = AgentExecutor(), spin_row()

    async def main():
        try:
            return await run_sample(executor, tokenizer, row, turns)
        finally:
            await executor.runtime.close()  # on the loop the sandbox runtime belongs to

    response, engine = asyncio.run(main())

    assert engine.calls == 4
    assert response["reward"] == 1.0  # the session was rebuilt on a fresh worker and finished
    assert response["extra_logs"]["codegym_env_errors"] == 1.0
    assert tokenizer.decode(engine.prompts[2]).rsplit("<|im_start|>user\n", 1)[1].startswith("Error")
    to_experience(response, max_len=8192)


@pytest.mark.parametrize("label", [
    "codegym_v1@Nope_01__MissingEnv@{}",
    "codegym_v1@Bundled_A01__HouseRobberEnv@{not options",
    "not an env string at all",
    "",
    '{"ability": 3}',
])
def test_a_label_that_names_no_env_ends_the_episode_after_one_turn(agent_env, tokenizer, label):
    from openrlhf_plugin.agent import AgentExecutor

    engine = ScriptedEngine(tokenizer, [call("Observe")])
    response = asyncio.run(AgentExecutor().execute("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", label,
                                                   sampling_params(), 512, tokenizer, engine))

    assert engine.calls == 1  # OpenRLHF always generates once; the episode is over before it
    assert response["reward"] == 0.0
    assert response["extra_logs"]["codegym_end_env_error"] == 1.0
    to_experience(response, max_len=512)


def test_a_runtime_that_cannot_be_made_fails_every_episode_cleanly(agent_env, tokenizer, monkeypatch):
    from openrlhf_plugin import shared_runtime
    from openrlhf_plugin.agent import AgentExecutor

    executor = AgentExecutor()

    def broken(self):
        raise OSError("catalog storage is gone")

    monkeypatch.setattr(shared_runtime.SharedRuntime, "_catalog", broken)
    row = asyncio.run(make_row(ROBBER, asyncio.run(bundled_configs(ROBBER))[0]))
    response, engine = run(executor, tokenizer, row, [call("Observe")])

    assert engine.calls == 1 and response["extra_logs"]["codegym_end_env_error"] == 1.0


def test_a_runtime_closed_mid_episode_ends_it_with_env_error(agent_env, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    executor = AgentExecutor()
    row = asyncio.run(make_row(ROBBER, asyncio.run(bundled_configs(ROBBER))[0]))

    class ClosingEngine(ScriptedEngine):
        async def generate(self, prompt_token_ids, params, multi_modal_data=None):
            if self.calls == 1:
                await (await executor.runtime.get()).close()
            return await super().generate(prompt_token_ids, params, multi_modal_data)

    async def main():
        from openrlhf.datasets.prompts_dataset import preprocess_data

        prompt, label = preprocess_data(row, None, "prompt", "ability", tokenizer.apply_chat_template)
        engine = ClosingEngine(tokenizer, [call("Observe")] * 5)
        return await executor.execute(prompt, label, sampling_params(), 8192, tokenizer, engine), engine

    response, engine = asyncio.run(main())
    assert engine.calls == 2 and response["reward"] == 0.0
    assert response["extra_logs"]["codegym_end_env_error"] == 1.0


def test_a_bug_in_the_episode_code_ends_that_episode_only(agent_env, tokenizer, monkeypatch):
    from codegym_adapters.episode import Episode
    from openrlhf_plugin.agent import AgentExecutor

    original = Episode.step

    async def flaky(self, text, **kwargs):
        if "InitializeDp" in text:
            raise KeyError("unexpected")
        return await original(self, text, **kwargs)

    monkeypatch.setattr(Episode, "step", flaky)
    row = asyncio.run(make_row(ROBBER, asyncio.run(bundled_configs(ROBBER))[0]))
    turns = asyncio.run(policy_turns("oracle", row["ability"]))
    response, engine = run(AgentExecutor(), tokenizer, row, turns)

    assert engine.calls == 2
    assert response["extra_logs"]["codegym_end_env_error"] == 1.0 and response["reward"] == 0.0


def test_extra_logs_have_the_same_numeric_keys_in_every_episode_and_batch(spin_envs, tokenizer):
    from openrlhf.trainer.ppo_utils.experience import Experience

    from openrlhf_plugin.agent import AgentExecutor

    spin_envs.setenv("CODEGYM_DEFAULT_TURN_LIMIT", "3")
    executor = AgentExecutor()
    robber = asyncio.run(make_row(ROBBER, asyncio.run(bundled_configs(ROBBER))[0]))
    oracle = asyncio.run(policy_turns("oracle", robber["ability"]))
    cases = [
        (robber, oracle, 8192),                                     # done, reward 1
        (robber, oracle[:1] + [call("Done", answer=-1)], 8192),     # done, reward 0
        (robber, list(MALFORMED_TURNS), 8192),                      # invalid calls, turn limit
        (robber, ["no call here"], 8192),                           # no call
        (robber, oracle, prompt_length(tokenizer, robber) + 40),    # token budget
        (spin_row(), [call("Crash"), call("Observe")], 8192),       # env exception, turn limit
        ({**robber, "ability": "codegym_v1@Nope_1__GoneEnv@{}"}, oracle, 8192),  # env error
    ]
    responses = [run(executor, tokenizer, row, turns, max_length=n)[0] for row, turns, n in cases]

    keys = {frozenset(r["extra_logs"]) for r in responses}
    assert len(keys) == 1
    assert all(type(v) is float for r in responses for v in r["extra_logs"].values())
    reasons = [r["extra_logs"]["codegym_end_code"] for r in responses]
    assert len(set(reasons)) == 5  # done, turn_limit, no_call, length, env_error all appear

    batch = Experience.concat_experiences([to_experience(r, max_len=8192) for r in responses],
                                          pad_token_id=0)
    for key in next(iter(keys)):
        assert batch.info[key].shape == (len(cases),)
