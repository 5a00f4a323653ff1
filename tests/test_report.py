"""`codegym report`: metrics from episode records, and the HTML page checked in headless Chromium."""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest
from conftest import run
from fake_openai_server import FakeOpenAIServer, Reply, ScriptedChat

from codegym_adapters import cli, report
from codegym_adapters.calls import ToolCall
from codegym_adapters.episode import Episode, EpisodeConfig
from codegym_adapters.model_client import add_model_arguments, eval_with_model
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task

ENVS = ["Bundled_A01__HouseRobberEnv", "Bundled_B05__ArrayGcdEnv", "Bundled_B08__ShipCapacityEnv"]
# Untrusted text a model might write; if the page ever parsed it as HTML, the DOM would show it.
XSS_TEXT = ('<img src=x onerror="document.documentElement.setAttribute(\'data-pwned\',\'1\')">'
            "</script><script>document.documentElement.setAttribute('data-pwned','2')</script>")
XSS_NAME = "<b onmouseover=alert(1)>Observe</b>"


def _rows() -> list[dict]:
    """Two configurations of each env, with the oracle's round count as a dataset row carries it."""

    async def main() -> list[dict]:
        rows = []
        async with make_runtime("inprocess") as runtime:
            for name in ENVS:
                info = await runtime.module_info(runtime.resolve(f"{name}@{{}}"))
                for config in info["configs"][:2]:
                    env = f"{name}@{json.dumps(config)}"
                    trace = await runtime.oracle(env)
                    rows.append({"ability": f"codegym_v1@{env}", "extra_info": {"solve_fc_round": len(trace.calls)}})
        return rows

    return run(main())


def _model_records(folder: Path) -> Path:
    """Episodes of a 'served model' (the fake server): hostile text in replies and calls, one garbage reply."""

    async def first_user_messages(tasks):
        async with make_runtime("inprocess") as runtime:
            keys = []
            for task in tasks:
                episode = Episode(runtime, task, EpisodeConfig(prompt_style="native"))
                prompt = await episode.start()
                await episode.close()
                keys.append(prompt.messages[1]["content"])
            return keys

    tasks = [Task.from_env_string(f"{ENVS[0]}@{{\"houses\": [2, 7, 9, 3, 1]}}"),
             Task.from_env_string(f"{ENVS[1]}@{{\"nums\": [12, 18, 24]}}")]
    keys = run(first_user_messages(tasks))
    scripts = {
        keys[0]: [Reply(XSS_TEXT, [ToolCall("Observe", {})]), Reply(tool_calls=[ToolCall(XSS_NAME, {})]),
                  Reply(XSS_TEXT)],
        keys[1]: [Reply(fault="garbage")],
    }
    out = folder / "model.jsonl"
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--concurrency", type=int, default=2)
    with FakeOpenAIServer(ScriptedChat(scripts, native=True)) as server:
        args = parser.parse_args(["--model", server.url, "--tool-calls", "native", "--retries", "1",
                                  "--retry-backoff", "0.01", "--out", str(out)])

        async def main():
            async with make_runtime("inprocess") as runtime:
                return await eval_with_model(args, runtime, tasks, EpisodeConfig())

        run(main())
    return out


@pytest.fixture(scope="module")
def record_files(tmp_path_factory) -> list[Path]:
    """What `codegym eval --out` writes for three scripted policies, and a model eval."""
    folder = tmp_path_factory.mktemp("records")
    rows = folder / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    files = []
    for policy in ("oracle", "wrong", "malformed"):
        out = folder / f"{policy}.jsonl"
        assert cli.main(["eval", "--data", str(rows), "--policy", policy, "--out", str(out), "--json",
                         "--no-progress"]) == 0
        files.append(out)
    files.append(_model_records(folder))
    return files


@pytest.fixture(scope="module")
def records(record_files) -> list[dict]:
    return report.read_records(record_files)[0]


