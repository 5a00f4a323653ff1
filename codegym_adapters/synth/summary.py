"""The synthesis summary: how many problems survived each gate and why the rest failed, as a table,
``summary.json`` and a self-contained ``synthesis.html`` page."""

from __future__ import annotations

import collections
import html
import json
from collections.abc import Sequence
from typing import Any

from .context import GATES
from .pipeline import Outcome

UNFINISHED = ("model", "internal")  # not stored: a rerun tries these problems again


def summarize(outcomes: Sequence[Outcome], *, gates: Sequence[str] = GATES, extra: dict[str, Any] | None = None,
              ) -> dict[str, Any]:
    """Per gate: problems that reached it, passed it, failed it, and the failure reasons with counts."""
    rows = []
    alive = [o for o in outcomes if o.gate not in UNFINISHED]
    for gate in gates:
        failed = [o for o in alive if o.gate == gate]
        reasons = collections.Counter(o.reason or "?" for o in failed)
        rows.append({"gate": gate, "entered": len(alive), "passed": len(alive) - len(failed),
                     "failed": len(failed), "reasons": dict(reasons.most_common())})
        alive = [o for o in alive if o.gate != gate]
    unfinished = [o for o in outcomes if o.gate in UNFINISHED]
    return {"problems": len(outcomes), "verified": sum(o.passed for o in outcomes), "unfinished": len(unfinished),
            "unfinished_reasons": dict(collections.Counter(o.reason or "?" for o in unfinished)),
            "gates": rows, **(extra or {}), "outcomes": [o.to_dict() for o in outcomes]}


def format_table(summary: dict[str, Any]) -> str:
    lines = [f"{'gate':<11} {'entered':>7} {'passed':>6} {'failed':>6}  reasons"]
    for row in summary["gates"]:
        reasons = ", ".join(f"{k} {v}" for k, v in row["reasons"].items())
        lines.append(f"{row['gate']:<11} {row['entered']:>7} {row['passed']:>6} {row['failed']:>6}  {reasons}")
    lines.append(f"{summary['verified']} of {summary['problems']} problems became verified envs")
    if summary["unfinished"]:
        why = ", ".join(f"{k} {v}" for k, v in summary["unfinished_reasons"].items())
        lines.append(f"{summary['unfinished']} not finished ({why}): run the same command again to retry them")
    return "\n".join(lines)


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
.ok{color:#176f2c}.bad{color:#a01c1c}td.num{text-align:right}.detail{font-size:90%;color:#555;max-width:60em}"""


def render_html(summary: dict[str, Any]) -> str:
    """The synthesis page: the gate table and one row per problem."""
    esc = html.escape
    gate_rows = "".join(
        f"<tr><td>{esc(r['gate'])}</td><td class=num>{r['entered']}</td><td class=num>{r['passed']}</td>"
        f"<td class=num>{r['failed']}</td><td>{esc(', '.join(f'{k} ({v})' for k, v in r['reasons'].items()))}</td></tr>"
        for r in summary["gates"])
    problem_rows = []
    for o in summary["outcomes"]:
        status = "<span class=ok>verified</span>" if o["status"] == "passed" else "<span class=bad>rejected</span>"
        rounds = o["solve_fc_round"]
        span = f"{min(rounds)}-{max(rounds)}" if rounds else ""
        rate = "" if o["pass_rate"] is None else f"{o['pass_rate']:.0%}"
        problem_rows.append(
            f"<tr><td>{esc(o['id'])}</td><td>{status}</td><td>{esc(o['env'] or '')}</td><td>{esc(o['gate'] or '')}"
            f"</td><td>{esc(o['reason'] or '')}</td><td class=num>{esc(span)}</td><td class=num>{rate}</td>"
            f"<td class=detail>{esc(o['detail'][:600])}</td></tr>")
    unfinished = f"; {summary['unfinished']} not finished" if summary["unfinished"] else ""
    meta = esc(json.dumps({k: summary[k] for k in ("model", "options") if k in summary}, indent=1))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>codegym synthesize</title>"
            f"<style>{_STYLE}</style></head><body><h1>Synthesis</h1>"
            f"<p>{summary['verified']} of {summary['problems']} problems became verified envs"
            f"{unfinished}.</p>"
            f"<h2>Gates</h2><table><tr><th>gate</th><th>entered</th><th>passed</th><th>failed</th><th>reasons</th></tr>"
            f"{gate_rows}</table><h2>Problems</h2><table><tr><th>problem</th><th>status</th><th>env</th><th>gate</th>"
            f"<th>reason</th><th>solve_fc_round</th><th>pass rate</th><th>detail</th></tr>{''.join(problem_rows)}"
            f"</table><h2>Run</h2><pre>{meta}</pre></body></html>\n")
