"""``codegym synthesize``: new verified CodeGym envs from a file of coding problems, with any
OpenAI-compatible model. See :mod:`codegym_adapters.synth` for the stages."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..argtypes import non_negative_float, non_negative_int, positive_count, positive_float, positive_int
from ..catalog import Catalog
from ..model_client import DEFAULT_API_KEY_ENV, ChatClient, RetryPolicy
from ..runtime import make_runtime
from .context import GATES, STAGES, Context, SynthOptions, fingerprint
from .pipeline import run_pipeline
from .problems import read_problems
from .prompts import STAGES as PROMPT_STAGES
from .prompts import load_prompts
from .store import StageStore
from .summary import format_table, render_html, summarize

_DESCRIPTION = """\
Turn coding problems (rows with an id, a question and a reference solution; the KodCode layout by
default) into verified CodeGym envs with a served model. Stages, each resumable from its own jsonl in
--out (rerun the same command to resume; finished model calls are not repeated):
  env         the model writes the task text and the env file; kept when it parses, honours the
              contract, imports in the sandbox and documents at least --min-tools actions
  unit_tests  the model writes configurations (easy/medium/hard); kept when get_ref_answer() computes
              within the limits, is short and matches the problem's own solution
  oracle      the model writes candidate solve() functions that use only the env's actions; the
              first that solves every unit test wins (spliced in with ast)
  verify      solve_fc_round range, then the full `codegym verify` gate
  score       (--score-with) a model plays the unit tests; envs it solves too often are dropped
