"""Tripwires in a sandbox worker: signs that env code changed the worker's own machinery.

A worker runs the code of one env source only (:mod:`.worker`), so whatever that code does to the
process reaches only sessions of the same source: the kernel layers of :mod:`.limits` keep it from
everyone else. What it can still do is lie about itself in ways a buggy env never would: rewrite the
functions the worker answers with (``json.loads``, the host's methods, a builtin), install a tracer or
profiler that rewrites rewards as they are computed, poison ``sys.modules``, or reach the env objects
of its sibling sessions (frame walking, heap walking) and set their rewards. None of that is a bug an
honest env has, so the worker checks for it after every request, before it answers, and reports the
source as tampering instead of answering (the parent quarantines the source: :mod:`.sandbox`).

What is checked (a few microseconds a request):
- no trace or profile function, in ``sys`` or in ``threading``;
- the functions and classes of this package's modules, of ``json`` and of ``builtins`` are the
  objects they were before env code ran, functions keep their code, classes keep their methods,
  and the host and worker objects keep their type and settings;
- every module in ``sys.modules`` before env code ran is still there, as the same object, and what
  env code added is a module (in full after a load, open or close; after other requests, if the
  number of modules changed);
- a session's env is finished, and holds its reward, exactly as after its own last call: only that
  session's own calls may change them (:meth:`Tripwire.before_step`).

This is a detector, not a boundary: code that knows the checks can undo its changes before a request
ends. The guarantee that matters (no other source is reached) does not rest on it.
"""

from __future__ import annotations

import operator
import sys
import threading
import types
from collections.abc import Iterable
from typing import Any

TAMPERING = "EnvTampering"  # the remote error type a worker reports, and the parent acts on

_CODE = operator.attrgetter("__code__")


class Tripwire:
    """Snapshot of the worker's machinery, taken before any env code runs; :meth:`check` compares.

    ``settings`` are ``(object, attribute names)`` pairs (the worker, its host): each object keeps its
    type, and each named attribute the value it had. Raises ``KeyError`` for a name not set.
    """

    def __init__(self, settings: Iterable[tuple[Any, Iterable[str]]] = ()) -> None:
        self._modules = dict(sys.modules)
        self._module_count = len(self._modules)
        # (namespace, key, value) of everything watched, flattened so one pass in C compares them all
        watched: list[tuple[Any, str, Any, str]] = []  # (namespace, key, value, the namespace's name)
        for name in _watched_modules(self._modules):
            names = vars(self._modules[name])
            watched += [(names, k, v, name) for k, v in names.items() if _watched(name, v)]
            for value in list(names.values()) if name != "builtins" else ():  # built-in types cannot change
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    watched += [(value.__dict__, k, v, f"{name}.{value.__qualname__}") for k, v in value.__dict__.items()
                                if callable(v) or isinstance(v, (staticmethod, classmethod, property))]
        plain = [w for w in watched if type(w[0]) is dict]  # module namespaces
        proxied = [w for w in watched if type(w[0]) is not dict]  # class namespaces
        self._groups = [([w[0] for w in group], [w[1] for w in group], [w[2] for w in group], [w[3] for w in group],
                         get)
                        for group, get in ((plain, dict.get), (proxied, types.MappingProxyType.get))]
        self._functions = [v for _, _, v, _ in watched if isinstance(v, types.FunctionType)]
        self._codes = [f.__code__ for f in self._functions]
        self._objects = [(obj, type(obj), {k: vars(obj)[k] for k in keys}) for obj, keys in settings]
        self._status: dict[Any, tuple] = {}

    # -- the whole-process check ----------------------------------------------------------------
    def check(self, all_modules: bool = True) -> str | None:
        """What env code changed, in words, or None. Never raises (a broken check is a finding).

        With ``all_modules`` false, ``sys.modules`` is only counted (an entry replaced in place is then
        found by the next full check: the worker makes one after every load, open and close)."""
        try:
            return self._check(all_modules)
        except Exception as exc:  # noqa: BLE001 - a tampered object may raise anything
            return f"checking the worker raised {type(exc).__name__}: {str(exc)[:200]}"

    def _check(self, all_modules: bool) -> str | None:
        if sys.gettrace() is not None or sys.getprofile() is not None:
            return "a trace or profile function was installed (sys.settrace / sys.setprofile)"
        if getattr(threading, "_trace_hook", None) is not None or getattr(threading, "_profile_hook", None):
            return "a trace or profile function was installed for threads (threading.settrace)"
        for spaces, keys, values, owners, get in self._groups:
            now = list(map(get, spaces, keys))
            if not all(map(operator.is_, now, values)):
                i = next(i for i, (a, b) in enumerate(zip(now, values, strict=True)) if a is not b)
                return f"{owners[i]}.{keys[i]} was replaced"
        if not all(map(operator.is_, map(_CODE, self._functions), self._codes)):
            function = next(f for f, c in zip(self._functions, self._codes, strict=True) if f.__code__ is not c)
            return f"the code of {function.__module__}.{function.__qualname__} was replaced"
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
        for name, module in list(modules.items()):
            if name not in self._modules:
                if not isinstance(module, types.ModuleType):
                    return f"sys.modules[{name!r}] was set to a {type(module).__name__}, not a module"
                self._modules[name] = module  # an import of the env's own: watched from now on
        self._module_count = len(self._modules)
        return None

    # -- sessions -------------------------------------------------------------------------------
    def after_call(self, sid: Any, status: tuple) -> None:
        """Record session ``sid``'s ``(finished, reward, problem)`` as its own call left it."""
        self._status[sid] = status

    def before_step(self, sid: Any, status: tuple) -> str | None:
        """What changed session ``sid``'s status since its own last call, or None."""
        last = self._status.get(sid)
        if last is None or last == status:
            return None
        return (f"session {sid}'s env changed between its own calls (finished, reward: {last[:2]} -> "
                f"{status[:2]}): code of another session of this env reached into it")

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


def _watched(module: str, value: Any) -> bool:
    """Every value of the standard modules watched; the callables of this package's."""
    return not module.startswith("codegym_adapters") or callable(value)
