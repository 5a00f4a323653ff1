"""Env strings: which env and which configuration.

Accepted spellings (``codegym-format.md`` section 2):

* ``codegym_v1@<code_id>__<ClassName>@<options>``  (a dataset row's ``ability``)
* ``<code_id>__<ClassName>@<options>``
* ``<ClassName>@<options>``

Options are a dict literal. Upstream envs parse them with ``ast.literal_eval`` after splitting on
every ``@``; we split on the first ``@`` after the env name only, and accept both JSON (``true``,
``null``) and Python literals, so ``@`` inside string values and JSON booleans work.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import pyast
from .errors import OptionsError

DATA_SOURCE_PREFIXES = ("codegym_v1", "codegym_gym_v1", "codegym")
_NAME_RE = re.compile(r"^(?:(?P<code_id>[A-Za-z0-9_.\-]+?)__)?(?P<cls>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class EnvRef:
    """A parsed env string: an env name (``code_id`` may be empty) and the options dict."""

    class_name: str
    code_id: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``<code_id>__<ClassName>``, or the bare class name when no code id was given."""
        return f"{self.code_id}__{self.class_name}" if self.code_id else self.class_name

    def env_string(self) -> str:
        """The canonical ``<ClassName>@<options>`` string an upstream env's ``from_env_str`` accepts."""
        return f"{self.class_name}@{json.dumps(self.options, ensure_ascii=False, sort_keys=True)}"


def parse_options(text: str, *, env: str = "") -> dict[str, Any]:
    """Parse an options literal (JSON or Python) into a dict.

    Empty text means no options. Raises :class:`OptionsError` naming ``env`` otherwise.
    """
    text = text.strip()
    if not text:
        return {}
    where = f" for env {env!r}" if env else ""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        try:
            value = pyast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            snippet = text if len(text) <= 80 else text[:77] + "..."
            raise OptionsError(
                f"cannot parse options{where}: {snippet!r} is neither JSON nor a Python literal "
                f"({type(exc).__name__}: {exc})"
            ) from None
    if not isinstance(value, dict):
        raise OptionsError(f"options{where} must be a dict, got {type(value).__name__}")
    return value


def parse_env_string(text: str) -> EnvRef:
    """Parse any accepted env-string spelling into an :class:`EnvRef`."""
    if not isinstance(text, str) or not text.strip():
        raise OptionsError(f"empty env string: {text!r}")
    text = text.strip()
    head, sep, rest = text.partition("@")
    if head in DATA_SOURCE_PREFIXES and sep:
        head, sep, rest = rest.partition("@")
    match = _NAME_RE.match(head.strip())
    if not match:
        raise OptionsError(
            f"bad env name {head!r} in env string {text[:120]!r}: expected "
            "'<code_id>__<ClassName>@<options>' or '<ClassName>@<options>'"
        )
    env = match.group("cls")
    options = parse_options(rest, env=head) if sep else {}
    return EnvRef(class_name=env, code_id=match.group("code_id") or "", options=options)
