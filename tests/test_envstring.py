"""Tests for codegym_adapters.envstring: every env-string spelling, both option syntaxes, and garbage."""

from __future__ import annotations

import ast
import json

import pytest

from codegym_adapters.envstring import EnvRef, parse_env_string, parse_options
from codegym_adapters.errors import CodeGymError, OptionsError

OPTS = {"n": 6, "moves": [1, 2]}
OPTS_JSON = json.dumps(OPTS)


# -- spellings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, code_id",
    [
        (f"codegym_v1@Leetcode_90001_I__StairClimbEnv@{OPTS_JSON}", "Leetcode_90001_I"),
        (f"codegym_gym_v1@Leetcode_90001_I__StairClimbEnv@{OPTS_JSON}", "Leetcode_90001_I"),
        (f"Leetcode_90001_I__StairClimbEnv@{OPTS_JSON}", "Leetcode_90001_I"),
        (f"StairClimbEnv@{OPTS_JSON}", ""),
        (f"codegym_v1@StairClimbEnv@{OPTS_JSON}", ""),
        (f"Code_Contests_26156_I__StairClimbEnv@{OPTS_JSON}", "Code_Contests_26156_I"),
        (f"  Leetcode_90001_I__StairClimbEnv @ {OPTS_JSON}\n", "Leetcode_90001_I"),
    ],
)
def test_spellings(text: str, code_id: str) -> None:
    ref = parse_env_string(text)
    assert ref.class_name == "StairClimbEnv"
    assert ref.code_id == code_id
    assert ref.options == OPTS
    assert ref.name == (f"{code_id}__StairClimbEnv" if code_id else "StairClimbEnv")


def test_code_id_splits_at_first_double_underscore() -> None:
    ref = parse_env_string("Codeforces_2659_I__HouseRobberEnv@{}")
    assert (ref.code_id, ref.class_name) == ("Codeforces_2659_I", "HouseRobberEnv")
    ref = parse_env_string("abc.def-1__XEnv")
    assert (ref.code_id, ref.class_name, ref.options) == ("abc.def-1", "XEnv", {})


def test_env_string_round_trip_is_accepted_by_upstream_parsing() -> None:
    ref = parse_env_string(f"codegym_v1@Leetcode_90001_I__StairClimbEnv@{OPTS_JSON}")
    canonical = ref.env_string()
    assert canonical.startswith("StairClimbEnv@")
    # what an upstream env's own from_env_str does with it
    assert ast.literal_eval(canonical.split("@")[1]) == OPTS
    assert parse_env_string(canonical) == EnvRef("StairClimbEnv", "", OPTS)


# -- option syntaxes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options_text, expected",
    [
        ('{"a": true, "b": false, "c": null}', {"a": True, "b": False, "c": None}),
        ("{'a': True, 'b': False, 'c': None}", {"a": True, "b": False, "c": None}),
        ("{'t': (1, 2), 's': 'x'}", {"t": (1, 2), "s": "x"}),
        ('{"grid": [[1, 2], [3, 4]], "f": 1.5, "neg": -3}', {"grid": [[1, 2], [3, 4]], "f": 1.5, "neg": -3}),
        ('{"text": "héllo \\u00e9 \\"q\\""}', {"text": 'héllo é "q"'}),
        ("{1: 'int key'}", {1: "int key"}),
        ("{}", {}),
    ],
)
def test_json_and_python_literal_options(options_text: str, expected: dict) -> None:
    assert parse_options(options_text) == expected
    assert parse_env_string(f"X_1__FooEnv@{options_text}").options == expected


@pytest.mark.parametrize(
    "options_text, expected",
    [
        ('{"text": "mail me @ home", "symbol": "@"}', {"text": "mail me @ home", "symbol": "@"}),
        ("{'text': 'a@b@c', 'flag': True, 'limit': None}", {"text": "a@b@c", "flag": True, "limit": None}),
        ('{"k": "@@", "nested": {"x": ["@", "b@"]}, "ok": true}', {"k": "@@", "nested": {"x": ["@", "b@"]}, "ok": True}),
        ('{"s": "codegym_v1@FooEnv@{}"}', {"s": "codegym_v1@FooEnv@{}"}),
    ],
)
def test_at_sign_inside_string_values(options_text: str, expected: dict) -> None:
    for prefix in ("codegym_v1@Leetcode_1_I__MentionEnv@", "Leetcode_1_I__MentionEnv@", "MentionEnv@"):
        ref = parse_env_string(prefix + options_text)
        assert ref.class_name == "MentionEnv"
        assert ref.options == expected
    # the upstream way (split on every "@") gets these wrong, which is why we parse ourselves
    with pytest.raises((ValueError, SyntaxError)):
        ast.literal_eval(("MentionEnv@" + options_text).split("@")[1])


@pytest.mark.parametrize("text", ["FooEnv", "FooEnv@", "FooEnv@   ", "A_1__FooEnv@", "codegym_v1@A_1__FooEnv@", "  FooEnv "])
def test_empty_options(text: str) -> None:
    ref = parse_env_string(text)
    assert ref.class_name == "FooEnv"
    assert ref.options == {}
    assert parse_options("") == {} and parse_options("  \n") == {}


