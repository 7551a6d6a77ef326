"""Running one play's tasks on one host (plan or apply), and the pre-flight variable check."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from . import modules as registry
from .cmdfacts import bootstrap_enabled, ensure_powershell
from .errors import (
    BlockedChangeError,
    HvprovError,
    InputError,
    InterruptedRun,
    Location,
    RemoteError,
    TaskError,
    TransportError,
    VariableError,
)
from .inventory import Host
from .model import Change, Status, TaskResult
from .modules.base import PlanContext
from .playbook import Play, Task, describe_validation
from .report.text import item_label
from .secrets import mask, no_log_scope, retag, reveal, secrets_in, tag_by_name
from .session import RecordingSession
from .templating import BUILTIN_NAMES, Templar, unsafe
from .yamlsrc import location_at, location_of

if TYPE_CHECKING:
    from .runner import Runner, _HostState

log = logging.getLogger("hvprov")

MAGIC = frozenset({
    "inventory_hostname", "inventory_hostname_short", "group_names", "groups", "play_hosts",
    "ansible_check_mode", "hvprov_mode", "hvprov_facts", "ansible_play_hosts", "ansible_play_batch",
    "playbook_dir", "ansible_loop", "ansible_index_var",
})
NO_LOG_MSG = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
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


def preflight(templar: Templar, play: Play, host: Host, extra_vars: Mapping[str, Any]) -> None:
    """Undefined top-level variables are input errors before any host is touched."""
    known = set(host.vars) | set(play.vars) | set(extra_vars) | MAGIC | BUILTIN_NAMES
    for task in play.tasks + play.handlers:
        local = known | set(task.vars) | ({task.loop_var, "ansible_loop"} if task.loop is not None else set())
        if task.register:
            local.add(task.register)
        for name, (fieldpath, loc) in _task_refs(templar, task).items():
            if name not in local:
                raise VariableError(f"undefined variable {name!r} for host {host.name}", location=loc, field=fieldpath)
        if task.register:
            known.add(task.register)
        if task.module == "set_fact" and isinstance(task.args, Mapping):
            known |= {str(k) for k in task.args}


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


class TaskExecutor:
    def __init__(self, runner: Runner, play: Play, st: _HostState) -> None:
        self.r = runner
        self.play = play
        self.st = st
        self.session = st.session
        self.host = st.host
        self.plan_mode = runner.opts.mode == "plan"

    # -- selection -----------------------------------------------------------
    def selected(self, task: Task) -> bool:
        tags = set(task.tags) | set(self.play.tags)
        want, skip = set(self.r.opts.tags), set(self.r.opts.skip_tags)
        if skip & tags or ("tagged" in skip and tags) or ("untagged" in skip and not tags):
            return False
        if "never" in tags and not (want & tags):
            return False
        if not want or "all" in want or "always" in tags:
            return True
        return bool(want & tags) or ("tagged" in want and bool(tags)) or ("untagged" in want and not tags)

    # -- variables -----------------------------------------------------------
    def variables(self, task: Task) -> dict[str, Any]:
        v: dict[str, Any] = dict(self.host.vars)
        v.update(self.play.vars)
        if self.session.has_facts:
            v["hvprov_facts"] = self.session.facts_dict()
        v.update(self.st.facts_vars)
        v.update(task.vars)
        v.update(self.r.opts.extra_vars)
        v["inventory_hostname"] = self.host.name
        v["inventory_hostname_short"] = self.host.name.split(".")[0]
        v["group_names"] = [g for g in self.host.groups if g != "all"]
        v["ansible_check_mode"] = self.plan_mode
        v["hvprov_mode"] = self.r.opts.mode
        v["playbook_dir"] = str(self.r.playbook.base_dir)
        return tag_by_name(v)  # `*_password` and the like are secrets wherever they were set

    # -- the play on this host -------------------------------------------------
    def run(self) -> None:
        paths = probe_paths(self.r.templar, self.play, self.host, self.r.opts.extra_vars)
        if any(p not in self.session.probe_paths for p in paths):
            self.session.probe_paths = sorted(set(self.session.probe_paths) | set(paths))
        if self.play.gather_facts or (self.r.saved_plan is not None and not self.st.plan_checked):
            self._gather()
        if self.r.saved_plan is not None and not self.st.plan_checked:
            self.r.check_saved_facts(self.host.name, self.session.facts_dict())
            self.st.plan_checked = True
        notified: list[str] = []
        for task in self.play.tasks:
            if not self._one(task, notified):
                return
        for handler in self.play.handlers:
            if handler.name in notified or set(handler.listen) & set(notified):
                if not self._one(handler, []):
                    return

    def _gather(self) -> None:
        t0 = time.monotonic()
        self.r.emit("task_started", self.host.name, task="Gathering Facts", module="facts")
        if not self.session.has_facts:
            try:
                self.session.regather()
            except TransportError as exc:
                self._record(TaskResult("Gathering Facts", "facts", Status.UNREACHABLE, msg=exc.message, duration=time.monotonic() - t0))
                raise
            except RemoteError as exc:
                self._record(TaskResult("Gathering Facts", "facts", Status.FAILED, msg=str(exc), duration=time.monotonic() - t0))
                raise TaskError(f"gathering facts failed: {exc}") from None
        self._record(TaskResult("Gathering Facts", "facts", Status.OK, duration=time.monotonic() - t0))

    def _record(self, res: TaskResult) -> None:
        scrub = self.r._scrub
        changes = tuple(Change(c.resource, c.action, scrub(c.before), scrub(c.after), scrub(c.reason), c.disruptive,
                               c.unknown) for c in res.changes)  # data is for the module's apply, never shown
        res = TaskResult(scrub(res.name), res.module, res.status, changes, scrub(res.msg),
                         res.ignored, scrub(res.data), res.duration, res.path, res.blocked)
        self.st.tasks.append(res)
        self.r.emit("task_done", self.host.name, result=res)

    def _one(self, task: Task, notified: list[str]) -> bool:
        """Run one task; False when the host must stop."""
        if self.r.stop.is_set():
            raise InterruptedRun("interrupted")
        if not self.selected(task):
            return True
        with no_log_scope(task.no_log):
            res = self._run_task(task)
        if res.status is Status.FAILED and not res.ignored:
            self.st.status = Status.FAILED
            self.st.msg = res.msg
            return False
        if res.status is Status.CHANGED:
            notified.extend(task.notify)
        return True

    def _run_task(self, task: Task) -> TaskResult:
        t0 = time.monotonic()
        base = self.variables(task)
        name = self._name(task, base)
        self.r.emit("task_started", self.host.name, task=name, module=task.module)
        changes: list[Change] = []
        msgs: list[str] = []
        results: list[dict[str, Any]] = []
        status = Status.SKIPPED
        try:
            for item in self._items(task, base):
                vars_ = base if item is _NO_ITEM else {**base, task.loop_var: item}
                if not self._when(task, vars_):
                    self._item_done(task, name, item, vars_, Status.SKIPPED, "")
                    continue
                mark = len(changes)
                try:
                    msg, data = self._item(task, vars_, changes)
                except BaseException:
                    del changes[mark:]  # planned, not made: a failed item never counts as a change
                    raise
                status = Status.OK
                self._item_done(task, name, item, vars_,
                                Status.CHANGED if any(c.mutating for c in changes[mark:]) else Status.OK, msg)
                if msg:
                    msgs.append(msg)
                results.append(data)
        except TransportError as exc:
            self._record(TaskResult(name, task.module, Status.UNREACHABLE, tuple(changes), exc.message, duration=time.monotonic() - t0))
            raise
        except InterruptedRun:
            raise  # Ctrl-C: the host is interrupted, not failed (runner._run_host)
        except InputError as exc:
            self.st.input_error = True
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0)
        except BlockedChangeError as exc:
            if self.plan_mode and exc.change is not None:  # pending, blocked: not an error of the plan
                return self._finish(task, name, Status.CHANGED, [*changes, exc.change], [str(exc)], results, t0,
                                    blocked=True)
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0)
        except (TaskError, RemoteError) as exc:
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0)
        except HvprovError as exc:
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0)
        except Exception as exc:  # a bug: fail this task and host, keep the run going, say what it was
            log.exception("internal error in task %s on %s", task.path, self.host.name)
            return self._finish(task, name, Status.FAILED, changes,
                                [f"internal error: {type(exc).__name__}: {exc}"], results, t0)
        if status is Status.OK and any(c.mutating for c in changes):
            status = Status.CHANGED
        return self._finish(task, name, status, changes, msgs, results, t0)

    def _item_done(self, task: Task, name: str, item: Any, vars_: dict[str, Any], status: Status, msg: str) -> None:
        """One line per loop item on the console (Ansible's `=> (item=...)`)."""
        if item is not _NO_ITEM:
            label = item_label(self.r.templar, task, item, vars_)
            try:
                name = str(self.r.templar.template(task.name, vars_))
            except InputError:
                pass
            self.r.emit("item_done", self.host.name, task=name, item=label, status=status.value,
                        msg="" if task.no_log else msg)

    def _record_scripts(self, task: Task, module: Any, args: Any, changes: tuple[Change, ...], facts: Any) -> None:
        """--scripts: the PowerShell this task's changes would run, rendered for review."""
        rec = RecordingSession(self.host.name, self.r.renderer, facts, module.predict(facts, changes))
        try:
            module.apply(args, changes, rec)
            problem = ""
            if task.no_log:  # the scripts would show the task's arguments
                rec.scripts, problem = [], "not shown: the task has no_log: true"
        except Exception as exc:  # noqa: BLE001 - review output must not stop the plan
            problem = f"{type(exc).__name__}: {exc}"
        self.st.review.append({"task": task.path, "name": task.name,
                               "changes": [f"{c.action.value} {c.resource}" for c in changes],
                               "scripts": rec.scripts, "problem": self.r.secrets.scrub(problem)})

    def _match_saved(self, task: Task, planned: tuple[Change, ...]) -> None:
        """Apply exactly the saved plan: the changes planned now must be the ones saved."""
        saved = self.r.saved_plan.task_changes(self.host.name, task.path) or []
        cursor = self.st.plan_cursor.get(task.path, 0)
        now = [self.r._scrub(mask(c.to_dict())) for c in planned]  # as saved: scrubbed (and censored)
        expect = saved[cursor:cursor + len(now)]
        if task.no_log:
            now = [mask(self._censored(c).to_dict()) for c in planned]
            if self.r.opts.plan_key is None:  # a keyed plan applied without its key: the MACs cannot be checked
                expect = [{**c, "reason": ""} for c in expect]
        self.st.plan_cursor[task.path] = cursor + len(now)
        if len(now) == len(expect):  # a change planned as unknown (the hypervisor's start unverified
            # until the reboot) matches the same change now known: only its flag and reason may differ
            now = [e if e.get("unknown") and _same_but_known(n, e) else n for n, e in zip(now, expect)]
        if now != expect:
            from .plans import StalePlanError

            def show(cs: list[dict[str, Any]]) -> str:
                return ", ".join(f"{c['action']} {c['resource']}" for c in cs) or "nothing"

            raise StalePlanError(f"plan is stale for {self.host.name}: task {task.path} would now change "
                                 f"{show(now)} but the plan has {show(expect)}; make a new plan")

    def _name(self, task: Task, base: dict[str, Any]) -> str:
        """The task's name rendered; for a loop naming `item`, the rendered names of all items."""
        try:
            return str(self.r.templar.template(task.name, base, task.location, f"{task.path}.name"))
        except VariableError:
            pass
        try:
            items = self._items(task, base)
            names = [str(self.r.templar.template(task.name, {**base, task.loop_var: i})) for i in items if i is not _NO_ITEM]
            return ", ".join(dict.fromkeys(names)) or task.name
        except (VariableError, InputError):
            return task.name

    def _finish(self, task: Task, name: str, status: Status, changes: list[Change], msgs: list[str],
                results: list[dict[str, Any]], t0: float, blocked: bool = False) -> TaskResult:
        result = {"changed": status is Status.CHANGED, "failed": status is Status.FAILED, "msg": "; ".join(msgs)}
        if task.loop is not None:
            result["results"] = results
        elif results:
            result.update(results[0])
        if status in (Status.OK, Status.CHANGED) and (task.changed_when is not None or task.failed_when is not None):
            status = self._conditions(task, status, result)
        if task.register:
            self.st.facts_vars[task.register] = unsafe(result)  # results are data, never templates
        ignored = status is Status.FAILED and task.ignore_errors
        shown = tuple(changes)
        msg = "; ".join(msgs)
        if task.no_log:
            msg = NO_LOG_MSG
            shown = tuple(self._censored(c) for c in changes)
        res = TaskResult(name, task.module, status, shown, msg, ignored, mask({} if task.no_log else result),
                         time.monotonic() - t0, path=task.path, blocked=blocked)
        self._record(res)
        return self.st.tasks[-1]

    def _censored(self, c: Change) -> Change:
        """A no_log change as shown and saved; with a plan key, a MAC of what it hides binds it to the plan."""
        from .plans import mac

        hidden = {"censored": NO_LOG_MSG}
        key = self.r.opts.plan_key
        reason = f"hmac-sha256:{mac(key, reveal(c.to_dict()))}" if key is not None else ""
        return Change(c.resource, c.action, hidden if c.before else {}, hidden if c.after else {}, reason,
                      c.disruptive, c.unknown)

    def _conditions(self, task: Task, status: Status, result: dict[str, Any]) -> Status:
        vars_ = {**self.variables(task), **({task.register: result} if task.register else {}), "result": result}
        if task.failed_when is not None and all(self._eval(task, e, vars_, "failed_when") for e in task.failed_when):
            result["failed"] = True
            return Status.FAILED
        if task.changed_when is not None and not self.plan_mode:
            changed = all(self._eval(task, e, vars_, "changed_when") for e in task.changed_when)
            result["changed"] = changed
            return Status.CHANGED if changed else Status.OK
        return status

    def _eval(self, task: Task, expr: Any, vars_: dict[str, Any], key: str) -> Any:
        if not isinstance(expr, str):
            return expr
        return self.r.templar.evaluate(expr, vars_, task.location, f"{task.path}.{key}")

    def _items(self, task: Task, base: dict[str, Any]) -> list[Any]:
        if task.loop is None:
            return [_NO_ITEM]
        items = self.r.templar.template(task.loop, base, task.location, f"{task.path}.loop")
        if not isinstance(items, list):
            raise VariableError(f"loop expects a list, got {type(items).__name__} {items!r:.60}",
                                location=task.location, field=f"{task.path}.loop")
        return items

    def _when(self, task: Task, vars_: dict[str, Any]) -> bool:
        return all(bool(self._eval(task, w, vars_, "when")) for w in task.when)

    def _item(self, task: Task, vars_: dict[str, Any], changes: list[Change]) -> tuple[str, dict[str, Any]]:
        """Plan (and apply) one loop item; appends its changes to `changes` before applying."""
        module = registry.MODULES[task.module]
        where = location_of(task.args, None) or task.location
        raw = self.r.templar.template(task.args, vars_, where, f"{task.path}.{task.module}")
        carried = secrets_in(raw)
        if carried:  # modules take plain values; every output is scrubbed of them
            self.r.secrets.add_all(carried)
            raw = reveal(raw)
        try:
            args = module.ArgsModel.model_validate(raw if isinstance(raw, Mapping) else {})
        except ValidationError as exc:
            e = exc.errors()[0]
            if isinstance(e.get("input"), str):  # the message quotes (and may cut) the value: scrub it first
                e = {**e, "input": self.r.secrets.scrub(e["input"])}
            loc = location_at(task.args, tuple(e["loc"])) or task.location
            raise InputError(describe_validation(e, module.ArgsModel), location=loc or Location(self.r.playbook.path),
                             field=f"{task.path}.{task.module}" + "".join(f".{p}" for p in e["loc"])) from None
        facts = self.session.facts if module.needs_facts else None
        ctx = PlanContext(self.host.name, self.plan_mode, vars_,
                          evaluate=lambda e: self.r.templar.evaluate(e, vars_, task.location, f"{task.path}.{task.module}"))
        boot = None  # a host without PowerShell: enable it before the task's first change
        if facts is not None and facts.bootstrap and any(c.mutating for c in module.plan(args, facts, ctx).changes):
            boot, facts = ensure_powershell(self.session, facts, self.plan_mode,
                                            bootstrap_enabled(vars_.get("hvprov_bootstrap_powershell", True)))
        planned = module.plan(args, facts, ctx)
        if (not self.plan_mode and facts is not None and planned.changes
                and any(c.mutating for c in planned.changes) and self.session.ensure_lease()):
            facts = self.session.regather()  # another run may have changed the host meanwhile
            planned = module.plan(args, facts, ctx)
        data = dict(planned.data)
        msg = planned.msg
        if planned.set_vars:  # values that were secrets stay secrets
            self.st.facts_vars.update(unsafe(retag(planned.set_vars, carried)))
        changes.extend([boot] if boot else [])
        start = len(changes)
        changes.extend(planned.changes)
        if self.r.saved_plan is not None and not self.plan_mode:
            self._match_saved(task, ((boot,) if boot else ()) + planned.changes)
        if planned.changes and facts is not None:
            if self.plan_mode:
                if self.r.opts.scripts_dir is not None:
                    self._record_scripts(task, module, args, planned.changes, facts)
                self.session.set_facts(module.predict(facts, planned.changes))
            else:
                refresh = any(c.mutating for c in planned.changes) and module.name != "reboot"
                try:
                    applied = module.apply(args, planned.changes, self.session)
                except TransportError:
                    raise
                except Exception:
                    if refresh:  # re-read what the failed apply left behind, best effort
                        try:
                            self.session.regather()
                        except (TransportError, RemoteError):
                            pass
                    raise
                if refresh:
                    self.session.regather()
                for c in planned.changes:
                    self.r.emit("change_applied", self.host.name, change=c.to_dict())
                if applied.changed is False:
                    del changes[start:]
                msg = applied.msg or msg
                data.update(applied.data)
        data.setdefault("msg", msg)
        return msg, data


_NO_ITEM = object()


def _same_but_known(now: dict[str, Any], saved: dict[str, Any]) -> bool:
    """The unknown flag and its explanation may differ; a no_log change's MAC (its reason) may not."""
    ignore = ("unknown",) if str(saved.get("reason", "")).startswith("hmac-") else ("unknown", "reason")
    return {k: v for k, v in now.items() if k not in ignore} == {k: v for k, v in saved.items() if k not in ignore}
