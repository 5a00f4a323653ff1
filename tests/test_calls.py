"""Tests for codegym_adapters.calls: parsing and rendering tool calls in every format."""

import json

import pytest

from codegym_adapters.calls import (
    CODEGYM_BEGIN,
    CODEGYM_END,
    FORMATS,
    ParsedTurn,
    ToolCall,
    call_instructions,
    parse_call,
    render_call,
)

SAMPLE_CALLS = [
    ToolCall("Observe", {}),
    ToolCall("Done", {"answer": 3}),
    ToolCall("Set", {"grid": [[1, 2], [3, 4]], "label": 'héllo "quoted" </tool_call>', "x": None}),
    ToolCall("Compute", {"nested": {"a": [True, False, 1.5]}, "text": "<|FunctionCallEnd|> inside"}),
]


def assert_call(turn: ParsedTurn, name: str, arguments: dict, fmt: str, extra: int = 0) -> None:
    assert turn.kind == "call", turn
    assert turn.call == ToolCall(name, arguments)
    assert turn.error is None
    assert turn.format == fmt
    assert turn.extra_calls == extra


def assert_invalid(turn: ParsedTurn, fmt: str, *words: str) -> None:
    assert turn.kind == "invalid", turn
    assert turn.call is None
    assert turn.format == fmt
    assert turn.error and len(turn.error) <= 200
    assert fmt in turn.error
    for word in words:
        assert word in turn.error, (word, turn.error)


# --- formats and round trips ----------------------------------------------------------------


def test_codegym_block_parses():
    text = '<|FunctionCallBegin|>[{"name":"Observe","parameters":{}}]<|FunctionCallEnd|>'
    assert_call(parse_call(text, "codegym"), "Observe", {}, "codegym")


def test_codegym_block_accepts_single_object_and_whitespace():
    text = 'thinking...\n<|FunctionCallBegin|>\n {"name": "Done", "parameters": {"answer": [1, 2]}} \n<|FunctionCallEnd|>'
    assert_call(parse_call(text, "codegym"), "Done", {"answer": [1, 2]}, "codegym")


def test_hermes_block_parses_with_newlines():
    text = 'Let me look.\n<tool_call>\n{"name": "Observe", "arguments": {"k": 2}}\n</tool_call>'
    assert_call(parse_call(text, "hermes"), "Observe", {"k": 2}, "hermes")


def test_bare_json_object_parses():
    assert_call(
        parse_call('{"name": "Done", "arguments": {"answer": 5}}', "json"), "Done", {"answer": 5}, "json"
    )


def test_bare_json_list_parses():
    assert_call(parse_call('[{"name": "Observe", "parameters": {}}]', "json"), "Observe", {}, "json")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("call", SAMPLE_CALLS, ids=lambda c: c.name)
def test_render_then_parse_round_trips(fmt, call):
    text = render_call(call, fmt)
    assert parse_call(text, fmt).call == call
    assert parse_call(text, "auto").call == call


def test_render_formats_look_as_documented():
    call = ToolCall("Done", {"answer": "é"})
    assert (
        render_call(call, "codegym")
        == f'{CODEGYM_BEGIN}[{{"name": "Done", "parameters": {{"answer": "é"}}}}]{CODEGYM_END}'
    )
    assert (
        render_call(call, "hermes")
        == '<tool_call>\n{"name": "Done", "arguments": {"answer": "é"}}\n</tool_call>'
    )
    assert render_call(call, "json") == '{"name": "Done", "arguments": {"answer": "é"}}'


def test_tool_call_to_action_is_codegym_step_input():
    call = ToolCall("Done", {"answer": [1, "x"]})
    assert json.loads(call.to_action()) == {"name": "Done", "parameters": {"answer": [1, "x"]}}
    assert call.to_dict() == {"name": "Done", "arguments": {"answer": [1, "x"]}}


# --- auto detection ---------------------------------------------------------------------------


