"""Where an env's task configurations come from, for ``codegym verify`` and ``codegym build-data``.

In the order they are used (:func:`known_configs`, then :func:`generator_requests`):

* ``record``: the ``unit_test_list`` of a verified-env record, or the ``ability`` of training rows,
  found in the same record/row files the envs were loaded from, or in a ``--configs`` file;
* ``example``: the literal env strings of the env file's self-test block (read statically, never
  run), used when no record or ``--configs`` file gives the env a configuration;
* ``fixed``: a bundled env file's module-level ``CONFIGS`` list;
* ``generated``: a bundled env's ``generate_config(seed, size)``;
* ``default``: no configuration anywhere, so the env's own defaults (``{}`` options).

These functions are the one source of the numbers ``codegym list``, ``show``, ``verify`` and the
README's bundled-env table give.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog, EnvSpec, read_rows, warn_unknown_option_keys
from .envfile import example_options
from .envstring import parse_env_string
from .errors import CodeGymError, EnvLoadError
from .task_text import TaskTexts

_NO_ANSWER = object()
ROW_SUFFIXES = (".json", ".jsonl", ".parquet")
SOURCES = ("record", "example", "fixed", "generated", "default")
DEFAULT_GENERATED = 2  # generated configurations verify checks per env with a generator
GENERATED_SIZES = (4, 12, 24, 48, 96)  # their sizes, in turn


@dataclass(frozen=True)
class Config:
    """One task configuration of an env: its options and where they came from."""

    options: dict[str, Any]
    source: str  # "fixed", "record", "generated" or "default"
    ref_answer: Any = field(default=_NO_ANSWER, compare=False)  # from a record, when it gives one
    seed: int | None = None
    size: int | None = None

    @property
    def has_ref_answer(self) -> bool:
        return self.ref_answer is not _NO_ANSWER

    @property
    def key(self) -> str:
        """The options as canonical JSON: equal keys mean the same configuration."""
        return options_json(self.options)


def options_json(options: Mapping[str, Any]) -> str:
    """Canonical JSON of an options dict (sorted keys), as used in env strings we write."""
    return json.dumps(options, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def dedupe(configs: Iterable[Config]) -> list[Config]:
    """``configs`` without repeated options, first occurrence kept."""
    seen: set[str] = set()
    out = []
    for config in configs:
        if config.key not in seen:
            seen.add(config.key)
            out.append(config)
    return out


def derived_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed derived from ``seed`` and ``parts``, stable across processes and Python versions."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


def load_envs(env_paths: Sequence[str | Path], config_files: Iterable[str | Path] = ()) -> tuple[Catalog, ConfigIndex]:
    """The envs under ``env_paths`` (none found is an error) and the configurations found beside them
    (records, rows) and in ``config_files`` (which must hold some)."""
    catalog = Catalog.from_paths(env_paths)
    if not len(catalog):
        raise CodeGymError(f"no envs found in {', '.join(str(p) for p in env_paths)}")
    index = ConfigIndex.from_paths(env_paths)
    index.update(ConfigIndex.from_paths(config_files, strict=True))
    return catalog, index


class ConfigIndex:
    """Configurations found in record and row files, looked up by env name or class name; also the
    task texts those records (``gym_task``) and rows (their prompt's user message) carry."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[Config]] = {}
        self.tasks = TaskTexts()

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], *, strict: bool = False) -> ConfigIndex:
        """Scan ``paths`` (folders: their ``.json`` records; files: records or rows) for configurations.

        Env ``.py`` files carry none and are skipped. With ``strict``, a path that does not exist or
        holds no configuration is an error (for files named by ``--configs``).
        """
        index = cls()
        for raw in paths:
            path = Path(raw).expanduser()
            if strict and not path.exists():
                raise EnvLoadError(f"configs file {path} does not exist")
            files = sorted(path.glob("*.json")) if path.is_dir() else [path]
            added = 0
            for file in files:
                if file.suffix in ROW_SUFFIXES or (strict and file.suffix == ".txt"):
                    added += index.add_file(file)
            if strict and not added:
                raise EnvLoadError(f"configs file {path}: no configurations found (expected env strings, "
                                   "rows with 'ability', or records with 'unit_test_list')")
        return index

    def add_file(self, path: Path) -> int:
        """Add the configurations in one file; returns how many."""
        if path.suffix == ".txt":
            items: list[Any] = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            items = read_rows(path)
        return sum(self.add_item(item, origin=f"{path}#{i}") for i, item in enumerate(items))

    def add_item(self, item: Any, origin: str = "") -> int:
        """Add the configurations of one env string, training row, or verified record."""
        if isinstance(item, str):
            return self._add_env_string(item, origin)
        if not isinstance(item, Mapping):
            return 0
        tests = item.get("unit_test_list")
        if isinstance(tests, str):
            try:
                tests = json.loads(tests)
            except ValueError:
                tests = None
        if isinstance(tests, list):
            default_name = _record_name(item)
            count = 0
            for test in tests:
                if isinstance(test, Mapping) and isinstance(test.get("unit_test"), str):
                    answer = test["ref_answer"] if "ref_answer" in test else _NO_ANSWER
                    count += self._add_env_string(test["unit_test"], origin, answer, default_name, task_of=item)
            return count
        for key in ("ability", "unit_test", "env_str", "env"):
            if isinstance(item.get(key), str) and "@" in item[key]:
                return self._add_env_string(item[key], origin, default_name=_record_name(item), task_of=item)
        return 0

    def _add_env_string(self, text: str, origin: str, answer: Any = _NO_ANSWER, default_name: str = "",
                        task_of: Mapping[str, Any] | None = None) -> int:
        try:
            ref = parse_env_string(text)
        except CodeGymError as exc:
            raise EnvLoadError(f"{origin}: {exc}") from None
        # a bare class name belongs to the record it came from, else to every env of that class
        key = ref.name if ref.code_id else default_name or ref.class_name
        self._by_key.setdefault(key, []).append(Config(dict(ref.options), "record", answer))
        if task_of is not None:
            self.tasks.add_item(task_of, [key])
        return 1

    def update(self, other: ConfigIndex) -> None:
        """Add every configuration of ``other``."""
        for key, configs in other._by_key.items():
            self._by_key.setdefault(key, []).extend(configs)
        self.tasks.update(other.tasks)

    def configs_for(self, spec: EnvSpec) -> list[Config]:
        """The configurations indexed for ``spec``: under its full name, then under its bare class name."""
        configs = list(self._by_key.get(spec.name, []))
        if spec.name != spec.class_name:
            configs += self._by_key.get(spec.class_name, [])
        return dedupe(configs)

    def __len__(self) -> int:
        return len(self._by_key)


