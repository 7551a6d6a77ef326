"""Core value types: changes, task and host results, run results.

All frozen dataclasses; `to_dict()` gives the JSON shape documented in the README
("--format json"). Secret values never reach these objects unmasked: modules put masked
copies in `before`/`after`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    INSTALL = "install"
    REMOVE = "remove"
    REBOOT = "reboot"
    START = "start"
    STOP = "stop"
    RUN = "run"  # a raw script whose effect cannot be predicted
    VERIFY = "verify"  # a check that will run after earlier changes; changes nothing


# Actions that do not alter the host: they are listed in plans but not counted as changes.
NON_MUTATING = frozenset({Action.VERIFY})


@dataclass(frozen=True)
class Change:
    """One planned or applied change to one resource on one host."""

    resource: str  # e.g. "feature/Hyper-V", "vswitch/External", "host"
    action: Action
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    disruptive: bool = False
    unknown: bool = False  # effect cannot be predicted (raw PowerShell)
    # Data for the module's script() step; not shown to people, never holds secrets.
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def mutating(self) -> bool:
        return self.action not in NON_MUTATING

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "action": self.action.value,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "disruptive": self.disruptive,
            "unknown": self.unknown,
        }


class Status(str, Enum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class TaskResult:
    name: str
    module: str
    status: Status
    changes: tuple[Change, ...] = ()
    msg: str = ""
    ignored: bool = False  # failed but ignore_errors
    data: dict[str, Any] = field(default_factory=dict)  # registered result (masked)
    duration: float = 0.0
    path: str = ""  # the task's place in the playbook, e.g. "plays[0].tasks[2]"
    blocked: bool = False  # plan: its change needs what the playbook does not allow (BlockedChangeError)

    @property
    def changed(self) -> bool:
        return any(c.mutating for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "module": self.module,
            "status": self.status.value,
            "changes": [c.to_dict() for c in self.changes],
            "msg": self.msg,
            "ignored": self.ignored,
            "duration": round(self.duration, 4),
            "path": self.path,
        }
        if self.blocked:
            out["blocked"] = True
        return out


@dataclass(frozen=True)
class HostResult:
    name: str
    status: Status
    tasks: tuple[TaskResult, ...] = ()
    round_trips: int = 0
    scripts_run: int = 0
    msg: str = ""
    duration: float = 0.0
    # The host's Hyper-V state at the end (as planned in plan mode): switches, vms, vhds, os.
    state: dict[str, Any] = field(default_factory=dict)
    # Normalised facts as first read (saved plans); not part of the run document.
    facts: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def change_count(self) -> int:
        return sum(1 for t in self.tasks for c in t.changes if c.mutating)

    @property
    def unknown_count(self) -> int:
        """Of `change_count`, the changes whose effect is unknown until applied."""
        return sum(1 for t in self.tasks for c in t.changes if c.mutating and c.unknown)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "round_trips": self.round_trips,
            "scripts_run": self.scripts_run,
            "changes": self.change_count,
            "unknown": self.unknown_count,
            "msg": self.msg,
            "duration": round(self.duration, 4),
            "tasks": [t.to_dict() for t in self.tasks],
            "state": self.state,
        }


@dataclass(frozen=True)
class RunResult:
    mode: str  # "plan" | "apply"
    hosts: dict[str, HostResult]
    interrupted: bool = False
    duration: float = 0.0
    input_error: bool = False  # a host failed on bad input (undefined variable, bad argument)

    @property
    def changed_hosts(self) -> list[str]:
        return sorted(n for n, h in self.hosts.items() if h.status is Status.CHANGED)

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(n for n, h in self.hosts.items() if h.status is Status.FAILED)

    @property
    def unreachable_hosts(self) -> list[str]:
        return sorted(n for n, h in self.hosts.items() if h.status is Status.UNREACHABLE)

    @property
    def failed(self) -> bool:
        return bool(self.failed_hosts or self.unreachable_hosts)

    @property
    def total_changes(self) -> int:
        return sum(h.change_count for h in self.hosts.values())

    @property
    def total_unknown(self) -> int:
        return sum(h.unknown_count for h in self.hosts.values())

    def summary(self) -> dict[str, Any]:
        counts = {s.value: 0 for s in (Status.OK, Status.CHANGED, Status.FAILED, Status.UNREACHABLE)}
        for h in self.hosts.values():
            counts[h.status.value] = counts.get(h.status.value, 0) + 1
        return {"hosts": counts, "changes": self.total_changes, "unknown": self.total_unknown}

    def exit_code(self, detailed: bool = False) -> int:
        """ansible-playbook's codes; with `detailed` (plan) terraform's 0/1/2."""
        if self.interrupted:
            return 99
        if self.input_error:
            return 1 if detailed else 4
        if detailed:
            if self.failed:
                return 1
            return 2 if self.total_changes else 0
        if self.unreachable_hosts and not self.failed_hosts:
            return 3
        if self.failed_hosts:
            return 2
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "interrupted": self.interrupted,
            "input_error": self.input_error,
            "duration": round(self.duration, 4),
            "hosts": {n: self.hosts[n].to_dict() for n in sorted(self.hosts)},
            "summary": self.summary(),
        }
