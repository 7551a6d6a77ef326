"""Loading tasks, blocks and task includes (as ansible-core reads them), all problems at once.

A `Scope` carries what a parent passes to its children (Ansible's inherited attributes); static
imports fold it into the imported tasks, dynamic includes keep their children as nodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import modules as module_registry
from .errors import InputError, Location, PlaybookError
from .tasktree import META_ACTIONS, Block, Node, RoleInfo, Task
from .templating import Templar
from .taskargs import check_args, free_form, suggest
from .taskfiles import TaskFiles
from .validate import check_loop_var
from .jinja.lookups import LOOKUPS
from .taskkw import check_keywords
from .yamlsrc import LocDict, location_of

TASK_KEYS = {
    "name", "when", "loop", "with_items", "with_list", "loop_control", "register", "tags",
    "ignore_errors", "no_log", "notify", "changed_when", "failed_when", "vars", "listen",
    "retries", "delay", "until", "run_once", "any_errors_fatal", "args",
    "environment", "check_mode", "diff", "delegate_to", "connection",  # checked by taskkw.check_keywords
}
BLOCK_KEYS = {"block", "rescue", "always", "name", "when", "tags", "vars", "ignore_errors", "any_errors_fatal",
              "run_once", "no_log", "environment", "check_mode", "diff"}
INHERITED_KEYWORDS = ("environment", "check_mode", "diff")  # play > block/role/import > task (taskkw.py)
STRUCTURE = {"include_tasks", "import_tasks", "include_role", "import_role", "meta",
             "ansible.builtin.include_tasks", "ansible.builtin.import_tasks", "ansible.builtin.include_role",
             "ansible.builtin.import_role", "ansible.builtin.meta", "include_vars", "ansible.builtin.include_vars"}
UNSUPPORTED = {
    "become": "privilege escalation does not apply to Windows hosts: connect as an administrator",
    "delegate_facts": "delegate_facts is not supported",
    "include": "the bare 'include' was removed from ansible-core 2.16: use include_tasks or import_tasks",
    "async": "async tasks are not supported",
    "poll": "async tasks are not supported",
    "throttle": "throttle is not supported",
}
CONNECTION_VARS = ("ansible_user", "ansible_password", "ansible_host", "ansible_port", "ansible_connection",
                   "ansible_winrm_", "ansible_ssh_", "ansible_shell_type", "ansible_private_key_file", "hvprov_host",
                   "hvprov_user", "hvprov_password", "hvprov_port", "hvprov_connection", "hvprov_winrm_", "hvprov_ssh_")
LOOP_CONTROL = ["loop_var", "label", "index_var", "pause", "extended", "extended_allitems"]


@dataclass(frozen=True)
class Scope:
    """What a parent (block, import, role) passes down to its tasks."""

    base: Path  # directory relative task files are looked up in first
    when: tuple[Any, ...] = ()
    tags: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    ignore_errors: bool | None = None
    any_errors_fatal: bool | None = None
    run_once: bool | None = None
    no_log: bool | None = None
    environment: tuple[Any, ...] = ()  # the parents' `environment` values, outermost first (merged per name)
    check_mode: bool | None = None
    diff: bool | None = None
    role: RoleInfo | None = None
    depth: int = 0
    handler: bool = False


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _short(key: str) -> str:
    return key.removeprefix("ansible.builtin.")


class TaskLoader(TaskFiles):
    """Reads task lists; `roles` (hvprov.roles.RoleLoader) resolves import_role/include_role."""

    def __init__(self, path: str, vault: Any, playbook_dir: Path) -> None:
        self.path = path
        self.vault = vault
        self.playbook_dir = playbook_dir
        self.problems: list[PlaybookError] = []
        self.templar = Templar()
        self.files: list[str] = []
        self.handlers: list[Task] = []  # handlers of roles met while loading
        self.public_roles: list[RoleInfo] = []
        self.roles: Any = None

    def check_templates(self, values: Mapping[str, Any], fpath: str) -> None:
        """Templates in vars: a syntax error or an unknown filter, test or lookup is refused at load."""
        for key, value in values.items():
            try:
                self.templar.undeclared(value)
            except InputError as exc:
                self.err(exc.detail, location_of(values, key), f"{fpath}.{key}")

    def err(self, msg: str, where: Location | None, fieldpath: str) -> None:
        self.problems.append(PlaybookError(msg, location=where or Location(self.path), field=fieldpath))

    def bool(self, value: Any, where: Location | None, fieldpath: str, default: bool | None = False) -> bool | None:
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("yes", "true", "no", "false", "on", "off"):
            return value.lower() in ("yes", "true", "on")
        self.err(f"expected a boolean, got {value!r}", where, fieldpath)
        return default

    def tags(self, value: Any, where: Location | None, fieldpath: str) -> tuple[str, ...]:
        out: list[str] = []
        for t in as_list(value):
            if isinstance(t, str):
                out.extend(s.strip() for s in t.split(",") if s.strip())
            elif isinstance(t, (int, float)):
                out.append(str(t))
            else:
                self.err(f"expected a tag name, got {type(t).__name__}", where, fieldpath)
        return tuple(out)

    def mapping(self, raw: Mapping[str, Any], key: str, fpath: str) -> Mapping[str, Any]:
        value = raw.get(key) or {}
        if not isinstance(value, Mapping):
            self.err(f"{key} must be a mapping, got {type(value).__name__}", location_of(raw, key), f"{fpath}.{key}")
            return {}
        if key == "vars":
            for name in value:
                if isinstance(name, str) and name.startswith(CONNECTION_VARS):
                    self.err(f"connection variable {name!r} in vars is not supported (a host keeps one connection "
                             "for the run): set it in the inventory or with -e", location_of(value, name), f"{fpath}.vars.{name}")
        return value

    # -- lists ---------------------------------------------------------------
    def tasks(self, raw: Any, where: Location | None, fpath: str, scope: Scope) -> tuple[Node, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.err(f"expected a list of tasks, got {type(raw).__name__}", where, fpath)
            return ()
        out: list[Node] = []
        for i, t in enumerate(raw):
            out.extend(self.node(t, location_of(raw, i), f"{fpath}[{i}]", i, scope))
        return tuple(out)

    def node(self, raw: Any, where: Location | None, fpath: str, index: int, scope: Scope) -> list[Node]:
        if not isinstance(raw, Mapping):
            self.err(f"a task must be a mapping, got {type(raw).__name__}", where, fpath)
            return []
        if "block" in raw:
            block = self.block(raw, where, fpath, scope)
            return [block] if block is not None else []
        for key in ("rescue", "always"):
            if key in raw:
                self.err(f"{key} needs a block in the same mapping", location_of(raw, key), f"{fpath}.{key}")
                return []
        for key in raw:
            if key in ("import_tasks", "ansible.builtin.import_tasks"):
                return self.import_tasks(raw, key, where, fpath, scope)
            if key in ("import_role", "ansible.builtin.import_role"):
                return self.roles.import_role(self, raw, key, where, fpath, scope)
        task = self.task(raw, where, fpath, index, scope)
        return [task] if task is not None else []

    def block(self, raw: Mapping[str, Any], where: Location | None, fpath: str, scope: Scope) -> Block | None:
        for key in raw:
            if key not in BLOCK_KEYS:
                reason = UNSUPPORTED.get(str(key)) or f"{key!r} is not a block keyword (a block holds tasks in block/rescue/always)"
                self.err(reason, location_of(raw, key), f"{fpath}.{key}")
        inner = self.inherit(raw, fpath, scope)
        parts = {}
        for key in ("block", "rescue", "always"):
            parts[key] = self.tasks(raw.get(key), location_of(raw, key), f"{fpath}.{key}", inner)
        name = raw.get("name")
        return Block(parts["block"], parts["rescue"], parts["always"], where or Location(self.path), fpath,
                     str(name) if name is not None else "")

    def inherit(self, raw: Mapping[str, Any], fpath: str, scope: Scope, own_when: bool = True) -> Scope:
        """The scope a block/import passes on: its when, tags, vars and flags added to the parent's."""
        bvars = self.mapping(raw, "vars", fpath)
        return dataclasses.replace(
            scope,
            when=scope.when + (tuple(as_list(raw.get("when"))) if own_when else ()),
            tags=scope.tags + self.tags(raw.get("tags"), location_of(raw, "tags"), f"{fpath}.tags"),
            vars={**scope.vars, **bvars},
            ignore_errors=self._flag(raw, "ignore_errors", fpath, scope.ignore_errors),
            any_errors_fatal=self._flag(raw, "any_errors_fatal", fpath, scope.any_errors_fatal),
            run_once=self._flag(raw, "run_once", fpath, scope.run_once),
            no_log=self._flag(raw, "no_log", fpath, scope.no_log),
            environment=scope.environment + self.environment(raw, fpath),
            check_mode=self._flag(raw, "check_mode", fpath, scope.check_mode),
            diff=self._flag(raw, "diff", fpath, scope.diff),
        )

    def environment(self, raw: Mapping[str, Any], fpath: str) -> tuple[Any, ...]:
        """This level's `environment` (checked as taskkw.check_keywords does), or nothing."""
        if raw.get("environment") is None:
            return ()
        env = raw["environment"]
        if not isinstance(env, (Mapping, list, str)):
            self.err(f"environment expects a mapping of variable names to values, got {type(env).__name__}",
                     location_of(raw, "environment"), f"{fpath}.environment")
            return ()
        return (env,)

    def _flag(self, raw: Mapping[str, Any], key: str, fpath: str, parent: bool | None) -> bool | None:
        if key not in raw:
            return parent
        return self.bool(raw[key], location_of(raw, key), f"{fpath}.{key}", parent)

    # -- one task --------------------------------------------------------------
    def task(self, raw: Mapping[str, Any], where: Location | None, fpath: str, index: int, scope: Scope) -> Task | None:
        module_keys = []
        for key in raw:
            if key in TASK_KEYS:
                continue
            if isinstance(key, str) and key.startswith("with_") and key[5:] in LOOKUPS:
                continue  # with_<lookup>: a loop over that lookup
            if isinstance(key, str) and key.startswith("with_"):
                self.err(f"lookup plugin {key[5:]!r} not found (for {key})", location_of(raw, key), f"{fpath}.{key}")
                continue
            if key in UNSUPPORTED:
                self.err(UNSUPPORTED[key], location_of(raw, key), f"{fpath}.{key}")
                continue
            if not isinstance(key, str):
                self.err(f"a task key must be a string, got {key!r}", location_of(raw, key), fpath)
                continue
            module_keys.append(key)
        if len(module_keys) != 1:
            if not module_keys:
                self.err("a task needs one module (e.g. windows_feature:)", where, fpath)
            else:
                self.err(f"a task has exactly one module, found {', '.join(module_keys)}", where, fpath)
            return None
        mkey = module_keys[0]
        mloc = location_of(raw, mkey)
        args = raw[mkey]
        children: tuple[Node, ...] | None = None
        role: RoleInfo | None = scope.role
        if mkey in STRUCTURE:
            module = _short(mkey)
            args, children, role = self.structural(module, raw, mkey, mloc, fpath, scope)
            if args is None:
                return None
        else:
            mod = module_registry.get(mkey)
            if mod is None:
                known = set(module_registry.MODULES) | set(module_registry.ALIASES) | TASK_KEYS | STRUCTURE
                self.err(f"unknown module or task keyword {mkey!r}{suggest(mkey, known)}", mloc, f"{fpath}.{mkey}")
                return None
            module = mod.name
            if args is None:
                args = LocDict()
            if "args" in raw and isinstance(raw["args"], Mapping) and isinstance(args, Mapping):
                merged = LocDict({**raw["args"], **args})
                merged.key_locs = {**getattr(raw["args"], "key_locs", {}), **getattr(args, "key_locs", {})}
                merged.loc = getattr(args, "loc", None)
                args = merged
            if isinstance(args, str):
                try:
                    args = free_form(mod.name, args)
                except ValueError as exc:
                    if not Templar.is_template(args):
                        self.err(str(exc), mloc, f"{fpath}.{mkey}")
                        return None
            if not isinstance(args, Mapping) and not Templar.is_template(args):
                self.err(f"module arguments must be a mapping, got {type(args).__name__}", mloc, f"{fpath}.{mkey}")
                return None
            if isinstance(args, Mapping):
                self.check_args(mod, args, mloc, f"{fpath}.{mkey}")
        check_keywords(self, raw, module, fpath)
        return self._build(raw, module, args, where, fpath, index, scope, children, role)

    def _build(self, raw: Mapping[str, Any], module: str, args: Any, where: Location | None, fpath: str, index: int,
               scope: Scope, children: tuple[Node, ...] | None, role: RoleInfo | None) -> Task:
        lkeys = [k for k in raw if k == "loop" or (isinstance(k, str) and k.startswith("with_"))]
        lkey = lkeys[0] if lkeys else "loop"
        if len(lkeys) > 1:
            self.err(f"a task takes one loop keyword, found {', '.join(lkeys)}", location_of(raw, lkeys[1]), f"{fpath}.{lkeys[1]}")
        loop = raw.get(lkey)
        loop_with = lkey[5:] if lkey != "loop" else None
        if loop_with is None and loop is not None and not isinstance(loop, (list, str)):
            self.err(f"loop expects a list or a Jinja2 expression, got {type(loop).__name__}", location_of(raw, lkey), f"{fpath}.{lkey}")
        lc = self.mapping(raw, "loop_control", fpath)
        for k in lc:
            if k not in LOOP_CONTROL:
                self.err(f"unknown loop_control key {k!r}{suggest(str(k), LOOP_CONTROL)}",
                         location_of(lc, k), f"{fpath}.loop_control.{k}")
        for k in ("loop_var", "index_var"):
            if (why := check_loop_var(lc.get(k))) is not None:
                self.err(why, location_of(lc, k), f"{fpath}.loop_control.{k}")
        pause = lc.get("pause", 0)
        if isinstance(pause, bool) or not isinstance(pause, (int, float)) or pause < 0:
            self.err(f"loop_control.pause expects seconds, got {pause!r}", location_of(lc, "pause"), f"{fpath}.loop_control.pause")
            pause = 0
        register = raw.get("register")
        if register is not None and (not isinstance(register, str) or not register.isidentifier()):
            self.err(f"register needs a variable name, got {register!r}", location_of(raw, "register"), f"{fpath}.register")
            register = None
        retries, delay = raw.get("retries"), raw.get("delay", 5)
        for key, val, kinds in (("retries", retries, (int,)), ("delay", delay, (int, float))):
            if val is not None and (isinstance(val, bool) or not isinstance(val, kinds)) and not Templar.is_template(val):
                self.err(f"{key} expects a number, got {val!r}", location_of(raw, key), f"{fpath}.{key}")
        tvars = self.mapping(raw, "vars", fpath)
        self.check_templates(tvars, f"{fpath}.vars")
        name = raw.get("name")

        def exprs(key: str) -> tuple[Any, ...] | None:
            return tuple(as_list(raw[key])) if key in raw else None

        ignore = self._flag(raw, "ignore_errors", fpath, scope.ignore_errors)
        no_log = self._flag(raw, "no_log", fpath, scope.no_log)
        return Task(
            name=str(name) if name is not None else module, module=module, args=args,
            location=where or Location(self.path),
            when=scope.when + tuple(as_list(raw.get("when"))),
            loop=loop, loop_var=str(lc.get("loop_var", "item")), loop_label=lc.get("label"),
            index_var=str(lc["index_var"]) if lc.get("index_var") else None,
            loop_extended=bool(self.bool(lc.get("extended"), location_of(lc, "extended"), f"{fpath}.loop_control.extended")),
            loop_allitems=bool(self.bool(lc.get("extended_allitems"), location_of(lc, "extended_allitems"),
                                         f"{fpath}.loop_control.extended_allitems", True)),
            loop_pause=float(pause),
            register=register,
            tags=tuple(dict.fromkeys(scope.tags + self.tags(raw.get("tags"), location_of(raw, "tags"), f"{fpath}.tags"))),
            ignore_errors=bool(ignore), no_log=bool(no_log),
            notify=tuple(str(n) for n in as_list(raw.get("notify"))),
            listen=tuple(str(n) for n in as_list(raw.get("listen"))) if scope.handler else (),
            changed_when=exprs("changed_when"), failed_when=exprs("failed_when"),
            vars={**scope.vars, **tvars}, index=index, path=fpath, role=role,
            run_once=bool(self._flag(raw, "run_once", fpath, scope.run_once)),
            any_errors_fatal=self._flag(raw, "any_errors_fatal", fpath, scope.any_errors_fatal),
            children=children, named=name is not None, loop_with=loop_with,
            until=tuple(as_list(raw["until"])) if raw.get("until") not in (None, [], "") else None,
            retries=retries, delay=delay,
            environment=(scope.environment + (raw["environment"],) if raw.get("environment") is not None
                         else scope.environment) or None,
            check_mode=self._flag(raw, "check_mode", fpath, scope.check_mode),
            diff=self._flag(raw, "diff", fpath, scope.diff),
        )

    def structural(self, module: str, raw: Mapping[str, Any], mkey: str, mloc: Location | None, fpath: str,
                   scope: Scope) -> tuple[Any, tuple[Node, ...] | None, RoleInfo | None]:
        """meta / include_tasks / include_role: (args, preloaded children, role)."""
        args = raw[mkey]
        if module == "meta":
            if not isinstance(args, str) or args not in META_ACTIONS:
                self.err(f"meta expects one of {', '.join(META_ACTIONS[:3])}, got {args!r}", mloc, f"{fpath}.{mkey}")
                return None, None, None
            if args not in ("flush_handlers", "end_host", "end_play", "noop"):
                self.err(f"meta: {args} is not supported", mloc, f"{fpath}.{mkey}")
                return None, None, None
            return args, None, scope.role
        if module == "include_role":
            return self.roles.include_role(self, raw, mkey, mloc, fpath, scope)
        if module == "include_vars":
            return self.include_vars(args, mloc, f"{fpath}.{mkey}", scope), None, scope.role
        name = args.get("file") if isinstance(args, Mapping) else args
        if isinstance(args, Mapping):
            for k in args:
                if k not in ("file", "apply"):
                    self.err(f"unknown argument {k!r} for include_tasks", location_of(args, k), f"{fpath}.{mkey}.{k}")
            if "apply" in args:
                self.err("include_tasks apply is not supported", location_of(args, "apply"), f"{fpath}.{mkey}.apply")
        if not isinstance(name, str) or not name:
            self.err("include_tasks needs a file name", mloc, f"{fpath}.{mkey}")
            return None, None, None
        children = None
        if not Templar.is_template(name):  # loaded now: its problems are load-time problems
            children = self.load_file(name, mloc, f"{fpath}.{mkey}", scope)
            if children is None:
                return None, None, None
        return {"file": name, "base": str(scope.base)}, children, scope.role

    def check_args(self, mod: Any, args: Mapping[str, Any], where: Location | None, fpath: str) -> None:
        check_args(self, mod, args, where, fpath)
