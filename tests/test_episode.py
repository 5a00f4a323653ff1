"""The episode contract: termination, rewards, invalid-call policies, metrics."""

from __future__ import annotations

from asyncio import run

import pytest

from codegym_adapters.calls import ToolCall, render_call
from codegym_adapters.episode import DONE_REASONS, Episode, EpisodeConfig
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task

ENV = "Test_0001__CounterEnv@{'target': 2}"


def call(name: str, fmt: str = "codegym", **args) -> str:
    return render_call(ToolCall(name, args), fmt)


async def play(catalog, texts, *, env=ENV, config=None, task=None):
    async with make_runtime("inprocess", catalog) as runtime:
        episode = Episode(runtime, task or Task.from_env_string(env), config or EpisodeConfig())
        await episode.start()
        turns = []
        for text in texts:
            if episode.done:
                break
            turns.append(await episode.step(text))
        await episode.close()
        return episode, turns


def test_first_done_ends_with_env_reward(counter_catalog):
    texts = [call("Add", x=1), call("Add", x=1), call("Done", answer=2), call("Done", answer=5)]
    episode, turns = run(play(counter_catalog, texts))
    assert [t.done for t in turns] == [False, False, True]
    assert turns[-1].observation.endswith("reward=1")
    assert episode.reward == 1.0 and episode.done_reason == "done"
    assert episode.metrics.turns == 3 and episode.metrics.valid_calls == 3


def test_wrong_done_gives_zero(counter_catalog):
    episode, _ = run(play(counter_catalog, [call("Done", answer=7)]))
    assert (episode.reward, episode.done_reason) == (0.0, "done")


def test_strict_answers_pass_through_as_parsed_json(counter_catalog):
    episode, _ = run(play(counter_catalog, [call("Done", answer="2")]))
    assert episode.env_reward == 0.0  # "2" is not 2, as in the env's own check


def test_turn_limit_from_row_then_default(counter_catalog):
    adds = [call("Add", x=0)] * 10
    task = Task.from_row({"ability": f"codegym_v1@{ENV}", "extra_info": {"plugin_call_max_round": 4}})
    episode, turns = run(play(counter_catalog, adds, task=task))
    assert (episode.done_reason, episode.metrics.turns, episode.reward) == ("turn_limit", 4, 0.0)
    assert turns[-1].observation == "0"  # the last call still ran and is reported
    episode, _ = run(play(counter_catalog, adds, config=EpisodeConfig(default_turn_limit=6)))
    assert (episode.done_reason, episode.metrics.turns) == ("turn_limit", 6)


def test_no_call_ends_or_is_fed_back(counter_catalog):
    episode, turns = run(play(counter_catalog, ["I give up."]))
    assert (episode.done_reason, turns[0].kind, turns[0].observation) == ("no_call", "no_call", "")
    config = EpisodeConfig(end_on_no_call=False)
    episode, turns = run(play(counter_catalog, ["hmm", call("Done", answer=2)], config=config))
    assert turns[0].observation.startswith("Error: No function call")
    assert (episode.done_reason, episode.reward, episode.metrics.invalid_calls) == ("done", 1.0, 1)


@pytest.mark.parametrize("text, fragment", [
    ('<|FunctionCallBegin|>[{"name": "Add", "parameters": {]<|FunctionCallEnd|>', "malformed JSON"),
    ('<|FunctionCallBegin|>[{"parameters": {}}]<|FunctionCallEnd|>', '"name"'),
    (call("Teleport", where="moon"), "unknown function 'Teleport'"),
])
def test_invalid_calls_get_error_observations(counter_catalog, text, fragment):
    episode, turns = run(play(counter_catalog, [text, call("Done", answer=2)]))
    assert turns[0].kind == "invalid" and turns[0].observation.startswith("Error")
    assert fragment in turns[0].observation
    assert (episode.reward, episode.metrics.invalid_calls, episode.metrics.valid_calls) == (1.0, 1, 1)


