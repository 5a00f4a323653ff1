"""Tests for codegym_adapters.tools: action schemas, OpenAI tools and the CodeGym-style listing."""

import json
from typing import Any, List, Optional  # noqa: UP035 (typing aliases are under test)

import pytest

from codegym_adapters.tools import Action, Param, action_names, actions_of, openai_tools, tool_listing


class CounterEnv:
    """A small CodeGym-like env (no gymnasium needed: only func_mapping and methods matter)."""

    def __init__(self, env_str=None):
        self.OBSERVE, self.ADD, self.DONE = 0, 1, 2
        self.func_mapping = {"Observe": self.OBSERVE, "Add": self.ADD, "Done": self.DONE}
        self.total = 0

    def Observe(self):
        """
        Return the current total.

        Args:
            None

        Returns:
            str: The total as text.

        Example Output:
            "7"
        """
        return str(self.total)

    def Add(self, amount: int, times=1):
        """
        Add an amount to the total, one or more times.

        Args:
            amount (int): The amount to add.
            times (int): How many times to add it.

        Returns:
            str: The new total.

        Example Output:
            "12"
        """
        self.total += amount * times
        return str(self.total)

    def Done(self, answer):
        """
        Submit the final answer.

        Args:
            answer (int): The answer to submit.

        Returns:
            str: The result, ending in reward=1 or reward=0.

        Example Output:
            "Your answer 7 is correct, reward=1"
        """
        return f"reward={int(answer == self.total)}"


COUNTER_LISTING = """Function:
def Observe():
    Return the current total.

    Args:
        None

    Returns:
        str: The total as text.

Function:
def Add(amount: int, times=1):
    Add an amount to the total, one or more times.

    Args:
        amount (int): The amount to add.
        times (int): How many times to add it.

    Returns:
        str: The new total.

Function:
def Done(answer):
    Submit the final answer.

    Args:
        answer (int): The answer to submit.

    Returns:
        str: The result, ending in reward=1 or reward=0."""


class TypedEnv:
    """Annotations of every kind, docstring quirks, no docstring, a non-method mapping entry."""

    def __init__(self):
        self.func_mapping = {
            "Typed": 0,
            "Strings": 1,
            "DocOnly": 2,
            "NoDoc": 3,
            "not_a_method": 4,
            "Missing": 5,
            "Quirky": 6,
            "Static": 7,
        }
        self.not_a_method = 42

    def Typed(self, a: int, b: float, c: str, d: bool, e, f: list[list[int]], g: dict, h=None, i: int | None = 3,
              j: Any = "x", *args, **kwargs) -> str:  # fmt: skip
        """Use real annotation objects.

        Args:
            a (str): Annotation wins over this docstring type.
            j (int): Any in the annotation falls back to this type.
        """

    def Strings(self, xs, n, s=None, t=()):
        """Use string annotations, as `from __future__ import annotations` makes them (set below)."""

    def DocOnly(self, a, b, c, d, e, f, g, h, i):
        """Types only from the docstring.

        Arguments:
            a (int): An integer: it may be negative.
            b (List[List[int]]): A grid.
            c (int or str): Mixed, so unknown.
            d (Optional[int]): Maybe an int.
            e (float, optional): A float.
            f (Any): Anything.
            g (dict): Options for the step itself.
            h (list of str): Words.
            i (int or float): A number.
        Return:
            str: Text.
        Example output:
            "ok"
        """

    def NoDoc(self, x, y=2):
        return x

    def Quirky(self, self_loops, index):
        pass

    @staticmethod
    def Static(value: int):
        """A static action.

        Args:
            value (int): A value.
        """


# typing objects (not strings), which ruff would rewrite if they were written as annotations
TypedEnv.Typed.__annotations__.update({"e": List[int], "h": Optional[int]})  # noqa: UP006, UP045
TypedEnv.Strings.__annotations__.update(
    {"xs": "List[List[int]]", "n": "Optional[int]", "s": "str | None", "t": "typing.Tuple[int, ...]"}
)
TypedEnv.Quirky.__doc__ = (
    "Count edges that point back to the node itself.\n"
    "\n"
    "\tParameters:\n"
    "\t\tself_loops (bool): Whether to count an edge from a node to itself: the self edge.\n"
    "\t\t\tThis line continues the description, and mentions self and Returns: too.\n"
    "\t\tindex (int): Node index; see note: below.\n"
    "\tReturns:\n"
    "\t\tint: The count.\n"
    "\tExample Output:\n"
    "\t\t3\n"
)


