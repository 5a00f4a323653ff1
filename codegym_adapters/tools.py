"""Action schemas of a CodeGym env, as OpenAI function schemas and as a CodeGym-style listing.

A CodeGym env class sets ``self.func_mapping`` (action name -> int) in ``__init__`` and has one
method per action, documented Google style (``Args:``, ``Returns:``, ``Example Output:``).
``actions_of`` reads those methods into ``Action`` records without running them; ``openai_tools``
and ``tool_listing`` turn the records into what prompts and chat templates need.

Parameter types come from annotations first (real objects or strings, as written under
``from __future__ import annotations``), else from the docstring's ``name (type): text`` line.
Types are mapped to JSON-schema names; anything unknown (``Any``, mixed unions, custom classes)
gives ``type=None``. No annotation is ever evaluated.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_SECTION = re.compile(
    r"^(?P<head>args|arguments|parameters|params|returns?|raises|yields?|example outputs?|"
    r"examples?|notes?|参数|返回值?|示例输出|输出示例)\s*[:：]\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_ARG_HEADS = {"args", "arguments", "parameters", "params", "参数"}
_EXAMPLE_HEADS = {"example output", "example outputs", "示例输出", "输出示例"}
_ARG_LINE = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(?:\((?P<type>.*?)\))?\s*[:：]\s*(?P<desc>.*)$")
_SCALARS = {
    "int": "integer", "integer": "integer", "long": "integer",
    "float": "number", "number": "number", "double": "number", "real": "number",
    "str": "string", "string": "string", "text": "string",
    "bool": "boolean", "boolean": "boolean",
    "list": "array", "tuple": "array", "set": "array", "frozenset": "array", "array": "array",
    "sequence": "array", "iterable": "array", "collection": "array",
    "dict": "object", "mapping": "object", "ordereddict": "object", "defaultdict": "object",
}  # fmt: skip
_NONE_WORDS = {"none", "nonetype", "null", "optional", ""}


@dataclass(frozen=True)
class Param:
    """One parameter of an action. ``type`` is a JSON-schema type name or None if unknown;
    ``items`` is the JSON schema of an array's elements when known; ``default`` is meaningful
    only when ``required`` is False (defaults that are not JSON values are kept as their repr)."""

    name: str
    type: str | None
    description: str
    required: bool
    default: Any = None
    items: dict[str, Any] | None = None


@dataclass(frozen=True)
class Action:
    """One action (tool) of an env.

    ``description`` is the docstring's summary (the text before the first section), ``doc`` the
    whole cleaned docstring minus its Example Output section, ``signature`` the ``def`` line
    without ``self``, e.g. ``def Name(a: int, b):``.
    """

    name: str
    params: tuple[Param, ...]
    description: str
    doc: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``Action.from_dict(a.to_dict()) == a``."""
        return {
            "name": self.name,
            "params": [
                {"name": p.name, "type": p.type, "description": p.description,
                 "required": p.required, "default": p.default, "items": p.items}
                for p in self.params
            ],
            "description": self.description,
            "doc": self.doc,
            "signature": self.signature,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Action:
        """Rebuild an ``Action`` from ``to_dict`` output (also after a JSON round trip)."""
        params = tuple(
            Param(p["name"], p.get("type"), p.get("description", ""), bool(p.get("required", True)),
                  p.get("default"), p.get("items"))
            for p in d.get("params", ())
        )  # fmt: skip
        return cls(d["name"], params, d.get("description", ""), d.get("doc", ""), d.get("signature", ""))


def action_names(env: object) -> list[str]:
    """Names in ``env.func_mapping`` (in its order) that are methods of ``env``; others are skipped."""
    mapping = getattr(env, "func_mapping", None)
    if not isinstance(mapping, dict):
        raise TypeError(f"{type(env).__name__} has no func_mapping dict")
    names = []
    for name in mapping:
        try:
            member = getattr(env, name, None) if isinstance(name, str) else None
        except Exception:  # a property that raises is not an action
            member = None
        if inspect.ismethod(member) or inspect.isfunction(member):
            names.append(name)
    return names


def actions_of(env_cls: type, names: Iterable[str] | None = None) -> list[Action]:
    """Describe the actions ``names`` of ``env_cls`` (default: ``action_names(env_cls())``).

    With ``names=None`` the class is instantiated with no arguments to read ``func_mapping``;
    any failure is raised as ``ValueError`` naming the class. A named action that is not a
    method of the class raises ``ValueError`` too. Action methods are inspected, never called.
    """
    cls_name = getattr(env_cls, "__name__", repr(env_cls))
    if names is None:
        try:
            names = action_names(env_cls())
        except Exception as e:
            raise ValueError(f"cannot list the actions of {cls_name}: {type(e).__name__}: {e}") from e
    actions = []
    for name in names:
        func = getattr(env_cls, name, None)
        if not callable(func):
            raise ValueError(f"{cls_name} has no method {name!r}")
        is_static = isinstance(inspect.getattr_static(env_cls, name, None), staticmethod)
        actions.append(_action(name, func, is_static))
    return actions


def openai_tools(actions: Sequence[Action]) -> list[dict[str, Any]]:
    """OpenAI/Hermes function schemas: ``[{"type": "function", "function": {...}}]``, one per action."""
    tools = []
    for action in actions:
        properties: dict[str, Any] = {}
        for p in action.params:
            prop: dict[str, Any] = {}
            if p.type is not None:
                prop["type"] = p.type
            if p.type == "array" and p.items:
                prop["items"] = p.items
            if p.description:
                prop["description"] = p.description
            if not p.required:
                prop["default"] = p.default
            properties[p.name] = prop
        parameters = {
            "type": "object",
            "properties": properties,
            "required": [p.name for p in action.params if p.required],
        }
        function = {"name": action.name, "description": action.description, "parameters": parameters}
        tools.append({"type": "function", "function": function})
    return tools


def tool_listing(actions: Sequence[Action]) -> str:
    """CodeGym-style listing: per action ``Function:``, the def line, the doc indented by 4."""
    blocks = []
    for action in actions:
        lines = ["Function:", action.signature]
        lines += [f"    {line}" if line.strip() else "" for line in action.doc.splitlines()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------------------------------
# Reading one method


def _action(name: str, func: Any, is_static: bool) -> Action:
    raw_doc = func.__doc__ if isinstance(getattr(func, "__doc__", None), str) else ""
    summary, doc, arg_docs = _parse_doc(raw_doc)
    found = _plain_parameters(func) if not is_static and type(func) is _FUNCTION else None
    if found is not None:  # a plain method (every CodeGym env's): read from its code, not inspect
        sig_params, return_annotation = found
    else:
        try:
            sig: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            sig = None
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        sig_params = [(p.name, p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD), p.annotation, p.default)
                      for p in sig.parameters.values()] if sig else []
        if (not is_static and not inspect.ismethod(func) and sig and sig.parameters
                and next(iter(sig.parameters.values())).kind in positional):
            sig_params = sig_params[1:]  # self, whatever its name
        return_annotation = sig.return_annotation if sig else _EMPTY
    params, rendered = [], []
    for p_name, variadic, annotation, p_default in sig_params:
        if variadic or p_name == "self":
            continue
        ann = _annotation_text(annotation)
        doc_type, desc = arg_docs.get(p_name, (None, ""))
        schema = (_schema(ann) if ann else None) or (_schema(doc_type) if doc_type else None) or {}
        required = p_default is _EMPTY
        default = None if required else _json_value(p_default)
        params.append(Param(p_name, schema.get("type"), desc, required, default, schema.get("items")))
        text = f"{p_name}: {ann}" if ann else p_name
        if not required:
            text += f" = {p_default!r}" if ann else f"={p_default!r}"
        rendered.append(text)
    ret = _annotation_text(return_annotation)
    signature = f"def {name}({', '.join(rendered)})" + (f" -> {ret}:" if ret else ":")
    return Action(name, tuple(params), summary, doc, signature)


_FUNCTION = type(lambda: None)
_EMPTY = inspect.Parameter.empty


def _plain_parameters(func: Any) -> tuple[list[tuple[str, bool, Any, Any]], Any] | None:
    """``([(name, variadic, annotation, default)], return annotation)`` of a plain function's
    parameters after its first (``self``), read from its code object as ``inspect.signature`` would
    give them; None where that needs inspect (a wrapper, or no first parameter). Reading them this way
    runs none of inspect's code in a sandbox worker, whose every first run of a function copies pages
    it shares with the other workers (Python 3.11)."""
    if getattr(func, "__wrapped__", None) is not None or "__signature__" in vars(func):
        return None
    code = func.__code__
    positional = code.co_argcount
    if positional < 1:
        return None
    names = code.co_varnames
    keyword_only = code.co_kwonlyargcount
    defaults = func.__defaults__ or ()
    kwdefaults = func.__kwdefaults__ or {}
    annotations = func.__annotations__
    first_default = positional - len(defaults)
    params: list[tuple[str, bool, Any, Any]] = []
    for i in range(1, positional):
        default = defaults[i - first_default] if i >= first_default else _EMPTY
        params.append((names[i], False, annotations.get(names[i], _EMPTY), default))
    at = positional + keyword_only
    if code.co_flags & inspect.CO_VARARGS:
        params.append((names[at], True, _EMPTY, _EMPTY))
        at += 1
    for name in names[positional:positional + keyword_only]:
        params.append((name, False, annotations.get(name, _EMPTY), kwdefaults.get(name, _EMPTY)))
    return params, annotations.get("return", _EMPTY)


def _parse_doc(raw: str) -> tuple[str, str, dict[str, tuple[str | None, str]]]:
    """Split a docstring: ``(summary, doc without Example Output, {arg: (type text, description)})``."""
    lines = inspect.cleandoc(raw).splitlines() if raw.strip() else []
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    base = min(indents, default=0)
    sections: list[tuple[str, int, list[tuple[int, str]]]] = [("", 0, [])]  # (head, first line, body)
    for i, line in enumerate(lines):
        indent, text = len(line) - len(line.lstrip()), line.strip()
        m = _SECTION.match(text)
        if m and (not m["rest"] or indent <= base):
            sections.append((m["head"].lower(), i, [(-1, m["rest"])] if m["rest"] else []))
        else:
            sections[-1][2].append((indent, text))
    summary = "\n".join(text for _, text in sections[0][2]).strip()
    kept: list[str] = []
    for k, (head, first, _) in enumerate(sections):
        stop = sections[k + 1][1] if k + 1 < len(sections) else len(lines)
        if head not in _EXAMPLE_HEADS:
            kept += lines[first:stop] if k else lines[:stop]
    arg_docs: dict[str, tuple[str | None, str]] = {}
    for head, _, body in sections:
        if head in _ARG_HEADS:
            arg_docs.update(_parse_args(body))
    return summary, "\n".join(kept).strip(), arg_docs


def _parse_args(body: list[tuple[int, str]]) -> dict[str, tuple[str | None, str]]:
    """Entries ``name (type): text``; deeper-indented or non-matching lines continue the last one.

    The first entry line fixes the entry indentation (indent -1 marks text on the header line).
    """
    entries: dict[str, tuple[str | None, list[str]]] = {}
    current: str | None = None
    entry_indent: int | None = None
    for indent, text in body:
        if not text:
            continue
        m = _ARG_LINE.match(text)
        if m and (entry_indent is None or indent <= entry_indent):
            entry_indent = indent if entry_indent is None and indent >= 0 else entry_indent
            current = m["name"]
            entries[current] = (m["type"], [m["desc"].strip()] if m["desc"].strip() else [])
        elif current is not None:
            entries[current][1].append(text)
    return {name: (typ, " ".join(desc)) for name, (typ, desc) in entries.items() if name != "self"}


# ---------------------------------------------------------------------------------------------
# Types


def _annotation_text(ann: Any) -> str | None:
    """The source-like text of an annotation, or None if there is none."""
    if ann is _EMPTY:  # same object as Signature.empty
        return None
    if isinstance(ann, str):
        return ann.strip() or None
    if isinstance(ann, type) and not getattr(ann, "__args__", None):
        return ann.__name__
    return re.sub(r"\btyping\.", "", repr(ann))


def _schema(text: str) -> dict[str, Any] | None:
    """JSON schema (``{"type": ..., "items": ...}``) for a type written as text, or None."""
    if len(text) > 300:
        return None
    try:
        return _schema_of(text)
    except RecursionError:
        return None


def _schema_of(text: str) -> dict[str, Any] | None:
    text = re.sub(r"\b(?:typing|collections\.abc|collections|t)\.", "", text.strip().strip("'\""))
    alternatives = [a for a in _split_top(text, ("|", ",", " or ")) if a.strip().lower() not in _NONE_WORDS]
    if len(alternatives) != 1:
        schemas = [_schema_of(a) for a in alternatives]
        types = {s["type"] if s else None for s in schemas}
        if len(types) == 1 and None not in types:
            return schemas[0] if all(s == schemas[0] for s in schemas) else {"type": types.pop()}
        return {"type": "number"} if types == {"integer", "number"} else None
    text = alternatives[0].strip()
    m = re.fullmatch(r"(\w+)\s*\[(.*)\]", text, re.DOTALL) or re.fullmatch(r"(\w+)\s+of\s+(.+)", text)
    if not m:
        typ = _SCALARS.get(text.lower())
        return {"type": typ} if typ else None
    base, inner = m[1].lower(), m[2]
    if base in ("optional", "union"):
        return _schema_of(inner)
    typ = _SCALARS.get(base)
    if typ != "array":
        return {"type": typ} if typ else None
    parts = [p for p in _split_top(inner, (",",)) if p.strip() not in ("...", "")]
    items = [_schema_of(p) for p in parts]
    if items and items[0] and all(i == items[0] for i in items):
        return {"type": "array", "items": items[0]}
    return {"type": "array"}


def _split_top(text: str, seps: tuple[str, ...]) -> list[str]:
    """Split ``text`` on any of ``seps`` outside brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += (ch in "[(") - (ch in "])")
        sep = next((s for s in seps if depth == 0 and text.startswith(s, i)), None)
        if sep:
            parts.append(text[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _json_value(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists); its repr if not JSON-able."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return repr(value)