Output: envs/<code_id>__<ClassName>.py, records/<code_id>__<ClassName>.json (the upstream record layout,
ready for `codegym build-data --envs DIR/records`), summary.json and synthesis.html.
All generated code runs in the sandbox runtime."""


def register(sub: Any) -> None:
    """Add ``codegym synthesize`` to the CLI's subparsers."""
    d = SynthOptions()
    p = sub.add_parser("synthesize", help="new verified envs from your own coding problems, with a served model",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problems", required=True, type=Path, metavar="FILE", help="problems (.jsonl/.json/.parquet)")
    p.add_argument("--model", required=True, metavar="URL", help="OpenAI-compatible server (vllm/sglang serve)")
    p.add_argument("--model-name", help="model to request (default: the first one GET /v1/models lists)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created; reused to resume)")
    g = p.add_argument_group("problems")
    g.add_argument("--id-column", default="question_id", help="default %(default)s")
    g.add_argument("--question-column", default="question", help="default %(default)s")
    g.add_argument("--solution-column", default="solution", help="default %(default)s")
    g.add_argument("--limit", type=positive_int, default=None, metavar="N", help="only the first N problems (default: all)")
    g.add_argument("--prompts", type=Path, metavar="PATH",
                   help=f"override prompt templates: a folder of <stage>.md files or a JSON object {{stage: text}} "
                        f"(stages: {', '.join(PROMPT_STAGES)}; $placeholders as in the defaults)")
    g = p.add_argument_group("gates (defaults: the published pipeline's)")
    g.add_argument("--unit-tests", type=int, default=d.unit_tests, metavar="N", help="configurations to ask for (default %(default)s)")
    g.add_argument("--min-unit-tests", type=int, default=d.min_unit_tests, metavar="N",
                   help="unit tests that must pass for the env to be kept (default %(default)s)")
    g.add_argument("--min-pass-fraction", type=float, default=d.min_pass_fraction, metavar="F",
                   help="fraction of the unit tests asked for that must pass (default %(default)s)")
    g.add_argument("--ref-time-limit", type=float, default=d.ref_time_s, metavar="S",
                   help="seconds for get_ref_answer() per unit test (default %(default)s)")
    g.add_argument("--ref-memory-mb", type=float, default=d.ref_memory_mb, metavar="M",
                   help="peak MiB allocated by get_ref_answer() (default %(default)s)")
    g.add_argument("--max-answer-chars", type=int, default=d.max_answer_chars, metavar="N",
                   help="longest reference answer kept, in characters of its JSON (default %(default)s)")
    g.add_argument("--oracle-candidates", type=int, default=d.oracle_candidates, metavar="N",
                   help="candidate solve() functions to ask for, one at a time (default %(default)s)")
    g.add_argument("--min-rounds", type=int, default=d.min_rounds, metavar="N",
                   help="least solve_fc_round kept (upstream's count; default %(default)s)")
    g.add_argument("--max-rounds", type=int, default=d.max_rounds, metavar="N",
                   help="most solve_fc_round kept (default %(default)s)")
    g.add_argument("--min-tools", type=int, default=d.min_tools, metavar="N",
                   help="least number of actions an env must have (default %(default)s)")
    g.add_argument("--no-solution-check", action="store_true",
                   help="do not compare get_ref_answer() with the problem's own solution")
    g.add_argument("--no-verify", action="store_true", help="skip the final `codegym verify` gate")
    g = p.add_argument_group("model requests")
    g.add_argument("--api-key-env", default=DEFAULT_API_KEY_ENV, metavar="VAR",
                   help="environment variable holding the API key, if any (default %(default)s)")
    g.add_argument("--concurrency", type=positive_count, default=d.concurrency, metavar="N", help="problems in flight")
    g.add_argument("--max-tokens", type=positive_count, default=d.max_tokens, metavar="N", help="token limit per reply (default %(default)s)")
    g.add_argument("--temperature", type=float, default=d.temperature, help="sampling temperature (default %(default)s)")
    g.add_argument("--retries", type=non_negative_int, default=5, metavar="N", help="retries of a failed request (default %(default)s)")
    g.add_argument("--retry-backoff", type=non_negative_float, default=0.5, metavar="S",
                   help="first wait before a retry, doubled each time (default %(default)s)")
    g.add_argument("--request-timeout", type=positive_float, default=600.0, metavar="S",
                   help="seconds per model request (default %(default)s)")
    g.add_argument("--extra-body", type=_json_object, default=None, metavar="JSON",
                   help="a JSON object merged into every request body (e.g. vLLM sampling options)")
    g = p.add_argument_group("difficulty scoring")
    g.add_argument("--score-with", metavar="URL", help="a served model plays each new env's unit tests")
    g.add_argument("--score-model-name", help="model name for --score-with (default: the server's first)")
    g.add_argument("--score-samples", type=positive_count, default=d.score_samples, metavar="N",
                   help="episodes per unit test when scoring (default %(default)s)")
    g.add_argument("--max-pass-rate", type=float, default=d.max_pass_rate, metavar="P",
                   help="drop envs the scoring model passes more often than this (paper: 0.25; default %(default)s)")
    g = p.add_argument_group("sandbox (generated code always runs there)")
    g.add_argument("--step-timeout", type=float, default=10.0, metavar="S",
                   help="seconds per sandbox request: an import, solve(), a probe (default %(default)s)")
    g.add_argument("--memory-mb", type=int, default=1024, metavar="M", help="per worker (default %(default)s)")
    g.add_argument("--workers", type=positive_count, default=None, metavar="N",
                   help="sandbox worker processes per env source (default: the runtime's)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(),
                   help="a progress bar per stage on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_synthesize)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _options(args: argparse.Namespace) -> SynthOptions:
    return SynthOptions(
        unit_tests=args.unit_tests, min_unit_tests=args.min_unit_tests, min_pass_fraction=args.min_pass_fraction,
        ref_time_s=args.ref_time_limit, ref_memory_mb=args.ref_memory_mb, max_answer_chars=args.max_answer_chars,
        oracle_candidates=args.oracle_candidates, min_rounds=args.min_rounds, max_rounds=args.max_rounds,
        min_tools=args.min_tools, check_solution=not args.no_solution_check, verify=not args.no_verify,
        concurrency=args.concurrency, max_tokens=args.max_tokens, temperature=args.temperature,
        max_pass_rate=args.max_pass_rate, score_samples=args.score_samples)


def cmd_synthesize(args: argparse.Namespace) -> int:
    options = _options(args)
    prompts = load_prompts(args.prompts)
    problems = read_problems(args.problems, id_column=args.id_column, question_column=args.question_column,
                             solution_column=args.solution_column, limit=args.limit or 0)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    retry = RetryPolicy(args.retries, args.retry_backoff)

    def client(url: str, name: str | None) -> ChatClient:
        return ChatClient(url, name, api_key=api_key, request_timeout=args.request_timeout, retry=retry,
                          max_connections=args.concurrency, extra_body=args.extra_body)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sandbox: dict[str, Any] = {"step_timeout": args.step_timeout, "memory_mb": args.memory_mb}
    if args.workers:
        sandbox["workers"] = args.workers

    async def main() -> tuple[list[Any], dict[str, int], str]:
        judged = fingerprint(options, {**sandbox, "workers": None}, prompts)
        stores = {s: StageStore(out / f"{s}.jsonl", judged) for s in STAGES}
        try:
            async with client(args.model, args.model_name) as chat, \
                    make_runtime("sandbox", Catalog(), **sandbox) as runtime:
                model = await chat.resolve_model()  # a wrong URL fails here, before any work
                score_client = client(args.score_with, args.score_model_name) if args.score_with else None
                ctx = Context(options, chat, runtime, prompts, stores, score_client=score_client)
                try:
                    if score_client is not None:
                        await score_client.resolve_model()
                    outcomes = await run_pipeline(ctx, out, problems, progress=args.progress)
                finally:
                    if score_client is not None:
                        await score_client.aclose()
                return outcomes, dict(ctx.model_calls), model
        finally:
            for store in stores.values():
                store.close()

    outcomes, calls, model = asyncio.run(main())
    gates = [g for g in GATES if g != "score" or args.score_with]
    summary = summarize(outcomes, gates=gates, extra={
        "model": model, "model_calls_this_run": calls, "options": asdict(options),
        "sandbox": sandbox, "problems_file": str(args.problems)})
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
                                      encoding="utf-8")
    (out / "synthesis.html").write_text(render_html(summary), encoding="utf-8")
    print(format_table(summary))
    print(f"envs: {out / 'envs'}  records: {out / 'records'}  report: {out / 'synthesis.html'}")
    return 1 if summary["unfinished"] else 0