def test_auto_detects_each_format():
    call = ToolCall("Observe", {"i": 1})
    for fmt in FORMATS:
        assert parse_call(render_call(call, fmt)).format == fmt


def test_auto_prefers_codegym_markers_over_hermes_and_json():
    text = '{"name": "A"} <tool_call>{"name": "B"}</tool_call> <|FunctionCallBegin|>[{"name": "C"}]<|FunctionCallEnd|>'
    assert_call(parse_call(text), "C", {}, "codegym")
    text = '{"name": "A"} <tool_call>{"name": "B"}</tool_call>'
    assert_call(parse_call(text), "B", {}, "hermes")


def test_explicit_format_ignores_other_formats():
    hermes = '<tool_call>{"name": "B", "arguments": {}}</tool_call>'
    assert parse_call(hermes, "codegym").kind == "no_call"
    assert parse_call(render_call(ToolCall("A", {}), "codegym"), "hermes").kind == "no_call"


# --- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["parameters", "arguments"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_parameters_and_arguments_are_synonyms(fmt, key):
    body = json.dumps({"name": "Pick", key: {"i": 4}})
    text = {"codegym": f"{CODEGYM_BEGIN}[{body}]{CODEGYM_END}", "hermes": f"<tool_call>{body}</tool_call>"}
    assert_call(parse_call(text.get(fmt, body), fmt), "Pick", {"i": 4}, fmt)


def test_both_keys_equal_is_accepted_and_different_is_invalid():
    same = '<tool_call>{"name": "P", "parameters": {"i": 1}, "arguments": "{\\"i\\": 1}"}</tool_call>'
    assert_call(parse_call(same), "P", {"i": 1}, "hermes")
    differ = '<tool_call>{"name": "P", "parameters": {"i": 1}, "arguments": {"i": 2}}</tool_call>'
    assert_invalid(parse_call(differ), "hermes", "parameters", "arguments")


def test_arguments_as_json_string_are_decoded():
    text = '<tool_call>{"name": "Set", "arguments": "{\\"x\\": [1, 2]}"}</tool_call>'
    assert_call(parse_call(text), "Set", {"x": [1, 2]}, "hermes")
    assert_call(parse_call('{"name": "Observe", "arguments": ""}'), "Observe", {}, "json")


def test_missing_or_null_arguments_mean_empty():
    assert_call(parse_call('<tool_call>{"name": "Observe"}</tool_call>'), "Observe", {}, "hermes")
    assert_call(parse_call('{"name": "Observe", "arguments": null}'), "Observe", {}, "json")


def test_end_marker_inside_a_string_argument_does_not_end_the_block():
    text = '<tool_call>{"name": "Say", "arguments": {"s": "a </tool_call> b"}}</tool_call>'
    assert_call(parse_call(text), "Say", {"s": "a </tool_call> b"}, "hermes")
    text = f'{CODEGYM_BEGIN}[{{"name": "Say", "parameters": {{"s": "{CODEGYM_END}"}}}}]{CODEGYM_END}'
    assert_call(parse_call(text), "Say", {"s": CODEGYM_END}, "codegym")


def test_render_escapes_markers_inside_strings():
    call = ToolCall("Say", {"s": "<tool_call>x</tool_call>"})
    text = render_call(call, "hermes")
    assert text.count("<tool_call>") == 1 and text.count("</tool_call>") == 1
    assert parse_call(text).call == call


def test_openai_tool_call_entry_is_unwrapped():
    text = '{"type": "function", "function": {"name": "Add", "arguments": "{\\"a\\": 1}"}}'
    assert_call(parse_call(text, "json"), "Add", {"a": 1}, "json")


# --- several calls --------------------------------------------------------------------------------


