"""Training rows in the CodeGym layout (``codegym-format.md`` section 2), for veRL and OpenRLHF.

One row is one task configuration::

    data_source            "codegym_v1"
    prompt                 the CodeGym messages: a "functions" system message, then the user message
    ability                "codegym_v1@<code_id>__<ClassName>@<options>"
    reward_model           {"style": "agent_env", "ground_truth": None}
    answer                 a placeholder: the reward comes from the env
    plugin_call_max_round  the turn limit
    extra_info             index, solve_fc_round, plugin_call_max_round, ...

veRL rows add ``agent_name`` (which agent loop runs them) and are written as parquet; OpenRLHF rows
add ``datasource`` (its per-source metrics) and ``label`` (JSON text holding ``ability`` and
``plugin_call_max_round``: with ``--data.label_key label`` each row's own turn limit reaches the agent,
which OpenRLHF hands only the label) and are written as JSON lines. Both writers are deterministic: the same rows give
byte-identical files (fixed key order, an explicit parquet schema, no pandas or timestamp metadata).
Upstream rows (hub parquet or jsonl) are converted by :func:`convert_row`.

Numeric row fields (``plugin_call_max_round``, ``solve_fc_round``, ``index``, ...) are read by one
function, :func:`read_count`, in ``build-data`` and on the training path alike; ``extra_info`` given
as text is read by :func:`read_extra_info` (JSON, or a Python literal as upstream's tools write it).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import pyast
from .envstring import parse_env_string
from .errors import CodeGymError, OptionsError
from .tasks import DEFAULT_DATA_SOURCE, parse_trajectory

AGENT_NAME = "codegym_agent"
ANSWER_PLACEHOLDER = "The reward comes from the environment."
REWARD_MODEL = {"style": "agent_env", "ground_truth": None}
LAYOUTS = ("verl", "openrlhf")
FORMATS = ("verl", "openrlhf", "both")
SUFFIX = {"verl": ".parquet", "openrlhf": ".jsonl"}
# extra_info keys written first, in this order; any others follow in sorted order
EXTRA_ORDER = (
    "index", "solve_fc_round", "oracle_turns", "plugin_call_max_round", "env_name", "split", "task_missing",
    "config_source", "config_seed", "config_size", "source_hash", "prompt_style", "tools",
    "code_id", "qwen32b_Bo4_score", "qwen32b_Bo8_score", "std_traj", "obs_traj", "gym_env",
)  # fmt: skip
_MESSAGE_ORDER = ("role", "content", "name")


def read_count(value: Any, field: str = "value", where: str = "row") -> int | None:
    """A whole-number row field, read the same way everywhere (``build-data`` and the trainers).

    Accepted: ints, finite floats and numeric strings (``20``, ``20.0``, ``"20.0"``, ``"1e2"``; a
    fraction is cut toward zero). ``None``, an empty string and NaN mean "not given" (``None``).
    Booleans and anything else are rejected: ``None``, with a warning naming ``field`` and ``where``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        _warn_field(field, f"{where}: {field}={value!r} is a boolean, not a number: ignored")
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is not None and math.isnan(number):
        return None
    if number is None or not math.isfinite(number):
        _warn_field(field, f"{where}: {field}={str(value)[:40]!r} is not a finite number: ignored")
        return None
    return int(number)


MAX_FIELD_WARNINGS = 5  # per field and process: a whole data set of bad rows must not flood the logs
_field_warnings: dict[str, int] = {}


def _warn_field(field: str, message: str) -> None:
    seen = _field_warnings.get(field, 0)
    _field_warnings[field] = seen + 1
    if seen < MAX_FIELD_WARNINGS:
        warnings.warn(message, UserWarning, stacklevel=3)
    elif seen == MAX_FIELD_WARNINGS:
        warnings.warn(f"more rows have a {field} that is not a number; further ones are not reported",
                      UserWarning, stacklevel=3)


