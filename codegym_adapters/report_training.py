"""The training part of the report: per-step metrics of a real training run, as a plot and a table.

Input: the ``training.json`` a training run writes (``scripts/demo.sh``; see
``scripts/cpu_bridge/codegym_cpu_bridge/results.py``)::

    {"device": "cpu", "trainer_seconds": 250.0,
     "steps": [{"step": 1, "trajectories": 8, "reward_mean": -0.4, "done_reasons": {"turn_limit": 6, ...},
                "pg_loss": 0.01, "grad_norm": 0.8, "logprob_abs_diff_mean": 2e-6, ...}, ...]}

Every step key but ``step`` is optional. :func:`training_section` renders one HTML section: an inline
SVG with one small panel per metric (mean reward, pg loss, grad norm, mean |rollout - actor| log-prob)
over the steps, and a table with the done reasons. All text is escaped; nothing is fetched.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

# (key in a step, panel title, number format)
PANELS = (
    ("reward_mean", "mean reward", "{:.3f}"),
    ("pg_loss", "policy-gradient loss", "{:.4f}"),
    ("grad_norm", "grad norm", "{:.3f}"),
    ("logprob_abs_diff_mean", "mean |vLLM - actor| log-prob", "{:.1e}"),
)
_W, _H, _PAD = 250, 120, 48


def load_training(path: Path) -> dict[str, Any]:
    """Read ``training.json``; raises ``ValueError`` naming the file if it is not a training record."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not readable as training metrics JSON ({exc})") from None
    if not isinstance(value, dict) or not isinstance(value.get("steps"), list):
        raise ValueError(f"{path}: expected an object with a `steps` list (the training.json of a training run)")
    for i, step in enumerate(value["steps"]):
        if not isinstance(step, dict) or not isinstance(step.get("step"), int):
            raise ValueError(f"{path}: steps[{i}] has no integer `step`")
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _panel(steps: list[dict[str, Any]], key: str, title: str, fmt: str, x0: int) -> str:
    points = [(s["step"], _number(s.get(key))) for s in steps]
    points = [(x, y) for x, y in points if y is not None]
    out = [f'<g transform="translate({x0},0)" data-panel="{html.escape(key)}">',
           f'<text x="{_PAD}" y="14" class="panel-title">{html.escape(title)}</text>',
           f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - 8}" y2="{_H - _PAD}" class="axis"/>',
           f'<line x1="{_PAD}" y1="22" x2="{_PAD}" y2="{_H - _PAD}" class="axis"/>']
    if not points:
        out.append(f'<text x="{_PAD + 8}" y="{_H // 2}" class="empty">not logged</text></g>')
        return "".join(out)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0 if lo == 0 else lo - abs(lo) * 0.5, hi + 1.0 if hi == 0 else hi + abs(hi) * 0.5
    x_lo, x_hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def sx(x: float) -> float:
        return _PAD + 6 + (x - x_lo) / (x_hi - x_lo) * (_W - _PAD - 20)

    def sy(y: float) -> float:
        return _H - _PAD - 4 - (y - lo) / (hi - lo) * (_H - _PAD - 30)

    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    out.append(f'<polyline points="{path}" class="line"/>')
    for x, y in points:
        label = html.escape(f"step {x}: {fmt.format(y)}")
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" class="dot" data-step="{x}" '
                   f'data-value="{y!r}"><title>{label}</title></circle>')
    out.append(f'<text x="2" y="{sy(hi) + 4:.1f}" class="tick">{html.escape(fmt.format(hi))}</text>')
    out.append(f'<text x="2" y="{sy(lo) + 4:.1f}" class="tick">{html.escape(fmt.format(lo))}</text>')
    for x in sorted(set(xs)):
        out.append(f'<text x="{sx(x) - 3:.1f}" y="{_H - _PAD + 14}" class="tick">{x}</text>')
    out.append(f'<text x="{_W // 2}" y="{_H - 2}" class="tick">step</text></g>')
    return "".join(out)


def training_svg(steps: list[dict[str, Any]]) -> str:
    """One inline SVG: a panel per metric of :data:`PANELS`, each over the steps."""
    width = _W * len(PANELS)
    panels = "".join(_panel(steps, key, title, fmt, i * _W) for i, (key, title, fmt) in enumerate(PANELS))
    style = ("<style>.axis{stroke:#999}.line{fill:none;stroke:#3a6ea5;stroke-width:2}.dot{fill:#3a6ea5}"
             ".panel-title{font:12px sans-serif;font-weight:bold}.tick,.empty{font:10px sans-serif;fill:#555}</style>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {_H}" width="{width}" height="{_H}" '
            f'role="img" aria-label="training metrics per step" id="training-plot">{style}{panels}</svg>')


def _cell(value: Any, fmt: str = "{:.4g}") -> str:
    number = _number(value)
    return f'<td class="num">{html.escape(fmt.format(number)) if number is not None else "&ndash;"}</td>'


def training_section(training: dict[str, Any]) -> str:
    """The report's "Training" section for a run's ``training.json`` contents."""
    steps = sorted(training.get("steps") or [], key=lambda s: s["step"])
    where = html.escape(str(training.get("device") or "?"))
    seconds = _number(training.get("trainer_seconds"))
    memory = _number(training.get("peak_memory_gib"))
    intro = (f"<p>{len(steps)} step(s) of veRL's trainer on {where}"
             + (f", {seconds:.0f} s" if seconds is not None else "")
             + (f", peak memory {memory:.1f} GiB" if memory else "") + ". Each point is one step; the last "
             "panel is the mean absolute difference between the rollout engine's log-probs of the generated "
             "tokens and the actor's recomputed ones (near 0 when prompts, responses and masks line up and "
             "the updated weights reached the rollout engine).</p>")
    head = ("<tr><th>step</th><th class='num'>trajectories</th><th class='num'>mean reward</th>"
            "<th class='num'>min</th><th class='num'>max</th><th>done reasons</th><th class='num'>pg loss</th>"
            "<th class='num'>grad norm</th><th class='num'>|&Delta; log-prob|</th></tr>")
    rows = []
    for s in steps:
        reasons = ", ".join(f"{html.escape(str(k))} {int(v)}" for k, v in (s.get("done_reasons") or {}).items())
        rows.append(f'<tr data-step="{s["step"]}"><td>{s["step"]}</td>{_cell(s.get("trajectories"), "{:.0f}")}'
                    f'{_cell(s.get("reward_mean"), "{:.3f}")}{_cell(s.get("reward_min"), "{:.3f}")}'
                    f'{_cell(s.get("reward_max"), "{:.3f}")}<td>{reasons}</td>{_cell(s.get("pg_loss"))}'
                    f'{_cell(s.get("grad_norm"))}{_cell(s.get("logprob_abs_diff_mean"), "{:.1e}")}</tr>')
    table = f'<table id="training-steps"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    return f'<section id="training"><h2>Training</h2>{intro}{training_svg(steps)}{table}</section>'
