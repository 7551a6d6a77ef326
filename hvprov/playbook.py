"""Playbooks: a YAML list of plays (and import_playbook entries), as Ansible writes them.

Everything static is validated at load time, all problems of a file at once: unknown play or
task keywords and module names (with "did you mean"), module arguments against each module's
schema (names always; types where the value has no Jinja2), tags, loops, task files and roles
(taskload.py, roles.py). Templated values are validated again per host at run time, with the
same file:line:column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import Location, PlaybookError
from .roles import RoleLoader
from .taskargs import describe_validation, suggest
from .taskload import TASK_KEYS, Scope, TaskLoader, as_list
from .tasktree import Block, Node, Play, Playbook, RoleInfo, Task, prefix_when, walk
from .templating import Templar
from .yamlsrc import load_yaml, location_of

PLAY_KEYS = {
    "name", "hosts", "vars", "vars_files", "serial", "max_fail_percentage", "gather_facts",
    "tasks", "pre_tasks", "post_tasks", "handlers", "tags", "any_errors_fatal", "roles", "strategy",
    "ignore_errors", "no_log", "run_once", "vars_prompt", "environment", "check_mode", "diff",
}
STRATEGIES = ("linear", "free")
_PLAY_UNSUPPORTED = {
    "become": "privilege escalation does not apply to Windows hosts: connect as an administrator",
    "collections": "collections is not supported: hvprov's modules are built in",
    "order": "order is not supported: hosts run in inventory order",
    "force_handlers": "force_handlers is not supported",
    "connection": "connection per play is not supported: set ansible_connection in the inventory",
    "module_defaults": "module_defaults is not supported",
}


class _PlayLoader(TaskLoader):
    def play(self, raw: Any, where: Location | None, fpath: str, base: Path, top_dir: Path) -> Play | None:
        if not isinstance(raw, Mapping):
            self.err(f"a play must be a mapping, got {type(raw).__name__}", where, fpath)
            return None
        for key in raw:
            if key in _PLAY_UNSUPPORTED:
                self.err(_PLAY_UNSUPPORTED[key], location_of(raw, key), f"{fpath}.{key}")
            elif key not in PLAY_KEYS:
                self.err(f"unknown play keyword {key!r}{suggest(str(key), PLAY_KEYS)}", location_of(raw, key), f"{fpath}.{key}")
        hosts = raw.get("hosts")
        if isinstance(hosts, list):
            hosts = ",".join(str(h) for h in hosts)
        if not isinstance(hosts, str) or not hosts.strip():
            self.err("a play needs 'hosts' (a host pattern)", location_of(raw, "hosts") or where, f"{fpath}.hosts")
            hosts = ""
        own_vars, file_vars, files = self.play_vars(raw, fpath, base)
        serial = self.serial(raw, fpath)
        mfp = raw.get("max_fail_percentage")
        if mfp is not None and (isinstance(mfp, bool) or not isinstance(mfp, (int, float)) or not 0 <= mfp <= 100):
            self.err(f"max_fail_percentage expects a number from 0 to 100, got {mfp!r}", location_of(raw, "max_fail_percentage"), f"{fpath}.max_fail_percentage")
            mfp = None
        strategy = raw.get("strategy")
        if strategy is not None and strategy not in STRATEGIES:
            self.err(f"strategy {strategy!r} is not supported (expected one of: {', '.join(STRATEGIES)})",
                     location_of(raw, "strategy"), f"{fpath}.strategy")
            strategy = None
        self.playbook_dir = base
        self.roles.new_play()
        self.handlers, self.public_roles, first_file = [], [], len(self.files)
        scope = Scope(base=base, ignore_errors=self._flag(raw, "ignore_errors", fpath, None),
                      no_log=self._flag(raw, "no_log", fpath, None), run_once=self._flag(raw, "run_once", fpath, None),
                      environment=self.environment(raw, fpath), check_mode=self._flag(raw, "check_mode", fpath, None),
                      diff=self._flag(raw, "diff", fpath, None))
        pre = self.tasks(raw.get("pre_tasks"), location_of(raw, "pre_tasks"), f"{fpath}.pre_tasks", scope)
        before_roles = len(self.handlers)
        main: list[Node] = []
        entries = raw.get("roles") or []
        if not isinstance(entries, list):
            self.err("roles must be a list", location_of(raw, "roles"), f"{fpath}.roles")
            entries = []
        for i, entry in enumerate(entries):
            eloc = location_of(entries, i)
            name, params, escope = self.roles.entry(self, entry, eloc, f"{fpath}.roles[{i}]", scope)
            nodes, _ = self.roles.load(self, name, eloc, f"{fpath}.roles[{i}]", params, escope, public=True)
            main += nodes
        role_handlers = self.handlers[before_roles:]
        del self.handlers[before_roles:]
        main += self.tasks(raw.get("tasks"), location_of(raw, "tasks"), f"{fpath}.tasks", scope)
        post = self.tasks(raw.get("post_tasks"), location_of(raw, "post_tasks"), f"{fpath}.post_tasks", scope)
        own_handlers = [h for h in self.tasks(raw.get("handlers"), location_of(raw, "handlers"), f"{fpath}.handlers",
                                              dataclasses.replace(scope, handler=True)) if isinstance(h, Task)]
        # ansible-core: handlers of `roles:` first, then the play's own, then those of roles imported or included by tasks
        handlers = tuple(role_handlers) + tuple(own_handlers) + tuple(self.handlers)
        sections = (pre, tuple(main), post)
        flat = tuple(t for sec in sections for t in walk(sec))
        known = {n for h in handlers for n in (h.name, *h.listen)}
        for t in flat + handlers:
            for n in t.notify:
                if n not in known and not Templar.is_template(n):
                    self.err(f"notify: no handler named or listening to {n!r} in this play (ansible-core fails "
                             f"the task)", t.location, f"{t.path}.notify")
        if strategy == "free" and any(t.run_once for t in flat):
            bad = next(t for t in flat if t.run_once)
            self.err("run_once with strategy free runs once per host that reaches it first in ansible-core: "
                     "use strategy linear", bad.location, f"{bad.path}.run_once")
        if strategy == "free":  # ansible-core only warns that these are "not supported" with free
            for key in ("any_errors_fatal", "max_fail_percentage"):
                if raw.get(key) not in (None, False):
                    self.err(f"{key} is not supported with strategy free (ansible-core ignores it there): "
                             "use strategy linear", location_of(raw, key), f"{fpath}.{key}")
            bad_t = next((t for t in flat if t.any_errors_fatal), None)
            if bad_t is not None:
                self.err("any_errors_fatal is not supported with strategy free (ansible-core ignores it there): "
                         "use strategy linear", bad_t.location, f"{bad_t.path}.any_errors_fatal")
        name = raw.get("name")
        return Play(
            name=str(name) if name is not None else str(hosts), hosts=hosts, location=where or Location(self.path),
            tasks=flat, handlers=handlers, vars={**own_vars, **file_vars}, vars_files=tuple(files), serial=tuple(serial),
            own_vars=own_vars, file_vars=file_vars,
            max_fail_percentage=float(mfp) if mfp is not None else None,
            gather_facts=bool(self.bool(raw.get("gather_facts"), location_of(raw, "gather_facts"), f"{fpath}.gather_facts", True)),
            tags=self.tags(raw.get("tags"), location_of(raw, "tags"), f"{fpath}.tags"),
            any_errors_fatal=bool(self.bool(raw.get("any_errors_fatal"), location_of(raw, "any_errors_fatal"), f"{fpath}.any_errors_fatal")),
            hosts_location=location_of(raw, "hosts"), sections=sections, strategy=strategy,
            roles=tuple(self.public_roles), files=tuple(self.files[first_file:]), playbook_dir=str(top_dir.resolve()),
            prompts=self.prompts(raw, where, fpath),
        )

    def prompts(self, raw: Mapping[str, Any], where: Location | None, fpath: str) -> tuple[Any, ...]:
        """The play's vars_prompt (hvprov.prompts is imported only for a play that has one)."""
        if raw.get("vars_prompt") is None:
            return ()
        from .prompts import parse_prompts

        return parse_prompts(self, raw.get("vars_prompt"), location_of(raw, "vars_prompt") or where, f"{fpath}.vars_prompt")

    def play_vars(self, raw: Mapping[str, Any], fpath: str, base: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """The play's `vars`, the variables of its vars_files (above them), the files."""
        own_vars = dict(self.mapping(raw, "vars", fpath))
        self.check_templates(own_vars, f"{fpath}.vars")
        merged_vars: dict[str, Any] = {}
        files: list[str] = []
        for i, vf in enumerate(as_list(raw.get("vars_files"))):
            vf_loc = location_of(raw.get("vars_files"), i) or location_of(raw, "vars_files")
            if not isinstance(vf, str) or Templar.is_template(vf):
                self.err("vars_files entries must be literal file paths", vf_loc, f"{fpath}.vars_files[{i}]")
                continue
            p = (base / vf) if not Path(vf).is_absolute() else Path(vf)
            if not p.exists():  # a FIFO or device reaches the bounded reader, which refuses it by name
                self.err(f"vars file not found: {p}", vf_loc, f"{fpath}.vars_files[{i}]")
                continue
            try:
                data = load_yaml(p, PlaybookError, self.vault)
            except PlaybookError as exc:
                self.problems.append(exc)
                continue
            if data is None:
                data = {}
            if not isinstance(data, Mapping):
                self.err(f"a vars file must hold a mapping, got {type(data).__name__}", Location(str(p)), f"{fpath}.vars_files[{i}]")
                continue
            merged_vars.update(data)
            files.append(str(p))
        return own_vars, merged_vars, files

    def serial(self, raw: Mapping[str, Any], fpath: str) -> list[int | str]:
        serial: list[int | str] = []
        for s in as_list(raw.get("serial")):
            if isinstance(s, bool) or not isinstance(s, (int, str)) or (isinstance(s, int) and s < 1) or (
                isinstance(s, str) and not (s.isdigit() or (s.endswith("%") and s[:-1].replace(".", "", 1).isdigit()))
            ):
                self.err(f"serial expects a positive number or a percentage like '25%', got {s!r}", location_of(raw, "serial"), f"{fpath}.serial")
                continue
            serial.append(int(s) if isinstance(s, str) and s.isdigit() else s)
        return serial

    def playbook(self, raw: Any, source: str, base: Path, top_dir: Path, depth: int = 0) -> list[Play]:
        if raw is None:
            raise PlaybookError("the playbook is empty", location=Location(source))
        if not isinstance(raw, list):  # a single mapping too: ansible-core refuses it (exit 4)
            kind = "a mapping" if isinstance(raw, Mapping) else type(raw).__name__
            raise PlaybookError(f"a playbook is a list of plays, got {kind}",
                                location=getattr(raw, "loc", None) or Location(source))
        plays: list[Play] = []
        for i, p in enumerate(raw):
            where = location_of(raw, i)
            if isinstance(p, Mapping) and ("import_playbook" in p or "ansible.builtin.import_playbook" in p):
                plays += self.import_playbook(p, where, f"plays[{i}]", base, top_dir, depth)
                continue
            play = self.play(p, where, f"plays[{i}]", base, top_dir)
            if play is not None:
                plays.append(play)
        return plays

    def import_playbook(self, raw: Mapping[str, Any], where: Location | None, fpath: str, base: Path, top_dir: Path,
                        depth: int) -> list[Play]:
        key = "import_playbook" if "import_playbook" in raw else "ansible.builtin.import_playbook"
        for k in raw:
            if k not in (key, "name", "tags", "vars", "when"):
                self.err(f"{k!r} on import_playbook is not supported", location_of(raw, k), f"{fpath}.{k}")
        tags = self.tags(raw.get("tags"), location_of(raw, "tags"), f"{fpath}.tags")
        ivars = dict(self.mapping(raw, "vars", fpath))
        when = tuple(as_list(raw.get("when")))
        name = raw[key]
        loc = location_of(raw, key)
        if not isinstance(name, str) or Templar.is_template(name):
            self.err("import_playbook needs a literal file name", loc, f"{fpath}.{key}")
            return []
        p = Path(name) if Path(name).is_absolute() else base / name
        if not p.is_file():
            self.err(f"playbook not found: {p}", loc, f"{fpath}.{key}")
            return []
        if depth >= 10:
            self.err("import_playbook nested more than 10 deep (a loop?)", loc, f"{fpath}.{key}")
            return []
        try:
            data = load_yaml(p, PlaybookError, self.vault)
            self.files.append(str(p))
            saved = self.path
            self.path = str(p)
            try:
                plays = self.playbook(data, str(p), p.parent, top_dir, depth + 1)
                return [imported(pl, tags, ivars, when) for pl in plays]
            finally:
                self.path = saved
        except PlaybookError as exc:
            self.problems.append(exc)
            return []


def imported(play: Play, tags: tuple[str, ...], ivars: Mapping[str, Any], when: tuple[Any, ...]) -> Play:
    """A play of an imported playbook, as ansible-core's PlaybookInclude leaves it: the import's
    vars over the play's own `vars` (vars_files still above), its tags added, its `when` put in
    front of every task's and on fact gathering."""
    own = {**play.own_vars, **ivars}
    sections = tuple(prefix_when(sec, when) for sec in play.sections) if when else play.sections
    return dataclasses.replace(
        play, tags=tuple(dict.fromkeys(play.tags + tags)), own_vars=own, vars={**own, **play.file_vars},
        sections=sections, tasks=tuple(t for sec in sections for t in walk(sec)), gather_when=when + play.gather_when)


def load_playbook(path: str | Path, vault: Any = None, roles_path: Sequence[Path] | None = None) -> Playbook:
    raw = load_yaml(path, PlaybookError, vault)
    return playbook_from_data(raw, str(path), Path(path).parent, vault, roles_path)


def playbook_from_data(raw: Any, source: str = "<api>", base_dir: Path | None = None, vault: Any = None,
                       roles_path: Sequence[Path] | None = None) -> Playbook:
    """Build a playbook from YAML-shaped Python data (a list of plays)."""
    base = base_dir or Path.cwd()
    loader = _PlayLoader(source, vault, base)
    loader.roles = RoleLoader(roles_path)
    plays = loader.playbook(raw, source, base, base)
    if loader.problems:
        if len(loader.problems) == 1:
            raise loader.problems[0]
        first = loader.problems[0]
        raise PlaybookError(
            f"{len(loader.problems)} problems", location=first.location or Location(source), problems=loader.problems
        )
    return Playbook(path=source, plays=tuple(plays))


__all__ = ["Block", "Play", "Playbook", "RoleInfo", "TASK_KEYS", "Task", "describe_validation", "load_playbook",
           "playbook_from_data", "suggest"]