def read_extra_info(value: Any) -> dict[str, Any]:
    """``extra_info`` as a dict: a mapping, or text holding a JSON object or a Python dict literal
    (upstream writes some with ``str(dict)``); anything else gives ``{}``."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value.strip().startswith("{"):
        return {}
    try:
        loaded = json.loads(value)
    except ValueError:
        try:
            loaded = pyast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return {}
    return dict(loaded) if isinstance(loaded, Mapping) else {}


def training_row(
    *,
    ability: str,
    prompt: Sequence[Mapping[str, Any]],
    turn_limit: int,
    extra_info: Mapping[str, Any],
    data_source: str = DEFAULT_DATA_SOURCE,
    answer: str = ANSWER_PLACEHOLDER,
    reward_model: Mapping[str, Any] | None = None,
    top_level: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A row in the shared layout (see the module docstring); ``extra_info`` gets the turn limit too.
    ``top_level`` adds fields after ``extra_info`` (a converted row's own ``code_id``)."""
    extra = dict(extra_info)
    extra.setdefault("plugin_call_max_round", turn_limit)
    return {
        "data_source": data_source,
        "prompt": [dict(m) for m in prompt],
        "ability": ability,
        "reward_model": dict(reward_model if reward_model is not None else REWARD_MODEL),
        "answer": answer,
        "plugin_call_max_round": int(turn_limit),
        "extra_info": extra,
        **dict(top_level or {}),
    }


def for_layout(row: Mapping[str, Any], layout: str) -> dict[str, Any]:
    """``row`` plus what ``layout`` needs: ``agent_name`` (veRL), or ``datasource`` and ``label`` (OpenRLHF)."""
    if layout == "verl":
        return {**row, "agent_name": AGENT_NAME}
    if layout == "openrlhf":
        label = {"ability": row["ability"], "plugin_call_max_round": row.get("plugin_call_max_round")}
        return {**row, "datasource": row["data_source"], "label": json.dumps(label, ensure_ascii=False)}
    raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")


def layouts_of(fmt: str) -> tuple[str, ...]:
    """The layouts a ``--format`` value asks for."""
    if fmt == "both":
        return LAYOUTS
    if fmt in LAYOUTS:
        return (fmt,)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# -- making rows uniform ---------------------------------------------------------------------------
