"""What an env file says about itself, read statically with :mod:`ast` (its code never runs here).

* :func:`example_env_strings`: the literal env strings of its ``if __name__ == "__main__":``
  self-test block (upstream files build one or two envs there from ``"<ClassName>@{...}"`` literals:
  ``codegym-format.md`` section 5, "Self-tests"), and the literal dicts it passes to ``reset``;
* :func:`known_option_keys`: the option keys the env is known to read: keys of the options dicts in
  its self-test env strings, its fixed ``CONFIGS``, its ``generate_config`` and the keys its
  ``reset`` (or ``__init__``) looks up (``options.get("k")``, ``options["k"]``, ``"k" in options``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from functools import lru_cache

from . import pyast
from .envstring import parse_env_string
from .errors import CodeGymError


def example_env_strings(source: str, class_name: str) -> list[str]:
    """The env strings for ``class_name`` written as literals in the file's self-test block, in
    order, each once. A file that does not parse, or has no such block, gives none."""
    return list(_examples(source, class_name))


def example_options(source: str, class_name: str) -> list[dict]:
    """The options of :func:`example_env_strings` (strings that do not parse are skipped)."""
    out = []
    for text in example_env_strings(source, class_name):
        try:
            out.append(dict(parse_env_string(text).options))
        except CodeGymError:
            continue
    return out


@lru_cache(maxsize=1024)
def _examples(source: str, class_name: str) -> tuple[str, ...]:
    tree = _parse(source)
    if tree is None:
        return ()
    found: list[tuple[int, int, str]] = []
    for block in _main_blocks(tree):
        names = _literal_names(tree.body) | _literal_names(block.body)
        for node in _walk_outside_fstrings(block):
            text = _string_value(node, names)
            if text is None:
                text = _reset_call_options(node, names, class_name)
            if text is not None and _names_class(text, class_name):
                found.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), text))
    ordered: list[str] = []
    for _, _, text in sorted(found):  # in source order
        if text not in ordered:
            ordered.append(text)
    return tuple(ordered)


def _walk_outside_fstrings(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` that does not enter f-strings (their literal parts are not env strings)."""
    todo = [node]
    while todo:
        current = todo.pop(0)
        yield current
        if not isinstance(current, ast.JoinedStr):
            todo.extend(ast.iter_child_nodes(current))


def known_option_keys(source: str, class_name: str) -> frozenset[str]:
    """Option keys the env is known to read (see the module docstring); empty when none are known."""
    return _known_keys(source, class_name)


@lru_cache(maxsize=1024)
def _known_keys(source: str, class_name: str) -> frozenset[str]:
    tree = _parse(source)
    if tree is None:
        return frozenset()
    keys: set[str] = set()
    for options in example_options(source, class_name):
        keys.update(str(k) for k in options)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CONFIGS" for t in node.targets):
            keys.update(_dict_keys(node.value))
        elif isinstance(node, ast.FunctionDef) and node.name == "generate_config":
            keys.update(_dict_keys(node))
        elif isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in ("reset", "__init__"):
                    keys.update(_looked_up_keys(item))
    return frozenset(keys)


def _parse(source: str) -> ast.Module | None:
    try:
        return pyast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _main_blocks(tree: ast.Module) -> Iterator[ast.If]:
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            yield node


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and \
        any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


def _string_value(node: ast.AST, names: dict[str, object] | None = None) -> str | None:
    """The text of a string expression made only of literals: a constant, ``+`` of such, an f-string
    whose fields are literals (or names bound to literals), or ``str``/``repr``/``json.dumps`` of a
    literal. ``None`` for anything that would need running code."""
    names = names or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_value(node.left, names), _string_value(node.right, names)
        if left is not None and right is not None:
            return left + right
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
                continue
            if not isinstance(value, ast.FormattedValue) or value.format_spec is not None:
                return None
            found, literal = _literal(value.value, names)
            if not found:
                return None
            parts.append(repr(literal) if value.conversion == ord("r") else str(literal))
        return "".join(parts)
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        func = ast.unparse(node.func)
        found, literal = _literal(node.args[0], names)
        if found and func in ("str", "repr"):
            return repr(literal) if func == "repr" or not isinstance(literal, str) else literal
        if found and func in ("json.dumps", "dumps"):
            try:
                return json.dumps(literal)
            except (TypeError, ValueError):
                return None
    return None


def _reset_call_options(node: ast.AST, names: dict[str, object], class_name: str) -> str | None:
    """``<anything>.reset(<literal dict>)`` in a self-test, as the env string it stands for."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "reset"
            and len(node.args) == 1 and not node.keywords):
        return None
    found, options = _literal(node.args[0], names)
    return f"{class_name}@{options!r}" if found and isinstance(options, dict) and options else None


def _literal(node: ast.AST, names: dict[str, object]) -> tuple[bool, object]:
    """``(True, value)`` for a literal expression or a name bound to one, else ``(False, None)``."""
    if isinstance(node, ast.Name):
        return (True, names[node.id]) if node.id in names else (False, None)
    try:
        return True, pyast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _literal_names(body: list[ast.stmt]) -> dict[str, object]:
    """Names assigned exactly once in ``body`` (not nested deeper) to a literal value."""
    values: dict[str, object] = {}
    seen: set[str] = set()
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            found, value = _literal(stmt.value, {})
            if name in seen or not found:
                values.pop(name, None)
            else:
                values[name] = value
            seen.add(name)
    return values


def _names_class(text: str, class_name: str) -> bool:
    head, sep, rest = text.strip().partition("@")
    return bool(sep and rest.strip()) and (head == class_name or head.endswith(f"__{class_name}"))


def _dict_keys(node: ast.AST) -> set[str]:
    """String keys of every dict display (and ``dict(k=...)`` call) inside ``node``."""
    keys = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict):
            keys.update(k.value for k in sub.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "dict":
            keys.update(kw.arg for kw in sub.keywords if kw.arg)
    return keys


def _looked_up_keys(func: ast.FunctionDef) -> set[str]:
    """Keys looked up on the function's options parameter: ``.get("k")``, ``["k"]``, ``"k" in``."""
    params = [a.arg for a in func.args.args[1:] + func.args.kwonlyargs]
    names = {p for p in params if "opt" in p or "config" in p or p == "kwargs"}
    keys = set()
    for sub in ast.walk(func):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in ("get", "pop") \
                and _is_name(sub.func.value, names) and sub.args and _const_str(sub.args[0]):
            keys.add(sub.args[0].value)
        elif isinstance(sub, ast.Subscript) and _is_name(sub.value, names) and _const_str(sub.slice):
            keys.add(sub.slice.value)
        elif isinstance(sub, ast.Compare) and _const_str(sub.left) and len(sub.ops) == 1 \
                and isinstance(sub.ops[0], (ast.In, ast.NotIn)) and _is_name(sub.comparators[0], names):
            keys.add(sub.left.value)
    return keys


def _is_name(node: ast.AST, names: set[str]) -> bool:
    return isinstance(node, ast.Name) and node.id in names


def _const_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
