"""Stage (a), env: the model writes a task text and an env file from a problem. The file is kept when
it parses, defines an env class with every member the contract requires (:mod:`..contract`), imports
in the sandbox, maps at least ``min_tools`` documented actions (``Observe`` and ``Done`` among them),
and, when the problem has a reference solution, comes with an expression that calls it."""

from __future__ import annotations

from typing import Any

from .. import contract, pyast
from ..errors import CodeGymError
from .context import Context, limit_reason, rejected, spec_of
from .problems import Problem
from .replies import MalformedReply, python_code, section
from .splice import SpliceError, env_class, static_action_names

STAGE = "env"


async def run(ctx: Context, problem: Problem) -> dict[str, Any]:
    """The stage's verdict on ``problem`` (stored; a stored verdict is returned as is)."""
    store = ctx.stores[STAGE]
    done = store.result(problem.id)
    if done is not None:
        return done
    messages = ctx.prompts.messages(STAGE, question=problem.question,
                                    solution=problem.solution or "# (no reference solution given)")
    text = await ctx.ask(STAGE, problem.id, STAGE, messages)
    try:
        result = await check(ctx, problem, text)
    except MalformedReply as exc:
        result = rejected("malformed_reply", str(exc) + ctx.cut_off(STAGE, problem.id, STAGE))
    return store.add_result(problem.id, result)


async def check(ctx: Context, problem: Problem, text: str) -> dict[str, Any]:
    task = section(text, "task")
    if not task:
        raise MalformedReply("no <task>...</task> section")
    code_section = section(text, "env_code")
    source = python_code(code_section if code_section is not None else text, "env code").rstrip() + "\n"
    call = section(text, "solution_call")
    if call:
        call = python_code(call, "solution call").strip().strip("`").strip()
    try:
        tree = pyast.parse(source)
    except SyntaxError as exc:
        return rejected("syntax_error", f"line {exc.lineno}: {exc.msg}")
    try:
        cls = env_class(tree)
    except SpliceError as exc:
        return rejected("no_env_class", str(exc))
    shape = contract.class_shape(source, cls.name)
    missing = contract.missing_members(shape)
    if missing:
        return rejected("contract", f"{cls.name} lacks {', '.join(missing)}")

    spec = spec_of(problem.code_id, cls.name, source, task)
    try:
        await ctx.runtime.module_info((spec, {}))
    except CodeGymError as exc:
        return rejected(limit_reason(str(exc), "import", "import_error"), str(exc))
    names = static_action_names(cls)
    if names is None:  # not a dict literal: ask the running env
        try:
            async with await ctx.runtime.open((spec, {})) as session:
                names = [str(n) for n in await session.attribute("func_mapping")]
        except (CodeGymError, TypeError) as exc:
            return rejected("contract", f"func_mapping is not a dict literal and cannot be read from the env "
                                        f"created with default options: {exc}")
    lacking = [n for n in ("Observe", "Done") if n not in names]
    if lacking:
        return rejected("contract", f"func_mapping lacks {', '.join(lacking)}")
    problems, _notes = contract.action_doc_problems(shape, names)
    if problems:
        return rejected("undocumented_action", "; ".join(problems))
    if len(set(names)) < ctx.options.min_tools:
        return rejected("too_few_tools", f"{len(set(names))} actions ({', '.join(names)}); at least "
                                         f"{ctx.options.min_tools} are needed")
    if ctx.options.check_solution and problem.solution.strip():
        if not call:
            raise MalformedReply("no <solution_call>...</solution_call> section")
        try:
            pyast.parse(call, mode="eval")
        except SyntaxError as exc:
            raise MalformedReply(f"the solution call is not one Python expression: {exc.msg}") from None
    return {"status": "ok", "reason": None, "detail": "", "class_name": cls.name, "code_id": problem.code_id,
            "env_name": spec.name, "task": task, "source": source, "actions": names, "solution_call": call or ""}
