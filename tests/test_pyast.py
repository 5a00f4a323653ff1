"""pyast: parsing survives CPython 3.11's thread-unsafe AST conversion (python/cpython#106905).

The race is made to happen for real: garbage whose finalizer yields the GIL is collected in the middle
of a parse, and another thread parses meanwhile (as an env's ``literal_eval`` does in the in-process
runtime's executor). The CI failure this reproduces: ``test_eval_limit_runs_exactly_that_many`` lost
``known_option_keys`` to ``SystemError: AST constructor recursion depth mismatch``.
"""

from __future__ import annotations

import ast
import sys
import threading
import time

import pytest

from codegym_adapters import envfile, pyast

SOURCE = "x = [" + ",".join(f"({i}, [{i}, {{'a': {i}}}])" for i in range(500)) + "]\n"


class _YieldsOnCollection:
    def __init__(self) -> None:
        self.cycle = self  # only the cyclic collector frees it, in whatever allocation triggers a collection

    def __del__(self) -> None:
        time.sleep(0)  # lets the other thread in, mid-conversion


def _race(parse, rounds: int = 8) -> list[BaseException]:
    stop = threading.Event()

    def other_thread() -> None:
        while not stop.is_set():
            try:
                ast.parse("a = (1, [2, {3: 4}])\n" * 20)
            except SystemError:
                pass

    thread = threading.Thread(target=other_thread, daemon=True)
    thread.start()
    errors: list[BaseException] = []
    try:
        for _ in range(rounds):
            for _ in range(30):
                _YieldsOnCollection()
            try:
                tree = parse(SOURCE)
            except SystemError as error:
                errors.append(error)
            else:
                assert isinstance(tree, ast.Module) and len(tree.body[0].value.elts) == 500
    finally:
        stop.set()
        thread.join(timeout=10)
    return errors


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the race is CPython 3.11's")
def test_the_race_is_real_on_311():
    errors = _race(ast.parse)
    assert errors and all("recursion depth mismatch" in str(e) for e in errors)


def test_pyast_parse_survives_the_race():
    assert _race(pyast.parse) == []


def test_known_option_keys_survives_the_race():
    env_source = "class E:\n    def reset(self, options):\n        self.n = options['n']\n" + SOURCE

    def keys_then_tree(src: str) -> ast.Module:
        envfile._known_keys.cache_clear()  # parse every time (the answer is cached per source)
        for _ in range(30):
            _YieldsOnCollection()
        assert envfile.known_option_keys(env_source, "E") == frozenset({"n"})
        return pyast.parse(src)

    assert _race(keys_then_tree) == []


def test_literal_eval_and_errors_pass_through():
    assert pyast.literal_eval("  {'a': [1, 2.5, None]}") == {"a": [1, 2.5, None]}
    with pytest.raises(SyntaxError):
        pyast.parse("def (")
    with pytest.raises(ValueError):
        pyast.literal_eval("f(1)")
