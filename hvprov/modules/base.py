"""What a module is.

A module turns validated arguments and typed facts into changes, in Python:

* ``plan(args, facts, ctx) -> PlanResult``: pure, no I/O. Raises `TaskError` to refuse
  (a limit, a prerequisite) before anything is touched.
* ``predict(facts, changes) -> HostFacts``: the facts after the changes, so that later tasks
  of a dry run plan against the state earlier ones will produce.
* ``apply(args, changes, session) -> ApplyResult``: make the changes through the session
  (which renders and runs templates). The runner re-reads facts afterwards.

Control modules (debug, set_fact, assert) have ``needs_facts = False`` and do all their work in
``plan`` (they have no side effects, so they behave the same in plan and apply).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..errors import TaskError
from ..model import Change

if TYPE_CHECKING:  # annotations only: a run that gathers no facts does not import hvprov.facts
    from ..facts import HostFacts
    from .argfront import FastArgs
    from .args import Args


def __getattr__(name: str) -> Any:
    """`Args` (pydantic) is imported on first use: controller-only runs never need it (args.py)."""
    if name == "Args":
        from .args import Args

        return Args
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class PlanResult:
    """What a module's plan() decided: the changes, or why none, and its result data."""

    changes: tuple[Change, ...] = ()
    msg: str = ""  # why nothing changes, or a summary
    data: dict[str, Any] = field(default_factory=dict)  # registered result
    set_vars: dict[str, Any] = field(default_factory=dict)  # set_fact
    failed: bool = False  # assert


@dataclass(frozen=True)
class ApplyResult:
    """What a module's apply() did."""

    msg: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    changed: bool | None = None  # None: as planned; False: nothing happened after all


@dataclass(frozen=True)
class PlanContext:
    """What plan() may read besides the arguments and facts: the host, mode and task variables."""

    host: str
    check_mode: bool
    variables: Mapping[str, Any]
    evaluate: Callable[[str], Any] = lambda expr: None  # bare Jinja2 expression against the task vars


class HostSession(Protocol):
    """What a module may do to a host while applying (implemented by the runner)."""

    name: str
    facts: HostFacts

    def run_template(self, template: str, **params: Any) -> dict[str, Any]: ...

    def regather(self) -> HostFacts: ...

    def reconnect(self) -> None: ...

    def sleep(self, seconds: float) -> None: ...

    def now(self) -> float: ...

    def progress(self, message: str) -> None: ...


class Module:
    name: ClassVar[str]
    summary: ClassVar[str]
    description: ClassVar[str] = ""
    example: ClassVar[str] = ""
    ArgsModel: ClassVar[type[Args] | type[FastArgs]]  # FastArgs: a front of one (argfront.py)
    needs_facts: ClassVar[bool] = True
    registers_msg: ClassVar[bool] = True  # False: the registered result has a msg only when the module sets one

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        raise TaskError(f"module {self.name} has no plan()")  # every concrete module overrides

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        return facts

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        return ApplyResult()


def replace(obj: Any, **changes: Any) -> Any:
    """dataclasses.replace, typed loosely for the modules' predict() (frozen facts)."""
    return dataclasses.replace(obj, **changes)