def _record_name(item: Mapping[str, Any]) -> str:
    code_id = item.get("code_id") or item.get("source") or ""
    env_name = item.get("env_name") or ""
    if isinstance(code_id, str) and isinstance(env_name, str) and code_id and env_name:
        return f"{code_id}__{env_name}"
    return ""


def known_configs(spec: EnvSpec, module_configs: Iterable[Any], extra: ConfigIndex | None = None) -> list[Config]:
    """An env's configurations before any generator runs: records and ``--configs`` first, else the
    file's example env strings (the self-tests stand in for records, as upstream's own checks do
    with its unit tests), then its fixed ``CONFIGS`` (``module_configs``, from
    ``Runtime.module_info``); each configuration once. Raises :class:`EnvLoadError` if the source
    cannot be read."""
    records = extra.configs_for(spec) if extra is not None else []
    for config in records:  # a misspelt key in a configs file would run the env's defaults unnoticed
        warn_unknown_option_keys(spec, config.options)
    examples = [] if records else \
        [Config(options, "example") for options in example_options(spec.source, spec.class_name)]
    return dedupe(records + examples + fixed_configs(module_configs))


def generator_requests(env_name: str, count: int = DEFAULT_GENERATED, seed: int = 0) -> list[tuple[int, int]]:
    """The ``(seed, size)`` pairs verify passes to an env's ``generate_config``."""
    return [(derived_seed(seed, env_name, "verify", k), GENERATED_SIZES[k % len(GENERATED_SIZES)])
            for k in range(count)]


def count_by_source(configs: Iterable[Config], generated: int = 0) -> dict[str, int]:
    """How many configurations come from each source (``generated`` more from the generator)."""
    counts = dict.fromkeys(SOURCES[:-1], 0)
    for config in configs:
        counts[config.source] = counts.get(config.source, 0) + 1
    counts["generated"] += generated
    return {k: v for k, v in counts.items() if v}


def describe_counts(counts: dict[str, int]) -> str:
    """``"13 (11 fixed, 2 generated)"``; ``"0"`` when there are none."""
    total = sum(counts.values())
    if not total:
        return "0"
    return f"{total} ({', '.join(f'{v} {k}' for k, v in counts.items())})"


def fixed_configs(module_configs: Iterable[Any]) -> list[Config]:
    """A bundled env's ``CONFIGS`` (as reported by ``Runtime.module_info``); non-dicts are skipped."""
    return [Config(dict(c), "fixed") for c in module_configs if isinstance(c, Mapping)]
