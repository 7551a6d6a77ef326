"""The steps of a task that are structure, not a module: meta, include_vars, include_tasks and
include_role (evaluated per host; the walker expands the includes)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .hostiter import Outcome
from .model import Status, TaskResult
from .tasktree import Node, Task

if TYPE_CHECKING:
    from .runctx import HostState, RunContext

_NO_ITEM = object()  # a task without a loop: one pass with no item


class IncludeSteps:
    """Mixed into TaskExecutor (which provides variables, _when, _items, _loop_keys, _record, _finish)."""

    r: RunContext
    st: HostState
    play: Any

    def _meta(self, task: Task) -> Outcome:
        base = self.variables(task)
        if not self._when(task, base):
            return Outcome(Status.SKIPPED)
        return Outcome(Status.OK, meta=str(task.args))

    def _include_vars(self, task: Task) -> Outcome:
        """include_vars: the file's variables, just below set_fact (ansible-core's vars cache)."""
        t0 = time.monotonic()
        base = self.variables(task)
        if not self._when(task, base):
            res = self._finish(task, task.name, Status.SKIPPED, [], [], [], t0)
            return Outcome(Status.SKIPPED, result=dict(res.data))
        values = dict(task.args["vars"])
        self.st.included_vars.update(values)
        self.r.secrets.collect(values)
        data = {"ansible_facts": values, "ansible_included_var_files": [task.args["file"]]}
        res = self._finish(task, task.name, Status.OK, [], [], [data], t0)
        return Outcome(res.status, res.ignored, res.msg, dict(self.st.facts_vars.get(task.register, {})) if task.register else {})

    def _include(self, task: Task) -> Outcome:
        """include_tasks / include_role: the variables of each inclusion (one per loop item)."""
        t0 = time.monotonic()
        base = self.variables(task)
        includes: list[dict[str, Any]] = []
        children: tuple[Node, ...] | None = None
        try:
            items = self._items(task, base)
            for i, item in enumerate(items):
                own = {} if item is _NO_ITEM else self._loop_keys(task, item, i, items)
                vars_ = {**base, **own}
                if not self._when(task, vars_):
                    continue
                includes.append({**task.vars, **own})
                if task.children is None and children is None:
                    children = self._load_children(task, vars_)
        except InputError as exc:
            self.st.input_error = True
            return self._include_done(task, Status.FAILED, str(exc), t0)
        status = Status.OK if includes else Status.SKIPPED
        self._include_done(task, status, "", t0)
        return Outcome(status, includes=includes, children=children)

    def _include_done(self, task: Task, status: Status, msg: str, t0: float) -> Outcome:
        name = task.name if task.named else f"{task.module}: {task.args.get('file') or task.args.get('name')}"
        self._record(TaskResult(name, task.module, status, msg=msg, ignored=status is Status.FAILED and task.ignore_errors,
                                duration=time.monotonic() - t0, path=task.path))
        return Outcome(status, ignored=status is Status.FAILED and task.ignore_errors, msg=msg, includes=[])

    def _load_children(self, task: Task, vars_: Mapping[str, Any]) -> tuple[Node, ...]:
        """include_tasks with a templated file name: read it now (its problems fail this task)."""
        from pathlib import Path

        from .errors import PlaybookError
        from .taskload import Scope, TaskLoader

        name = self.r.templar.template(task.args["file"], vars_, task.location, f"{task.path}.include_tasks")
        loader = TaskLoader(self.r.playbook_path, None, Path(self.play.playbook_dir or "."))
        nodes = loader.load_file(str(name), task.location, f"{task.path}.include_tasks",
                                 Scope(base=Path(task.args["base"]), role=task.role,  # the keywords around it:
                                       environment=tuple(task.environment or ()), check_mode=task.check_mode,
                                       diff=task.diff))
        if loader.problems or nodes is None:
            first = loader.problems[0]
            raise PlaybookError(first.detail, location=first.location, field=first.field)
        return nodes

