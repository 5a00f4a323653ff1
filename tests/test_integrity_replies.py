"""The parent's checks of what a worker sends, and the text and reward rules every runtime applies,
as properties over arbitrary values (hypothesis): whatever arrives, a check returns clean data or
raises MalformedReply, never anything else."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegym_adapters.runtime.replies import (
    VALUE_CHECKS,
    MalformedReply,
    check_reply,
    check_reward,
    exact_text,
    observation_text,
    safe_text,
)

LIMIT = 1000
RANGE = (0.0, 1.0)
texts = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=50)  # surrogates too
scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | texts
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(texts, inner, max_size=4), max_leaves=20)
step_like = st.fixed_dictionaries({"observation": json_values, "finished": json_values, "reward": json_values,
                                   "error": json_values})
replies = st.fixed_dictionaries({"id": st.integers(0, 3) | json_values, "ok": st.booleans() | json_values,
                                 "rss": st.integers(-1, 2**64) | json_values},
                                optional={"value": json_values | step_like, "type": json_values,
                                          "message": json_values, "extra": json_values})


def _safe(value) -> None:
    """Every string in a checked value can be encoded as UTF-8."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, list):
        for v in value:
            _safe(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _safe(k)
            _safe(v)


@settings(max_examples=300, deadline=None)
@given(reply=replies, op=st.sampled_from(sorted(VALUE_CHECKS)))
def test_any_reply_is_either_clean_data_or_malformed(reply, op):
    try:
        checked = check_reply(reply, 1, op, LIMIT, RANGE)
    except MalformedReply:
        return
    assert checked["id"] == 1 and type(checked["rss"]) is int
    _safe(checked)
    if op == "step" and checked["ok"]:
        value = checked["value"]
        assert type(value["observation"]) is str and len(value["observation"]) <= LIMIT
        assert math.isfinite(value["reward"]) and 0.0 <= value["reward"] <= 1.0


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_safe_text_is_encodable_and_keeps_every_encodable_character(text):
    safe = safe_text(text)
    safe.encode("utf-8")
    assert len(safe) == len(text)
    assert all(a == b or 0xD800 <= ord(a) <= 0xDFFF for a, b in zip(text, safe, strict=True))


def test_a_str_subclass_becomes_an_exact_str_with_its_true_length():
    class Liar(str):
        def __len__(self):
            return 1

        def __str__(self):
            return "short"

    text = exact_text(Liar("x" * 50_000))
    assert type(text) is str and len(text) == 50_000
    capped = observation_text(Liar("y" * 50_000), LIMIT)
    assert len(capped) <= LIMIT and "of 50000 characters" in capped


@pytest.mark.parametrize("value,ok", [(0, True), (1, True), (0.5, True), (1.0000001, False), (-0.0, True),
                                      (1e308, False), (float("nan"), False), (float("inf"), False), (True, False),
                                      ("1", False), (None, False), (10**400, False)])
def test_a_reward_must_be_a_finite_number_in_range(value, ok):
    assert (check_reward(value, RANGE) is None) == ok
