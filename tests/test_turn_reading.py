"""How a model's turn is read (issue 11): reasoning is not action, markers inside strings are content,
well-formed calls are found amid long bracket-heavy prose, a bound that is hit says so, the strict
reading differs from the default exactly where it should, and model text never raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegym_adapters import calls as calls_module
from codegym_adapters.calls import FORMATS, ToolCall, parse_call, render_call
from codegym_adapters.json_scan import WorkBudget
from codegym_adapters.reasoning import normalize_markers, split_reasoning

THINK = (("<think>", "</think>"),)
DONE_12 = ToolCall("Done", {"answer": 12})
OBSERVE = ToolCall("Observe", {})
ALL = [*FORMATS, "auto"]


def written(call: ToolCall, fmt: str) -> str:
    return render_call(call, "codegym" if fmt == "auto" else fmt)


# --- 1. reasoning is not action ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL)
def test_a_call_only_inside_the_reasoning_is_not_a_call(fmt):
    text = f"<think>I could just try {written(DONE_12, fmt)}</think>Let me look first."
    turn = parse_call(text, fmt, THINK)
    assert (turn.kind, turn.call, turn.calls_in_reasoning) == ("no_call", None, 1)
    assert "inside the reasoning is not run" in turn.error
    # without reasoning stripping the draft is what runs (the behaviour issue 11 reports)
    assert parse_call(text, fmt).call == DONE_12


@pytest.mark.parametrize("fmt", ALL)
def test_the_real_call_after_the_reasoning_runs_not_the_draft_inside_it(fmt):
    text = f"<think>Maybe {written(DONE_12, fmt)} at once?</think>No, first {written(OBSERVE, fmt)}"
    turn = parse_call(text, fmt, THINK)
    assert (turn.kind, turn.call, turn.extra_calls, turn.calls_in_reasoning) == ("call", OBSERVE, 0, 0)


@pytest.mark.parametrize("fmt", ALL)
def test_text_before_a_lone_closing_marker_is_reasoning(fmt):
    # Qwen3's template opens <think> in the prompt: the turn starts inside the reasoning
    text = f"drafting {written(DONE_12, fmt)} hmm</think>\n{written(OBSERVE, fmt)}"
    assert parse_call(text, fmt, THINK).call == OBSERVE
    only = parse_call(f"drafting {written(DONE_12, fmt)}</think>I will wait.", fmt, THINK)
    assert (only.kind, only.calls_in_reasoning) == ("no_call", 1)


@pytest.mark.parametrize("fmt", ALL)
def test_an_unterminated_reasoning_block_holds_no_call(fmt):
    turn = parse_call(f"Let me think.<think>then {written(DONE_12, fmt)} and so on", fmt, THINK)
    assert (turn.kind, turn.calls_in_reasoning) == ("no_call", 1)


def test_reasoning_markers_are_configurable_and_several_pairs_apply():
    markers = normalize_markers("<reasoning>,</reasoning>;<think>,</think>")
    text = (f"<reasoning>{written(DONE_12, 'codegym')}</reasoning><think>{written(DONE_12, 'hermes')}</think>"
            f"{written(OBSERVE, 'json')}")
    assert parse_call(text, "auto", markers).call == OBSERVE
    assert normalize_markers([["<a>", "</a>"]]) == (("<a>", "</a>"),)
    assert normalize_markers('[["<a>", "</a>"]]') == (("<a>", "</a>"),)
    for bad in ([["<a>"]], [["", "</a>"]], 5, "[not json"):
        with pytest.raises(ValueError, match="reasoning_markers"):
            normalize_markers(bad)


def test_split_reasoning_keeps_the_visible_text_and_never_joins_its_parts():
    visible, hidden = split_reasoning('{"name": <think>x</think>"A"}', THINK)
    assert hidden == "x" and visible == '{"name": \n"A"}'
    assert split_reasoning("no markers", THINK) == ("no markers", "")


# --- 3. long reasoning, and bounds ---------------------------------------------------------------

LONG_REASONING = "".join(
    f"Step {i}: dp[{i}] = max(dp[{i}-1], dp[{i}-2] + h[{i}]) {{keep best}} so far [{i}, {i + 1}].\n"
    for i in range(300)
)


@pytest.mark.parametrize("fmt", ALL)
def test_a_call_after_long_bracket_heavy_reasoning_is_found(fmt):
    assert len(LONG_REASONING) > 12_000
    turn = parse_call(LONG_REASONING + written(OBSERVE, fmt), fmt, THINK)
    assert (turn.kind, turn.call) == ("call", OBSERVE)


def test_a_bound_that_is_hit_is_an_invalid_call_that_says_so(monkeypatch):
    monkeypatch.setattr(calls_module, "WorkBudget", lambda n: WorkBudget(n, per_char=0, base=200))
    text = '{"name": "Pick", "arguments": {"x": 1}} ' * 20
    turn = parse_call(text, "json")
    assert turn.kind == "invalid" and "too long or too tangled" in turn.error and "gave up" in turn.error


# --- 4. markers inside JSON strings ----------------------------------------------------------------


def test_a_stuttered_marker_before_a_well_formed_block_is_no_extra_call():
    turn = parse_call('<tool_call><tool_call>{"name": "Observe", "arguments": {}}</tool_call>', "hermes")
    assert (turn.kind, turn.call, turn.extra_calls) == ("call", OBSERVE, 0)
    turn = parse_call('<tool_call><tool_call>{"name": "Observe", "arguments": {}}</tool_call>')
    assert (turn.kind, turn.call, turn.extra_calls) == ("call", OBSERVE, 0)


@pytest.mark.parametrize("marker", ["<tool_call>", "</tool_call>", "<|FunctionCallBegin|>", "<|FunctionCallEnd|>"])
@pytest.mark.parametrize("fmt", ALL)
def test_markers_inside_argument_strings_are_string_content(fmt, marker):
    call = ToolCall("Say", {"s": f"a {marker} b"})
    body = json.dumps({"name": "Say", "arguments": call.arguments})
    text = {"codegym": f"<|FunctionCallBegin|>[{body}]<|FunctionCallEnd|>",
            "hermes": f"<tool_call>{body}</tool_call>"}.get(fmt, body)
    if fmt == "auto" and marker in ("<|FunctionCallBegin|>", "<|FunctionCallEnd|>"):
        text = body  # a bare call whose string holds a marker: auto reads the bare call
    turn = parse_call(text, fmt)
    assert (turn.kind, turn.call, turn.extra_calls) == ("call", call, 0), turn


def test_error_messages_are_true():
    turn = parse_call('<tool_call>{"name": "A", "arguments": {"x": </tool_call>')
    assert turn.kind == "invalid" and "malformed JSON" in turn.error and "unterminated" not in turn.error
    turn = parse_call('<tool_call>{"name": "A", "arguments": {"x": ')
    assert turn.kind == "invalid" and "unterminated" in turn.error


# --- 5. the strict reading (issue 12, item 5) ---------------------------------------------------------

B, E = "<|FunctionCallBegin|>", "<|FunctionCallEnd|>"
DISAGREE = {
    "arguments_not_parameters": f'{B}[{{"name": "Observe", "arguments": {{}}}}]{E}',
    "no_parameters": f'{B}[{{"name": "Observe"}}]{E}',
    "two_calls_in_a_list": f'{B}[{{"name": "Observe", "parameters": {{}}}}, {{"name": "Observe", "parameters": {{}}}}]{E}',
    "two_blocks": f'{B}[{{"name": "Observe", "parameters": {{}}}}]{E} {B}[{{"name": "Observe", "parameters": {{}}}}]{E}',
    "parameters_as_a_json_string": f'{B}[{{"name": "Observe", "parameters": "{{}}"}}]{E}',
    "no_end_marker": f'{B}[{{"name": "Observe", "parameters": {{}}}}]',
    "openai_wrapper": f'{B}[{{"type": "function", "function": {{"name": "Observe", "parameters": {{}}}}}}]{E}',
}
NOT_READ_BY_STRICT = {
    "hermes": '<tool_call>{"name": "Observe", "arguments": {}}</tool_call>',
    "bare_json": '{"name": "Observe", "arguments": {}}',
}
AGREE = {
    "paper_form": (f'{B}[{{"name": "Observe", "parameters": {{}}}}]{E}', "call"),
    "one_object_no_list": (f'{B}{{"name": "Observe", "parameters": {{}}}}{E}', "call"),
    "broken_json": (f'{B}[{{"name": "Observe", "parameters": {{]{E}', "invalid"),
    "prose": ("I will think about it.", "no_call"),
}


@pytest.mark.parametrize("case", list(DISAGREE))
def test_strict_rejects_what_the_default_accepts(case):
    default, strict = parse_call(DISAGREE[case]), parse_call(DISAGREE[case], "strict")
    assert (default.kind, default.call) == ("call", OBSERVE)
    assert strict.kind == "invalid" and strict.error.startswith("Invalid strict call:"), strict


@pytest.mark.parametrize("case", list(NOT_READ_BY_STRICT))
def test_strict_reads_only_codegym_markers(case):
    assert parse_call(NOT_READ_BY_STRICT[case]).call == OBSERVE
    assert parse_call(NOT_READ_BY_STRICT[case], "strict").kind == "no_call"


@pytest.mark.parametrize("case", list(AGREE))
def test_strict_and_default_agree_on_the_rest(case):
    text, kind = AGREE[case]
    default, strict = parse_call(text), parse_call(text, "strict")
    assert default.kind == strict.kind == kind
    assert default.call == strict.call


# --- 6. model text never raises --------------------------------------------------------------------

HUGE_INT = "9" * 5000
NASTY = {
    "huge_integer": f'{{"name": "Done", "arguments": {{"answer": {HUGE_INT}}}}}',
    "surrogate_key": '{"name": "Done", "arguments": {"\udc80x": 1}}',
    "surrogate_value": '{"name": "Done", "arguments": {"answer": "\ud800"}}',
    "surrogate_name": '{"name": "Do\udfffne", "arguments": {}}',
    "deep": '{"name": "Done", "arguments": ' + "[" * 100_000,
    "deep_valid_arguments": '{"name": "Done", "arguments": {"a": ' + "[" * 900 + "]" * 900 + "}}",
    "ten_mb": "x" * 10_000_000 + '{"name": "Done", "arguments": {"answer": 1}}',
}


@pytest.mark.parametrize("fmt", ALL)
@pytest.mark.parametrize("case", list(NASTY))
def test_model_text_never_raises(case, fmt):
    text = NASTY[case]
    if fmt == "hermes":
        text = f"<tool_call>{text}</tool_call>"
    elif fmt == "codegym":
        text = f"{B}[{text}]{E}"
    turn = parse_call(text, fmt, THINK)
    assert turn.kind in ("call", "no_call", "invalid")
    if turn.kind == "invalid":
        assert turn.error and turn.error.startswith("Invalid")


def test_a_huge_integer_is_an_invalid_call_that_says_why():
    turn = parse_call(NASTY["huge_integer"], "json")
    assert turn.kind == "invalid" and "too many digits" in turn.error


# --- property: a call amid prose with brackets and braces is found -------------------------------------

PROSE = st.text(alphabet="abcxyz 019\n\t.,;:=+-*/()[]{}<>!?'\"", max_size=300)
NAMES = st.sampled_from(["Observe", "Done", "ComputeDpValue", "Pick"])
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                      max_leaves=8)
ARGUMENTS = st.dictionaries(st.text(alphabet="abcdefgh_", min_size=1, max_size=6), VALUES, max_size=3)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=PROSE, after=PROSE, name=NAMES, arguments=ARGUMENTS, fmt=st.sampled_from(ALL),
       reasoning=st.booleans())
def test_one_well_formed_call_amid_random_prose_is_found(before, after, name, arguments, fmt, reasoning):
    call = ToolCall(name, arguments)
    text = f"{before}\n{written(call, fmt)}\n{after}"
    markers = THINK if reasoning else ()
    if "<think>" in text or "</think>" in text:
        markers = ()
    turn = parse_call(text, fmt, markers)
    assert (turn.kind, turn.call) == ("call", call), (text, turn)


@pytest.mark.parametrize("fmt", ALL)
def test_ten_megabytes_of_bracket_prose_stay_within_the_linear_bound(fmt):
    prose = (LONG_REASONING * (10_000_000 // len(LONG_REASONING) + 1))[:10_000_000]
    turn = parse_call(prose + written(OBSERVE, fmt), fmt, THINK)
    assert (turn.kind, turn.call) == ("call", OBSERVE)  # the budget (linear in the length) was not hit
