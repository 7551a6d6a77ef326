"""The task tree a playbook loads into: plays -> sections -> blocks -> tasks.

Static structure (blocks, import_tasks, import_role, roles:) is resolved at load time: the
attributes Ansible inherits from a parent (when, tags, vars, ignore_errors, any_errors_fatal,
run_once, the role) are folded into each task, so a task carries everything it needs.
Dynamic includes (include_tasks, include_role) stay nodes whose children were loaded (and
validated) at load time when their file name is literal; they expand per host at run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

from .errors import Location


@dataclass(frozen=True)
class RoleInfo:
    """A role as one task sees it: its path, its defaults and vars (dependencies' first) and
    the parameters it was called with."""

    name: str
    path: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    public: bool = True  # roles:/import_role expose defaults and vars to the whole play


@dataclass(frozen=True)
class Task:
    """One task as loaded: its module and raw arguments, and every keyword it has or inherits."""

    name: str
    module: str
    args: Any  # raw (may contain Jinja2), LocDict where it came from YAML
    location: Location
    when: tuple[Any, ...] = ()
    loop: Any = None
    loop_var: str = "item"
    loop_label: Any = None
    index_var: str | None = None
    loop_extended: bool = False
    loop_allitems: bool = True
    loop_pause: float = 0.0
    register: str | None = None
    tags: tuple[str, ...] = ()
    ignore_errors: bool = False
    no_log: bool = False
    notify: tuple[str, ...] = ()
    listen: tuple[str, ...] = ()
    changed_when: tuple[Any, ...] | None = None
    failed_when: tuple[Any, ...] | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0
    path: str = ""  # field path for messages, e.g. "plays[0].tasks[2]"
    role: RoleInfo | None = None
    run_once: bool = False
    any_errors_fatal: bool | None = None
    children: tuple[Node, ...] | None = None  # include_tasks / include_role, loaded at load time
    named: bool = True  # the user gave a name (Ansible shows the action otherwise)
    loop_with: str | None = None  # `with_<lookup>`: the loop is that lookup's terms
    until: tuple[Any, ...] | None = None
    retries: Any = None  # None: 3 when `until` is set (ansible-core's default)
    delay: Any = 5
    environment: Any = None  # tuple of levels (play .. task), each a mapping / list of mappings / template (taskkw.py)
    check_mode: bool | None = None  # per task: True plans without applying (taskkw.py)
    diff: bool | None = None


@dataclass(frozen=True)
class Block:
    """A block with its rescue and always sections (their tasks carry the inherited keywords)."""

    block: tuple[Node, ...]
    rescue: tuple[Node, ...] = ()
    always: tuple[Node, ...] = ()
    location: Location | None = None
    path: str = ""
    name: str = ""


Node = Union[Task, Block]

DYNAMIC = ("include_tasks", "include_role")
META_ACTIONS = ("flush_handlers", "end_host", "end_play", "noop", "clear_facts", "clear_host_errors", "end_batch",
                "refresh_inventory", "reset_connection", "end_role")


@dataclass(frozen=True)
class Play:
    """One play: its hosts pattern, its sections of tasks, handlers, roles and play keywords."""

    name: str
    hosts: str
    location: Location
    tasks: tuple[Task, ...]  # every static task, flattened (pre-flight checks, probes)
    handlers: tuple[Task, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    vars_files: tuple[str, ...] = ()
    serial: tuple[int | str, ...] = ()
    max_fail_percentage: float | None = None
    gather_facts: bool = True
    tags: tuple[str, ...] = ()
    any_errors_fatal: bool = False
    hosts_location: Location | None = None
    sections: tuple[tuple[Node, ...], ...] = ()  # pre_tasks, roles + tasks, post_tasks
    strategy: str | None = None  # linear | free | None (the run's default)
    roles: tuple[RoleInfo, ...] = ()  # public roles (roles:, import_role): their defaults/vars are play-wide
    files: tuple[str, ...] = ()  # every file the play was loaded from (imports, roles)
    playbook_dir: str = ""
    run_once_used: bool = False
    own_vars: Mapping[str, Any] = field(default_factory=dict)  # `vars:` (vars = own_vars + file_vars)
    file_vars: Mapping[str, Any] = field(default_factory=dict)  # from vars_files
    gather_when: tuple[Any, ...] = ()  # an import_playbook's when: gather facts only where it holds
    prompts: tuple[Any, ...] = ()  # vars_prompt (prompts.Prompt), answered before the run starts


@dataclass(frozen=True)
class Playbook:
    """A loaded playbook: its path and plays (import_playbook already expanded)."""

    path: str
    plays: tuple[Play, ...]

    @property
    def base_dir(self) -> Path:
        return Path(self.path).parent if self.path and not self.path.startswith("<") else Path.cwd()


def walk(nodes: tuple[Node, ...]) -> Iterator[Task]:
    """Every task of a tree in document order (block, rescue, always; includes' children)."""
    for n in nodes:
        if isinstance(n, Block):
            yield from walk(n.block)
            yield from walk(n.rescue)
            yield from walk(n.always)
        else:
            yield n
            if n.children:
                yield from walk(n.children)


def prefix_when(nodes: tuple[Node, ...], when: tuple[Any, ...]) -> tuple[Node, ...]:
    """Every task of a tree with `when` conditions put in front of its own."""
    out: list[Node] = []
    for n in nodes:
        if isinstance(n, Block):
            out.append(replace(n, block=prefix_when(n.block, when), rescue=prefix_when(n.rescue, when),
                               always=prefix_when(n.always, when)))
        else:
            kids = prefix_when(n.children, when) if n.children else n.children
            out.append(replace(n, when=when + n.when, children=kids))
    return tuple(out)
