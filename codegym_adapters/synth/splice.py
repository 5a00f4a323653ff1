"""Source surgery with :mod:`ast`: finding the env class, splicing a ``solve()`` into it, adding our
probe methods, and the static check that an oracle uses only the env's actions.

Nothing here runs generated code. Splices are located by the ``ast`` node positions of the method
they replace and are checked afterwards by parsing the result and comparing the new method's tree
with the one intended, so a splice can never silently edit the wrong text.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from .. import pyast

# Names an oracle may not use: each reaches env state or code other than through self.step.
FORBIDDEN_NAMES = frozenset({"eval", "exec", "compile", "getattr", "setattr", "delattr", "vars", "globals",
                             "locals", "__import__", "open", "type", "object", "super", "breakpoint"})


class SpliceError(ValueError):
    """The source or a candidate does not have the shape a splice needs."""


def env_class(tree: ast.Module) -> ast.ClassDef:
    """The env class of a module: the top-level class whose name ends in ``Env`` (the last one if
    several). Raises :class:`SpliceError` if there is none."""
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Env")]
    if not classes:
        raise SpliceError("no top-level class whose name ends in 'Env'")
    return classes[-1]


def _class(tree: ast.Module, class_name: str) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return node
    raise SpliceError(f"no class {class_name!r}")


def method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def static_action_names(cls: ast.ClassDef) -> list[str] | None:
    """The string keys of a ``self.func_mapping = {...}`` dict literal, else ``None``."""
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "func_mapping":
                    keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
                    if all(isinstance(k, str) for k in keys) and len(keys) == len(node.value.keys):
                        return keys
    return None


def _span(node: ast.stmt) -> tuple[int, int]:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno or node.lineno


def replace_method(source: str, class_name: str, new: ast.FunctionDef) -> str:
    """``source`` with method ``new.name`` of ``class_name`` replaced by ``new`` (added at the end of the
    class if absent). Raises :class:`SpliceError` if the result does not hold exactly ``new``."""
    tree = pyast.parse(source)
    cls = _class(tree, class_name)
    old = method(cls, new.name)
    lines = source.splitlines(keepends=True)
    anchor = old or cls.body[-1]
    indent = " " * anchor.col_offset
    text = textwrap.indent(ast.unparse(ast.fix_missing_locations(new)), indent) + "\n"
    if old is not None:
        first, last = _span(old)
        lines[first - 1:last] = [text]
    else:
        lines.insert(_span(cls)[1], "\n" + text)
    result = "".join(lines)
    spliced = method(_class(pyast.parse(result), class_name), new.name)
    if spliced is None or ast.dump(spliced) != ast.dump(new):
        raise SpliceError(f"splicing {new.name} into {class_name} did not give the intended method")
    return result


def remove_method(source: str, class_name: str, name: str) -> str:
    """``source`` without method ``name`` of ``class_name`` (for showing an env to the oracle writer)."""
    tree = pyast.parse(source)
    old = method(_class(tree, class_name), name)
    if old is None:
        return source
    lines = source.splitlines(keepends=True)
    first, last = _span(old)
    del lines[first - 1:last]
    return "".join(lines)


def add_method(source: str, class_name: str, method_source: str) -> str:
    """``source`` with the method defined in ``method_source`` (our own code) added to ``class_name``."""
    new = pyast.parse(textwrap.dedent(method_source)).body[0]
    if not isinstance(new, ast.FunctionDef):
        raise SpliceError("method_source must define one function")
    return replace_method(source, class_name, new)


# -- oracle candidates -------------------------------------------------------------------------------
@dataclass
class Candidate:
    """A parsed ``solve(self)`` candidate, or why it is unusable (``reason`` is a summary key)."""

    func: ast.FunctionDef | None
    reason: str | None = None
    detail: str = ""


def parse_candidate(code: str) -> Candidate:
    """Read one ``def solve(self)`` from a reply's code. Top-level imports move into its body; any
    other top-level code is refused (helpers belong inside ``solve``)."""
    try:
        tree = pyast.parse(code)
    except SyntaxError as exc:
        return Candidate(None, "oracle_syntax_error", f"line {exc.lineno}: {exc.msg}")
    body = list(tree.body)
    if len(body) == 1 and isinstance(body[0], ast.ClassDef):  # written inside a class
        body = list(body[0].body)
    imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
    funcs = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == "solve"]
    others = [n for n in body if n not in imports and n not in funcs
              and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if not funcs:
        return Candidate(None, "oracle_malformed", "no function 'solve' in the reply")
    if others:
        what = ", ".join(sorted({getattr(n, "name", type(n).__name__) for n in others}))
        return Candidate(None, "oracle_malformed", f"code outside solve(): {what}; helpers belong inside solve()")
    func = funcs[0]
    args = func.args
    if [a.arg for a in args.posonlyargs + args.args] != ["self"] or args.vararg or args.kwarg or args.kwonlyargs:
        return Candidate(None, "oracle_malformed", "solve must take exactly one parameter, self")
    func.decorator_list = []
    if imports:
        doc = 1 if func.body and isinstance(func.body[0], ast.Expr) and isinstance(func.body[0].value, ast.Constant) \
            else 0
        func.body[doc:doc] = imports
    problems = non_action_uses(func)
    if problems:
        return Candidate(None, "oracle_not_actions", "; ".join(problems[:3]))
    return Candidate(ast.fix_missing_locations(func))


def non_action_uses(func: ast.FunctionDef) -> list[str]:
    """Ways ``func`` reaches the env other than through ``self.step`` (empty when it uses only actions)."""
    parents = {child: node for node in ast.walk(func) for child in ast.iter_child_nodes(node)}
    problems: list[str] = []
    calls_step = False
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and node.id == "self" and node is not func.args.args[0]:
            parent = parents.get(node)
            if isinstance(parent, ast.Attribute) and parent.value is node and parent.attr == "step":
                calls_step = True
                continue
            where = f"self.{parent.attr}" if isinstance(parent, ast.Attribute) else "self"
            problems.append(f"line {node.lineno}: uses {where} (only self.step(...) is allowed)")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            problems.append(f"line {node.lineno}: uses {node.id}()")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr != "__name__":
            problems.append(f"line {node.lineno}: uses .{node.attr}")
    if not calls_step and not problems:
        problems.append("never calls self.step")
    return problems


# -- what records carry ------------------------------------------------------------------------------
def action_docs(source: str, class_name: str, names: list[str]) -> str:
    """The record's ``docstring`` field: per action its ``def Name(params):`` line without ``self`` and
    its docstring, one block per action, in ``func_mapping`` order."""
    cls = _class(pyast.parse(source), class_name)
    blocks = []
    for name in names:
        func = method(cls, name)
        if func is None:
            continue
        args = func.args
        params = [a for a in args.posonlyargs + args.args if a.arg != "self"]
        defaults = [None] * (len(params) - len(args.defaults)) + list(args.defaults)
        parts = [ast.unparse(a) + (f"={ast.unparse(d)}" if d is not None else "") for a, d in zip(params, defaults, strict=True)]
        doc = ast.get_docstring(func) or ""
        blocks.append(f"def {name}({', '.join(parts)}):\n" + textwrap.indent(f'r"""\n{doc}\n"""', "    "))
    return "\n\n".join(blocks)
