"""Static checks of an env's source against the CodeGym class contract (``codegym-format.md`` section 1).

The source is parsed, never run: these checks are safe on untrusted code and cost no worker. What can
only be known by running the env (the real ``func_mapping``, rewards, determinism) is checked by
:mod:`codegym_adapters.verify` through a runtime.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import pyast

REQUIRED_METHODS = ("step", "reset", "Observe", "Done", "get_ref_answer", "solve", "from_env_str")
REQUIRED_PROPERTIES = ("finished", "reward")
REQUIRED_ATTRIBUTES = ("func_mapping",)  # assigned on self, usually in __init__

_ARGS_RE = re.compile(r"^\s*(args|arguments|parameters|params|参数)\s*[:：]", re.IGNORECASE | re.MULTILINE)
_RETURNS_RE = re.compile(r"^\s*(returns?|返回值?)\s*[:：]", re.IGNORECASE | re.MULTILINE)
_EXAMPLE_RE = re.compile(r"^\s*(example outputs?|示例输出|输出示例)\s*[:：]", re.IGNORECASE | re.MULTILINE)


@dataclass
class ClassShape:
    """What the source says about an env class: its members and their docstrings."""

    name: str
    methods: dict[str, str | None] = field(default_factory=dict)  # name -> docstring
    properties: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)  # self.X = ... and class-level assignments
    external_bases: list[str] = field(default_factory=list)  # bases not defined in the same file

    def has(self, member: str) -> bool:
        return member in self.methods or member in self.properties or member in self.attributes


def class_shape(source: str, class_name: str) -> ClassShape:
    """Members of ``class_name`` in ``source``, including those of base classes defined in the same file.

    Raises ``SyntaxError`` if the source does not parse and ``LookupError`` if the class is absent.
    """
    tree = pyast.parse(source)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    if class_name not in classes:
        raise LookupError(f"no class {class_name!r} defined at the top level")
    shape = ClassShape(class_name)
    _collect(classes, class_name, shape, seen=set())
    return shape


def _collect(classes: dict[str, ast.ClassDef], name: str, shape: ClassShape, seen: set[str]) -> None:
    if name in seen:
        return
    seen.add(name)
    node = classes[name]
    # bases first, so that the subclass's own definitions win
    for base in node.bases:
        base_name = ast.unparse(base)
        if base_name in classes:
            _collect(classes, base_name, shape, seen)
        elif base_name not in ("gymnasium.Env", "gym.Env", "Env", "object"):
            shape.external_bases.append(base_name)
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorators = {ast.unparse(d) for d in item.decorator_list}
            if "property" in decorators or any(d.endswith(".getter") for d in decorators):
                shape.properties.add(item.name)
                shape.methods.pop(item.name, None)
            elif not any(d.endswith((".setter", ".deleter")) for d in decorators):
                shape.methods[item.name] = ast.get_docstring(item)
            for sub in ast.walk(item):
                if isinstance(sub, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                    for target in targets:
                        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                                and target.value.id == "self"):
                            shape.attributes.add(target.attr)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            shape.attributes.update(t.id for t in targets if isinstance(t, ast.Name))


def missing_members(shape: ClassShape) -> list[str]:
    """Required members the class does not define (empty when it inherits from an unknown base,
    whose members cannot be seen)."""
    if shape.external_bases:
        return []
    missing = [m for m in REQUIRED_METHODS if m not in shape.methods]
    missing += [p for p in REQUIRED_PROPERTIES if not shape.has(p)]
    missing += [a for a in REQUIRED_ATTRIBUTES if a not in shape.attributes]
    return missing


def action_doc_problems(shape: ClassShape, action_names: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` for the documentation of each action named in ``func_mapping``.

    A problem is an action that is not a method of the class or whose docstring lacks ``Args:`` or
    ``Returns:``; a missing ``Example Output:`` section is only a note.
    """
    problems: list[str] = []
    no_example: list[str] = []
    for name in action_names:
        if name not in shape.methods:
            if not shape.external_bases:
                problems.append(f"action {name!r} in func_mapping is not a method of {shape.name}")
            continue
        doc = shape.methods[name] or ""
        lacks = [section for section, pattern in (("Args:", _ARGS_RE), ("Returns:", _RETURNS_RE))
                 if not pattern.search(doc)]
        if not doc.strip():
            problems.append(f"action {name!r} has no docstring")
        elif lacks:
            problems.append(f"action {name!r} docstring lacks {' and '.join(lacks)}")
        elif not _EXAMPLE_RE.search(doc):
            no_example.append(name)
    notes = [f"no 'Example Output:' section in {', '.join(no_example)}"] if no_example else []
    return problems, notes
