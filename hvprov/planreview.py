"""Plan review (--scripts) and saved-plan matching for one task on one host."""

from __future__ import annotations

from typing import Any

from .model import Change
from .runctx import HostState, RunContext
from .secrets import mask, reveal
from .session import RecordingSession
from .tasktree import Task


def review_entry(ctx: RunContext, host: str, task: Task, module: Any, args: Any, changes: tuple[Change, ...],
                 facts: Any) -> dict[str, Any]:
    """--scripts: the PowerShell this task's changes would run, rendered for review."""
    rec = RecordingSession(host, ctx.renderer, facts, module.predict(facts, changes))
    try:
        module.apply(args, changes, rec)
        problem = ""
        if task.no_log:  # the scripts would show the task's arguments
            rec.scripts, problem = [], "not shown: the task has no_log: true"
    except Exception as exc:  # noqa: BLE001 - review output must not stop the plan
        problem = f"{type(exc).__name__}: {exc}"
    return {"task": task.path, "name": task.name, "changes": [f"{c.action.value} {c.resource}" for c in changes],
            "scripts": rec.scripts, "problem": ctx.secrets.scrub(problem)}


NO_LOG_MSG = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


def censored(c: Change, key: bytes | None) -> Change:
    """A no_log change as shown and saved; with a plan key, a MAC of what it hides binds it to the plan."""
    from .plans import mac

    hidden = {"censored": NO_LOG_MSG}
    reason = f"hmac-sha256:{mac(key, reveal(c.to_dict()))}" if key is not None else ""
    return Change(c.resource, c.action, hidden if c.before else {}, hidden if c.after else {}, reason,
                  c.disruptive, c.unknown)


def match_saved(ctx: RunContext, st: HostState, host: str, task: Task, planned: tuple[Change, ...]) -> None:
    """Apply exactly the saved plan: the changes planned now must be the ones saved (as saved:
    scrubbed, and censored for no_log tasks)."""
    saved = ctx.saved_plan.task_changes(host, task.path) or []
    cursor = st.plan_cursor.get(task.path, 0)
    now = [ctx.scrub(mask(c.to_dict())) for c in planned]
    expect = saved[cursor:cursor + len(now)]
    if task.no_log:
        now = [mask(censored(c, ctx.opts.plan_key).to_dict()) for c in planned]
        if ctx.opts.plan_key is None:  # a keyed plan applied without its key: the MACs cannot be checked
            expect = [{**c, "reason": ""} for c in expect]
    st.plan_cursor[task.path] = cursor + len(now)
    if len(now) == len(expect):  # a change planned as unknown (the hypervisor's start unverified
        # until the reboot) matches the same change now known: only its flag and reason may differ
        now = [e if e.get("unknown") and _same_but_known(n, e) else n for n, e in zip(now, expect)]
    if now != expect:
        from .plans import StalePlanError

        def show(cs: list[dict[str, Any]]) -> str:
            return ", ".join(f"{c['action']} {c['resource']}" for c in cs) or "nothing"

        raise StalePlanError(f"plan is stale for {host}: task {task.path} would now change "
                             f"{show(now)} but the plan has {show(expect)}; make a new plan")


def _same_but_known(now: dict[str, Any], saved: dict[str, Any]) -> bool:
    """The unknown flag and its explanation may differ; a no_log change's MAC (its reason) may not."""
    ignore = ("unknown",) if str(saved.get("reason", "")).startswith("hmac-") else ("unknown", "reason")
    return {k: v for k, v in now.items() if k not in ignore} == {k: v for k, v in saved.items() if k not in ignore}
