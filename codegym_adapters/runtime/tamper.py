"""Tripwires in a sandbox worker: signs that env code changed the worker's own machinery.

A worker runs the code of one env source only (:mod:`.worker`), so whatever that code does to the
process reaches only sessions of the same source: the kernel layers of :mod:`.limits` keep it from
everyone else. What it can still do is lie about itself in ways a buggy env never would: rewrite the
functions the worker answers with (``json.loads``, the host's methods, a builtin), install a tracer or
profiler that rewrites rewards as they are computed, poison ``sys.modules``, or reach the env objects
of its sibling sessions (frame walking, heap walking) and set their rewards. None of that is a bug an
honest env has, so the worker checks for it after every request, before it answers, and reports the
source as tampering instead of answering (the parent quarantines the source: :mod:`.sandbox`).

What is checked (tens of microseconds a request):
- no trace or profile function but the ones the worker started with, in ``sys`` or in ``threading``;
- every value of the modules the worker answers with (its own and the host's, and the modules of
  this package they use), the values of ``json``'s modules and of ``builtins``, the methods of their
  classes, the attributes of ``json``'s default encoder and decoder and the keyword defaults of
  watched functions are the objects they were before env code ran (``json.JSONEncoder.default``
  excepted: replacing it is json's documented way to write more types, and the worker's replies
  hold only JSON values); the host and worker objects keep their type and settings. Assigning a
  function's ``__code__`` or defaults is refused by the audit hook (:mod:`.audit`);
- every module in ``sys.modules`` before env code ran is still there, as the same object, and what
  env code added is a module (in full after a load, open or close; after other requests, if the
  number of modules changed);
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

import operator
import sys
import threading
import types
from collections.abc import Iterable
from typing import Any

TAMPERING = "EnvTampering"  # the remote error type a worker reports, and the parent acts on
STATE_CHANGED = "EnvStateChanged"  # a session's reward changed between its own calls (see before_call)
_MAX_TEXT = 300  # a report names what changed; names come from env code, so they are cut
_UNWATCHED = {("json.encoder.JSONEncoder", "default")}



class Tripwire:
    """Snapshot of the worker's machinery, taken before any env code runs; :meth:`check` compares.

    ``settings`` are ``(object, attribute names)`` pairs (the worker, its host): each object keeps its
    type, and each named attribute the value it had. Raises ``KeyError`` for a name not set.
    """

    def __init__(self, settings: Iterable[tuple[Any, Iterable[str]]] = ()) -> None:
        self._modules = dict(sys.modules)
        self._module_count = len(self._modules)
        # (namespace, key, value) of everything watched, flattened so one pass in C compares them all
        self._hooks = _hooks()  # a debugger or coverage may run the worker under its tracer
        watched: list[tuple[Any, str, Any, str]] = []  # (namespace, key, value, the namespace's name)
        for name in _watched_modules(self._modules):
            names = vars(self._modules[name])
            watched += [(names, k, v, name) for k, v in names.items()]
            for value in list(names.values()) if name != "builtins" else ():  # built-in types cannot change
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    owner = f"{name}.{value.__qualname__}"
                    watched += [(value.__dict__, k, v, owner) for k, v in value.__dict__.items()
                                if (callable(v) or isinstance(v, (staticmethod, classmethod, property)))
                                and (owner, k) not in _UNWATCHED]
        plain = [w for w in watched if type(w[0]) is dict]  # module namespaces
        proxied = [w for w in watched if type(w[0]) is not dict]  # class namespaces
        self._groups = [([w[0] for w in group], [w[1] for w in group], [w[2] for w in group], [w[3] for w in group],
                         get)
                        for group, get in ((plain, dict.get), (proxied, types.MappingProxyType.get))]
        # keyword defaults are a dict that can be changed in place (assigning new ones is audited)
        self._kwdefaults = [(f"{v.__module__}.{v.__qualname__}", d, dict(d)) for _, _, v, _ in watched
                            if isinstance(v, types.FunctionType) and (d := v.__kwdefaults__)]
        json_module = self._modules.get("json")
        frozen = [getattr(json_module, "_default_encoder", None), getattr(json_module, "_default_decoder", None)]
        self._frozen = [(obj, type(obj), dict(vars(obj))) for obj in frozen if hasattr(obj, "__dict__")]
        self._objects = [(obj, type(obj), {k: vars(obj)[k] for k in keys}) for obj, keys in settings]
        self._status: dict[Any, tuple] = {}

    def watch(self, obj: Any, keys: Iterable[str]) -> None:
        """Watch one more object's type and the named attributes (as ``settings`` above)."""
        self._objects.append((obj, type(obj), {k: vars(obj)[k] for k in keys}))

    # -- the whole-process check ----------------------------------------------------------------
    def check(self, all_modules: bool = True) -> str | None:
        """What env code changed, in words, or None. Never raises (a broken check is a finding).

        With ``all_modules`` false, ``sys.modules`` is only counted (an entry replaced in place is then
        found by the next full check: the worker makes one after every load, open and close)."""
        try:
            problem = self._check(all_modules)
        except BaseException as exc:  # noqa: BLE001 - a tampered object may raise anything, SystemExit too
            problem = f"checking the worker raised {type(exc).__name__}"
        return None if problem is None else problem[:_MAX_TEXT]

    def _check(self, all_modules: bool) -> str | None:
        if not all(map(operator.is_, _hooks(), self._hooks)):
            return "a trace or profile function was installed (sys.settrace, sys.setprofile or threading's)"
        for spaces, keys, values, owners, get in self._groups:
            now = list(map(get, spaces, keys))
            if not all(map(operator.is_, now, values)):
                i = next(i for i, (a, b) in enumerate(zip(now, values, strict=True)) if a is not b)
                return f"{owners[i]}.{keys[i]} was replaced"
        for label, defaults, snapshot in self._kwdefaults:
            if len(defaults) != len(snapshot) or not all(map(operator.is_, map(defaults.get, snapshot),
                                                             snapshot.values())):
                return f"the keyword defaults of {label} were changed"
        for obj, kind, snapshot in self._frozen:
            if type(obj) is not kind or len(vars(obj)) != len(snapshot) or not all(
                    map(operator.is_, map(vars(obj).get, snapshot), snapshot.values())):
                return f"json's default {kind.__name__} was changed"
        for obj, kind, settings in self._objects:
            if type(obj) is not kind:
                return f"the class of the worker's {kind.__name__} was changed"
            for key, value in settings.items():
                if vars(obj).get(key) is not value:
                    return f"the worker's {kind.__name__}.{key} was changed"
        if not all_modules and len(sys.modules) == self._module_count:
            return None
        return self._check_modules()

    def _check_modules(self) -> str | None:
        modules = sys.modules
        if len(modules) == self._module_count and all(map(operator.is_, map(modules.get, self._modules),
                                                          self._modules.values())):
            return None
        for name, module in self._modules.items():
            if modules.get(name) is not module:
                return f"sys.modules[{name!r}] was replaced or removed"
        for name, module in list(modules.items()):  # type() and exact str only: no code of theirs runs here
            if type(name) is not str:
                return "sys.modules got a key that is not a str"
            if name in self._modules:
                continue  # the same object (checked above)
            if not issubclass(type(module), types.ModuleType):
                return f"sys.modules[{name!r}] was set to a {type.__repr__(type(module))}, not a module"
            self._modules[name] = module  # an import of the env's own: watched from now on
        self._module_count = len(self._modules)
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


def _watched_modules(modules: dict[str, Any]) -> list[str]:
    """The modules a worker answers with: ``builtins``, ``json``'s, and those of this package that
    hold the worker's request path (the worker and host modules and every module of this package
    whose functions or classes they use)."""
    names = ["builtins", "json", "json.decoder", "json.encoder", "json.scanner"]
    todo = ["codegym_adapters.runtime.worker", "codegym_adapters.runtime.host", "codegym_adapters.runtime.channel"]
    while todo:
        name = todo.pop()
        if name in names or not isinstance(modules.get(name), types.ModuleType):
            continue
        names.append(name)
        for value in vars(modules[name]).values():
            home = getattr(value, "__module__", None)
            if (isinstance(value, (types.FunctionType, type)) and isinstance(home, str)
                    and home.startswith("codegym_adapters.")):
                todo.append(home)
    return [n for n in names if isinstance(modules.get(n), types.ModuleType)]


def _hooks() -> tuple[Any, ...]:
    return (sys.gettrace(), sys.getprofile(), getattr(threading, "_trace_hook", None),
            getattr(threading, "_profile_hook", None))