def test_unknown_function_lists_the_available_ones(counter_catalog):
    _, turns = run(play(counter_catalog, [call("Teleport")]))
    assert "Add, Done, Explode, Observe" in turns[0].observation


def test_penalty_policy_subtracts_per_invalid_call(counter_catalog):
    config = EpisodeConfig(invalid_call_policy="penalty", invalid_penalty=0.25)
    episode, _ = run(play(counter_catalog, ["<tool_call>{</tool_call>", call("Nope"), call("Done", answer=2)],
                          config=EpisodeConfig(**{**config.__dict__, "call_format": "auto"})))
    assert episode.env_reward == 1.0 and episode.reward == pytest.approx(0.5)


def test_stop_policy_ends_after_k_consecutive_invalid(counter_catalog):
    config = EpisodeConfig(invalid_call_policy="stop", max_consecutive_invalid=2)
    bad = call("Nope")
    episode, _ = run(play(counter_catalog, [bad, call("Add", x=1), bad, bad, call("Done", answer=2)], config=config))
    assert (episode.done_reason, episode.metrics.turns, episode.reward) == ("invalid_calls", 4, 0.0)


def test_external_budget_ends_with_length(counter_catalog):
    async def scenario():
        async with make_runtime("inprocess", counter_catalog) as runtime:
            episode = Episode(runtime, Task.from_env_string(ENV))
            await episode.start()
            await episode.step(call("Add", x=1))
            await episode.end("length")
            after = await episode.step(call("Done", answer=2))  # ignored: already over
            await episode.close()
            return episode, after
    episode, after = run(scenario())
    assert (episode.done_reason, episode.reward, after.done, after.observation) == ("length", 0.0, True, "")
    with pytest.raises(ValueError, match="unknown done reason"):
        run(Episode(None, Task.from_env_string(ENV)).end("bored"))  # type: ignore[arg-type]


def test_env_exception_is_an_error_observation_not_a_crash(counter_catalog):
    episode, turns = run(play(counter_catalog, [call("Explode"), call("Done", answer=2)]))
    assert turns[0].observation.startswith("Error: the environment failed on Explode: RuntimeError: boom")
    assert (episode.metrics.env_errors, episode.reward) == (1, 1.0)


def test_unloadable_env_ends_with_env_error(counter_catalog):
    episode, turns = run(play(counter_catalog, [call("Observe")], env="Test_0001__NoSuchEnv@{}"))
    assert (episode.done, episode.done_reason, episode.reward, turns) == (True, "env_error", 0.0, [])
    assert "unknown env" in episode.error
    assert episode.summary()["done_reason"] == "env_error"
    assert episode.metrics.env_errors == 1  # counted, so eval's "env errors" never says 0 beside env_error=N


def test_summary_keys_are_stable(counter_catalog):
    a, _ = run(play(counter_catalog, [call("Done", answer=2)]))
    b, _ = run(play(counter_catalog, ["nothing"]))
    c, _ = run(play(counter_catalog, [], env="Nope@{}"))
    assert a.summary().keys() == b.summary().keys() == c.summary().keys()
    assert {a.done_reason, b.done_reason, c.done_reason} <= set(DONE_REASONS)


def test_other_formats_parse_when_configured(counter_catalog):
    for fmt in ("hermes", "json"):
        config = EpisodeConfig(call_format=fmt)
        episode, _ = run(play(counter_catalog, [call("Done", fmt, answer=2)], config=config))
        assert episode.reward == 1.0
    # a strict format does not accept another format's call
    strict = EpisodeConfig(call_format="codegym")
    episode, _ = run(play(counter_catalog, [call("Done", "hermes", answer=2)], config=strict))
    assert episode.done_reason == "no_call"
    episode, _ = run(play(counter_catalog, [call("Done", "hermes", answer=2)]))  # auto
    assert episode.reward == 1.0