def normalize(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the same ``extra_info`` keys (missing ones ``None``) in a fixed order, so that
    parquet gets one struct type and JSON readers one set of columns."""
    keys: set[str] = set()
    for row in rows:
        keys.update(row["extra_info"])
    order = [k for k in EXTRA_ORDER if k in keys] + sorted(keys - set(EXTRA_ORDER))
    return [{**row, "extra_info": {k: _plain(row["extra_info"].get(k)) for k in order}} for row in rows]


def _plain(value: Any) -> Any:
    """Scalars stay; lists and dicts become JSON text so one column keeps one type."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# -- writing -------------------------------------------------------------------------------------
def write_jsonl(rows: Iterable[Mapping[str, Any]], path: Path) -> None:
    """One JSON object per line, keys in row order, UTF-8."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_parquet(rows: Sequence[Mapping[str, Any]], path: Path,
                  schema_rows: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Rows as a parquet file with an explicit schema, inferred from ``schema_rows`` (default: ``rows``;
    pass every split's rows so that all files share one schema, empty ones included)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CodeGymError("writing parquet needs pyarrow: pip install 'codegym-adapters[data]'") from None
    schema = parquet_schema(rows if schema_rows is None else schema_rows, pa)
    table = pa.Table.from_pylist([_for_parquet(r, schema, pa) for r in rows], schema=schema)
    pq.write_table(table, path, compression="zstd")


def parquet_schema(rows: Sequence[Mapping[str, Any]], pa: Any) -> Any:
    top = ["data_source", "prompt", "ability", "reward_model", "answer", "plugin_call_max_round", "extra_info"]
    for row in rows:
        top += [k for k in row if k not in top]
    message_keys: set[str] = {"role", "content"}
    extra_keys: list[str] = []
    for row in rows:
        for message in row["prompt"]:
            message_keys.update(message)
        extra_keys += [k for k in row["extra_info"] if k not in extra_keys]
    if not rows:
        extra_keys = ["index", "solve_fc_round", "plugin_call_max_round"]
    message_order = [k for k in _MESSAGE_ORDER if k in message_keys] + sorted(message_keys - set(_MESSAGE_ORDER))
    fields = {
        "data_source": pa.string(),
        "prompt": pa.list_(pa.struct([(k, pa.string()) for k in message_order])),
        "ability": pa.string(),
        "reward_model": pa.struct([("style", pa.string()), ("ground_truth", pa.string())]),
        "answer": pa.string(),
        "plugin_call_max_round": pa.int64(),
        "extra_info": pa.struct([(k, _arrow_type([r["extra_info"].get(k) for r in rows], pa))
                                 for k in extra_keys]),
    }
    return pa.schema([(k, fields.get(k, pa.string())) for k in top])


def _arrow_type(values: Sequence[Any], pa: Any) -> Any:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def _for_parquet(row: Mapping[str, Any], schema: Any, pa: Any) -> dict[str, Any]:
    """Coerce a row to ``schema``: message values and odd extra values become strings."""
    out = dict(row)
    out["prompt"] = [{k: _text(v) for k, v in m.items()} for m in row["prompt"]]
    reward = row.get("reward_model") or {}
    out["reward_model"] = {"style": _text(reward.get("style")), "ground_truth": _text(reward.get("ground_truth"))}
    extra_type = schema.field("extra_info").type
    extra = {}
    for i in range(extra_type.num_fields):
        f = extra_type.field(i)
        value = row["extra_info"].get(f.name)
        extra[f.name] = float(value) if f.type == pa.float64() and value is not None else \
            _text(value) if f.type == pa.string() else value
    out["extra_info"] = extra
    for key in out:
        if key not in ("prompt", "reward_model", "extra_info", "plugin_call_max_round"):
            out[key] = _text(out[key])
    return out


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# -- upstream rows -------------------------------------------------------------------------------
def convert_row(row: Mapping[str, Any], *, default_turn_limit: int, where: str = "row") -> dict[str, Any]:
    """An upstream training row (hub parquet or jsonl) in our layout.

    ``plugin_call_max_round`` may be top-level or in ``extra_info``; ``extra_info`` may be text (JSON
    or a Python literal); ``std_traj`` may be a list or JSON text (it is kept as JSON text); every
    other ``extra_info`` entry is kept. A top-level ``code_id`` stays where it is (and is copied into
    ``extra_info``). The prompt's messages are kept as they are.
    """
    ability = row.get("ability")
    if not isinstance(ability, str) or "@" not in ability:
        raise OptionsError(f"{where}: no CodeGym 'ability' env string (got {str(ability)[:80]!r})")
    try:
        ref = parse_env_string(ability)
    except CodeGymError as exc:
        raise OptionsError(f"{where}: {exc}") from None
    extra = read_extra_info(row.get("extra_info"))
    prompt = _messages(row.get("prompt"), where)
    limit = read_count(row.get("plugin_call_max_round"), "plugin_call_max_round", where)
    if limit is None:
        limit = read_count(extra.get("plugin_call_max_round"), "extra_info.plugin_call_max_round", where)
    extra["plugin_call_max_round"] = limit if limit is not None else default_turn_limit
    extra["env_name"] = ref.name
    if extra.get("code_id") is None and row.get("code_id") is not None:
        extra["code_id"] = row["code_id"]
    if "std_traj" in extra and parse_trajectory(extra["std_traj"]) is None and extra["std_traj"] not in (None, ""):
        raise OptionsError(f"{where}: extra_info.std_traj is not a list of calls")
    reward_model = row.get("reward_model") if isinstance(row.get("reward_model"), Mapping) else None
    answer = row.get("answer")
    return training_row(
        ability=ability,
        prompt=prompt,
        turn_limit=extra["plugin_call_max_round"],
        extra_info=extra,
        data_source=str(row.get("data_source") or DEFAULT_DATA_SOURCE),
        answer=answer if isinstance(answer, str) else ANSWER_PLACEHOLDER,
        reward_model=reward_model,
        top_level={"code_id": row["code_id"]} if row.get("code_id") is not None else None,
    )


def rounds_of(row: Mapping[str, Any]) -> int | None:
    return read_count(row["extra_info"].get("solve_fc_round"), "solve_fc_round", str(row.get("ability", "row"))[:120])


def pass_rate_of(row: Mapping[str, Any]) -> float | None:
    """The 32B model's pass rate recorded with a row (Bo8 preferred), if any."""
    for key in ("qwen32b_Bo8_score", "qwen32b_Bo4_score"):
        value = row["extra_info"].get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def _messages(value: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise OptionsError(f"{where}: 'prompt' is text, not a list of messages") from None
    if not isinstance(value, (list, tuple)) and hasattr(value, "tolist"):
        value = value.tolist()  # numpy arrays, as pandas reads parquet lists
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(m, Mapping) for m in value):
        raise OptionsError(f"{where}: 'prompt' must be a non-empty list of messages")
    return [dict(m) for m in value]