def params_of(action: Action) -> dict[str, Param]:
    return {p.name: p for p in action.params}


def action_map(env_cls: type) -> dict[str, Action]:
    return {a.name: a for a in actions_of(env_cls)}


# --- action names ---------------------------------------------------------------------------


def test_action_names_follow_func_mapping_and_skip_non_methods():
    assert action_names(CounterEnv()) == ["Observe", "Add", "Done"]
    assert action_names(TypedEnv()) == ["Typed", "Strings", "DocOnly", "NoDoc", "Quirky", "Static"]


def test_action_names_requires_func_mapping():
    with pytest.raises(TypeError, match="func_mapping"):
        action_names(object())


def test_actions_of_names_a_class_that_cannot_be_instantiated():
    class NeedsArgs:
        def __init__(self, required):
            self.func_mapping = {}

    with pytest.raises(ValueError, match="NeedsArgs"):
        actions_of(NeedsArgs)
    with pytest.raises(ValueError, match="NoMapping"):
        actions_of(type("NoMapping", (), {}))  # no func_mapping at all
    with pytest.raises(ValueError, match="'Nope'"):
        actions_of(CounterEnv, ["Nope"])


def test_actions_of_with_explicit_names_does_not_instantiate():
    class Exploding(CounterEnv):
        def __init__(self):
            raise RuntimeError("boom")

    assert [a.name for a in actions_of(Exploding, ["Done", "Observe"])] == ["Done", "Observe"]


# --- types ----------------------------------------------------------------------------------


def test_real_annotations_give_types_and_override_docstring():
    p = params_of(action_map(TypedEnv)["Typed"])
    assert list(p) == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]  # no self, *args, **kwargs
    assert [p[n].type for n in "abcdefg"] == [
        "integer",
        "number",
        "string",
        "boolean",
        "array",
        "array",
        "object",
    ]
    assert p["e"].items == {"type": "integer"}
    assert p["f"].items == {"type": "array", "items": {"type": "integer"}}
    assert (p["h"].type, p["h"].required, p["h"].default) == ("integer", False, None)
    assert (p["i"].type, p["i"].default) == ("integer", 3)
    assert p["j"].type == "integer"  # Any -> falls back to the docstring type
    assert p["a"].description == "Annotation wins over this docstring type."


def test_string_annotations_are_mapped_by_text():
    p = params_of(action_map(TypedEnv)["Strings"])
    assert p["xs"].type == "array" and p["xs"].items == {"type": "array", "items": {"type": "integer"}}
    assert (p["n"].type, p["n"].required) == ("integer", True)
    assert (p["s"].type, p["s"].required) == ("string", False)
    assert (p["t"].type, p["t"].items, p["t"].default) == ("array", {"type": "integer"}, [])


def test_docstring_types_and_descriptions():
    action = action_map(TypedEnv)["DocOnly"]
    p = params_of(action)
    assert {n: p[n].type for n in p} == {
        "a": "integer",
        "b": "array",
        "c": None,
        "d": "integer",
        "e": "number",
        "f": None,
        "g": "object",
        "h": "array",
        "i": "number",
    }
    assert p["b"].items == {"type": "array", "items": {"type": "integer"}}
    assert p["h"].items == {"type": "string"}
    assert p["a"].description == "An integer: it may be negative."
    assert p["g"].description == "Options for the step itself."
    assert action.description == "Types only from the docstring."
    assert "Example" not in action.doc and '"ok"' not in action.doc
    assert action.doc.endswith("Return:\n    str: Text.")


def test_tabs_colons_and_self_in_descriptions():
    action = action_map(TypedEnv)["Quirky"]
    p = params_of(action)
    assert list(p) == ["self_loops", "index"]
    assert p["self_loops"].type == "boolean"
    assert p["self_loops"].description == (
        "Whether to count an edge from a node to itself: the self edge. "
        "This line continues the description, and mentions self and Returns: too."
    )
    assert (p["index"].type, p["index"].description) == ("integer", "Node index; see note: below.")
    assert action.description == "Count edges that point back to the node itself."
    assert action.signature == "def Quirky(self_loops, index):"
    assert "Example" not in action.doc and action.doc.endswith("int: The count.")


def test_missing_docstring_gives_empty_texts():
    action = action_map(TypedEnv)["NoDoc"]
    assert (action.description, action.doc) == ("", "")
    assert action.signature == "def NoDoc(x, y=2):"
    assert action.params == (Param("x", None, "", True), Param("y", None, "", False, 2))


