"""Before any host is touched: undefined variables are input errors (exit 4), with the file,
line and field; and the VHD paths a play names (for the facts script to probe)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InputError, Location, VariableError
from .hostvars import MAGIC, ROLE_MAGIC
from .inventory import Host
from .tasktree import Play, Task
from .templating import BUILTIN_NAMES, Templar
from .yamlsrc import location_of

_GUARDED = r"\b{name}\b(?:[^|{{}}]*?\bis\s+(?:not\s+)?(?:un)?defined|\s*\|\s*(?:default|d)\b)"


def _task_text(task: Task) -> str:
    return repr((task.args, task.when, task.loop, task.name, task.changed_when, task.failed_when))


def _task_refs(templar: Templar, task: Task) -> dict[str, tuple[str, Location]]:
    """name -> field where it is referenced (host-independent; cached on the Templar)."""
    cache = templar.__dict__.setdefault("_refs_cache", {})
    key = id(task)
    if key in cache:
        return cache[key]
    refs: dict[str, tuple[str, Location]] = {}
    parts: list[tuple[str, Any, bool, Location]] = []
    if isinstance(task.args, Mapping):
        parts += [(f"{task.path}.{task.module}.{k}", v, False, location_of(task.args, k) or task.location)
                  for k, v in task.args.items()]
    else:
        parts.append((f"{task.path}.{task.module}", task.args, False, task.location))
    parts += [(f"{task.path}.name", task.name, False, task.location), (f"{task.path}.loop", task.loop, False, task.location)]
    parts += [(f"{task.path}.when", w, isinstance(w, str), task.location) for w in task.when]
    for key_name, exprs in (("changed_when", task.changed_when), ("failed_when", task.failed_when)):
        parts += [(f"{task.path}.{key_name}", e, isinstance(e, str), task.location) for e in exprs or ()]
    text = _task_text(task)
    for fieldpath, value, bare, loc in parts:
        try:
            names = templar.undeclared(value, bare=bare)
        except VariableError as exc:
            raise VariableError(exc.detail, location=loc, field=fieldpath) from None
        for name in names:
            if re.search(_GUARDED.format(name=re.escape(name)), text):
                continue  # `x is defined` / `x | default(...)` guards make it legal
            refs.setdefault(name, (fieldpath, loc))
    cache[key] = refs
    return refs


def preflight(templar: Templar, play: Play, host: Host, extra_vars: Mapping[str, Any],
              carried: set[str] | None = None) -> set[str]:
    """Undefined top-level variables are input errors before any host is touched. `carried`:
    names set (set_fact, register) by earlier plays; returns them with this play's added.
    The answer depends on the host only through its variables' names: hosts with the same names
    (a group's hosts) share it (cached on the Templar, as the task references are); a host with
    an undefined variable is checked in full, for its own name in the message."""
    cache = templar.__dict__.setdefault("_preflight_cache", {})
    key = (id(play), frozenset(host.vars), frozenset(extra_vars), frozenset(carried) if carried else None)
    hit = cache.get(key)
    if hit is not None and hit[0] is play:
        return set(hit[1])
    facts = _preflight(templar, play, host, extra_vars, carried)
    cache[key] = (play, frozenset(facts))
    return facts


def _preflight(templar: Templar, play: Play, host: Host, extra_vars: Mapping[str, Any],
               carried: set[str] | None) -> set[str]:
    known = set(host.vars) | set(play.vars) | set(extra_vars) | MAGIC | BUILTIN_NAMES | (carried or set())
    facts: set[str] = set(carried or ())
    for r in play.roles:
        known |= set(r.defaults) | set(r.vars)
    for task in play.tasks + play.handlers:
        local = known | set(task.vars) | ({task.loop_var, "ansible_loop_var"} if task.loop is not None else set())
        if task.loop_extended:
            local.add("ansible_loop")
        if task.index_var:
            local |= {task.index_var, "ansible_index_var"}
        if task.role is not None:
            local |= set(task.role.defaults) | set(task.role.vars) | set(task.role.params) | ROLE_MAGIC
        if task.module in ("include_tasks", "include_role"):  # the included tasks see the include's loop item
            known |= {task.loop_var, "ansible_loop_var"} | set(task.vars)
            known |= ({"ansible_loop"} if task.loop_extended else set()) | (
                {task.index_var, "ansible_index_var"} if task.index_var else set())
        if task.register:
            local.add(task.register)
        for name, (fieldpath, loc) in _task_refs(templar, task).items():
            if name not in local:
                raise VariableError(f"undefined variable {name!r} for host {host.name}", location=loc, field=fieldpath)
        if task.register:
            known.add(task.register)
            facts.add(task.register)
        if task.module == "include_vars" and isinstance(task.args, Mapping):
            known |= set(task.args["vars"])
            facts |= set(task.args["vars"])
        if task.module == "set_fact" and isinstance(task.args, Mapping):
            known |= {str(k) for k in task.args}
            facts |= {str(k) for k in task.args}
    return facts


def probe_paths(templar: Templar, play: Play, host: Host, extra_vars: Mapping[str, Any]) -> list[str]:
    """VHD paths the play's tasks name, rendered without facts (best effort), for the facts script."""
    base = {**host.vars, **play.vars, **extra_vars, "inventory_hostname": host.name}
    found: list[str] = []
    for task in play.tasks:
        if task.module not in ("hyperv_vhd", "hyperv_vm") or not isinstance(task.args, Mapping):
            continue
        try:
            items = [None] if task.loop is None else templar.template(task.loop, base)
            for item in items if isinstance(items, list) else []:
                vars_ = base if item is None else {**base, task.loop_var: item}
                if task.module == "hyperv_vhd":  # render only the path fields, not the whole task
                    paths = [templar.template(task.args.get("path"), vars_)]
                else:
                    disks = templar.template(task.args.get("disks") or [], vars_)
                    paths = [d.get("path") if isinstance(d, Mapping) else d for d in disks or []]
                found += [p for p in paths if isinstance(p, str) and p not in found]
        except (InputError, TypeError, AttributeError):
            continue  # depends on facts or registered values: the host will be asked when it runs
    return found
