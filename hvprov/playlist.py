"""`--syntax-check`, `--list-hosts`, `--list-tasks`, `--list-tags`: what ansible-playbook prints
for them (ansible/cli/playbook.py, ansible-core 2.19), from the loaded task tree; no host is touched.

As ansible-core lists them: a block's `block` tasks only (not rescue/always), an include_tasks /
include_role as the include task itself (its tasks are known only at run time), imports and
roles inlined (`role : name`), an unnamed task by its action as written, tag selection applied
(with --list-tags and no -t/--skip-tags every tag counts, `never` included). Handlers are not
listed. Hosts come out in inventory order (ansible-playbook prints a set: its order varies).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tagsel import tags_selected
from .tasktree import DYNAMIC, Block, Node, Play, Task
from .yamlsrc import LocDict, LocList, load_yaml


@dataclass(frozen=True)
class Selection:
    """-t/--tags and --skip-tags as ansible-core's Taggable.evaluate_tags reads them."""

    tags: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def selected(self, tags: set[str]) -> bool:
        return tags_selected(tags, self.tags, self.skip)


class RawSource:
    """The YAML mappings a playbook was written with, by file and position: what the task tree
    does not keep (an unnamed task's action as written, a play's `hosts` as written)."""

    def __init__(self) -> None:
        self._files: dict[str, dict[tuple[int, int], Mapping[str, Any]]] = {}

    def at(self, where: Any) -> Mapping[str, Any] | None:
        if where is None or where.line is None:
            return None
        index = self._files.get(where.file)
        if index is None:
            index = {}
            try:
                self._index(load_yaml(where.file), index)
            except Exception:  # noqa: BLE001 - the file loaded once already; without it we fall back
                pass
            self._files[where.file] = index
        return index.get((where.line, where.column or 0))

    def _index(self, node: Any, index: dict[tuple[int, int], Mapping[str, Any]]) -> None:
        if isinstance(node, LocDict):
            if node.loc is not None and node.loc.line is not None:
                index.setdefault((node.loc.line, node.loc.column or 0), node)
            for value in node.values():
                self._index(value, index)
        elif isinstance(node, (LocList, list)):
            for item in node:
                self._index(item, index)


def action_as_written(task: Task, raw: RawSource) -> str:
    from .taskload import TASK_KEYS

    mapping = raw.at(task.location)
    if mapping is not None:
        keys = [k for k in mapping if isinstance(k, str) and k not in TASK_KEYS and not k.startswith("with_")]
        if len(keys) == 1:
            return keys[0]
    return task.module


def task_label(task: Task, raw: RawSource) -> str:
    """ansible-core's listing: `role : name` (Task.get_name()) when named, else the action."""
    if not task.named:
        return action_as_written(task, raw)
    return f"{task.role.name} : {task.name}" if task.role is not None else task.name


def listed(nodes: Sequence[Node]) -> Iterator[Task]:
    """The tasks ansible-playbook's _process_block visits: blocks' `block` lists, recursively;
    an include is one entry (its tasks are not known before the run)."""
    for n in nodes:
        if isinstance(n, Block):
            yield from listed(n.block)
        else:
            yield n


def play_header(play: Play, raw: RawSource, extra: Mapping[str, Any]) -> tuple[list[str], str]:
    """The play's `hosts` (a list of patterns) and name as ansible-core keeps them after
    post_validate: templated with the play's and the extra vars; the name defaults to the hosts."""
    from .templating import Templar

    mapping = raw.at(play.location)
    value = mapping.get("hosts") if mapping is not None else None
    hosts = [str(v) for v in value] if isinstance(value, list) else [play.hosts]
    templar, variables = Templar(), {**play.vars, **extra}

    def text(v: str, field: str) -> str:
        if not Templar.is_template(v):
            return v
        out = templar.template(v, variables, play.hosts_location or play.location, field)
        return ",".join(map(str, out)) if isinstance(out, list) else str(out)

    hosts = [text(h, "hosts") for h in hosts]
    named = mapping is None or "name" in mapping
    return hosts, text(play.name, "name") if named else ",".join(hosts)


