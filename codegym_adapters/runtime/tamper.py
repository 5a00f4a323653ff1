"""Tripwires in a sandbox worker: signs that env code changed the worker's own machinery.

A worker runs the code of one env source only (:mod:`.worker`), so whatever that code does to the
process reaches only sessions of the same source: the kernel layers of :mod:`.limits` keep it from
everyone else. What it can still do is lie about itself in ways a buggy env never would: rewrite the
functions the worker answers with (``json.loads``, the host's methods), install a tracer or
profiler that rewrites rewards as they are computed, poison ``sys.modules``, or reach the env objects
of its sibling sessions (frame walking, heap walking) and set their rewards. None of that is a bug an
honest env has, so the worker checks for it after every request, before it answers, and reports the
source as tampering instead of answering (the parent quarantines the source: :mod:`.sandbox`).

What is checked (tens of microseconds a request):
- no trace or profile function but the ones the worker started with, in ``sys`` or in ``threading``;
- every value of the worker's own modules (the worker, its host, its channel) and of their classes,
  the names of ``json`` a reply goes through, the attributes of ``json``'s default encoder and
  decoder and the keyword defaults of ``json.dumps``/``json.loads`` are the objects they were before
  env code ran (``json.JSONEncoder.default`` excepted: replacing it is json's documented way to write
  more types, and the worker's replies hold only JSON values); the host and worker objects keep
  their type and settings. Replacing a function's ``__code__`` is refused by the audit hook
  (:mod:`.audit`). Kept this narrow on purpose: Python 3.11 writes a reference count into every
  object a check touches, and each touched object costs every worker a copied page (watching all of
  ``sys.modules`` and ``builtins`` cost 2 MB a worker, half of what one holds);
- the worker's modules are still the ones in ``sys.modules``, and whatever env code adds there is a
  module (looked at when the number of modules changes; a module replaced in place, such as
  ``sys.modules["calendar"] = None``, is not looked for: that would touch every module object, a
  copied page each, in every worker, and it can only break imports of the env's own source);
- a session's env holds the reward it had after its own last call (:meth:`Tripwire.before_call`). A
  change is not called tampering (sessions of a buggy env may share class-level state) but it makes
  the env's rewards untrustworthy: the session fails as nondeterministic and the failure counts
  toward quarantine. ``finished`` alone turning true (a time limit) is accepted.

This is a detector, not a boundary. Code that knows the checks can undo its changes before a request
ends, reach the worker's own objects by walking frames, change a sibling session's private state so
that its next call rewards, or forge a reply from a signal handler: all of that stays inside its own
source's sessions, whose rewards a hostile env decides anyway. The guarantee that matters (no other
source is reached) rests on one process per source and the kernel layers, not on these checks.
"""

from __future__ import annotations

import json
import json.decoder
import json.encoder
import json.scanner
import operator
import sys
import threading
import types
from collections.abc import Iterable
from typing import Any

TAMPERING = "EnvTampering"  # the remote error type a worker reports, and the parent acts on
STATE_CHANGED = "EnvStateChanged"  # a session's reward changed between its own calls (see before_call)
_MAX_TEXT = 300  # a report names what changed; names come from env code, so they are cut
# What a reply goes through in json (json.JSONEncoder.default is not among them: replacing it is
# json's documented way to write more types, e.g. numpy values, and the worker's replies hold only
# JSON values). Each: (label, namespace, names).
_JSON_NAMES = (
    ("json", vars(json), ("loads", "dumps", "JSONDecoder", "JSONEncoder", "_default_encoder", "_default_decoder")),
    ("json.decoder.JSONDecoder", json.JSONDecoder.__dict__, ("decode", "raw_decode", "__init__")),
    ("json.encoder.JSONEncoder", json.JSONEncoder.__dict__, ("encode", "iterencode", "__init__")),
    ("json.encoder", vars(sys.modules["json.encoder"]),
     ("c_make_encoder", "_make_iterencode", "encode_basestring", "encode_basestring_ascii")),
    ("json.scanner", vars(sys.modules["json.scanner"]), ("make_scanner", "c_make_scanner")),
    ("json.decoder", vars(sys.modules["json.decoder"]), ("scanstring", "JSONObject", "JSONArray")),
)


