"""Where envs come from: files, folders, verified records, dataset rows and installed env packs.

A :class:`Catalog` maps env names (``<code_id>__<ClassName>``) to :class:`EnvSpec` objects. It only
indexes; nothing is compiled until :func:`load_env_module` is called (by a runtime, possibly in another
process). A folder of 13,000 env files is indexed from file names alone.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .envstring import EnvRef, parse_env_string
from .errors import AmbiguousEnv, CodeGymError, EnvLoadError, EnvNotFound

ENTRY_POINT_GROUP = "codegym_adapters.envs"
_FILE_RE = re.compile(r"^(?P<code_id>.+?)__(?P<cls>[A-Za-z_][A-Za-z0-9_]*)$")
_CLASS_RE = re.compile(r"^class\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.MULTILINE)


@dataclass
class EnvSpec:
    """One env: its name, where its source lives, and optional task text from a record.

    ``source`` is read lazily from ``path`` when not given inline.
    """

    class_name: str
    code_id: str = ""
    path: Path | None = None
    origin: str = ""
    task: str | None = None
    _source: str | None = field(default=None, repr=False)
    _hash: str | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.code_id}__{self.class_name}" if self.code_id else self.class_name

    @property
    def source(self) -> str:
        if self._source is None:
            if self.path is None:
                raise EnvLoadError(f"env {self.name}: no source and no path")
            try:
                self._source = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise EnvLoadError(f"env {self.name}: cannot read {self.path}: {exc}") from None
        return self._source

    @property
    def source_hash(self) -> str:
        """A content hash of the source (computed once: runtimes ask for it on every open)."""
        if self._hash is None:
            self._hash = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:16]
        return self._hash


def env_filename(label: str) -> str:
    """The file name an env's code is compiled under (tracebacks name it): ``<codegym env LABEL>``."""
    return f"<codegym env {label}>"


def compile_env(source: str, label: str) -> types.CodeType:
    """Compile (never run) an env file's source as :func:`load_env_module` does. Raises what
    ``compile`` raises (SyntaxError, ValueError, RecursionError, MemoryError)."""
    return compile(source, env_filename(label), "exec", dont_inherit=True)  # none of this module's __future__ flags


