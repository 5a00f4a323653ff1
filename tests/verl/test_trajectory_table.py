"""The shared table of trajectories (``tests/trajectories.py``) through veRL's real ``AgentLoopWorker``:
each ends with the reward and done reason the table gives it, as in OpenRLHF and ``codegym eval``
(issue 11). Then model text that used to raise, and a bug inside one episode: the batch completes,
the bad episode ends with a clear reason, the others are untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from harness import Case, compose_config, prepare, run_worker, write_rows
from trajectories import ENV, groups, oracle_for_table, verl_overrides

from codegym_adapters.calls import ToolCall, render_call
from codegym_adapters.policies import CutTurn


@pytest.fixture(scope="module")
def oracle():
    return asyncio.run(oracle_for_table())


def _run(model_dir: Path, tmp_path: Path, cases: list[Case], *overrides: str):
    config = compose_config(model_dir, "data.max_response_length=4096", *overrides)
    rows = asyncio.run(prepare(cases))
    out, _, server = run_worker(config, write_rows(rows, tmp_path / "rows.parquet"),
                                {f"[{c.tag}]": c.turns for c in cases})
    fields = out.non_tensor_batch
    outcome = [(float(out.batch["rm_scores"][i].sum()), float(fields["codegym_reward"][i]),
                str(fields["codegym_done_reason"][i])) for i in range(len(cases))]
    return outcome, out, server


@pytest.mark.parametrize("key", list(groups()), ids=lambda k: ",".join(f"{a}={b}" for a, b in k) or "defaults")
def test_the_agent_loop_worker_gives_each_trajectory_its_table_outcome(key, oracle, model_dir, tmp_path):
    table = groups()[key]
    cases = [Case(t.name, ENV, turns=t.turns(oracle), turn_limit=t.turn_limit) for t in table]
    outcome, _, server = _run(model_dir, tmp_path, cases, *verl_overrides(dict(key)))
    got = {t.name: o for t, o in zip(table, outcome, strict=True)}
    want = {t.name: (pytest.approx(t.reward), pytest.approx(t.reward), t.done_reason) for t in table}
    assert got == want
    if any(isinstance(turn, CutTurn) for c in cases for turn in c.turns):
        assert "length" in server.stop_reasons  # the cut turns reached the loop as length finishes


# A model writes lone surrogates as JSON escapes (its tokens always decode to valid text): the parser
# turns them into lone surrogates, which the env echoes in its error text.
NASTY = {
    "huge_integer": '{"name": "Done", "arguments": {"answer": ' + "7" * 5000 + "}}",
    "surrogate_key": '{"name": "Observe", "arguments": {"\\udc80x": 1}}',
    "surrogate_value": '<tool_call>{"name": "Observe", "arguments": {"x": "\\ud800"}}</tool_call>',
    "deep": '{"name": "Done", "arguments": ' + "[" * 3000,
}


def test_model_text_that_used_to_raise_ends_only_its_own_episode(oracle, model_dir, tmp_path):
    good = [render_call(c, "codegym") for c in oracle]
    cases = [Case(f"nasty-{name}", ENV, turns=[text, *good]) for name, text in NASTY.items()]
    cases.append(Case("honest", ENV, turns=good))
    outcome, out, _ = _run(model_dir, tmp_path, cases, "data.max_response_length=16384")
    assert outcome[-1] == (1.0, 1.0, "done")  # untouched
    for i, case in enumerate(cases[:-1]):
        # the bad turn got an error observation (or ran, for a surrogate key Observe ignores); the
        # episode went on and the oracle finished it
        assert outcome[i] == (1.0, 1.0, "done"), case.tag
    invalid = out.non_tensor_batch["codegym_invalid_calls"]
    assert [int(invalid[i]) for i in range(len(cases))][:4] == [1, 0, 0, 1]


def test_a_bug_inside_one_episode_ends_that_episode_only(oracle, model_dir, tmp_path, monkeypatch):
    from codegym_adapters.episode import Episode

    original = Episode.step

    async def flaky(self, text, **kwargs):
        if "BOOM" in text:
            raise KeyError("a bug in the episode code")
        return await original(self, text, **kwargs)

    monkeypatch.setattr(Episode, "step", flaky)
    good = [render_call(c, "codegym") for c in oracle]
    cases = [Case("buggy", ENV, turns=[good[0], "BOOM " + good[1], *good[2:]]), Case("honest", ENV, turns=good)]
    outcome, out, _ = _run(model_dir, tmp_path, cases)
    assert outcome == [(0.0, 0.0, "env_error"), (1.0, 1.0, "done")]
    assert "KeyError" in str(out.non_tensor_batch["codegym_error"][0])


def test_the_small_recipes_turn_cap_reaches_the_episodes(model_dir, tmp_path):
    """Issue 14, item 4: rows built by build-data carry plugin_call_max_round=256, and the 0.5B recipe's
    `max_turns` still bounds every episode."""
    from hydra import compose, initialize_config_dir

    from verl_plugin.settings import load_settings

    recipes = Path(__file__).resolve().parents[2] / "examples" / "verl" / "config"
    with initialize_config_dir(config_dir=str(recipes), version_base=None):
        recipe = compose("codegym_grpo_qwen2_5_0_5b")
    cap = load_settings(recipe).episode.max_turns
    assert cap == 64
    observe = render_call(ToolCall("Observe", {}), "codegym")
    cases = [Case("long-row", ENV, turns=[observe] * 100, turn_limit=256)]
    outcome, out, _ = _run(model_dir, tmp_path, cases, f"env.episode.max_turns={cap}",
                           "data.max_response_length=32768")
    assert outcome == [(0.0, 0.0, "turn_limit")]
    assert int(out.non_tensor_batch["codegym_turns"][0]) == cap == int(out.non_tensor_batch["codegym_turn_limit"][0])


def test_a_failure_before_the_episode_exists_ends_that_trajectory_only(oracle, model_dir, tmp_path, monkeypatch):
    import verl_plugin.agent_loop as agent_loop

    original = agent_loop._add_carried_env

    def flaky(catalog, task, row):
        if "[doomed]" in str(row.get("prompt")):
            raise OSError("the runtime could not be reached")
        return original(catalog, task, row)

    monkeypatch.setattr(agent_loop, "_add_carried_env", flaky)
    good = [render_call(c, "codegym") for c in oracle]
    cases = [Case("doomed", ENV, turns=good), Case("honest", ENV, turns=good)]
    outcome, out, _ = _run(model_dir, tmp_path, cases)
    assert outcome == [(0.0, 0.0, "env_error"), (1.0, 1.0, "done")]
    fields = out.non_tensor_batch
    assert "OSError" in str(fields["codegym_error"][0])
    assert all(fields[k][0] is not None for k in fields if k.startswith("codegym_"))  # same keys as the others
