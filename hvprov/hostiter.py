"""One host's way through a play's task tree, as ansible-core's PlayIterator walks it.

`HostWalker.run()` is a generator: it yields a `Step` (a task to run on this host, with the
include variables in force), receives its `Outcome`, and decides what comes next: the rest of
the block, its rescue (with ansible_failed_task / ansible_failed_result set), its always, the
tasks of a dynamic include (once per loop item), the notified handlers at each flush (after
pre_tasks, after roles and tasks, after post_tasks, and at `meta: flush_handlers`). It
returns True when the host got through the play, False when a task failed it.
A strategy (strategy.py) drives the walkers of a batch: in lockstep (linear) or each on its own (free).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from .model import Status
from .tasktree import DYNAMIC, Block, Node, Play, Task


Pos = tuple[int, ...]


class Step(NamedTuple):
    """Immutable; a tuple (made once per host and task: a frozen dataclass took twice as long)."""

    task: Task
    extra: Mapping[str, Any] = MappingProxyType({})  # include parameters and loop items in force
    handler: bool = False
    pos: Pos = ()  # where in the play (document order): linear runs the earliest step of the batch first


@dataclass(slots=True)
class Outcome:
    status: Status
    ignored: bool = False
    msg: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # what `register` keeps
    set_vars: dict[str, Any] = field(default_factory=dict)  # set_fact values (run_once copies them)
    includes: list[dict[str, Any]] | None = None  # include: the variables of each inclusion
    children: tuple[Node, ...] | None = None  # include with a templated file: loaded at run time
    meta: str | None = None  # meta: the action, when its condition held

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED and not self.ignored


class EndHost(Exception):
    """meta: end_host (or the host became unreachable): nothing more for this host in this play."""


class EndPlay(Exception):
    """meta: end_play: the play ends for every host."""


class ForcedFailure(Exception):
    """Thrown into a walker when another host's failure is fatal (any_errors_fatal, run_once):
    as ansible-core's mark_host_failed, the host goes to its block's rescue (or always) if it
    is in one, else it stops."""


Walk = Generator[Step, Outcome, bool]


class HostWalker:
    def __init__(self, play: Play, set_failed: Callable[[Task, Outcome], None]) -> None:
        self.play = play
        self.notified: list[str] = []
        self.failure: tuple[Task, Outcome] | None = None
        self._set_failed = set_failed  # makes ansible_failed_task/result visible to the rescue

    def run(self) -> Walk:
        for i, section in enumerate(self.play.sections):
            if not (yield from self.nodes(section, {}, (i, 0))):
                return False
            if not (yield from self.flush((i, 1))):
                return False
        return True

    def nodes(self, nodes: tuple[Node, ...], extra: Mapping[str, Any], pos: Pos) -> Walk:
        for i, node in enumerate(nodes):
            if isinstance(node, Block):
                ok = yield from self.block(node, extra, pos + (i,))
            elif node.module in DYNAMIC:
                ok = yield from self.include(node, extra, pos + (i,))
            else:
                ok = yield from self.task(node, extra, pos + (i,))
            if not ok:
                return False
        return True

    def block(self, block: Block, extra: Mapping[str, Any], pos: Pos) -> Walk:
        ok = yield from self._forced(self.nodes(block.block, extra, pos + (0,)))
        if not ok and block.rescue:
            if self.failure is not None:
                self._set_failed(*self.failure)
            self.failure = None
            ok = yield from self._forced(self.nodes(block.rescue, extra, pos + (1,)))
        failure = self.failure
        ok_always = yield from self._forced(self.nodes(block.always, extra, pos + (2,)))
        if ok_always and failure is not None:
            self.failure = failure  # the block's own failure is what the host fails with
        return ok and ok_always

    def _forced(self, walk: Walk) -> Walk:
        """A section of a block; a ForcedFailure thrown into it fails the section."""
        try:
            return (yield from walk)
        except ForcedFailure:
            return False

    def task(self, task: Task, extra: Mapping[str, Any], pos: Pos, handler: bool = False) -> Walk:
        out = yield Step(task, extra, handler, pos)
        if out.status is Status.UNREACHABLE:
            self.failure = (task, out)
            raise EndHost(out.msg)
        if out.failed:
            self.failure = (task, out)
            return False
        if out.status is Status.CHANGED:
            self.notified.extend(task.notify)
        if out.meta == "flush_handlers":
            return (yield from self.flush(pos + (1,)))
        if out.meta == "end_host":
            raise EndHost("meta: end_host")
        if out.meta == "end_play":
            raise EndPlay("meta: end_play")
        return True

    def include(self, task: Task, extra: Mapping[str, Any], pos: Pos) -> Walk:
        out = yield Step(task, extra, False, pos)
        if out.failed:
            self.failure = (task, out)
            return False
        children = task.children if task.children is not None else out.children
        for n, include_vars in enumerate(out.includes or []):
            if not (yield from self.nodes(children or (), {**extra, **include_vars}, pos + (n,))):
                return False
        return True

    def flush(self, pos: Pos) -> Walk:
        rounds = 0
        while self.notified:
            names = set(self.notified)
            self.notified = []
            for i, handler in enumerate(self.play.handlers):
                if handler.name in names or set(handler.listen) & names:
                    if not (yield from self.task(handler, {}, pos + (rounds, i), handler=True)):
                        return False
            rounds += 1
        return True