def load_env_module(source: str | types.CodeType, class_name: str, env_name: str = "") -> types.ModuleType:
    """Execute an env file's source (or its code, compiled by :func:`compile_env`) as a fresh module
    (its ``__main__`` block does not run).

    Raises :class:`EnvLoadError` naming the env if the source fails to compile or import, or if
    it defines no class ``class_name``.
    """
    label = env_name or class_name
    module = types.ModuleType(f"codegym_env_{re.sub(r'[^0-9A-Za-z_]', '_', label)}")
    module.__file__ = env_filename(label)
    try:
        code = source if isinstance(source, types.CodeType) else compile_env(source, label)
        exec(code, module.__dict__)  # noqa: S102 - running env code is the point; runtimes isolate it
    except SyntaxError as exc:
        raise EnvLoadError(f"env {label}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except BaseException as exc:  # env code may raise anything, SystemExit included
        raise EnvLoadError(f"env {label}: import failed: {type(exc).__name__}: {exc}") from None
    cls = module.__dict__.get(class_name)
    if not isinstance(cls, type):
        found = [n for n, v in module.__dict__.items() if isinstance(v, type) and n.endswith("Env")]
        raise EnvLoadError(f"env {label}: no class {class_name!r} in its source (found: {found or 'none'})")
    return module


class Catalog:
    """An index of env specs by name, filled from paths, records, rows and installed packs."""

    def __init__(self, specs: Iterable[EnvSpec] = ()) -> None:
        from .task_text import TaskTexts  # (task_text builds on this module)

        self._by_name: dict[str, EnvSpec] = {}
        self._by_class: dict[str, list[str]] = {}
        self.row_tasks = TaskTexts()  # task texts of rows that carry no env source, by env name
        for spec in specs:
            self.add(spec)

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], *, installed: bool = False) -> Catalog:
        """A catalog of every env under ``paths`` (files, folders, records, row files)."""
        catalog = cls()
        if installed:
            catalog.add_installed()
        for path in paths:
            catalog.add_path(path)
        return catalog

    @classmethod
    def default(cls) -> Catalog:
        """The envs of every installed env pack (the bundled envs among them)."""
        catalog = cls()
        catalog.add_installed()
        return catalog

    def add(self, spec: EnvSpec) -> None:
        """Add one spec; a later spec of the same name replaces an earlier one. A spec without task
        text takes one from rows of the same env added before (their prompt's user message)."""
        if not (spec.task and spec.task.strip()):
            spec.task = self.row_tasks.for_spec(spec) or spec.task
        if spec.name not in self._by_name:
            self._by_class.setdefault(spec.class_name, []).append(spec.name)
        self._by_name[spec.name] = spec

    def add_path(self, path: str | Path) -> int:
        """Add the envs at ``path``; returns how many were added."""
        path = Path(path).expanduser()
        before = len(self._by_name)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix == ".py" and _FILE_RE.match(child.stem):
                    self.add(_spec_from_file_name(child))
                elif child.suffix == ".json":
                    self._add_records(child, strict=False)
        elif path.suffix == ".py":
            self.add(_spec_from_py_file(path))
        elif path.suffix == ".json":
            self._add_records(path)
        elif path.suffix in (".jsonl", ".parquet"):
            self.add_rows(read_rows(path), origin=str(path))
        elif not path.exists():
            raise EnvLoadError(f"env path {path} does not exist")
        else:
            raise EnvLoadError(f"env path {path}: expected a folder, .py, .json, .jsonl or .parquet file")
        return len(self._by_name) - before

    def add_rows(self, rows: Iterable[Mapping[str, Any]], *, origin: str = "rows") -> int:
        """Add envs carried by dataset rows (hub ``envs_*`` rows, or training rows with ``gym_env``).

        Training rows without env source still bring their task text (the prompt's user message) to
        the envs they name that have none, here or added later.
        """
        from .task_text import TaskTexts, attach_tasks

        before = len(self._by_name)
        found = TaskTexts()
        for i, row in enumerate(rows):
            spec = _spec_from_row(row, f"{origin}#{i}")
            if spec is not None and spec.name not in self._by_name:
                self.add(spec)
            elif spec is None and isinstance(row, Mapping) and isinstance(row.get("ability"), str):
                try:
                    ref = parse_env_string(row["ability"])
                except CodeGymError:
                    continue
                found.add_item(row, [ref.name])
        self.row_tasks.update(found)
        attach_tasks(self, found)
        return len(self._by_name) - before

    def add_installed(self) -> int:
        """Add the envs of every installed env pack (entry-point group ``codegym_adapters.envs``).

        An entry point names a package or module; its folder is indexed like any env folder.
        """
        before = len(self._by_name)
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = ep.load()
            except Exception as exc:  # a broken pack must say so, not vanish
                raise EnvLoadError(f"env pack {ep.name!r} ({ep.value}) failed to load: {exc}") from None
            folder = _folder_of(target)
            if folder is None:
                raise EnvLoadError(f"env pack {ep.name!r} ({ep.value}) is not a package or folder")
            self.add_path(folder)
        return len(self._by_name) - before

    def _add_records(self, path: Path, *, strict: bool = True) -> None:
        """Add verified-record JSON. In a folder (``strict=False``) a JSON file that holds no env
        record (notes, reports) is skipped with a warning instead of failing the whole folder."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            if not strict:
                warnings.warn(f"skipping {path}: not an env record ({exc})", stacklevel=3)
                return
            raise EnvLoadError(f"env record {path}: cannot read JSON: {exc}") from None
        records = data if isinstance(data, list) else [data]
        specs = [_spec_from_row(r, f"{path}#{i}") if isinstance(r, dict) else None for i, r in enumerate(records)]
        if not strict and not any(specs):
            warnings.warn(f"skipping {path}: no env record in it", stacklevel=3)
            return
        for i, spec in enumerate(specs):
            if spec is None:
                raise EnvLoadError(f"env record {path}#{i}: no 'gym_env'/'env_code' source and env name")
            self.add(spec)

    # -- lookup -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[EnvSpec]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> EnvSpec:
        """The spec named ``<code_id>__<ClassName>`` or, if unambiguous, ``<ClassName>``."""
        if name in self._by_name:
            return self._by_name[name]
        match = _FILE_RE.match(name)
        class_name = match.group("cls") if match else name
        names = self._by_class.get(class_name, [])
        if not match and len(names) == 1:
            return self._by_name[names[0]]
        if not match and len(names) > 1:
            shown = ", ".join(sorted(names)[:5]) + (" ..." if len(names) > 5 else "")
            raise AmbiguousEnv(f"env {name!r} is ambiguous: {len(names)} envs have that class ({shown}); "
                               "use '<code_id>__<ClassName>'")
        hint = ""
        if names:
            hint = f"; that class exists as {', '.join(sorted(names)[:3])}"
        else:
            close = difflib.get_close_matches(name, list(self._by_name) + list(self._by_class), n=3)
            if close:
                hint = f"; did you mean {', '.join(close)}?"
        raise EnvNotFound(f"unknown env {name!r} ({len(self)} envs in the catalog){hint}")

    def resolve(self, env: str | EnvRef) -> tuple[EnvSpec, dict[str, Any]]:
        """Resolve an env string (any accepted spelling) to its spec and options dict.

        Warns (once per env and set of keys) when option keys are not among those the env is known
        to read (:func:`~codegym_adapters.envfile.known_option_keys`): a misspelt key is otherwise
        silently ignored and the env runs its defaults.
        """
        ref = parse_env_string(env) if isinstance(env, str) else env
        spec, options = self.get(ref.name), dict(ref.options)
        warn_unknown_option_keys(spec, options)
        return spec, options


_warned_keys: set[tuple[str, frozenset[str]]] = set()


def unknown_option_keys(spec: EnvSpec, options: Mapping[str, Any]) -> list[str]:
    """Keys of ``options`` the env is not known to read; none when nothing is known about it."""
    from .envfile import known_option_keys  # (envfile reads sources this module indexes)

    try:
        known = known_option_keys(spec.source, spec.class_name)
    except EnvLoadError:
        return []
    return sorted(str(k) for k in options if known and str(k) not in known)


def warn_unknown_option_keys(spec: EnvSpec, options: Mapping[str, Any]) -> None:
    """Warn once per env and key set about :func:`unknown_option_keys`."""
    unknown = unknown_option_keys(spec, options)
    if not unknown or (spec.name, frozenset(unknown)) in _warned_keys:
        return
    _warned_keys.add((spec.name, frozenset(unknown)))
    from .envfile import known_option_keys

    known = sorted(known_option_keys(spec.source, spec.class_name))
    hints = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, known, n=1)) else repr(k)
             for k in unknown]
    warnings.warn(f"env {spec.name}: option key(s) {', '.join(hints)} are not among those it is known to read "
                  f"({', '.join(known)}); it may ignore them and run its defaults", UserWarning, stacklevel=3)


# -- helpers -------------------------------------------------------------------------------------
def _spec_from_file_name(path: Path) -> EnvSpec:
    match = _FILE_RE.match(path.stem)
    assert match is not None
    return EnvSpec(class_name=match.group("cls"), code_id=match.group("code_id"), path=path, origin=str(path))


def _spec_from_py_file(path: Path) -> EnvSpec:
    if not path.is_file():
        raise EnvLoadError(f"env file {path} does not exist")
    if _FILE_RE.match(path.stem):
        return _spec_from_file_name(path)
    source = path.read_text(encoding="utf-8")
    classes = [c for c in _CLASS_RE.findall(source) if c.endswith("Env")] or _CLASS_RE.findall(source)
    if not classes:
        raise EnvLoadError(f"env file {path}: no class definition found")
    return EnvSpec(class_name=classes[0], path=path, origin=str(path), _source=source)


def _spec_from_row(row: Mapping[str, Any], origin: str) -> EnvSpec | None:
    from .rows import read_extra_info  # (rows builds on modules this one is imported by)

    extra = read_extra_info(row.get("extra_info"))  # a dict, or JSON / Python-literal text
    source = row.get("env_code") or row.get("gym_env") or extra.get("gym_env")
    if not isinstance(source, str) or not source.strip():
        return None
    code_id = str(row.get("code_id") or row.get("source") or "")
    class_name = row.get("env_name")
    ability = row.get("ability")
    if isinstance(ability, str) and "@" in ability:
        ref = parse_env_string(ability)
        class_name = class_name or ref.class_name
        code_id = code_id or ref.code_id
    if not class_name:
        found = _CLASS_RE.findall(source)
        class_name = found[0] if found else None
    if not class_name:
        return None
    task = row.get("gym_task") if isinstance(row.get("gym_task"), str) else None
    if not task:  # a training row carries its task in its prompt's user message
        from .task_text import task_from_prompt  # (task_text builds on this module)

        task = task_from_prompt(row.get("prompt"))
    return EnvSpec(class_name=str(class_name), code_id=code_id, origin=origin, task=task, _source=source)


def _folder_of(target: object) -> Path | None:
    if isinstance(target, (str, Path)):
        return Path(target)
    paths = getattr(target, "__path__", None)
    if paths:
        return Path(list(paths)[0])
    file = getattr(target, "__file__", None)
    return Path(file).parent if file else None


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read dataset rows from ``.jsonl``, ``.json`` (a list) or ``.parquet`` (needs pyarrow)."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise EnvLoadError(f"{path}: reading parquet needs pyarrow (pip install pyarrow)") from None
        try:
            return pq.read_table(path).to_pylist()
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise EnvLoadError(f"cannot read rows from {path}: {exc}") from None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvLoadError(f"cannot read rows from {path}: {exc}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise EnvLoadError(f"{path}: not JSON: {exc}") from None
        return data if isinstance(data, list) else [data]
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise EnvLoadError(f"{path}:{lineno}: not a JSON line: {exc}") from None
    return rows