def test_summary_overall_per_env_and_per_policy(records):
    summary = report.summarize(records)
    assert summary["episodes"] == 6 * 3 + 2
    policies = summary["per_policy"]
    assert policies["oracle"]["accuracy"] == 1.0 and policies["wrong"]["accuracy"] == 0.0
    assert policies["malformed"]["done_reasons"]["no_call"] == 6
    assert policies["model:fake-model"]["model_errors"] == 1
    assert summary["accuracy"] == pytest.approx(6 / 20)
    assert set(summary["per_env"]) == set(ENVS)
    assert sum(m["episodes"] for m in summary["per_env"].values()) == 20
    assert summary["done_reasons"]["model_error"] == 1 and summary["model_errors"] == 1
    assert "Bundled_B08__ShipCapacityEnv" in report.format_per_env(summary)


def test_difficulty_buckets_use_oracle_rounds(records):
    rows = {r["bucket"]: r for r in report.difficulty_rows(records)}
    scripted = [r for r in records if r["solve_fc_round"]]
    assert sum(r["episodes"] for b, r in rows.items() if b != "unknown") == len(scripted) == 18
    assert rows["unknown"]["episodes"] == 2  # the model eval's tasks came without a row
    assert all(re.fullmatch(r"\d+(\u2013\d+|\+)|unknown", b) for b in rows)


def test_turns_histogram_counts_every_episode_once(records):
    bins = report.turns_histogram(records)
    assert sum(s + f for _, _, s, f in bins) == len(records)
    assert sum(s for _, _, s, _ in bins) == sum(1 for r in records if r["env_reward"] >= 1)
    assert all(b[0] == a[1] + 1 for a, b in zip(bins, bins[1:], strict=False))


def test_torn_and_foreign_lines_are_skipped(tmp_path, record_files):
    path = tmp_path / "mixed.jsonl"
    good = record_files[0].read_text().splitlines()[:2]
    path.write_text("\n".join([good[0], "[1, 2]", "", good[1], good[1][:40]]))
    records, skipped = report.read_records([path])
    assert (len(records), skipped) == (2, 2)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no episode records"):
        report.write_report([empty], tmp_path / "empty.html")


def test_minimal_records_get_defaults():
    record = report.normalize({"task": "Bundled_B05__ArrayGcdEnv@{'nums': [4, 6]}", "reward": 1})
    assert (record["env"], record["env_reward"], record["turns"], record["done_reason"]) == (
        "Bundled_B05__ArrayGcdEnv", 1.0, 0, "")
    assert report.summarize([record])["done_reasons"]["unknown"] == 1


def _report_command(record_files, dest: Path) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    report.register(sub)
    args = parser.parse_args(["report", *map(str, record_files), "-o", str(dest)])
    assert args.func(args) == 0