def render(path: str, plays: Sequence[Play], hosts_of: Any, raw: RawSource, sel: Selection,
           list_hosts: bool, list_tasks: bool, list_tags: bool, extra: Mapping[str, Any]) -> str:
    """One playbook's listing, exactly as ansible-playbook prints it to stdout."""
    out = [f"\nplaybook: {path}"]
    for idx, play in enumerate(plays):
        pattern, name = play_header(play, raw, extra)
        mytags = set(play.tags)
        msg = f"\n  play #{idx + 1} ({','.join(pattern)}): {name}\tTAGS: [{','.join(sorted(mytags))}]"
        if list_hosts:
            hosts = hosts_of(play)
            msg += f"\n    pattern: {pattern!r}\n    hosts ({len(hosts)}):"
            msg += "".join(f"\n      {h}" for h in hosts)
        out.append(msg)
        if not (list_tasks or list_tags):
            continue
        taskmsg = "    tasks:\n" if list_tasks else ""
        all_tags: set[str] = set()
        for section in play.sections:
            for task in listed(section):
                if not sel.selected(set(task.tags) | mytags):
                    continue
                all_tags.update(task.tags)
                if list_tasks:
                    taskmsg += f"      {task_label(task, raw)}\tTAGS: [{', '.join(sorted(mytags | set(task.tags)))}]\n"
        if list_tags:
            taskmsg += f"      TASK TAGS: [{', '.join(sorted(mytags | all_tags))}]\n"
        out.append(taskmsg.removesuffix("\n"))  # Display.display adds a newline only when missing
    return "\n".join(out)


def hosts_for(inventory: Any, limit: str | None, extra: Mapping[str, Any]) -> Any:
    """A play's hosts as ansible-playbook --list-hosts counts them: its pattern (templated with
    play and extra vars), restricted by --limit."""
    from .errors import OptionsError, PlaybookError
    from .templating import Templar

    templar = Templar()
    allowed = {h.name for h in inventory.select(limit)} if limit else None

    def hosts_of(play: Play) -> list[str]:
        pattern = play.hosts
        if Templar.is_template(pattern):
            value = templar.template(pattern, {**play.vars, **extra}, play.hosts_location or play.location, "hosts")
            pattern = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            hosts = inventory.select(pattern)
        except OptionsError as exc:
            raise PlaybookError(f"bad host pattern {pattern!r}: {exc}", location=play.hosts_location or play.location,
                                field="hosts") from None
        return [h.name for h in hosts if allowed is None or h.name in allowed]
    return hosts_of


def listing(books: Sequence[tuple[str, Any]], inventory: Any, limit: str | None, extra: Mapping[str, Any],
            tags: Sequence[str], skip: Sequence[str], syntax: bool, list_hosts: bool, list_tasks: bool,
            list_tags: bool, vault: Any = None, roles_path: Any = None) -> str:
    """What ansible-playbook prints for these loaded playbooks (path as given, Playbook)."""
    from .errors import OptionsError

    if list_tags and not (tags or skip):
        tags = ("never", "all")  # ansible-playbook: listing tags shows every tag, `never` included
    sel = Selection(tuple(tags), tuple(skip))
    raw = RawSource()
    hosts_of = hosts_for(inventory, limit, extra) if list_hosts and not syntax else None
    parts = []
    for path, book in books:
        if list_tasks and not syntax and (again := repeated_roles(path, vault, roles_path)):
            raise OptionsError(f"--list-tasks: {path} names role(s) {', '.join(again)} more than once in a play "
                               "(directly or as a dependency): ansible-playbook lists their tasks again at each place "
                               "although they run once; hvprov keeps them once and does not fake that listing")
        plays = () if syntax else book.plays
        parts.append(render(path, plays, hosts_of, raw, sel, list_hosts, list_tasks, list_tags, extra))
    return "\n".join(parts)


class _Seen(set):  # type: ignore[type-arg]
    """The roles already in a play, noting every lookup that finds one (a role named again)."""

    def __init__(self, hits: list[Any]) -> None:
        super().__init__()
        self.hits = hits

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        if found:
            self.hits.append(key)
        return found


def repeated_roles(path: str, vault: Any, roles_path: Any) -> list[str]:
    """Roles a play names again (twice in `roles:`, or also as a dependency): ansible-playbook
    lists their tasks at each place, although they run once; hvprov's task tree has them once."""
    from .playbook import _PlayLoader
    from .roles import RoleLoader

    hits: list[Any] = []

    class Counting(RoleLoader):
        def new_play(self) -> None:
            self.seen = _Seen(hits)

    paths = [Path(p).expanduser() for p in roles_path] if roles_path is not None else None
    base = Path(path).parent
    loader = _PlayLoader(path, vault, base)
    loader.roles = Counting(paths)
    loader.playbook(load_yaml(path, vault=vault), path, base, base)
    return sorted({Path(k[0]).name for k in hits})
