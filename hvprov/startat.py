"""Several playbooks in one command, and `--start-at-task`, as ansible-playbook does them.

Several playbooks run in order as one run (facts and host state carry over, as they do in one
ansible-playbook process); after a playbook in which a host failed or became unreachable, the
next playbooks do not run (ansible-core's PlaybookExecutor stops on a non-zero result).

`--start-at-task NAME` (ansible-core's PlayIterator): in document order, over the tasks a host
would meet without failing (fact gathering, the `block` and `always` parts of blocks, never
`rescue`; an include as the include task itself; handlers never), the first task whose name,
or `role : name` (an unnamed task: its action), equals NAME or matches it as an fnmatch
pattern. Only tasks selected by --tags/--skip-tags count, and only in plays with hosts. Every
task before it is skipped (the plays before it run no task, gather no facts); that play
gathers facts first, even with `gather_facts: false` (as ansible-core does). No match: refused (exit 5) before any host is touched, where
ansible-playbook runs nothing and reports the same message.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

from .errors import OptionsError
from .playlist import Selection
from .tasktree import DYNAMIC, Block, Node, Play, Playbook, Task, walk

Pos = tuple[int, ...]


def combine(books: Sequence[Playbook]) -> tuple[Playbook, tuple[int, ...]]:
    """One playbook of several, and the index of each one's last play (where a failure stops)."""
    plays: list[Play] = []
    ends: list[int] = []
    for book in books:
        plays.extend(book.plays)
        ends.append(len(plays) - 1)
    return Playbook(path=books[0].path, plays=tuple(plays)), tuple(ends[:-1])


def task_names(task: Task) -> tuple[str, str]:
    """(task.name, task.get_name()) as ansible-core has them."""
    own = task.name if task.named else ""
    shown = own or task.module
    return own, (f"{task.role.name} : {shown}" if task.role is not None else shown)


def matches(task: Task, pattern: str) -> bool:
    own, full = task_names(task)
    return (own == pattern or bool(own and fnmatch.fnmatch(own, pattern)) or full == pattern
            or fnmatch.fnmatch(full, pattern))


def _find(nodes: Sequence[Node], want: Callable[[Task], bool], sel: Selection, play_tags: set[str],
          pos: Pos) -> Pos | None:
    for i, n in enumerate(nodes):
        if isinstance(n, Block):
            found = _find(n.block, want, sel, play_tags, pos + (i, 0))
            if found is None:
                found = _find(n.always, want, sel, play_tags, pos + (i, 2))
            if found is not None:
                return found
        elif sel.selected(set(n.tags) | play_tags) and want(n):
            return pos + (i,)
    return None


def _first(play: Play, want: Callable[[Task], bool], sel: Selection) -> tuple[int, Pos] | None:
    for s, section in enumerate(play.sections):
        pos = _find(section, want, sel, set(play.tags), ())
        if pos is not None:
            return s, pos
    return None


def _prune(nodes: Sequence[Node], pos: Pos) -> tuple[Node, ...]:
    """The nodes from position `pos` on (inside a block: the rest of it, with its rescue and
    always when the start is in `block`, the rest of `always` when it is there)."""
    i, rest = pos[0], pos[1:]
    if not rest:
        return tuple(nodes[i:])
    block = nodes[i]
    assert isinstance(block, Block)
    part, inner = rest[0], rest[1:]
    if part == 0:
        head: Node = dataclasses.replace(block, block=_prune(block.block, inner))
    else:
        head = dataclasses.replace(block, block=(), rescue=(), always=_prune(block.always, inner))
    return (head, *nodes[i + 1:])


def _emptied(play: Play) -> Play:
    return dataclasses.replace(play, sections=tuple(() for _ in play.sections), tasks=(), gather_facts=False)


def _started(play: Play, section: int, pos: Pos | None, first: bool) -> Play:
    sections = tuple(() if s < section else _prune(sec, pos) if s == section and pos is not None else sec
                     for s, sec in enumerate(play.sections))
    tasks = tuple(t for sec in sections for t in walk(sec))
    if not first:
        return dataclasses.replace(play, sections=sections, tasks=tasks)
    # the play's very first task: ansible-core's PlayIterator keeps the host's initial state, whose
    # first block is the fact-gathering one, and runs it as a task: facts are gathered even with
    # gather_facts: false (measured: tests/ansible_diff/test_cli_flags.py)
    return dataclasses.replace(play, sections=sections, tasks=tasks, gather_facts=True, gather_when=())


def start_at(book: Playbook, pattern: str, tags: Sequence[str], skip: Sequence[str],
             has_hosts: Callable[[Play], bool]) -> Playbook:
    sel = Selection(tuple(tags), tuple(skip))
    plays = list(book.plays)
    for p, play in enumerate(plays):
        if not has_hosts(play):
            continue
        found: tuple[int, Pos | None] | None = None
        if play.gather_facts and fnmatch.fnmatch("Gathering Facts", pattern):
            found = (0, None)
        found = found or _first(play, lambda t: matches(t, pattern), sel)
        if found is None:
            continue
        first = found == _first(play, lambda t: True, sel) and not play.gather_facts
        if play.serial and found != (0, None):
            raise OptionsError(f"--start-at-task {pattern!r}: the task is in play {play.name!r}, which has serial: "
                               "ansible-core starts only its first batch at the task (later batches run the whole "
                               "play); hvprov does not copy that: remove serial or start at an earlier play")
        out = [_emptied(pl) for pl in plays[:p]] + [_started(play, *found, first)] + plays[p + 1:]
        return dataclasses.replace(book, plays=tuple(out))
    raise OptionsError(f'No matching task "{pattern}" found. Note: --start-at-task can only follow static '
                       f"includes.{_why_not(book, pattern)}")


def _why_not(book: Playbook, pattern: str) -> str:
    """A task that matches where ansible-core never looks: say so."""
    for play in book.plays:
        for section in play.sections:
            for task in walk(section):
                if task.module in DYNAMIC:
                    for child in walk(task.children or ()):
                        if matches(child, pattern):
                            return (f" ({child.name!r} at {child.location} is inside {task.module} at "
                                    f"{task.location}: its tasks are known only at run time)")
    return ""


def has_hosts_for(inventory: Any, limit: str | None, extra: Any) -> Callable[[Play], bool]:
    from .playlist import hosts_for

    hosts_of = hosts_for(inventory, limit, extra)
    return lambda play: bool(hosts_of(play))


__all__ = ["combine", "has_hosts_for", "matches", "start_at"]
