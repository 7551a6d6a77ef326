"""Playbooks: a YAML list of plays, each with tasks, as Ansible writes them.

Everything static is validated at load time, all problems of a file at once: unknown play or
task keywords and module names (with "did you mean"), module arguments against each module's
schema (names always; types where the value has no Jinja2), tags, loops. Templated values are
validated again per host at run time, with the same file:line:column.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import modules as module_registry
from .errors import InputError, Location, PlaybookError
from .templating import Templar
from .validate import (
    check_loop_var,
    missing_script_file,
    numbers_given_booleans,
    undefined_handlers,
)
from .yamlsrc import LocDict, LocList, load_yaml, location_at, location_of

PLAY_KEYS = {
    "name", "hosts", "vars", "vars_files", "serial", "max_fail_percentage", "gather_facts",
    "tasks", "pre_tasks", "post_tasks", "handlers", "tags", "any_errors_fatal",
}
TASK_KEYS = {
    "name", "when", "loop", "with_items", "with_list", "loop_control", "register", "tags",
    "ignore_errors", "no_log", "notify", "changed_when", "failed_when", "vars", "listen",
    "retries", "delay", "until",
}
_UNSUPPORTED = {
    "become": "privilege escalation does not apply to Windows hosts: connect as an administrator",
    "import_playbook": "import_playbook is not supported: pass several playbooks instead",
    "roles": "roles are not supported yet: use tasks",
    "include_tasks": "include_tasks is not supported yet",
    "import_tasks": "import_tasks is not supported yet",
    "block": "block is not supported yet",
    "delegate_to": "delegate_to is not supported",
}


@dataclass(frozen=True)
class Task:
    name: str
    module: str
    args: Any  # raw (may contain Jinja2), LocDict where it came from YAML
    location: Location
    when: tuple[Any, ...] = ()
    loop: Any = None
    loop_var: str = "item"
    loop_label: Any = None
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


@dataclass(frozen=True)
class Play:
    name: str
    hosts: str
    location: Location
    tasks: tuple[Task, ...]
    handlers: tuple[Task, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    vars_files: tuple[str, ...] = ()
    serial: tuple[int | str, ...] = ()
    max_fail_percentage: float | None = None
    gather_facts: bool = True
    tags: tuple[str, ...] = ()
    any_errors_fatal: bool = False
    hosts_location: Location | None = None


@dataclass(frozen=True)
class Playbook:
    path: str
    plays: tuple[Play, ...]

    @property
    def base_dir(self) -> Path:
        return Path(self.path).parent if self.path and not self.path.startswith("<") else Path.cwd()


def suggest(word: str, choices: Sequence[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _tags(value: Any, where: Location | None, fieldpath: str, problems: list[PlaybookError]) -> tuple[str, ...]:
    out: list[str] = []
    for t in _as_list(value):
        if isinstance(t, str):
            out.extend(s.strip() for s in t.split(",") if s.strip())
        elif isinstance(t, (int, float)):
            out.append(str(t))
        else:
            problems.append(PlaybookError(f"expected a tag name, got {type(t).__name__}", location=where, field=fieldpath))
    return tuple(out)


def _bool(value: Any, where: Location | None, fieldpath: str, problems: list[PlaybookError], default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "no", "false", "on", "off"):
        return value.lower() in ("yes", "true", "on")
    problems.append(PlaybookError(f"expected a boolean, got {value!r}", location=where, field=fieldpath))
    return default


def _free_form(module: str, raw: str) -> dict[str, Any]:
    """Ansible's `module: k=v k2=v2` short form (and a bare script for powershell)."""
    if module == "powershell":
        return {"script": raw}
    if module == "debug" and "=" not in raw:
        return {"msg": raw}
    out: dict[str, Any] = {}
    for part in shlex.split(raw):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {part!r}")
        out[key] = value
    return out


