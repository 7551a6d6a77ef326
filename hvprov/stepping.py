"""`--step`: ask before each task, as ansible-playbook does (plugins/strategy/__init__.py
_take_step): `Perform task: TASK: NAME (N)o/(y)es/(c)ontinue: `; y/yes runs it, c/continue runs
it and every later task without asking, anything else skips it (on every host of the batch, no
result recorded). Meta tasks are not asked about. Without a terminal on stdin the CLI refuses
--step (exit 5) instead of waiting for an answer that cannot come.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO


class Stepper:
    """Callable per task; thread-safe (a free-strategy play asks from several threads)."""

    def __init__(self, read: Callable[[], str] | None = None, out: TextIO | None = None) -> None:
        self._read = read or sys.stdin.readline
        self._out = out
        self._lock = threading.Lock()
        self.active = True

    def __call__(self, task: Any, host: str | None = None, handler: bool = False) -> bool:
        if getattr(task, "module", "") == "meta":
            return True
        with self._lock:
            if not self.active:
                return True
            out = self._out or sys.stdout
            kind = "HANDLER" if handler else "TASK"
            msg = f"Perform task: {kind}: {label(task)} " + (f"on {host} " if host else "") + "(N)o/(y)es/(c)ontinue: "
            out.write(msg)
            out.flush()
            line = self._read()
            if not line:  # end of input: nobody can answer any more
                from .errors import OptionsError

                raise OptionsError("--step: stdin closed while waiting for an answer")
            answer = line.strip().lower()
            out.write("\n" + msg + "*" * max(3, 79 - len(msg)) + "\n")
            out.flush()
            if answer in ("y", "yes"):
                return True
            if answer in ("c", "continue"):
                self.active = False
                return True
            return False


def label(task: Any) -> str:
    """ansible-core's Task.get_name(): `role : name`, or the action of an unnamed task."""
    shown = task.name if getattr(task, "named", True) else task.module
    role = getattr(task, "role", None)
    return f"{role.name} : {shown}" if role is not None else shown


def terminal_stepper() -> Stepper:
    from .errors import OptionsError

    if not sys.stdin or not sys.stdin.isatty():
        raise OptionsError("--step asks before each task and needs a terminal on stdin (none here): "
                           "run it interactively, or use --start-at-task / --tags to choose tasks")
    return Stepper()