@pytest.fixture(scope="module")
def page(record_files, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("page") / "report.html"
    _report_command(record_files, dest)
    return dest


def test_page_is_self_contained_and_escapes_untrusted_text(page):
    text = page.read_text()
    data = re.search(r'<script type="application/json" id="codegym-data">(.*?)</script>', text, re.S)
    assert data and "<" not in data.group(1)
    turns = [t for ep in json.loads(data.group(1))["episodes"] for t in ep["trajectory"]]
    assert any(t.get("content") == XSS_TEXT for t in turns) and any(t["text"] == XSS_TEXT for t in turns)
    markup = text.replace(data.group(0), "")  # the page without its data: nothing to fetch, nothing injected
    assert not re.search(r"<(link|img|iframe|object|embed)\b|\b(src|href)=|@import|url\(", markup, re.I)
    assert "onerror" not in markup and "onmouseover" not in markup


# -- headless Chromium -----------------------------------------------------------------------------
def _chromium() -> str:
    for name in (os.environ.get("CODEGYM_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    if os.environ.get("CODEGYM_REQUIRE_CHROMIUM"):
        pytest.fail("chromium not found and CODEGYM_REQUIRE_CHROMIUM is set: run scripts/install-chromium.sh")
    pytest.skip("chromium not found (install it with scripts/install-chromium.sh); "
                "set CODEGYM_REQUIRE_CHROMIUM=1 to make this a failure")


def _browse(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
               "--enable-logging=stderr", "--v=0", *args, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, f"the page wrote to the console: {console}"
    return result


def _attr(dom: str, element: str, name: str) -> str | None:
    tag = re.search(rf"<{element}\b[^>]*>", dom)
    assert tag, f"no <{element}> in the DOM"
    value = re.search(rf'\s{name}="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def test_page_renders_in_chromium_with_the_expected_counts(page, records, tmp_path):
    dom = _browse(page.as_uri() + "#expand", tmp_path, "--dump-dom").stdout
    assert _attr(dom, "html", "data-js-errors") is None and _attr(dom, "html", "data-pwned") is None
    assert _attr(dom, "body", "data-ready") == "1"
    solved = sum(1 for r in records if r["env_reward"] >= 1)
    turns = sum(len(r["trajectory"]) for r in records)
    assert _attr(dom, "body", "data-episodes") == str(len(records))
    assert _attr(dom, "body", "data-solved") == str(solved)
    assert _attr(dom, "body", "data-rendered") == str(len(records))  # #expand shows and opens every one
    assert _attr(dom, "body", "data-turns-rendered") == str(turns)
    assert dom.count('<details class="episode') == len(records)
    assert re.search(r'data-metric="episodes">20<', dom) and re.search(r'data-metric="accuracy">30\.0%<', dom)
    env_rows = re.search(r'<table id="per-env">.*?</table>', dom, re.S)
    assert env_rows and env_rows.group(0).count("<tr data-name=") == len(ENVS)
    assert f"showing {len(records)} of {len(records)} matching" in dom
    # hostile model text is shown as text, not run or parsed
    assert "<img" not in dom.split('id="codegym-data"')[0] and "&lt;img src=x onerror=" in dom
    assert "&lt;b onmouseover=alert(1)&gt;Observe&lt;/b&gt;" in dom


def test_page_shows_the_first_page_of_episodes_closed_by_default(page, records, tmp_path):
    dom = _browse(page.as_uri(), tmp_path, "--dump-dom").stdout
    assert _attr(dom, "body", "data-rendered") == str(min(50, len(records)))
    assert _attr(dom, "body", "data-turns-rendered") == "0"


def _png_top_rows(path: Path, rows: int) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and the first ``rows`` decoded scanlines of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    assert header is not None
    width, height, depth, color = header[:4]
    assert depth == 8 and color in (2, 6), f"unexpected PNG format (depth {depth}, color type {color})"
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(b"".join(idat), (stride + 1) * rows)
    prev, lines = bytearray(stride), []
    for y in range(min(rows, len(raw) // (stride + 1))):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        lines.append(bytes(line))
        prev = line
    return width, height, bpp, lines


def test_screenshot_is_produced_and_not_blank(page, tmp_path):
    shot = tmp_path / "report.png"
    _browse(page.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    width, height, bpp, lines = _png_top_rows(shot, 480)
    assert (width, height) == (1280, 2000) and len(lines) == 480
    pixels = Counter(line[i : i + 3] for line in lines for i in range(0, len(line) - bpp + 1, bpp * 7))
    background, most = pixels.most_common(1)[0]
    assert len(pixels) >= 20, f"only {len(pixels)} colours in the top of the page"
    assert 1 - most / sum(pixels.values()) > 0.1, "the top of the page is nearly one colour"
    assert background != b"\x00\x00\x00"


# -- a report merged from two trainers' runs ---------------------------------------------------------
EXTRA_ENV = "Bundled_B11__ModularPowerEnv"  # in the run's data, but no trainer ran an episode of it


@pytest.fixture(scope="module")
def merged(record_files, tmp_path_factory) -> tuple[Path, list[dict]]:
    """Oracle episodes as the two trainers' dry runs record them: the env's answer to the final call
    is not fed back to the model, so its turn has no observation; veRL's records carry the answer as
    ``env_observation``, OpenRLHF's do not (and it ran no ShipCapacity episode). The run's data has an
    env that got no episode at all."""
    folder = tmp_path_factory.mktemp("merged")
    oracle = [json.loads(line) for line in record_files[0].read_text().splitlines()]
    files = []
    for trainer in ("verl", "openrlhf"):
        lines = []
        for r in oracle:
            if trainer == "openrlhf" and r["env"] == ENVS[2]:
                continue
            last = dict(r["trajectory"][-1], observation="")
            if trainer == "verl":
                last["env_observation"] = r["trajectory"][-1]["observation"]
            lines.append(json.dumps({**r, "trainer": trainer, "trajectory": [*r["trajectory"][:-1], last]}))
        files.append(folder / f"{trainer}-episodes.jsonl")
        files[-1].write_text("\n".join(lines) + "\n")
    rows = folder / "train.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in _rows())
                    + json.dumps({"ability": f"codegym_v1@{EXTRA_ENV}@{{}}"}) + "\n")
    dest = folder / "report.html"
    assert cli.main(["report", *map(str, files), "--data", str(rows), "-o", str(dest)]) == 0
    return dest, oracle


def test_merged_page_splits_by_trainer_and_shows_envs_without_episodes(merged, tmp_path):
    page, oracle = merged
    dom = _browse(page.as_uri() + "#expand", tmp_path, "--dump-dom").stdout
    assert _attr(dom, "html", "data-js-errors") is None
    trainers = re.search(r'<table id="per-trainer">.*?</table>', dom, re.S).group(0)
    assert re.findall(r'<tr data-name="(\w+)">', trainers) == ["openrlhf", "verl"]
    by_trainer = re.search(r'<table id="env-by-trainer">.*?</table>', dom, re.S).group(0)
    ship = re.search(rf'<tr data-name="{ENVS[2]}">.*?</tr>', by_trainer, re.S).group(0)
    assert re.search(r'data-trainer="openrlhf">no episodes<', ship) and "100.0%" in ship
    per_env = re.search(r'<table id="per-env">.*?</table>', dom, re.S).group(0)
    extra = re.search(rf'<tr data-name="{EXTRA_ENV}".*?</tr>', per_env, re.S).group(0)
    assert "no episodes in this run" in extra and "%" not in extra
    assert 'id="f-trainer"' in dom and not re.search(r'<select id="f-trainer"[^>]*hidden', dom)


def test_final_turn_shows_what_the_env_answered(merged, tmp_path):
    page, oracle = merged
    dom = _browse(page.as_uri() + "#expand", tmp_path, "--dump-dom").stdout
    assert ">(empty)<" not in dom
    answers = {r["trajectory"][-1]["observation"] for r in oracle}
    assert all(a and dom.count(html.escape(a, quote=False)) >= 1 for a in answers)
    verl = len(oracle)
    assert dom.count(">env answered<") == verl  # veRL's records carry the answer: shown, labelled
    openrlhf = len([r for r in oracle if r["env"] != ENVS[2]])
    assert dom.count(">(this record does not carry the env's answer") == openrlhf


def test_dry_run_records_carry_the_envs_answer_to_the_last_call():
    from codegym_adapters.dry_run import episode_record

    plan = {"policy": "oracle", "prompt": []}
    turns = [{"text": "a", "kind": "call", "call": None, "observation": "12"},
             {"text": "b", "kind": "call", "call": None, "observation": ""}]
    summary = {"env": ENVS[0], "reward": 1.0, "final_observation": "correct, reward=1"}
    record = episode_record(f"{ENVS[0]}@{{}}", plan, "verl", summary, turns)
    assert "final_observation" not in record and turns[-1]["observation"] == ""  # the caller's list untouched
    assert record["trajectory"][-1]["env_observation"] == "correct, reward=1"
    assert "env_observation" not in record["trajectory"][0]
    silent = episode_record(f"{ENVS[0]}@{{}}", plan, "verl", {**summary, "final_observation": ""}, turns)
    assert "env_observation" not in silent["trajectory"][-1]