class _Loader:
    def __init__(self, path: str, vault: Any = None) -> None:
        self.path = path
        self.vault = vault
        self.problems: list[PlaybookError] = []
        self.templar = Templar()

    def err(self, msg: str, where: Location | None, fieldpath: str) -> None:
        self.problems.append(PlaybookError(msg, location=where or Location(self.path), field=fieldpath))

    # -- tasks ---------------------------------------------------------------
    def task(self, raw: Any, where: Location | None, fpath: str, index: int, handler: bool) -> Task | None:
        if not isinstance(raw, Mapping):
            self.err(f"a task must be a mapping, got {type(raw).__name__}", where, fpath)
            return None
        module_keys = []
        for key in raw:
            if key in TASK_KEYS:
                continue
            if key in _UNSUPPORTED:
                self.err(_UNSUPPORTED[key], location_of(raw, key), f"{fpath}.{key}")
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
        mod = module_registry.get(mkey)
        mloc = location_of(raw, mkey)
        if mod is None:
            known = set(module_registry.MODULES) | set(module_registry.ALIASES) | TASK_KEYS
            self.err(f"unknown module or task keyword {mkey!r}{suggest(mkey, known)}", mloc, f"{fpath}.{mkey}")
            return None
        args = raw[mkey]
        if args is None:
            args = LocDict()
        if isinstance(args, str) and not Templar.is_template(args):
            try:
                args = _free_form(mod.name, args)
            except ValueError as exc:
                self.err(str(exc), mloc, f"{fpath}.{mkey}")
                return None
        if not isinstance(args, Mapping) and not Templar.is_template(args):
            self.err(f"module arguments must be a mapping, got {type(args).__name__}", mloc, f"{fpath}.{mkey}")
            return None
        if isinstance(args, Mapping):
            self.check_args(mod, args, mloc, f"{fpath}.{mkey}")
        loop = raw.get("loop", raw.get("with_items", raw.get("with_list")))
        lkey = next((k for k in ("loop", "with_items", "with_list") if k in raw), "loop")
        if loop is not None and not isinstance(loop, (list, str)):
            self.err(f"loop expects a list or a Jinja2 expression, got {type(loop).__name__}", location_of(raw, lkey), f"{fpath}.{lkey}")
        lc = raw.get("loop_control") or {}
        if not isinstance(lc, Mapping):
            self.err("loop_control must be a mapping", location_of(raw, "loop_control"), f"{fpath}.loop_control")
            lc = {}
        for k in ("loop_var", "index_var"):
            if (why := check_loop_var(lc.get(k))) is not None:
                self.err(why, location_of(lc, k), f"{fpath}.loop_control.{k}")
        for k in lc:
            if k not in ("loop_var", "label", "index_var", "pause"):
                self.err(f"unknown loop_control key {k!r}{suggest(str(k), ['loop_var', 'label', 'index_var', 'pause'])}",
                         location_of(lc, k), f"{fpath}.loop_control.{k}")
        register = raw.get("register")
        if register is not None and (not isinstance(register, str) or not register.isidentifier()):
            self.err(f"register needs a variable name, got {register!r}", location_of(raw, "register"), f"{fpath}.register")
            register = None
        tvars = raw.get("vars") or {}
        if not isinstance(tvars, Mapping):
            self.err("vars must be a mapping", location_of(raw, "vars"), f"{fpath}.vars")
            tvars = {}
        self.check_templates(tvars, f"{fpath}.vars")
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            name = str(name)

        def _exprs(key: str) -> tuple[Any, ...] | None:
            if key not in raw:
                return None
            return tuple(_as_list(raw[key]))

        return Task(
            name=name or mod.name,
            module=mod.name,
            args=args,
            location=where or Location(self.path),
            when=tuple(_as_list(raw.get("when"))),
            loop=loop,
            loop_var=str(lc.get("loop_var", "item")),
            loop_label=lc.get("label"),
            register=register,
            tags=_tags(raw.get("tags"), location_of(raw, "tags"), f"{fpath}.tags", self.problems),
            ignore_errors=_bool(raw.get("ignore_errors"), location_of(raw, "ignore_errors"), f"{fpath}.ignore_errors", self.problems),
            no_log=_bool(raw.get("no_log"), location_of(raw, "no_log"), f"{fpath}.no_log", self.problems),
            notify=tuple(str(n) for n in _as_list(raw.get("notify"))),
            listen=tuple(str(n) for n in _as_list(raw.get("listen"))) if handler else (),
            changed_when=_exprs("changed_when"),
            failed_when=_exprs("failed_when"),
            vars=tvars,
            index=index,
            path=fpath,
        )

    def check_templates(self, values: Mapping[str, Any], fpath: str) -> None:
        """Templates in vars: a syntax error or an unknown filter, test or lookup is refused at load."""
        for key, value in values.items():
            try:
                self.templar.undeclared(value)
            except InputError as exc:
                self.err(exc.detail, location_of(values, key), f"{fpath}.{key}")

    def check_args(self, mod: Any, args: Mapping[str, Any], where: Location | None, fpath: str) -> None:
        model = mod.ArgsModel
        fields = set(model.model_fields) | {  # and the aliases a field accepts (ansible's *_sec names)
            str(a) for f in model.model_fields.values()
            for a in getattr(f.validation_alias, "choices", ())}
        extra_ok = model.model_config.get("extra") == "allow"
        for key in args:
            if key not in fields and not extra_ok:
                self.err(f"unknown argument {key!r} for module {mod.name}{suggest(str(key), fields)}"
                         f" (expected one of: {', '.join(sorted(fields))})", location_of(args, key), f"{fpath}.{key}")
        for key, value in args.items():
            try:
                self.templar.undeclared(value)
            except PlaybookError as exc:
                self.err(exc.detail, location_of(args, key), f"{fpath}.{key}")
                return
            except InputError as exc:
                self.err(exc.detail, location_of(args, key), f"{fpath}.{key}")
                return
        for key in numbers_given_booleans(model, args):
            self.err(f"expected a number, got the boolean {str(args[key]).lower()} (from yes/no/true/false)", location_of(args, key),
                     f"{fpath}.{key}")
        if mod.name == "powershell" and (bad := missing_script_file(args.get("file"), Path(self.path).parent,
                                                                    location_of(args, "file"), f"{fpath}.file")):
            self.problems.append(PlaybookError(bad.detail, location=bad.location, field=bad.field))
        if _has_template(args):
            return
        try:
            model.model_validate(dict(args))
        except ValidationError as exc:
            for e in exc.errors():
                loc = [str(x) for x in e["loc"]]
                if loc and loc[0] in args and loc[0] not in fields and not extra_ok:
                    continue  # already reported as unknown
                self.err(describe_validation(e, model), location_at(args, tuple(e["loc"])) or where,
                         f"{fpath}.{'.'.join(loc)}" if loc else fpath)

    def tasks(self, raw: Any, where: Location | None, fpath: str, handler: bool = False) -> tuple[Task, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.err(f"expected a list of tasks, got {type(raw).__name__}", where, fpath)
            return ()
        out = []
        for i, t in enumerate(raw):
            task = self.task(t, location_of(raw, i), f"{fpath}[{i}]", i, handler)
            if task is not None:
                out.append(task)
        return tuple(out)

    # -- plays ---------------------------------------------------------------
    def play(self, raw: Any, where: Location | None, fpath: str, base: Path) -> Play | None:
        if not isinstance(raw, Mapping):
            self.err(f"a play must be a mapping, got {type(raw).__name__}", where, fpath)
            return None
        for key in raw:
            if key in _UNSUPPORTED:
                self.err(_UNSUPPORTED[key], location_of(raw, key), f"{fpath}.{key}")
            elif key not in PLAY_KEYS:
                self.err(f"unknown play keyword {key!r}{suggest(str(key), PLAY_KEYS)}", location_of(raw, key), f"{fpath}.{key}")
        hosts = raw.get("hosts")
        if isinstance(hosts, list):
            hosts = ",".join(str(h) for h in hosts)
        if not isinstance(hosts, str) or not hosts.strip():
            self.err("a play needs 'hosts' (a host pattern)", location_of(raw, "hosts") or where, f"{fpath}.hosts")
            hosts = ""
        pvars = raw.get("vars") or {}
        if not isinstance(pvars, Mapping):
            self.err(f"vars must be a mapping, got {type(pvars).__name__}", location_of(raw, "vars"), f"{fpath}.vars")
            pvars = {}
        self.check_templates(pvars, f"{fpath}.vars")
        files: list[str] = []
        merged_vars = dict(pvars)
        for i, vf in enumerate(_as_list(raw.get("vars_files"))):
            vf_loc = location_of(raw.get("vars_files"), i) or location_of(raw, "vars_files")
            if not isinstance(vf, str) or Templar.is_template(vf):
                self.err("vars_files entries must be literal file paths", vf_loc, f"{fpath}.vars_files[{i}]")
                continue
            p = (base / vf) if not Path(vf).is_absolute() else Path(vf)
            if not p.exists():
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
        serial: list[int | str] = []
        for s in _as_list(raw.get("serial")):
            if isinstance(s, bool) or not isinstance(s, (int, str)) or (isinstance(s, int) and s < 1) or (
                isinstance(s, str) and not (s.isdigit() or (s.endswith("%") and s[:-1].replace(".", "", 1).isdigit()))
            ):
                self.err(f"serial expects a positive number or a percentage like '25%', got {s!r}", location_of(raw, "serial"), f"{fpath}.serial")
                continue
            serial.append(int(s) if isinstance(s, str) and s.isdigit() else s)
        mfp = raw.get("max_fail_percentage")
        if mfp is not None and (isinstance(mfp, bool) or not isinstance(mfp, (int, float)) or not 0 <= mfp <= 100):
            self.err(f"max_fail_percentage expects a number from 0 to 100, got {mfp!r}", location_of(raw, "max_fail_percentage"), f"{fpath}.max_fail_percentage")
            mfp = None
        tasks = (
            self.tasks(raw.get("pre_tasks"), location_of(raw, "pre_tasks"), f"{fpath}.pre_tasks")
            + self.tasks(raw.get("tasks"), location_of(raw, "tasks"), f"{fpath}.tasks")
            + self.tasks(raw.get("post_tasks"), location_of(raw, "post_tasks"), f"{fpath}.post_tasks")
        )
        name = raw.get("name")
        handlers = self.tasks(raw.get("handlers"), location_of(raw, "handlers"), f"{fpath}.handlers", handler=True)
        for bad in undefined_handlers(tasks, handlers):
            self.problems.append(PlaybookError(bad.detail, location=bad.location, field=bad.field))
        return Play(
            name=str(name) if name is not None else str(hosts),
            hosts=hosts,
            location=where or Location(self.path),
            tasks=tasks,
            handlers=handlers,
            vars=merged_vars,
            vars_files=tuple(files),
            serial=tuple(serial),
            max_fail_percentage=float(mfp) if mfp is not None else None,
            gather_facts=_bool(raw.get("gather_facts"), location_of(raw, "gather_facts"), f"{fpath}.gather_facts", self.problems, True),
            tags=_tags(raw.get("tags"), location_of(raw, "tags"), f"{fpath}.tags", self.problems),
            any_errors_fatal=_bool(raw.get("any_errors_fatal"), location_of(raw, "any_errors_fatal"), f"{fpath}.any_errors_fatal", self.problems),
            hosts_location=location_of(raw, "hosts"),
        )


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return Templar.is_template(value)
    if isinstance(value, Mapping):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_template(v) for v in value)
    return False


