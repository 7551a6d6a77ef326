"""`until` / `retries` / `delay` on one task (or loop item), as ansible-core 2.19's TaskExecutor:
attempts = 1 + retries (3 when only `until` is set); without `until` a task with `retries`
repeats while it fails; the result carries `attempts`; when
no attempt satisfies the condition the result fails with `attempts` = retries (ansible-core's
count). In plan mode the task is planned once: whether `until` holds depends on what the host
answers when the task runs, which a plan does not know.
"""

from __future__ import annotations

from typing import Any

from .errors import FailedResult, InputError, RemoteError, TaskError
from .model import Change
from .tasktree import Task


class RetriesExhausted(FailedResult):
    """No attempt satisfied `until`: `data` is the last attempt's result, marked failed."""


class RetrySteps:
    """Mixed into TaskExecutor (which provides `_item`, `_eval`, `r`, `session`, `plan_mode`)."""

    r: Any
    session: Any
    plan_mode: bool

    def _number(self, task: Task, value: Any, key: str, vars_: dict[str, Any]) -> float:
        value = self.r.templar.template(value, vars_, task.location, f"{task.path}.{key}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InputError(f"{key} expects a number, got {value!r}", location=task.location,
                             field=f"{task.path}.{key}") from None

    def _attempts(self, task: Task, vars_: dict[str, Any], changes: list[Change]) -> tuple[str, dict[str, Any]]:
        """Run the item until its condition holds; returns its (msg, data) like `_item`."""
        total = 1
        if task.retries is not None:
            total += max(0, int(self._number(task, task.retries, "retries", vars_)))
        elif task.until:
            total += 3
        if total == 1:
            return self._item(task, vars_, changes)  # type: ignore[attr-defined]
        if self.plan_mode:  # planned once: the host's answer decides at apply time
            msg, data = self._item(task, vars_, changes)  # type: ignore[attr-defined]
            return msg, {**data, "attempts": 1}
        delay = self._number(task, task.delay, "delay", vars_)
        delay = 1.0 if delay < 0 else delay
        result: dict[str, Any] = {}
        msg = ""
        for attempt in range(1, total + 1):
            before = len(changes)
            failed = False
            try:
                msg, data = self._item(task, vars_, changes)  # type: ignore[attr-defined]
            except (TaskError, RemoteError) as exc:
                msg, failed = str(exc), True
                data = {k: v for k, v in getattr(exc, "data", {"msg": msg}).items() if k not in ("failed", "changed")}
            result = {**data, "failed": failed, "attempts": attempt,
                      "changed": any(c.mutating for c in changes[before:])}
            if task.changed_when is not None or task.failed_when is not None:  # per attempt, before until
                from .model import Status

                base = Status.FAILED if failed else (Status.CHANGED if result["changed"] else Status.OK)
                failed = self._conditions(task, base, result) is Status.FAILED  # type: ignore[attr-defined]
                result["failed"] = failed
            cvars = {**vars_, task.register: result} if task.register else vars_
            if task.until:
                done = all(self._eval(task, e, cvars, "until") for e in task.until)  # type: ignore[attr-defined]
            else:
                done = not failed
            if done:
                if failed:
                    raise RetriesExhausted(msg, result)
                return msg, result
            if attempt < total:
                del changes[before:]  # the next attempt's outcome is the task's
                self.r.emit("task_retry", self.host.name, task=task.name, attempt=attempt,  # type: ignore[attr-defined]
                            left=total - attempt)
                self.session.sleep(delay)
        result.update({"attempts": total - 1, "failed": True})
        raise RetriesExhausted(msg or f"until not met after {total} attempts", result)
