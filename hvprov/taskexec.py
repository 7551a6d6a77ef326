"""Running one task on one host (plan or apply): its variables, loop, conditions, module."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from . import modules as registry
from .cmdfacts import bootstrap_enabled, ensure_powershell
from .errors import (
    BlockedChangeError,
    FailedResult,
    HvprovError,
    InputError,
    InterruptedRun,
    Location,
    RemoteError,
    TaskError,
    TransportError,
    VariableError,
)
from .hostiter import Outcome
from .taskincl import _NO_ITEM, IncludeSteps
from .tagsel import tags_selected
from .taskretry import RetrySteps
from .taskkw import loop_result, task_environment
from .render import script_environment
from .hostvars import PlayContext, compose, drop_omitted
from .model import Change, Status, TaskResult
from .modules.argfront import validation_errors
from .modules.base import PlanContext
from .playbook import describe_validation
from .preflight import probe_paths
from .runctx import HostState
from .report.text import item_label
from .secrets import no_log_active, no_log_scope, retag, reveal, secrets_in
from .planreview import NO_LOG_MSG, censored, match_saved, review_entry
from .tasktree import Task
from .templating import unsafe
from .yamlsrc import location_at, location_of

log = logging.getLogger("hvprov")



class TaskExecutor(IncludeSteps, RetrySteps):
    """Runs tasks of one play on one host; returns each task's `Outcome` to the host's walker."""

    def __init__(self, pctx: PlayContext, st: HostState) -> None:
        self.r = pctx.ctx
        self.pctx = pctx
        self.play = pctx.play
        self.st = st
        self.session = st.session
        self.host = st.host
        self.plan_mode = self.r.opts.mode == "plan"
        self.extra: Mapping[str, Any] = {}
        self.set_vars: dict[str, Any] = {}

    # -- selection -----------------------------------------------------------
    def selected(self, task: Task) -> bool:
        opts = self.r.opts
        if not (task.tags or self.play.tags or opts.tags or opts.skip_tags):
            return True  # what tags_selected answers for no tags anywhere
        tags = set(task.tags) | set(self.play.tags)
        return tags_selected(tags, self.r.opts.tags, self.r.opts.skip_tags)

    # -- variables -----------------------------------------------------------
    def variables(self, task: Task) -> dict[str, Any]:
        # `*_password` and the like are secrets wherever they were set
        return compose(self.pctx, self.host, task, self.extra, tagged=True)

    # -- the host's start of a play -------------------------------------------
    def prepare(self) -> None:
        """Probe paths, gather facts (when the play asks, or a saved plan must be checked)."""
        paths = probe_paths(self.r.templar, self.play, self.host, self.r.opts.extra_vars)
        if any(p not in self.session.probe_paths for p in paths):
            self.session.probe_paths = sorted(set(self.session.probe_paths) | set(paths))
        gather = self.play.gather_facts and (not self.play.gather_when or all(
            self.r.templar.evaluate(w, compose(self.pctx, self.host, None, {}), self.play.location, "import_playbook.when")
            if isinstance(w, str) else w for w in self.play.gather_when))
        if gather or (self.r.saved_plan is not None and not self.st.plan_checked):
            self._gather()
        if self.r.saved_plan is not None and not self.st.plan_checked:
            self.r.check_saved_facts(self.host.name, self.session.facts_dict())
            self.st.plan_checked = True

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
        self._record_fields(res.name, res.module, res.status, res.changes, res.msg, res.ignored, res.data,
                            res.duration, res.path, res.blocked)

    def _record_fields(self, name: str, module: str, status: Status, changes: tuple[Change, ...], msg: str,
                       ignored: bool, data: dict[str, Any], duration: float, path: str, blocked: bool) -> TaskResult:
        """The task's result as shown: every text scrubbed, every Secret masked (scrub_data)."""
        scrub = self.r.secrets.scrub_data  # what RunContext.scrub calls
        shown = tuple(Change(scrub(c.resource), c.action, scrub(c.before), scrub(c.after), scrub(c.reason), c.disruptive,
                             c.unknown) for c in changes) if changes else ()  # data is for the module's apply, never shown
        res = TaskResult(scrub(name), module, status, shown, scrub(msg), ignored, scrub(data), duration, path, blocked)
        self.st.tasks.append(res)
        if self.r.on_event is not None:
            self.r.emit("task_done", self.host.name, result=res)
        return res

    # -- one step ----------------------------------------------------------------
    def step(self, task: Task, extra: Mapping[str, Any], handler: bool = False) -> Outcome:
        """Run one task (or evaluate an include or a meta task) on this host. Tags do not
        select handlers (ansible-core's PlayIterator does not filter them)."""
        if self.r.stop.is_set():
            raise InterruptedRun("interrupted")
        if not handler and not self.selected(task):
            return Outcome(Status.SKIPPED, includes=[])
        self.extra, self.set_vars = extra, {}
        if task.module == "meta":
            return self._meta(task)
        if task.module in ("include_tasks", "include_role"):
            return self._include(task)
        if task.module == "include_vars":
            return self._include_vars(task)
        if task.no_log or no_log_active():
            with no_log_scope(task.no_log):
                res = self._run_task(task)
        else:  # the scope would set what is already in force
            res = self._run_task(task)
        result = dict(self.st.facts_vars.get(task.register, {})) if task.register else dict(res.data)
        return Outcome(res.status, res.ignored, res.msg, result, dict(self.set_vars))

    def _run_task(self, task: Task) -> TaskResult:
        t0 = time.monotonic()
        base = compose(self.pctx, self.host, task, self.extra, tagged=True)  # self.variables(task), one call fewer
        name = self._name(task, base)
        if self.r.on_event is not None:  # (emit() returns at once without a sink: no event is built)
            self.r.emit("task_started", self.host.name, task=name, module=task.module)
        changes: list[Change] = []
        msgs: list[str] = []
        results: list[dict[str, Any]] = []
        failures: list[str] = []
        status = Status.SKIPPED
        try:
            items = self._items(task, base)
            for i, item in enumerate(items):
                keys = {} if item is _NO_ITEM else self._loop_keys(task, item, i, items)
                vars_ = {**base, **keys} if keys else base
                if i and task.loop_pause:
                    self.session.sleep(task.loop_pause)
                false = self._false_condition(task, vars_) if task.when else None
                if false is not None:
                    self._item_done(task, name, item, vars_, Status.SKIPPED, "")
                    if item is not _NO_ITEM:
                        results.append({"changed": False, "skipped": True, "skip_reason": "Conditional result was False",
                                        "false_condition": false, **keys})
                    else:
                        results.append({"changed": False, "skipped": True, "skip_reason": "Conditional result was False",
                                        "false_condition": false})
                    continue
                before = len(changes)
                try:
                    env = task_environment(self.r.templar, task, vars_) if task.environment else None
                    if env:
                        with script_environment(env):
                            msg, data = self._attempts(task, vars_, changes)
                    elif task.retries is None and not task.until:  # what _attempts does for one attempt
                        msg, data = self._item(task, vars_, changes)
                    else:  # only this method sets a script environment, never nested: none is in force
                        msg, data = self._attempts(task, vars_, changes)
                except BaseException as exc:  # planned, not made: only what the module says it applied counts
                    applied = getattr(exc, "applied", ())
                    changes[before:] = [c for c in changes[before:] if c in applied]
                    failed_item = {**exc.data, **keys} if isinstance(exc, FailedResult) else (
                        {"failed": True, "msg": str(exc), "changed": False, **keys})
                    if item is _NO_ITEM or not isinstance(exc, (TaskError, RemoteError)):
                        if isinstance(exc, FailedResult):
                            results.append(failed_item)
                        raise
                    # a failing item fails the task once every item ran (ansible-core)
                    self._item_done(task, name, item, vars_, Status.FAILED, str(exc))
                    results.append(failed_item)
                    failures.append(str(exc))
                    continue
                if item is not _NO_ITEM:  # (_item_done shows loop items only)
                    self._item_done(task, name, item, vars_,
                                    Status.CHANGED if any(c.mutating for c in changes[before:]) else Status.OK, msg)
                    data = {**data, "failed": False, "changed": any(c.mutating for c in changes[before:]), **keys}
                status = Status.OK
                if msg:
                    msgs.append(msg)
                results.append(data)
                if self.set_vars and item is not _NO_ITEM:  # set_fact in a loop: the next item sees it
                    base = {**base, **{k: v for k, v in self.set_vars.items() if k not in self.r.opts.extra_vars}}
            if failures:
                raise TaskError("; ".join(failures))
        except TransportError as exc:
            self._record(TaskResult(name, task.module, Status.UNREACHABLE, tuple(changes), exc.message, duration=time.monotonic() - t0))
            raise
        except InterruptedRun:
            raise  # Ctrl-C: the host is interrupted, not failed
        except InputError as exc:
            self.st.input_error = True
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0)
        except BlockedChangeError as exc:
            if self.plan_mode and exc.change is not None:  # pending, blocked: not an error of the plan
                return self._finish(task, name, Status.CHANGED, [*changes, exc.change], [str(exc)], results, t0,
                                    blocked=True)
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0)
        except (TaskError, RemoteError) as exc:  # the module failed: failed_when may still decide
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0, module_failed=True)
        except HvprovError as exc:
            return self._finish(task, name, Status.FAILED, changes, [str(exc)], results, t0)
        except Exception as exc:  # a bug: fail this task and host, keep the run going, say what it was
            log.exception("internal error in task %s on %s", task.path, self.host.name)
            return self._finish(task, name, Status.FAILED, changes,
                                [f"internal error: {type(exc).__name__}: {exc}"], results, t0)
        if status is Status.OK and any(c.mutating for c in changes):
            status = Status.CHANGED
        return self._finish(task, name, status, changes, msgs, results, t0)

    @staticmethod
    def _loop_keys(task: Task, item: Any, index: int, items: list[Any]) -> dict[str, Any]:
        """What ansible-core adds to each loop item's variables and result (loop_control)."""
        keys = {task.loop_var: item, "ansible_loop_var": task.loop_var}
        if task.index_var:
            keys.update({task.index_var: index, "ansible_index_var": task.index_var})
        if task.loop_extended:
            n = len(items)
            loop = {"index": index + 1, "index0": index, "first": index == 0, "last": index + 1 == n, "length": n,
                    "revindex": n - index, "revindex0": n - index - 1}
            if task.loop_allitems:
                loop["allitems"] = items
            if index + 1 < n:
                loop["nextitem"] = items[index + 1]
            if index:
                loop["previtem"] = items[index - 1]
            keys["ansible_loop"] = loop
        return keys

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
        self.st.review.append(review_entry(self.r, self.host.name, task, module, args, changes, facts))

    def _match_saved(self, task: Task, planned: tuple[Change, ...]) -> None:
        match_saved(self.r, self.st, self.host.name, task, planned)

    def _name(self, task: Task, base: dict[str, Any]) -> str:
        """The task's name rendered; for a loop naming `item`, the rendered names of all items."""
        if type(task.name) is str and "{{" not in task.name and "{%" not in task.name:
            return task.name  # what rendering a plain name gives
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
                results: list[dict[str, Any]], t0: float, module_failed: bool = False,
                blocked: bool = False) -> TaskResult:
        joined = "; ".join(msgs)
        result = {"changed": status is Status.CHANGED, "failed": status is Status.FAILED, "msg": joined}
        if task.loop is not None:
            result = loop_result(results, status is Status.FAILED)
        elif results:  # ansible-core's order: the module's keys, then failed, changed, msg (those it left out)
            first = results[0]
            merged = dict(first)
            for key in ("failed", "changed", "msg"):
                if key not in first:
                    merged[key] = result[key]
            result = merged
        if (task.module == "include_vars" and not result.get("msg", "x")) or (
                task.module == "set_fact" and task.loop is None and status is not Status.FAILED):
            del result["msg"]  # as ansible-core: these results carry no msg
        if (task.loop is None and status is not Status.FAILED and "msg" in result
                and "msg" not in (results[0] if results else {})):
            mod = registry.get(task.module)  # (looked up only when there is a msg it could drop)
            if mod is not None and not mod.registers_msg:
                del result["msg"]  # the ansible.windows modules' results carry no msg unless they set one
        if (status in (Status.OK, Status.CHANGED) or module_failed) and (
                task.changed_when is not None or task.failed_when is not None):
            status = self._conditions(task, status, result)
        if task.register:
            self.st.facts_vars[task.register] = unsafe(result)  # results are data, never templates
        ignored = status is Status.FAILED and task.ignore_errors
        shown = tuple(changes)
        msg = joined
        if task.no_log:
            msg = NO_LOG_MSG
            shown = tuple(censored(c, self.r.opts.plan_key) for c in changes)
        # data unmasked here: scrub_data masks every Secret (as mask() would) and scrubs the texts
        return self._record_fields(name, task.module, status, shown, msg, ignored, {} if task.no_log else result,
                                   time.monotonic() - t0, task.path, blocked)

    def _conditions(self, task: Task, status: Status, result: dict[str, Any]) -> Status:
        """changed_when, then failed_when (which may also clear a module's failure), as ansible-core."""
        vars_ = {**self.variables(task), **({task.register: result} if task.register else {}), "result": result}
        if task.changed_when is not None and not self.plan_mode:
            changed = all(self._eval(task, e, vars_, "changed_when") for e in task.changed_when)
            result["changed"] = changed
            if status is not Status.FAILED:
                status = Status.CHANGED if changed else Status.OK
        if task.failed_when is not None:
            failed = bool(all(self._eval(task, e, vars_, "failed_when") for e in task.failed_when))
            result["failed_when_result"] = failed
            result["failed"] = failed
            if failed:
                return Status.FAILED
            if status is Status.FAILED:
                return Status.CHANGED if result.get("changed") else Status.OK
        return status

    def _eval(self, task: Task, expr: Any, vars_: dict[str, Any], key: str) -> Any:
        if not isinstance(expr, str):
            return expr
        return self.r.templar.evaluate(expr, vars_, task.location, f"{task.path}.{key}")

    def _items(self, task: Task, base: dict[str, Any]) -> list[Any]:
        if task.loop is None:
            return [_NO_ITEM]
        if task.loop_with is not None:  # with_<lookup>: ansible-core's terms, then the lookup (wantlist)
            terms = self.r.templar.template(task.loop, base, task.location, f"{task.path}.with_{task.loop_with}")
            terms = [terms.strip() if isinstance(terms, str) else terms] if not isinstance(terms, list) else terms
            items = self.r.templar.evaluate("lookup(__hv_with, *__hv_terms, wantlist=True)",
                                            {**base, "__hv_with": task.loop_with, "__hv_terms": terms},
                                            task.location, f"{task.path}.with_{task.loop_with}")
        else:
            items = self.r.templar.template(task.loop, base, task.location, f"{task.path}.loop")
        if not isinstance(items, list):
            raise VariableError(f"loop expects a list, got {type(items).__name__} {items!r:.60}",
                                location=task.location, field=f"{task.path}.loop")
        return items

    def _when(self, task: Task, vars_: dict[str, Any]) -> bool:
        return self._false_condition(task, vars_) is None

    def _false_condition(self, task: Task, vars_: dict[str, Any]) -> Any:
        """The first `when` condition that is false (None: all hold)."""
        for w in task.when:
            if not self._eval(task, w, vars_, "when"):
                return w
        return None

    def _item(self, task: Task, vars_: dict[str, Any], changes: list[Change]) -> tuple[str, dict[str, Any]]:
        """Plan (and apply) one loop item; appends its changes to `changes` before applying."""
        module = registry.MODULES[task.module]
        where = location_of(task.args, None) or task.location
        raw = drop_omitted(self.r.templar.template(task.args, vars_, where, f"{task.path}.{task.module}"))
        carried = secrets_in(raw)
        if carried:  # modules take plain values; every output is scrubbed of them
            self.r.secrets.add_all(carried)
            raw = reveal(raw)
        if type(raw) is not dict and not isinstance(raw, Mapping):
            raise InputError(f"module arguments must be a mapping, got {type(raw).__name__} {raw!r:.60}",
                             location=where, field=f"{task.path}.{task.module}")
        try:
            args = module.ArgsModel.model_validate(raw)
        except Exception as exc:
            if (errors := validation_errors(exc)) is None:  # not pydantic's (argfront.py: no pydantic import)
                raise
            e = errors[0]
            if isinstance(e.get("input"), str):  # the message quotes (and may cut) the value: scrub it first
                e = {**e, "input": self.r.secrets.scrub(e["input"])}
            loc = location_at(task.args, tuple(e["loc"])) or task.location
            raise InputError(describe_validation(e, module.ArgsModel), location=loc or Location(self.r.playbook_path),
                             field=f"{task.path}.{task.module}" + "".join(f".{p}" for p in e["loc"])) from None
        facts = self.session.facts if module.needs_facts else None
        check = self.plan_mode or task.check_mode is True  # check_mode: true plans, never applies
        ctx = PlanContext(self.host.name, check, vars_,
                          evaluate=lambda e: self.r.templar.evaluate(e, vars_, task.location, f"{task.path}.{task.module}"))
        boot = None  # a host without PowerShell: enable it before the task's first change
        if facts is not None and facts.bootstrap and any(c.mutating for c in module.plan(args, facts, ctx).changes):
            boot, facts = ensure_powershell(self.session, facts, check,
                                            bootstrap_enabled(vars_.get("hvprov_bootstrap_powershell", True)))
        planned = module.plan(args, facts, ctx)
        if (not check and facts is not None and planned.changes
                and any(c.mutating for c in planned.changes) and self.session.ensure_lease()):
            facts = self.session.regather()  # another run may have changed the host meanwhile
            planned = module.plan(args, facts, ctx)
        data = dict(planned.data)
        msg = planned.msg
        if planned.set_vars:  # values that were secrets stay secrets
            kept = unsafe(retag(planned.set_vars, carried))
            self.st.facts_vars.update(kept)
            self.set_vars.update(kept)
        if boot:
            changes.append(boot)
        start = len(changes)
        changes.extend(planned.changes)
        if self.r.saved_plan is not None and not check:
            self._match_saved(task, ((boot,) if boot else ()) + planned.changes)
        if planned.changes and facts is not None:
            if self.plan_mode:
                if self.r.opts.scripts_dir is not None:
                    self._record_scripts(task, module, args, planned.changes, facts)
                self.session.set_facts(module.predict(facts, planned.changes))
            elif not check:
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
        if task.module != "set_fact" and module.registers_msg:  # ansible-core's set_fact result has no msg
            data.setdefault("msg", msg)
        return msg, data