class Tripwire:
    """Snapshot of the worker's machinery, taken before any env code runs; :meth:`check` compares.

    ``settings`` are ``(object, attribute names)`` pairs (the worker, its host): each object keeps its
    type, and each named attribute the value it had. Raises ``KeyError`` for a name not set.
    """

    def __init__(self, settings: Iterable[tuple[Any, Iterable[str]]] = ()) -> None:
        names = _watched_modules()
        self._modules = {name: sys.modules[name] for name in names}  # they stay the modules imported
        self._module_names = set(sys.modules)  # shared from the template; a worker adds its env's imports
        self._module_count = len(sys.modules)
        self._hooks = _hooks()  # a debugger or coverage may run the worker under its tracer
        # Python 3.11 writes a reference count into every object a check touches, and each touched
        # object costs every worker a copied page; so the worker's own modules (whose objects its
        # requests touch anyway) are compared whole, by their values in order, without their keys,
        # and json by the names a reply goes through
        spaces: list[tuple[str, Any]] = []
        for name in names:
            namespace = vars(self._modules[name])
            namespace.setdefault("__warningregistry__", {})  # made on a module's first warning: made now
            spaces.append((name, namespace))
            spaces += [(f"{name}.{value.__qualname__}", value.__dict__) for value in list(namespace.values())
                       if isinstance(value, type) and value.__module__ == name]
        for attribute in ("_default_encoder", "_default_decoder"):  # instance attributes shadow methods
            obj = getattr(json, attribute, None)
            if hasattr(obj, "__dict__"):
                spaces.append((f"json.{attribute}", vars(obj)))
        # keyword defaults are a dict that can be changed in place (assigning new ones is audited)
        spaces += [(f"the keyword defaults of json.{f.__name__}", f.__kwdefaults__) for f in (json.dumps, json.loads)]
        self._spaces = [(label, space, list(space.values())) for label, space in spaces]
        self._names = [(label, space, key, space[key]) for label, space, keys in _JSON_NAMES for key in keys]
        self._objects = [(obj, type(obj), {k: vars(obj)[k] for k in keys}) for obj, keys in settings]
        self._status: dict[Any, tuple] = {}

    def watch(self, obj: Any, keys: Iterable[str]) -> None:
        """Watch one more object's type and the named attributes (as ``settings`` above)."""
        self._objects.append((obj, type(obj), {k: vars(obj)[k] for k in keys}))

    # -- the whole-process check ----------------------------------------------------------------
    def check(self) -> str | None:
        """What env code changed, in words, or None. Never raises (a broken check is a finding)."""
        try:
            problem = self._check()
        except BaseException as exc:  # noqa: BLE001 - a tampered object may raise anything, SystemExit too
            problem = f"checking the worker raised {type(exc).__name__}"
        return None if problem is None else problem[:_MAX_TEXT]

    def _check(self) -> str | None:
        if not all(map(operator.is_, _hooks(), self._hooks)):
            return "a trace or profile function was installed (sys.settrace, sys.setprofile or threading's)"
        for label, space, values in self._spaces:  # no list is built: a worker's heap stays where it was
            if len(space) != len(values):
                return f"names were added to or removed from {label}"
            if not all(map(operator.is_, space.values(), values)):
                now = list(space.values())
                i = next(i for i, (a, b) in enumerate(zip(now, values, strict=True)) if a is not b)
                return f"{label}.{list(space)[i]} was replaced"
        for label, space, key, value in self._names:
            if space.get(key) is not value:
                return f"{label}.{key} was replaced"
        for obj, kind, settings in self._objects:
            if type(obj) is not kind:
                return f"the class of the worker's {kind.__name__} was changed"
            for key, value in settings.items():
                if vars(obj).get(key) is not value:
                    return f"the worker's {kind.__name__}.{key} was changed"
        modules = sys.modules
        for name, module in self._modules.items():
            if modules.get(name) is not module:
                return f"sys.modules[{name!r}] was replaced or removed"
        if len(modules) != self._module_count:  # an import (or a poisoned name): look at what is new
            for name, module in list(modules.items()):  # type() and exact str only: no code of theirs runs
                if type(name) is not str:
                    return "sys.modules got a key that is not a str"
                if name in self._module_names:
                    continue
                if not issubclass(type(module), types.ModuleType):
                    return f"sys.modules[{name!r}] was set to a {type.__repr__(type(module))}, not a module"
                self._module_names.add(name)  # an import of the env's own: a module like any other
            self._module_count = len(modules)
        return None

    # -- sessions -------------------------------------------------------------------------------
    def after_call(self, sid: Any, status: tuple) -> None:
        """Record session ``sid``'s ``(finished, reward, problem)`` as its own call left it."""
        self._status[sid] = status

    def before_call(self, sid: Any, status: tuple) -> str | None:
        """What changed session ``sid``'s reward since its own last call, or None. ``finished`` turning
        true on its own (a time limit) is accepted and recorded."""
        last = self._status.get(sid)
        if last is None or last == status:
            return None
        if status[1:] == last[1:] and status[0] and not last[0]:
            self._status[sid] = status
            return None
        return (f"session {sid}'s env changed between its own calls (finished, reward: {last[:2]} -> "
                f"{status[:2]}): its state is shared with other sessions of this env, or something outside "
                f"its calls changed it, so its rewards cannot be trusted")

    def forget(self, sid: Any) -> None:
        self._status.pop(sid, None)


_PREPARED: Tripwire | None = None


def prepare() -> None:
    """Take the snapshot once, in the worker template before it forks (:mod:`.forkserver`): its
    lists are then shared by every worker instead of built in each (what a worker's env code can
    reach is the same: the template runs none). Workers get it through :func:`tripwire`."""
    global _PREPARED
    _PREPARED = Tripwire()


def tripwire() -> Tripwire:
    """The snapshot the template prepared, or a new one (a worker started some other way)."""
    return _PREPARED if _PREPARED is not None else Tripwire()


def _watched_modules() -> list[str]:
    """The worker's own request path: the worker, its host and its channel (and json, by name)."""
    names = ["codegym_adapters.runtime.worker", "codegym_adapters.runtime.host", "codegym_adapters.runtime.channel"]
    return [n for n in names if isinstance(sys.modules.get(n), types.ModuleType)]


def _hooks() -> tuple[Any, ...]:
    return (sys.gettrace(), sys.getprofile(), getattr(threading, "_trace_hook", None),
            getattr(threading, "_profile_hook", None))
