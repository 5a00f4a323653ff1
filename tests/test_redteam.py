"""Red-team findings (each test failed before its fix).

Model text: parsing blocks that have no end marker searched the rest of the text for the end
marker once per block, so a turn of N such blocks cost O(N * length). The work is counted here
(characters the marker searches scan), not timed.
"""

from __future__ import annotations

import pytest

from codegym_adapters.calls import CODEGYM_BEGIN, CODEGYM_END, HERMES_BEGIN, parse_call


class _CountingText(str):
    """A str that counts the characters its ``find`` calls scan."""

    scanned = 0

    def find(self, sub, start=None, end=None):  # type: ignore[override]
        found = str.find(self, sub, start, end)
        begin = 0 if start is None else start
        _CountingText.scanned += (len(self) if found < 0 else found + len(sub)) - begin
        return found


def _scanned(text: str, fmt: str) -> tuple[int, str]:
    _CountingText.scanned = 0
    turn = parse_call(_CountingText(text), fmt)
    return _CountingText.scanned, turn.kind


BLOCKS = {
    "codegym_numbers": (CODEGYM_BEGIN + "1 ", ("auto", "codegym")),
    "codegym_calls": (CODEGYM_BEGIN + '[{"name": "a", "parameters": {}}] ', ("auto", "codegym")),
    "hermes_numbers": (HERMES_BEGIN + "1 ", ("auto", "hermes")),
    "hermes_strings": (HERMES_BEGIN + '"aaaaaaaaaa" ', ("auto", "hermes")),
    "codegym_end_far_away": (CODEGYM_BEGIN + "1 ", ("auto", "codegym")),
}


@pytest.mark.parametrize("case", sorted(BLOCKS))
def test_many_blocks_without_an_end_marker_cost_linear_work(case):
    unit, fmts = BLOCKS[case]
    for fmt in fmts:
        text = unit * 3000 + (CODEGYM_END if case == "codegym_end_far_away" else "")
        scanned, kind = _scanned(text, fmt)
        assert kind in ("call", "invalid")
        # linear: a few passes over the text; before the fix this was ~1,500 passes
        assert scanned <= 8 * len(text), (fmt, scanned / len(text))


def test_blocks_without_an_end_marker_still_parse_as_before():
    call = '[{"name": "a", "parameters": {"x": 1}}]'
    for fmt in ("auto", "codegym"):
        turn = parse_call(f"{CODEGYM_BEGIN}{call} then {CODEGYM_BEGIN}{call}", fmt)
        assert turn.kind == "call" and turn.call.name == "a" and turn.extra_calls == 1
        turn = parse_call(f"{CODEGYM_BEGIN}{call} x {CODEGYM_END} {CODEGYM_BEGIN}{call}{CODEGYM_END}", fmt)
        assert turn.kind == "call" and turn.extra_calls == 0  # the first block has text after its JSON
        turn = parse_call(f"{CODEGYM_BEGIN}[{{oops {CODEGYM_END}", fmt)
        assert turn.kind == "invalid" and "unterminated" not in turn.error
        turn = parse_call(f"{CODEGYM_BEGIN}[{{oops", fmt)
        assert turn.kind == "invalid" and "unterminated" in turn.error
    turn = parse_call(f"{HERMES_BEGIN}{{\"name\": \"b\", \"arguments\": {{}}}}", "hermes")
    assert turn.kind == "call" and turn.call.name == "b"


# -- env code: an exception that cannot be printed is the env's error, not a crashed worker ---------------
@pytest.mark.timeout(180)
@pytest.mark.parametrize("base", [False, True])
def test_an_exception_whose_str_raises_is_an_env_error_not_a_crash(base):
    from test_integrity_support import run_attack, step

    from codegym_adapters.runtime.base import EXCEPTION

    run = run_attack("UnprintableErrorEnv", [step("Attack", base=base), step("Observe"), step("Done", answer=7)])
    attack = run.results[1]
    assert attack.error == EXCEPTION and "<unprintable>" in attack.observation, attack.observation
    assert run.results[2].observation == "7" and run.results[-1].reward == 1.0
    assert run.counters.get("workers_lost_crashed", 0) == 0
    assert run.failures.get(run.spec.source_hash, 0) == 0  # an env error, not blamed as a crash


@pytest.mark.timeout(60)
def test_a_reset_error_whose_str_raises_is_still_an_env_load_error():
    import asyncio

    from test_integrity_support import catalog

    from codegym_adapters.errors import EnvLoadError
    from codegym_adapters.runtime.sandbox import SandboxRuntime

    async def main():
        async with SandboxRuntime(catalog(), step_timeout=1.0) as runtime:
            with pytest.raises(EnvLoadError, match="_LoudError: <unprintable>"):
                await runtime.open('UnprintableErrorEnv@{"loud_reset": true}')
            return runtime.counters()

    counters = asyncio.run(main())
    assert counters.get("workers_lost_crashed", 0) == 0


@pytest.mark.timeout(20)
@pytest.mark.parametrize("markers", [(("", ""),), (("<think>", ""),), (("", "</think>"),)])
def test_empty_reasoning_markers_are_refused_not_looped_on(markers):
    # ("", "") used to loop forever in split_reasoning; the caller's mistake is a clear error instead
    with pytest.raises(ValueError, match="non-empty"):
        parse_call("a <think> b </think> c", "auto", markers)