def test_codegym_extra_calls_in_list_and_blocks_are_counted():
    text = (
        '<|FunctionCallBegin|>[{"name": "A"}, {"name": "B"}]<|FunctionCallEnd|> then '
        '<|FunctionCallBegin|>[{"name": "C"}, {"name": "D"}]<|FunctionCallEnd|>'
        "<|FunctionCallBegin|>not json<|FunctionCallEnd|>"
    )
    # the block that holds no JSON is no call, so it is not counted (issue 11, item 4)
    assert_call(parse_call(text, "codegym"), "A", {}, "codegym", extra=3)


def test_hermes_extra_blocks_are_counted():
    text = "".join(f'<tool_call>{{"name": "S{i}", "arguments": {{}}}}</tool_call>\n' for i in range(3))
    assert_call(parse_call(text, "hermes"), "S0", {}, "hermes", extra=2)


def test_json_extra_calls_are_counted():
    text = 'First {"name": "A", "arguments": {"v": {"name": "x"}}} and then [{"name": "B"}, {"name": "C"}].'
    assert_call(parse_call(text, "json"), "A", {"v": {"name": "x"}}, "json", extra=2)


# --- no call ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "I think the answer is 42.", 'Here is data: {"a": 1} and [1, 2]'])
def test_text_without_call_is_no_call_with_codegym_instructions(text):
    turn = parse_call(text)
    assert turn.kind == "no_call" and turn.call is None and turn.format is None
    assert CODEGYM_BEGIN in turn.error and CODEGYM_END in turn.error


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_call_message_shows_the_requested_format(fmt):
    turn = parse_call("nothing here", fmt)
    assert turn.kind == "no_call"
    assert turn.error.endswith(render_call(ToolCall("FunctionName", {"param": 1}), fmt))


@pytest.mark.parametrize("fmt", [*FORMATS, "auto"])
def test_call_instructions_example_parses(fmt):
    text = call_instructions(fmt)
    assert text.startswith("To call a function")
    assert parse_call(text, fmt).call == ToolCall("FunctionName", {"param": 1})


# --- malformed calls ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('[{"name": "A", "parameters": {}', ["malformed JSON", "char"]),
        ('[{"name": "A"},]', ["malformed JSON", "char"]),
        ('[{"name": "A"}] trailing', ["malformed JSON", "text after the JSON"]),
        ("[]", ["empty"]),
        ('["Observe"]', ["must be a JSON object", "string"]),
        ("[42]", ["must be a JSON object", "number"]),
        ('[{"parameters": {}}]', ['no "name"']),
        ('[{"name": 7, "parameters": {}}]', ['"name" must be a string', "number"]),
        ('[{"name": "  "}]', ['"name" is empty']),
        ('[{"name": "A", "parameters": [1, 2]}]', ['"parameters" must be a JSON object', "array"]),
        ('[{"name": "A", "parameters": 5}]', ['"parameters" must be a JSON object', "number"]),
        ('[{"name": "A", "arguments": "{not json"}]', ['"arguments"', "not valid JSON"]),
        ('[{"name": "A", "arguments": "[1]"}]', ['"arguments" must be a JSON object', "array"]),
        ("   ", ["empty"]),
    ],
)
def test_malformed_codegym_call_is_invalid_with_reason(body, words):
    assert_invalid(parse_call(f"{CODEGYM_BEGIN}{body}{CODEGYM_END}"), "codegym", *words)


def test_malformed_hermes_call_is_invalid_with_reason():
    assert_invalid(parse_call("<tool_call>{'name': 'A'}</tool_call>"), "hermes", "malformed JSON")
    assert_invalid(parse_call('<tool_call>{"name": true}</tool_call>'), "hermes", "boolean")


def test_malformed_bare_json_call_is_invalid_not_a_nested_call():
    turn = parse_call('{"name": "Set", "arguments": {"v": {"name": "inner"}}', "json")
    assert_invalid(turn, "json", "malformed JSON", "char")
    assert_invalid(parse_call('{"name": ["A"], "arguments": {}}', "json"), "json", '"name" must be a string')