def test_static_method_keeps_its_first_parameter():
    action = action_map(TypedEnv)["Static"]
    assert action.signature == "def Static(value: int):"
    assert params_of(action)["value"].type == "integer"


def test_signature_renders_annotations_defaults_and_return():
    actions = action_map(TypedEnv)
    assert actions["Typed"].signature == (
        "def Typed(a: int, b: float, c: str, d: bool, e: List[int], f: list[list[int]], g: dict, "
        "h: Optional[int] = None, i: int | None = 3, j: Any = 'x') -> str:"
    )
    assert actions["Strings"].signature == (
        "def Strings(xs: List[List[int]], n: Optional[int], s: str | None = None, t: typing.Tuple[int, ...] = ()):"
    )


# --- outputs --------------------------------------------------------------------------------


def test_openai_tools_schema():
    tools = openai_tools(actions_of(CounterEnv))
    assert [t["function"]["name"] for t in tools] == ["Observe", "Add", "Done"]
    assert tools[1] == {
        "type": "function",
        "function": {
            "name": "Add",
            "description": "Add an amount to the total, one or more times.",
            "parameters": {
                "type": "object",
                "properties": {
                    "amount": {"type": "integer", "description": "The amount to add."},
                    "times": {"type": "integer", "description": "How many times to add it.", "default": 1},
                },
                "required": ["amount"],
            },
        },
    }
    assert tools[0]["function"]["parameters"] == {"type": "object", "properties": {}, "required": []}
    json.dumps(tools)  # plain JSON


def test_openai_tools_unknown_type_and_array_items():
    tools = {t["function"]["name"]: t["function"] for t in openai_tools(actions_of(TypedEnv))}
    props = tools["DocOnly"]["parameters"]["properties"]
    assert props["c"] == {"description": "Mixed, so unknown."}
    assert props["b"] == {
        "type": "array",
        "items": {"type": "array", "items": {"type": "integer"}},
        "description": "A grid.",
    }
    assert tools["NoDoc"]["parameters"] == {
        "type": "object",
        "properties": {"x": {}, "y": {"default": 2}},
        "required": ["x"],
    }
    json.dumps(list(tools.values()))


def test_tool_listing_text_exactly():
    assert tool_listing(actions_of(CounterEnv)) == COUNTER_LISTING


def test_tool_listing_has_no_self_and_no_example_output():
    listing = tool_listing(actions_of(TypedEnv))
    assert "(self," not in listing and "(self)" not in listing
    assert "Example" not in listing
    assert listing.count("Function:\ndef ") == 6


def test_action_to_dict_from_dict_round_trips_through_json():
    for env_cls in (CounterEnv, TypedEnv):
        for action in actions_of(env_cls):
            data = json.loads(json.dumps(action.to_dict()))
            assert Action.from_dict(data) == action


def test_non_json_default_is_kept_as_repr():
    class WithObjectDefault:
        def __init__(self):
            self.func_mapping = {"Act": 0}

        def Act(self, marker=object, pair=(1, 2)):
            """Act."""

    p = params_of(actions_of(WithObjectDefault)[0])
    assert p["marker"].default == "<class 'object'>"
    assert p["pair"].default == [1, 2]


PLAIN_SIGNATURES = [
    "def f(self): pass",
    "def f(self, a, b=2, *args, c, d=4, **kw) -> int: pass",
    "def f(this, a: int, b: 'list[int]' = None): pass",
    "def f(self, /, a, b=1, *, c=3): pass",
    "def f(self, *args): pass",
    "def f(self, **kw): pass",
]


@pytest.mark.parametrize("source", PLAIN_SIGNATURES)
def test_plain_methods_are_read_from_their_code_as_inspect_reads_them(source):
    """Sandbox workers read an env method's parameters from its code (running inspect's code in a
    worker copies pages shared with the others); what they read must be what inspect.signature says."""
    import inspect

    from codegym_adapters.tools import _plain_parameters

    namespace: dict = {}
    exec(source, namespace)
    func = namespace["f"]
    signature = inspect.signature(func)
    expected = [(p.name, p.kind == p.VAR_POSITIONAL, p.annotation, p.default)
                for p in list(signature.parameters.values())[1:] if p.kind != p.VAR_KEYWORD]
    assert _plain_parameters(func) == (expected, signature.return_annotation)


def test_wrapped_methods_still_go_through_inspect():
    import functools

    from codegym_adapters.tools import _plain_parameters

    def inner(self, a, b=1):
        pass

    @functools.wraps(inner)
    def outer(*args, **kwargs):
        return inner(*args, **kwargs)

    assert _plain_parameters(outer) is None
