"""What a set of episode records says: metrics overall, per env and per policy, and ``codegym report``,
one self-contained HTML page (inline CSS, JS and SVG; nothing fetched) to look at them.

Records (:mod:`codegym_adapters.records`) are the JSON lines ``codegym eval --out`` and the trainers'
dry runs write; input with none (training rows, parquet) is refused with what is expected. Each
trajectory turn has ``text``, ``kind``, ``call`` and ``observation`` (what the model was shown next);
after the last turn a trainer shows the model nothing, so the env's answer to that call travels as the
turn's ``env_observation`` (or the record's ``final_observation``) where the record carries it. Records
with a ``trainer`` are split per trainer; ``--data`` lists the run's envs that got no episode.

The page's text comes from models and envs and is untrusted: the server side escapes everything it
writes, the data travels as JSON in a ``<script type="application/json">`` block with ``<``, ``>`` and
``&`` escaped, and the viewer script builds the trajectory view with ``textContent`` only.
Opening the page with ``#expand`` shows and opens every episode (for printing, and for browser tests,
which read the counts the script writes into ``<body data-*>``).
"""

from __future__ import annotations

import argparse
import datetime
import html
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from .argtypes import positive_int
from .episode import DONE_REASONS
from .records import env_names_of_rows, no_records_message, normalize, read_records
from .report_training import load_training, training_section
from .rollout import aggregate

DIFFICULTY_BUCKETS = ((1, 10), (11, 25), (26, 50), (51, 100), (101, 256), (257, None))
DEFAULT_MAX_CHARS = 20_000
_TOKEN = re.compile(r"<!--CODEGYM:(\w+)-->")


# -- records and metrics -------------------------------------------------------------------------
def summarize(records: Sequence[dict[str, Any]], *, envs: Iterable[str] = ()) -> dict[str, Any]:
    """:func:`~codegym_adapters.rollout.aggregate` over all records (every done reason seen is counted),
    plus ``model_errors`` and the same metrics ``per_env``, ``per_policy`` and ``per_trainer`` (records
    without a ``trainer`` key count as ``(none)``; empty when no record has one).

    ``envs``: envs the run was meant to cover (e.g. every env of its dataset); those without records
    appear in ``per_env`` with ``episodes`` 0 (their rates are 0.0 there: show them as "no episodes").
    """
    records = [normalize(r) for r in records]
    summary = _metrics(records)
    by_env = _group(records, "env")
    summary["per_env"] = {env: _metrics(by_env.get(env, [])) for env in sorted({*by_env, *envs})}
    summary["per_policy"] = {p: _metrics(rs) for p, rs in sorted(_group(records, "policy").items())}
    has_trainer = any(r.get("trainer") for r in records)
    summary["per_trainer"] = ({t: _metrics(rs) for t, rs in sorted(_group(records, "trainer").items())}
                              if has_trainer else {})
    return summary


