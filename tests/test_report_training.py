"""The report's training section: per-step metrics of a training run as an inline SVG and a table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codegym_adapters.report import render_html, write_report
from codegym_adapters.report_training import PANELS, load_training, training_section

TRAINING = {
    "device": "cpu", "trainer_seconds": 245.3,
    "steps": [
        {"step": 1, "trajectories": 8, "reward_mean": -0.45, "reward_min": -0.8, "reward_max": -0.1,
         "done_reasons": {"turn_limit": 5, "length": 3}, "pg_loss": 0.012, "grad_norm": 0.91,
         "logprob_abs_diff_mean": 2.1e-6},
        {"step": 2, "trajectories": 8, "reward_mean": -0.30, "reward_min": -0.6, "reward_max": 0.0,
         "done_reasons": {"turn_limit": 4, "<b>odd</b>": 4}, "pg_loss": -0.004, "grad_norm": 0.75,
         "logprob_abs_diff_mean": 3.0e-6},
    ],
}  # fmt: skip
RECORD = {"task": 'HouseRobberEnv@{"houses": [2, 7]}', "policy": "tiny", "reward": -0.3, "done_reason": "turn_limit",
          "trajectory": []}  # fmt: skip


def test_every_metric_gets_a_panel_with_a_point_per_step() -> None:
    section = training_section(TRAINING)
    for key, _, _ in PANELS:
        assert f'data-panel="{key}"' in section
    assert section.count('data-step="1"') == len(PANELS) + 1  # one dot per panel, one table row
    assert 'data-value="-0.45"' in section and 'data-value="0.75"' in section
    assert "turn_limit 4" in section and "245 s" in section


def test_text_from_the_run_is_escaped() -> None:
    section = training_section(TRAINING)
    assert "<b>odd</b>" not in section and "&lt;b&gt;odd&lt;/b&gt;" in section


def test_a_metric_that_was_not_logged_says_so() -> None:
    steps = [{k: v for k, v in s.items() if k != "grad_norm"} for s in TRAINING["steps"]]
    section = training_section({**TRAINING, "steps": steps})
    assert section.count("not logged") == 1


def test_report_page_has_the_training_section_only_when_given(tmp_path: Path) -> None:
    assert 'id="training"' not in render_html([RECORD])
    records, training = tmp_path / "episodes.jsonl", tmp_path / "training.json"
    records.write_text(json.dumps(RECORD) + "\n")
    training.write_text(json.dumps(TRAINING))
    write_report([records], tmp_path / "report.html", training=training)
    page = (tmp_path / "report.html").read_text()
    assert page.index('id="summary"') < page.index('id="training"') < page.index('id="by-env"')
    assert 'id="training-plot"' in page


@pytest.mark.parametrize("text", ["not json", "[]", '{"steps": [{"step": "one"}]}'])
def test_a_file_that_is_not_training_metrics_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "training.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="training.json"):
        load_training(path)
