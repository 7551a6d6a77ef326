"""Task keywords that change how one task runs (issue 13 item 4), as ansible-core reads them:

* `environment`: a mapping (or a list of mappings, merged) of variables set in the PowerShell
  process of every script the task runs; names and values reach PowerShell as literals
  (`[Environment]::SetEnvironmentVariable(<literal>, <literal>, 'Process')`, see render.py).
  Play, block, role entry and import levels are inherited and merged per name, the innermost
  winning (ansible-core's ActionBase._compute_environment: parents first, dict.update).
* `check_mode: true` in apply: the task is planned and reported, nothing is applied (Ansible's
  check mode for that task); `check_mode: false` in plan: still planned (a plan never changes a
  host, that is hvprov's contract; documented in docs/playbooks.md). Inherited from play, block,
  role entry and import; the task's own wins. Neither keyword changes `ansible_check_mode` (nor
  `ansible_diff_mode`): ansible-core sets those from the command line only.
* `diff`: accepted and inherited the same way; hvprov reports planned changes (before/after) for
  every task either way.
* On include_tasks / include_role (dynamic) the three are refused: the included tasks get the
  keywords of the blocks and play around the include, set them there.
* `delegate_to: localhost` / `connection: local`: only for the steps that run on the controller
  anyway (debug, set_fact, assert, fail), where it changes nothing; refused for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InputError
from .tasktree import Task

CONTROLLER_MODULES = frozenset({"debug", "set_fact", "assert", "fail"})
DYNAMIC_INCLUDES = frozenset({"include_tasks", "include_role"})
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def check_keywords(loader: Any, raw: Mapping[str, Any], module: str, fpath: str) -> None:
    """Load-time checks of the keywords above (problems go to `loader.err`)."""
    from .yamlsrc import location_of

    if "delegate_to" in raw:
        target = raw["delegate_to"]
        if target not in LOCAL_NAMES or module not in CONTROLLER_MODULES:
            loader.err(f"delegate_to is only supported as delegate_to: localhost on {', '.join(sorted(CONTROLLER_MODULES))} "
                       f"(controller-side steps); got delegate_to: {target!r} on {module}",
                       location_of(raw, "delegate_to"), f"{fpath}.delegate_to")
    if "connection" in raw and (raw["connection"] != "local" or module not in CONTROLLER_MODULES):
        loader.err(f"connection per task is only supported as connection: local on {', '.join(sorted(CONTROLLER_MODULES))}; "
                   f"set ansible_connection in the inventory", location_of(raw, "connection"), f"{fpath}.connection")
    if module in DYNAMIC_INCLUDES:
        for key in ("environment", "check_mode", "diff"):
            if key in raw:
                loader.err(f"{key} on {module} is not supported (whether ansible-core passes it to the included tasks "
                           f"is not matched by hvprov): set it on a block around the {module}",
                           location_of(raw, key), f"{fpath}.{key}")
    env = raw.get("environment")
    if env is not None and not isinstance(env, (Mapping, list, str)):
        loader.err(f"environment expects a mapping of variable names to values, got {type(env).__name__}",
                   location_of(raw, "environment"), f"{fpath}.environment")


def task_environment(templar: Any, task: Task, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The task's `environment` (its parents' first, then its own), templated and merged: names
    to string values (secrets stay secrets)."""
    if not task.environment:
        return {}
    where, fieldname = task.location, f"{task.path}.environment"
    levels = task.environment if isinstance(task.environment, tuple) else (task.environment,)
    parts: list[Any] = []
    for level in templar.template(list(levels), variables, where, fieldname):
        parts.extend(level if isinstance(level, list) else [level])
    out: dict[str, Any] = {}
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, Mapping):
            raise InputError(f"environment must be a mapping, got {type(part).__name__}", location=where, field=fieldname)
        for name, val in part.items():
            if not isinstance(name, str) or not name or "=" in name or "\0" in name:
                raise InputError(f"environment variable name {name!r} is not valid", location=where, field=fieldname)
            out[name] = val if hasattr(val, "reveal") else ("" if val is None else _text(val))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else str(value)


def loop_result(results: list[dict[str, Any]], failed: bool) -> dict[str, Any]:
    """A looped task's result as ansible-core's TaskExecutor.run() builds it (key order too)."""
    if not results:
        return {"changed": False, "skipped": True, "skipped_reason": "No items in the list", "results": []}
    res: dict[str, Any] = {"results": results, "skipped": all(r.get("skipped") for r in results)}
    for r in results:
        if r.get("changed") and not res.get("changed"):
            res["changed"] = True
        if r.get("failed") and not res.get("failed"):
            res["failed"] = True
            res["msg"] = "One or more items failed"
    if not failed and not res.get("failed"):
        res["msg"] = "All items completed"
    if res["skipped"]:
        res["msg"] = "All items skipped"
    res.setdefault("changed", False)
    if failed:
        res["failed"] = True
        res.setdefault("msg", "One or more items failed")
    return res