def test_prompt_styles(counter_catalog):
    async def prompts():
        out = {}
        async with make_runtime("inprocess", counter_catalog) as runtime:
            for style in ("codegym", "native"):
                episode = Episode(runtime, Task.from_env_string(ENV), EpisodeConfig(prompt_style=style))
                out[style] = await episode.start()
                await episode.close()
            row_messages = [{"role": "user", "content": "row prompt"}]
            episode = Episode(runtime, Task.from_env_string(ENV, prompt=row_messages))
            out["row"] = await episode.start()
        return out
    p = run(prompts())
    system, user = p["codegym"].messages
    assert system["name"] == "functions" and "def Add(x: int):" in system["content"]
    assert "Example Output" not in system["content"] and "self" not in system["content"]
    assert "Add ones until the total reaches the target" in user["content"]
    assert "<|FunctionCallBegin|>" in user["content"]
    assert p["codegym"].tools is None and p["codegym"].observation_role == "user"
    assert [t["function"]["name"] for t in p["native"].tools] == ["Observe", "Add", "Done", "Explode"]
    assert p["native"].observation_message("7") == {"role": "tool", "content": "7"}
    assert p["row"].messages == [{"role": "user", "content": "row prompt"}]


@pytest.mark.parametrize("bad", [
    {"call_format": "xml"}, {"prompt_style": "chatty"}, {"invalid_call_policy": "ignore"},
    {"default_turn_limit": 0}, {"max_consecutive_invalid": 0}, {"invalid_penalty": -1},
])
def test_bad_config_values_are_rejected(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        EpisodeConfig(**bad)


def test_config_from_mapping_rejects_unknown_keys():
    assert EpisodeConfig.from_mapping({"default_turn_limit": 9}).default_turn_limit == 9
    with pytest.raises(ValueError, match="turn_limt"):
        EpisodeConfig.from_mapping({"turn_limt": 9})


# --- issue 11: cut turns, reasoning, never raising; issue 12: binary reward; issue 14: max_turns ----------

DONE_2 = call("Done", answer=2)


def _cut_run(catalog, texts, cut_text, config=None):
    async def scenario():
        async with make_runtime("inprocess", catalog) as runtime:
            episode = Episode(runtime, Task.from_env_string(ENV), config or EpisodeConfig())
            await episode.start()
            for text in texts:
                await episode.step(text)
            turn = await episode.step(cut_text, cut=True)
            await episode.close()
            return episode, turn
    return run(scenario())


@pytest.mark.parametrize("cut_text", [
    DONE_2 + " and then some prose the budget cu",  # a complete call, then prose that was cut
    '<|FunctionCallBegin|>[{"name": "Done", "parameters": {"ans',  # cut inside the call JSON
    "<|FunctionCallBe",  # cut inside the marker
    "<think>I will call Done with 2",  # cut inside the reasoning
])
@pytest.mark.parametrize("policy", ["feedback", "penalty", "stop"])
def test_a_cut_turn_is_never_run_and_ends_length_with_reward_zero(counter_catalog, cut_text, policy):
    config = EpisodeConfig(invalid_call_policy=policy)
    episode, turn = _cut_run(counter_catalog, [call("Add", x=1)], cut_text, config)
    assert (turn.done, turn.kind, turn.observation) == (True, "cut", "")
    assert (episode.done_reason, episode.reward, episode.env_reward) == ("length", 0.0, 0.0)
    assert (episode.metrics.invalid_calls, episode.metrics.valid_calls, episode.metrics.turns) == (0, 1, 2)


def test_length_keeps_the_penalty_of_earlier_invalid_calls_but_the_cut_turn_costs_none(counter_catalog):
    """Running out the budget must not be a way to escape the penalty of invalid calls already made
    (a policy would learn to never end its turns); the cut turn itself is not read, so costs nothing."""
    config = EpisodeConfig(invalid_call_policy="penalty", invalid_penalty=0.25)
    episode, _ = _cut_run(counter_catalog, ["<tool_call>{bad</tool_call>"], DONE_2, config)
    assert (episode.done_reason, episode.reward, episode.metrics.invalid_calls) == ("length", -0.25, 1)
    episode, _ = _cut_run(counter_catalog, [], "<tool_call>{bad", config)
    assert (episode.done_reason, episode.reward, episode.metrics.invalid_calls) == ("length", 0.0, 0)


def test_a_call_only_in_the_reasoning_is_not_run_and_is_counted(counter_catalog):
    draft = f"<think>maybe {DONE_2}</think>Let me look first."
    episode, turns = run(play(counter_catalog, [draft]))
    assert (episode.done_reason, episode.reward, episode.metrics.calls_in_reasoning) == ("no_call", 0.0, 1)
    episode, turns = run(play(counter_catalog, [f"<think>{DONE_2}</think>{call('Add', x=2)}", DONE_2]))
    assert turns[0].call == ToolCall("Add", {"x": 2}) and episode.reward == 1.0
    episode, _ = run(play(counter_catalog, [draft], config=EpisodeConfig(reasoning=False)))
    assert episode.reward == 1.0  # reasoning stripping off: the draft runs


def test_binary_reward_is_one_for_any_positive_env_reward(counter_catalog):
    episode, _ = run(play(counter_catalog, [DONE_2], config=EpisodeConfig(reward="binary")))
    assert (episode.reward, episode.env_reward) == (1.0, 1.0)
    episode, _ = run(play(counter_catalog, [call("Done", answer=3)], config=EpisodeConfig(reward="binary")))
    assert episode.reward == 0.0


def test_max_turns_caps_the_row_limit_and_the_default():
    config = EpisodeConfig(max_turns=64)
    assert (config.cap_turns(256), config.cap_turns(10), config.cap_turns(None)) == (64, 10, 64)
    assert EpisodeConfig(default_turn_limit=32).cap_turns(None) == 32
    assert EpisodeConfig().cap_turns(256) == 256


def test_max_turns_reaches_the_episode(counter_catalog):
    task = Task.from_row({"ability": f"codegym_v1@{ENV}", "plugin_call_max_round": 256})
    episode, _ = run(play(counter_catalog, [call("Add", x=0)] * 10, task=task, config=EpisodeConfig(max_turns=3)))
    assert (episode.done_reason, episode.metrics.turns, episode.summary()["turn_limit"]) == ("turn_limit", 3, 3)


NASTY_TURNS = {
    "huge_integer": '{"name": "Done", "arguments": {"answer": ' + "7" * 5000 + "}}",
    "surrogate_key": '{"name": "Add", "arguments": {"\udc80x": 1}}',
    "surrogate_value": '{"name": "Add", "arguments": {"x": "\ud800"}}',
    "surrogate_name": '{"name": "A\udc80dd", "arguments": {}}',
    "escaped_surrogate_key": '{"name": "Add", "arguments": {"\\udc80x": 1}}',  # as a model writes it
    "escaped_surrogate_name": '{"name": "A\\ud800dd", "arguments": {}}',
    "deep": "<tool_call>" + "[" * 100_000,
    "ten_mb": "{" * 10_000_000,
    "not_a_str": 12345,
}


@pytest.mark.parametrize("case", list(NASTY_TURNS))
def test_model_text_never_raises_and_observations_are_valid_utf8(counter_catalog, case):
    config = EpisodeConfig(end_on_no_call=False)
    episode, turns = run(play(counter_catalog, [NASTY_TURNS[case], DONE_2], config=config))
    assert turns[0].kind in ("call", "invalid", "no_call")
    for turn in turns:
        turn.observation.encode("utf-8")  # what a tokenizer needs
    if turns[0].kind == "invalid":
        assert turns[0].observation.startswith("Error")
    assert (episode.done_reason, episode.reward) == ("done", 1.0)  # the episode goes on


def test_unknown_bad_config_values_for_the_new_options_are_rejected():
    for bad in ({"max_turns": 0}, {"max_turns": True}, {"reward": "scaled"}, {"reasoning": "yes"},
                {"reasoning_markers": [["<t>"]]}, {"call_format": "xml"}):
        with pytest.raises(ValueError):
            EpisodeConfig(**bad)
    assert EpisodeConfig(call_format="strict").read_turn('<tool_call>{"name": "A"}</tool_call>').kind == "no_call"