def _nested_fields(model: Any, path: Sequence[Any]) -> set[str]:
    """Field names of the (sub)model a pydantic error path ends in (for "did you mean")."""
    import typing

    current = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return set()
        nxt = None
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            for inner in [arg, *typing.get_args(arg)]:
                if hasattr(inner, "model_fields"):
                    nxt = inner
        current = nxt
    return set(getattr(current, "model_fields", {}) or {})


def describe_validation(e: Mapping[str, Any], model: Any = None) -> str:
    """A pydantic error as 'what is wrong (expected …, got …)'."""
    if e.get("type") == "extra_forbidden" and model is not None and e.get("loc"):
        *parent, key = e["loc"]
        fields = _nested_fields(model, parent)
        return f"unknown argument {key!r}{suggest(str(key), fields)}" + (
            f" (expected one of: {', '.join(sorted(fields))})" if fields else "")
    got = e.get("input")
    got_text = f"{type(got).__name__} {got!r:.60}" if got is not None else "nothing"
    msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
    if e.get("type") == "missing":
        return "required argument is missing"
    if e.get("type") == "extra_forbidden":
        return "unknown argument"
    return f"{msg} (got {got_text})"


def load_playbook(path: str | Path, vault: Any = None) -> Playbook:
    raw = load_yaml(path, PlaybookError, vault)
    return playbook_from_data(raw, str(path), Path(path).parent, vault)


def playbook_from_data(raw: Any, source: str = "<api>", base_dir: Path | None = None, vault: Any = None) -> Playbook:
    """Build a playbook from YAML-shaped Python data (a list of plays)."""
    loader = _Loader(source, vault)
    if raw is None:
        raise PlaybookError("the playbook is empty", location=Location(source))
    if isinstance(raw, Mapping):
        raw = LocList([raw])
    if not isinstance(raw, list):
        raise PlaybookError(f"a playbook is a list of plays, got {type(raw).__name__}", location=Location(source))
    plays = []
    for i, p in enumerate(raw):
        play = loader.play(p, location_of(raw, i), f"plays[{i}]", base_dir or Path.cwd())
        if play is not None:
            plays.append(play)
    if loader.problems:
        if len(loader.problems) == 1:
            raise loader.problems[0]
        first = loader.problems[0]
        raise PlaybookError(
            f"{len(loader.problems)} problems", location=first.location or Location(source), problems=loader.problems
        )
    return Playbook(path=source, plays=tuple(plays))