def test_unterminated_codegym_block_parses_when_json_is_complete():
    text = f'{CODEGYM_BEGIN}[{{"name": "Done", "parameters": {{"answer": 2}}}}]\nand some trailing words'
    assert_call(parse_call(text), "Done", {"answer": 2}, "codegym")


def test_unterminated_codegym_block_with_cut_json_is_invalid():
    turn = parse_call(f'{CODEGYM_BEGIN}[{{"name": "Done", "parameters": {{"ans')
    assert_invalid(turn, "codegym", "unterminated", CODEGYM_END, "malformed JSON")


def test_unterminated_hermes_block_is_handled_like_codegym():
    assert_call(parse_call('<tool_call>{"name": "A", "arguments": {}}'), "A", {}, "hermes")
    assert_invalid(parse_call('<tool_call>{"name": "A", "argu'), "hermes", "unterminated")


# --- prose and fences ---------------------------------------------------------------------------


def test_prose_and_json_fence_are_skipped():
    text = (
        "I will look at the array [1, 2, 3] first {not json}.\n"
        '```json\n{"name": "Observe", "parameters": {}}\n```\nThat should work.'
    )
    assert_call(parse_call(text), "Observe", {}, "json")


def test_json_that_is_not_a_call_is_skipped():
    text = '{"state": [1, 2]} [{"no": "name"}] {"name": "Done", "arguments": {"answer": 1}}'
    assert_call(parse_call(text, "json"), "Done", {"answer": 1}, "json")


# --- hostile inputs -----------------------------------------------------------------------------

HOSTILE = {
    "deep_lists": "[" * 100_000,
    "deep_objects": '{"a":' * 100_000,
    "deep_codegym": CODEGYM_BEGIN + "[" * 100_000 + CODEGYM_END,
    "deep_hermes": "<tool_call>" + "[" * 100_000,
    "deep_arguments_string": '{"name": "A", "arguments": "' + "[" * 100_000 + '"}',
    "prose_10mb": "word " * 2_000_000,
    "braces_10mb": "{" * 10_000_000,
    "newlines_then_brackets": "x\n" * 4_000_000 + '{"a" ' * 400_000,
    "unterminated_string_10mb": '{"name": "' + "x" * 10_000_000,
    "many_broken_calls": '{"name": "A", "arguments": {"v": "' * 300_000,
    "many_blocks": '<tool_call>{"name": "a"}</tool_call>' * 300_000,
    "nan_and_unicode": '{"name": "Ω", "arguments": {"x": NaN, "y": -Infinity, "z": "\\ud83d\\ude00"}}',
    "lone_surrogate": '\ud800{"name": "A"}',
}


@pytest.mark.timeout(120)  # a hang guard only: speed is measured in benchmarks/bench_parse.py
@pytest.mark.parametrize("fmt", [*FORMATS, "auto", "strict"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_returns_without_exception(name, fmt):
    turn = parse_call(HOSTILE[name], fmt)
    assert turn.kind in ("call", "no_call", "invalid")


def test_huge_valid_call_is_parsed():
    call = ToolCall("Set", {"data": "y" * 10_000_000})
    for fmt in FORMATS:
        assert parse_call("prefix " * 1000 + render_call(call, fmt), fmt).call == call


def test_many_blocks_are_all_counted():
    turn = parse_call(HOSTILE["many_blocks"])
    assert turn.kind == "call" and turn.extra_calls == 299_999


# --- bad format names ---------------------------------------------------------------------------


def test_unknown_format_raises_value_error_listing_formats():
    with pytest.raises(ValueError, match="codegym, hermes, json, auto"):
        parse_call("{}", "xml")
    with pytest.raises(ValueError, match="codegym, hermes, json"):
        render_call(ToolCall("A", {}), "auto")
    with pytest.raises(ValueError):
        call_instructions("yaml")
