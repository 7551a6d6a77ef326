"""Plan review (--scripts) and saved-plan matching for one task on one host."""

from __future__ import annotations

from typing import Any

from .model import Change
from .runctx import HostState, RunContext
from .secrets import mask
from .session import RecordingSession
from .tasktree import Task


def review_entry(ctx: RunContext, host: str, task: Task, module: Any, args: Any, changes: tuple[Change, ...],
                 facts: Any) -> dict[str, Any]:
    """--scripts: the PowerShell this task's changes would run, rendered for review."""
    rec = RecordingSession(host, ctx.renderer, facts, module.predict(facts, changes))
    try:
        module.apply(args, changes, rec)
        problem = ""
    except Exception as exc:  # noqa: BLE001 - review output must not stop the plan
        problem = f"{type(exc).__name__}: {exc}"
    return {"task": task.path, "name": task.name, "changes": [f"{c.action.value} {c.resource}" for c in changes],
            "scripts": rec.scripts, "problem": ctx.secrets.scrub(problem)}


def match_saved(saved_plan: Any, st: HostState, host: str, task: Task, planned: tuple[Change, ...]) -> None:
    """Apply exactly the saved plan: the changes planned now must be the ones saved."""
    saved = saved_plan.task_changes(host, task.path) or []
    cursor = st.plan_cursor.get(task.path, 0)
    now = [mask(c.to_dict()) for c in planned]
    expect = saved[cursor:cursor + len(now)]
    st.plan_cursor[task.path] = cursor + len(now)
    if now != expect:
        from .plans import StalePlanError

        def show(cs: list[dict[str, Any]]) -> str:
            return ", ".join(f"{c['action']} {c['resource']}" for c in cs) or "nothing"

        raise StalePlanError(f"plan is stale for {host}: task {task.path} would now change "
                             f"{show(now)} but the plan has {show(expect)}; make a new plan")