@pytest.mark.parametrize("options_text", ["[1, 2]", '"text"', "3", "null", "None", "{1, 2}", "True", "(1,)"])
def test_non_dict_options(options_text: str) -> None:
    with pytest.raises(OptionsError, match="must be a dict") as info:
        parse_env_string(f"Leetcode_1_I__FooEnv@{options_text}")
    assert "Leetcode_1_I__FooEnv" in str(info.value)


@pytest.mark.parametrize(
    "options_text",
    [
        "{",
        "{'a': }",
        '{"a": 1,, "b": 2}',
        "{'a': true}",  # JSON keyword inside a Python literal: neither syntax
        '{"a": True, "b": null}',
        "{'a': __import__('os').getcwd()}",  # never evaluated
        "{'a': 1} trailing",
        "not options at all",
        "{'a': [" * 50_000,  # deep nesting must not crash the parser
    ],
)
def test_unparsable_options(options_text: str) -> None:
    with pytest.raises(OptionsError) as info:
        parse_env_string(f"Leetcode_1_I__FooEnv@{options_text}")
    message = str(info.value)
    assert "Leetcode_1_I__FooEnv" in message
    assert "cannot parse options" in message
    assert len(message) < 400  # the snippet is cut, even for huge inputs


@pytest.mark.parametrize(
    "text",
    ["", "   ", "@", "@{}", "@@@", "1Env@{}", "Foo Env@{}", "Foo-Env@{}", "codegym_v1@", "codegym_v1@@{}",
     "a/b__FooEnv@{}", "A_1__Foo Env@{}", "FooEnv()@{}"],
)
def test_garbage_env_strings(text: str) -> None:
    with pytest.raises(OptionsError):
        parse_env_string(text)


@pytest.mark.parametrize("value", [None, 3, b"FooEnv@{}", ["FooEnv@{}"], {"env": "FooEnv"}])
def test_non_string_env_strings(value: object) -> None:
    with pytest.raises(OptionsError):
        parse_env_string(value)  # type: ignore[arg-type]


def test_errors_are_codegym_and_value_errors() -> None:
    with pytest.raises(CodeGymError):
        parse_env_string("FooEnv@[1]")
    with pytest.raises(ValueError):
        parse_env_string("FooEnv@{oops")


def test_only_the_first_at_after_the_name_splits() -> None:
    # the data-source prefix is stripped once; everything after the env name's "@" is options
    ref = parse_env_string('codegym_v1@A_1__FooEnv@{"x": "codegym_v1@B_2__BarEnv@{}"}')
    assert ref.name == "A_1__FooEnv"
    assert ref.options == {"x": "codegym_v1@B_2__BarEnv@{}"}


def test_env_ref_is_immutable_and_copies_are_independent() -> None:
    ref = parse_env_string('FooEnv@{"a": [1]}')
    with pytest.raises(AttributeError):
        ref.class_name = "BarEnv"  # type: ignore[misc]
    assert EnvRef("FooEnv").options == {}
    assert EnvRef("FooEnv").options is not EnvRef("FooEnv").options


# -- env strings as upstream decoders read them (construct.py) -------------------------------------
def _random_value(rng, depth=0):
    kinds = ["int", "float", "str", "bool", "none"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-10**12, 10**12)
    if kind == "float":
        return rng.choice([0.1, -2.5e-8, 1e300, 3.0, rng.random()])
    if kind == "str":
        return "".join(rng.choice("ab'\"\\\n{}[]:,é@ ") for _ in range(rng.randint(0, 8)))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randint(0, 4))}


def test_options_reach_the_env_intact_whichever_way_it_is_built() -> None:
    import random

    from codegym_adapters.construct import build_env

    namespace: dict = {}
    exec(  # trusted test code: an env decoding like upstream (literal_eval after the first "@"),
        # one decoding JSON only, and one with no from_env_str at all
        "import ast, json\n"
        "class Literal:\n"
        "    def __init__(self, env_str=None):\n"
        "        self.reset(ast.literal_eval(env_str.split('@', 1)[1]) if env_str else {})\n"
        "    @staticmethod\n"
        "    def from_env_str(env_str):\n        return Literal(env_str)\n"
        "    def reset(self, options={}):\n        self.options = options\n        return 'reset'\n"
        "class JsonOnly(Literal):\n"
        "    def __init__(self, env_str=None):\n"
        "        self.reset(json.loads(env_str.split('@', 1)[1]) if env_str else {})\n"
        "    @staticmethod\n"
        "    def from_env_str(env_str):\n        return JsonOnly(env_str)\n"
        "class NoFactory:\n"
        "    def __init__(self):\n        self.reset()\n"
        "    def reset(self, options=None):\n        self.options = options['x'] and options\n",
        namespace,
    )
    rng = random.Random(12)
    for _ in range(300):
        options = {f"o{i}": _random_value(rng) for i in range(rng.randint(1, 4))}
        for name in ("Literal", "JsonOnly", "NoFactory"):
            cls = namespace[name]
            env, _ = build_env(cls, {**options, "x": 1} if name == "NoFactory" else options)
            assert env.options == ({**options, "x": 1} if name == "NoFactory" else options), (name, options)