def _metrics(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    metrics = aggregate(records)
    reasons = Counter(r["done_reason"] or "unknown" for r in records)
    metrics["done_reasons"] = {**{k: reasons.get(k, 0) for k in DONE_REASONS},
                               **{k: v for k, v in sorted(reasons.items()) if k not in DONE_REASONS}}
    metrics["model_errors"] = sum(1 for r in records if r.get("model_error"))
    return metrics


def _group(records: Sequence[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[str(r.get(key) or "(none)")].append(r)
    return groups


def format_per_env(summary: dict[str, Any]) -> str:
    """The per-env metrics of :func:`summarize` as a plain-text table."""
    rows = summary.get("per_env", {})
    width = max([len(e) for e in rows] + [3])
    lines = [f"{'env':<{width}}  episodes  accuracy  avg reward  avg turns  invalid rate"]
    for env, m in rows.items():
        lines.append(f"{env:<{width}}  {m['episodes']:>8}  {m['accuracy']:>8.3f}  {m['avg_reward']:>10.3f}  "
                     f"{m['avg_turns']:>9.1f}  {m['invalid_call_rate']:>12.3f}")
    return "\n".join(lines)


def difficulty_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Episodes, accuracy and average reward per bucket of oracle rounds (``solve_fc_round``);
    episodes without one go to ``unknown``. Empty buckets are left out."""
    buckets: dict[str, list[dict[str, Any]]] = {}
    for lo, hi in DIFFICULTY_BUCKETS:
        label = f"{lo}\u2013{hi}" if hi else f"{lo}+"
        buckets[label] = [r for r in records if r["solve_fc_round"] >= lo and (hi is None or r["solve_fc_round"] <= hi)]
    buckets["unknown"] = [r for r in records if r["solve_fc_round"] <= 0]
    return [{"bucket": label, **_metrics(rs)} for label, rs in buckets.items() if rs]


def turns_histogram(records: Sequence[dict[str, Any]], max_bins: int = 24) -> list[tuple[int, int, int, int]]:
    """``(first, last, successes, failures)`` per bin of turn counts; bins are 1, 2, 5, 10, … turns wide."""
    if not records:
        return []
    top = max(r["turns"] for r in records)
    width = next(w for w in _nice_widths() if (top // w) + 1 <= max_bins)
    bins = [[lo, lo + width - 1, 0, 0] for lo in range(0, top + 1, width)]
    for r in records:
        b = bins[r["turns"] // width]
        b[2 if r["env_reward"] >= 1.0 else 3] += 1
    return [(lo, hi, s, f) for lo, hi, s, f in bins]


def _nice_widths() -> Iterable[int]:
    scale = 1
    while True:
        yield from (scale, 2 * scale, 5 * scale)
        scale *= 10


# -- the page ------------------------------------------------------------------------------------
def render_html(records: Sequence[dict[str, Any]], *, title: str = "CodeGym episodes", source: str = "",
                skipped: int = 0, max_chars: int = DEFAULT_MAX_CHARS, envs: Iterable[str] = (),
                training: dict[str, Any] | None = None) -> str:
    """The whole report page for ``records``; ``envs`` as for :func:`summarize`; ``training``: a run's
    ``training.json`` as :func:`.report_training.load_training` reads it, shown as a training section."""
    records = [normalize(r) for r in records]
    summary = summarize(records, envs=envs)
    trainers = summary["per_trainer"]
    parts = {
        "TITLE": html.escape(title),
        "SUBTITLE": html.escape(f"{source} \u00b7 " if source else "")
        + f"generated {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        "SUMMARY": _summary_html(summary, skipped),
        "TRAINING": training_section(training) if training else "",
        "PER_ENV": _table_html(summary["per_env"], "env", "per-env"),
        "PER_POLICY": (_section("By policy", _table_html(summary["per_policy"], "policy", "per-policy"))
                       if len(summary["per_policy"]) > 1 else ""),
        "PER_TRAINER": (_section("By trainer", _table_html(trainers, "trainer", "per-trainer")
                                 + _env_by_trainer_html(records, summary["per_env"], list(trainers)))
                        if len(trainers) > 1 else ""),
        "HISTOGRAM": _histogram_svg(turns_histogram(records)),
        "DIFFICULTY": _difficulty_html(difficulty_rows(records)),
        "DATA": _script_json(_viewer_data(records, max_chars)),
    }
    template = resources.files("codegym_adapters").joinpath("report_template.html").read_text(encoding="utf-8")
    return _TOKEN.sub(lambda m: parts[m.group(1)], template)  # one pass: inserted text is never rescanned


def write_report(sources: Sequence[Path], dest: Path, *, title: str | None = None,
                 max_chars: int = DEFAULT_MAX_CHARS, data: Sequence[Path] = (),
                 training: Path | None = None) -> dict[str, Any]:
    """Read episode records from ``sources`` (and training metrics from ``training``, a run's
    ``training.json``), write the page to ``dest``; returns the summary.

    ``data``: the training rows the run drew from; their envs without records are listed as having
    none. Raises ``ValueError`` when ``sources`` hold no episode records (saying what they hold)."""
    records, skipped = read_records(sources)
    if not records:
        raise ValueError(no_records_message(sources))
    envs = env_names_of_rows(data)
    names = ", ".join(Path(s).name for s in sources)
    page = render_html(records, title=title or f"CodeGym episodes: {names}", source=names, skipped=skipped,
                       max_chars=max_chars, envs=envs, training=load_training(training) if training else None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(page, encoding="utf-8")
    return {**summarize(records, envs=envs), "skipped_lines": skipped}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _section(heading: str, body: str) -> str:
    return f'<section><h2>{html.escape(heading)}</h2>{body}</section>'


def _summary_html(s: dict[str, Any], skipped: int) -> str:
    cards = [("episodes", str(s["episodes"]), "episodes"), ("accuracy", _pct(s["accuracy"]), "accuracy"),
             ("average reward", f"{s['avg_reward']:.3f}", "avg_reward"),
             ("average turns", f"{s['avg_turns']:.1f}", "avg_turns"),
             ("invalid-call rate", _pct(s["invalid_call_rate"]), "invalid_call_rate"),
             ("env errors", str(s["env_errors"]), "env_errors"), ("model errors", str(s["model_errors"]), "model_errors")]
    out = ['<div class="cards">']
    out += [f'<div class="card"><div class="value" data-metric="{key}">{html.escape(value)}</div>'
            f'<div class="label">{html.escape(label)}</div></div>' for label, value, key in cards]
    out.append("</div>")
    reasons = [(k, v) for k, v in s["done_reasons"].items() if v]
    out.append('<p class="reasons">Done reasons: ' + " ".join(
        f'<span class="pill reason-{html.escape(k)}" data-reason="{html.escape(k)}">{html.escape(k)} '
        f"<b>{v}</b></span>" for k, v in reasons) + "</p>")
    if skipped:
        out.append(f'<p class="warn" data-skipped="{skipped}">{skipped} line(s) of the input were not episode '
                   "records and were skipped.</p>")
    return "".join(out)


def _table_html(groups: dict[str, dict[str, Any]], what: str, table_id: str) -> str:
    head = (f'<tr><th>{what}</th><th class="num">episodes</th><th class="num">accuracy</th>'
            '<th class="num">avg reward</th><th class="num">avg turns</th><th class="num">invalid rate</th>'
            "<th>done reasons</th></tr>")
    rows = []
    for name, m in groups.items():
        if not m["episodes"]:  # an env of the run's data that got no episode: not a 0 % env
            rows.append(f'<tr data-name="{html.escape(name)}" class="none"><td class="name">{html.escape(name)}</td>'
                        '<td class="num">0</td><td class="none" colspan="5">no episodes in this run</td></tr>')
            continue
        reasons = ", ".join(f"{k} {v}" for k, v in m["done_reasons"].items() if v)
        rows.append(
            f'<tr data-name="{html.escape(name)}"><td class="name">{html.escape(name)}</td>'
            f'<td class="num">{m["episodes"]}</td>'
            f'<td class="num"><span class="bar"><span style="width:{100 * m["accuracy"]:.1f}%"></span></span>'
            f' {_pct(m["accuracy"])}</td><td class="num">{m["avg_reward"]:.3f}</td>'
            f'<td class="num">{m["avg_turns"]:.1f}</td><td class="num">{_pct(m["invalid_call_rate"])}</td>'
            f'<td class="reasons">{html.escape(reasons)}</td></tr>')
    return f'<table id="{table_id}"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _env_by_trainer_html(records: Sequence[dict[str, Any]], per_env: dict[str, Any], trainers: list[str]) -> str:
    """Episodes and accuracy of each env under each trainer; "no episodes" where a trainer ran none."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        cells[(str(r["env"] or "(none)"), str(r.get("trainer") or "(none)"))].append(r)
    head = "<tr><th>env</th>" + "".join(f'<th class="num">{html.escape(t)}</th>' for t in trainers) + "</tr>"
    rows = []
    for env in (e for e, m in per_env.items() if m["episodes"]):  # the rest are marked in the per-env table
        tds = []
        for t in trainers:
            rs = cells.get((env, t), [])
            if rs:
                m = _metrics(rs)
                tds.append(f'<td class="num" data-trainer="{html.escape(t)}">{_pct(m["accuracy"])} '
                           f'<span class="note">of {m["episodes"]}</span></td>')
            else:
                tds.append(f'<td class="num none" data-trainer="{html.escape(t)}">no episodes</td>')
        rows.append(f'<tr data-name="{html.escape(env)}"><td class="name">{html.escape(env)}</td>{"".join(tds)}</tr>')
    return ('<h3>Accuracy by env and trainer</h3><table id="env-by-trainer"><thead>'
            f'{head}</thead><tbody>{"".join(rows)}</tbody></table>')


def _histogram_svg(bins: Sequence[tuple[int, int, int, int]]) -> str:
    if not bins:
        return '<p class="empty">No episodes.</p>'
    w, h, left, right, bottom, top = 640, 240, 44, 16, 34, 12
    peak = max(s + f for _, _, s, f in bins) or 1
    step = (w - left - right) / len(bins)
    scale = (h - bottom - top) / peak
    out = [f'<svg id="turns-histogram" viewBox="0 0 {w} {h}" width="100%" role="img" '
           'aria-label="episodes by number of turns">',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" class="axis"/>',
           f'<text x="{left - 6}" y="{top + 4}" class="tick" text-anchor="end">{peak}</text>',
           f'<text x="{left - 6}" y="{h - bottom}" class="tick" text-anchor="end">0</text>']
    label_every = math.ceil(len(bins) / 12)
    for i, (lo, hi, ok, bad) in enumerate(bins):
        x = left + i * step + 1
        y = h - bottom
        for count, cls in ((ok, "ok"), (bad, "bad")):
            if count:
                y -= count * scale
                span = f"{lo}" if lo == hi else f"{lo}\u2013{hi}"
                tip = f"{span} turns: {count} {'solved' if cls == 'ok' else 'not solved'}"
                out.append(f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
                           f'height="{count * scale:.1f}"><title>{html.escape(tip)}</title></rect>')
        if i % label_every == 0:
            out.append(f'<text x="{x + step / 2:.1f}" y="{h - bottom + 14}" class="tick" '
                       f'text-anchor="middle">{lo}</text>')
    out.append(f'<text x="{(w + left) / 2:.0f}" y="{h - 4}" class="axis-label" text-anchor="middle">turns</text>')
    out.append("</svg>")
    legend = ('<p class="legend"><span class="swatch ok"></span> solved (env reward 1) '
              '<span class="swatch bad"></span> not solved</p>')
    return "".join(out) + legend


def _difficulty_html(rows: Sequence[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        body.append(
            f'<tr data-bucket="{html.escape(r["bucket"])}"><td class="name">{html.escape(r["bucket"])}</td>'
            f'<td class="num">{r["episodes"]}</td>'
            f'<td class="num"><span class="bar"><span style="width:{100 * max(0.0, min(1.0, r["avg_reward"])):.1f}%">'
            f'</span></span> {r["avg_reward"]:.3f}</td><td class="num">{_pct(r["accuracy"])}</td></tr>')
    note = ""
    if any(r["bucket"] == "unknown" for r in rows):
        note = ('<p class="note">"unknown": the record has no oracle round count (<code>solve_fc_round</code>, '
                "from the dataset row).</p>")
    return ('<table id="difficulty"><thead><tr><th>oracle rounds</th><th class="num">episodes</th>'
            '<th class="num">avg reward</th><th class="num">accuracy</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{note}')


def _clip(value: Any, max_chars: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\u2026 [{len(text) - max_chars} more characters not shown]"


def _viewer_data(records: Sequence[dict[str, Any]], max_chars: int) -> dict[str, Any]:
    """What the trajectory viewer needs; identical prompts are stored once."""
    prompts: dict[str, int] = {}
    episodes = []
    for r in records:
        prompt = [{"role": str(m.get("role", "")), "content": _clip(m.get("content") or "", max_chars)}
                  for m in (r.get("prompt") or []) if isinstance(m, dict)]
        prompt_key = json.dumps(prompt, ensure_ascii=False)
        turns = []
        for t in r.get("trajectory") or []:
            if not isinstance(t, dict):
                continue
            turn = {"text": _clip(t.get("text") or "", max_chars), "kind": str(t.get("kind") or ""),
                    "call": _clip(t["call"], max_chars) if t.get("call") is not None else None,
                    "observation": _clip(t.get("observation") or "", max_chars)}
            if t.get("tool_calls"):
                turn["tool_calls"] = _clip(t["tool_calls"], max_chars)
                turn["content"] = _clip(t.get("content") or "", max_chars)
            if t.get("finish_reason"):
                turn["finish_reason"] = str(t["finish_reason"])
            if t.get("env_observation"):
                turn["env_observation"] = _clip(t["env_observation"], max_chars)
            turns.append(turn)
        if turns and r.get("final_observation") and not turns[-1]["observation"]:
            turns[-1].setdefault("env_observation", _clip(r["final_observation"], max_chars))
        episodes.append({
            "task": str(r["task"]), "env": str(r["env"]), "policy": str(r["policy"]),
            "trainer": str(r.get("trainer") or ""),
            "sample": r.get("sample"), "reward": r["reward"], "env_reward": r["env_reward"],
            "solved": r["env_reward"] >= 1.0, "done_reason": str(r["done_reason"]), "turns": r["turns"],
            "turn_limit": r["turn_limit"], "solve_fc_round": r["solve_fc_round"],
            "invalid_calls": r["invalid_calls"], "error": _clip(r.get("error") or "", max_chars),
            "model_error": _clip(r.get("model_error") or "", max_chars),
            "policy_error": _clip(r.get("policy_error") or "", max_chars), "usage": r.get("usage"),
            "prompt": prompts.setdefault(prompt_key, len(prompts)), "trajectory": turns,
        })
    return {"prompts": [json.loads(p) for p in prompts], "episodes": episodes}


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no "</script>", no "<!--", no HTML entities."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


# -- the command ---------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    dest = args.output or Path(args.trajectories[0]).with_suffix(".html")
    if dest.resolve() in {Path(p).resolve() for p in args.trajectories}:
        raise ValueError(f"-o {dest} is one of the inputs; name another file")
    summary = write_report(args.trajectories, dest, title=args.title, max_chars=args.max_chars, data=args.data,
                           training=args.training)
    skipped = summary["skipped_lines"]
    note = f", {skipped} line(s) that are not episode records skipped" if skipped else ""
    print(f"wrote {dest}: {summary['episodes']} episodes, accuracy {summary['accuracy']:.3f}, "
          f"avg reward {summary['avg_reward']:.3f}{note}")
    return 0


def register(sub: Any) -> None:
    """Add ``codegym report`` to the ``codegym`` subcommands (``sub`` from ``add_subparsers``)."""
    p = sub.add_parser("report", help="write one self-contained HTML page about episode records",
                       description="Summary, per-env (and per-policy, per-trainer) tables, turns histogram, "
                                   "reward by difficulty and a trajectory viewer, from episode records: the JSON "
                                   "lines `codegym eval --out` and the trainers' dry runs write. Training rows "
                                   "are not episode records: evaluate them first (`codegym eval --data ROWS "
                                   "--out FILE`).")
    p.add_argument("trajectories", type=Path, nargs="+", metavar="RECORDS",
                   help="JSONL files of episode records (several files are merged into one page)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="the HTML file (default: the first input with .html)")
    p.add_argument("--title", help="page title (default: names the input files)")
    p.add_argument("--data", type=Path, action="append", default=[], metavar="ROWS",
                   help="the training rows the run drew from (.jsonl/.parquet, repeatable): their envs that "
                        "got no episode are listed as having none")
    p.add_argument("--max-chars", type=positive_int, default=DEFAULT_MAX_CHARS, metavar="N",
                   help="longest text shown per message, call or observation (default: %(default)s)")
    p.add_argument("--training", type=Path, help="a training run's training.json: adds per-step training metrics")
    p.set_defaults(func=cmd_report)
