"""Inventories, with Ansible's semantics (what users migrate from).

Sources (``Inventory.load([...])``, merged in the order given, like ``-i a -i b``):

* YAML (``.yml``/``.yaml``/``.json``): top-level keys are groups (usually ``all``); a group
  is a mapping of ``hosts`` (host -> vars mapping or null), ``children`` (group -> group)
  and ``vars``, nested arbitrarily. A string for ``hosts``/``children`` names one entry,
  as in Ansible. Host keys may carry ``:port`` and ranges: ``hv[01:03].lab``,
  ``db-[a:c]``, ``n[0:10:2]``.
* INI: ``[group]`` host lines with inline ``key=value`` vars, ``[group:vars]``,
  ``[group:children]``; values go through ``ast.literal_eval`` as in Ansible (``5`` is an
  int, ``True`` a bool, ``'5'`` a string, anything else stays the raw string). Files with
  another extension are INI; a file without extension is YAML if it looks like YAML.
* a directory (every file in it, sorted; ``group_vars``/``host_vars`` and hidden or backup
  files skipped), or a ``h1,h2,`` host list.

``group_vars/`` and ``host_vars/`` beside each source: the first of ``<name>`` (a file, or a
directory whose files are merged in lexical order, recursively), ``<name>.yml``,
``<name>.yaml``, ``<name>.json``, as Ansible looks them up.

Variable precedence, lowest first, exactly as Ansible's defaults (``hash_behaviour=replace``:
a later value replaces, never deep-merges):

1. ``all`` vars from inventory files;
2. other groups' vars from inventory files, sorted by depth (parents before children), then
   ``ansible_group_priority`` (inventory files only, default 1), then name;
3. ``group_vars/all`` (each source's directory in source order);
4. ``group_vars/<group>`` (for each source directory: groups in the order of 2.);
5. host vars from inventory files;
6. ``host_vars/<host>`` (each source's directory in source order).

So every ``group_vars`` file beats every inline group var, as in Ansible.

Stricter than Ansible (it only warns or silently overrides): unknown keys in a group,
``hosts``/``children``/``vars`` of the wrong type, and a host (or group) given two different
values for one variable in the same file are errors. All problems of a file are collected
and raised as one `InventoryError` (its ``problems`` list; a single problem is raised alone).
"""

from __future__ import annotations

import ast
import difflib
import json
import logging
import os
import re
import shlex
import string
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, InventoryError, Location, OptionsError
from .patterns import HostMatcher, parse_address
from .secrets import Secret, mask
from .vault import decrypt_if_vault
from .yamlsrc import LocDict, LocList, load_yaml, load_yaml_text

log = logging.getLogger(__name__)

__all__ = ["Group", "Host", "Inventory", "expand_host_pattern"]

GROUP_KEYS = ("hosts", "children", "vars")
YAML_EXTENSIONS = (".yml", ".yaml", ".json")
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")  # Ansible: no extension (file or dir) first
_DIR_SKIP_NAMES = frozenset({"group_vars", "host_vars", "vars_plugins"})
_DIR_SKIP_EXTS = (
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
    ".orig",
    ".cfg",
    ".retry",
)
_MAX_RANGE_HOSTS = 100_000
PRIORITY_VAR = "ansible_group_priority"


# --------------------------------------------------------------------------- public types
@dataclass(frozen=True)
class Host:
    """A host with its fully merged variables (no magic vars: the runner adds those)."""

    name: str
    vars: Mapping[str, Any] = field(hash=False)
    groups: tuple[str, ...]  # every group it is in, with ancestors: "all" first, then sorted
    var_sources: Mapping[str, Location] = field(hash=False, repr=False)


@dataclass(frozen=True)
class Group:
    """A group: its direct hosts and children, and its own variables (inline, then files).

    ``all`` lists no hosts (every host is in it); hosts that are in no other group are the
    direct hosts of ``ungrouped``, as in ``ansible-inventory``.
    """

    name: str
    hosts: tuple[str, ...]
    children: tuple[str, ...]
    vars: Mapping[str, Any] = field(hash=False)
    parents: tuple[str, ...]
    depth: int = 0  # longest path from "all"
    priority: int = 1  # ansible_group_priority


# --------------------------------------------------------------------------- helpers
class _RangeError(ValueError):
    pass


def _tname(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, Mapping)):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _plain(value: Any) -> Any:
    """Plain Python data (LocDict/LocList/tuples become dict/list); Secrets kept as they are."""
    if isinstance(value, (str, int, float, bool, Secret)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _key_loc(container: Any, key: Any, fallback: Location) -> Location:
    if isinstance(container, LocDict):
        loc = container.key_locs.get(key)
        if loc is not None:
            return loc
        if container.loc is not None:
            return container.loc
    return fallback


def _own_loc(value: Any, fallback: Location) -> Location:
    if isinstance(value, (LocDict, LocList)) and value.loc is not None:
        return value.loc
    return fallback


def _where(loc: Location | None) -> str:
    if loc is None:
        return "elsewhere"
    if loc.line is not None:
        return f"line {loc.line}" + (f", column {loc.column}" if loc.column is not None else "")
    return str(loc)


def _suggest(word: Any, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """``hv[01:03].lab:5986`` -> (["hv01.lab", "hv02.lab", "hv03.lab"], 5986), as Ansible.

    Raises ValueError for a bad range.
    """
    parsed = parse_address(pattern)
    name, port = parsed if parsed is not None else (pattern, None)
    if "[" not in name and "]" not in name:
        return [name], port
    out: list[str] = []
    _expand_ranges(name, out)
    return out, port


def _expand_ranges(name: str, out: list[str]) -> None:
    start = name.find("[")
    stop = name.find("]")
    if start < 0 or stop < 0 or stop < start:
        raise _RangeError(f"unbalanced '[' ']' in host range {name!r}")
    head, spec, tail = name[:start], name[start + 1 : stop], name[stop + 1 :]
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise _RangeError(f"host range [{spec}] must be [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise _RangeError(f"host range [{spec}] has no end value")
    if not step_text.isdigit() or int(step_text) < 1:
        raise _RangeError(f"host range [{spec}]: the step must be a positive integer")
    step = int(step_text)
    letters = string.ascii_letters
    values: list[str]
    if begin.isdigit() and end.isdigit():
        if int(begin) > int(end):
            raise _RangeError(f"host range [{spec}]: begin is greater than end")
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise _RangeError(
                f"host range [{spec}]: a zero-padded range needs begin and end of equal length"
            )
        count = (int(end) - int(begin)) // step + 1
        if count > _MAX_RANGE_HOSTS:
            raise _RangeError(
                f"host range [{spec}] expands to {count} hosts (at most {_MAX_RANGE_HOSTS})"
            )
        values = [str(i).zfill(width) for i in range(int(begin), int(end) + 1, step)]
    elif len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        i, j = letters.index(begin), letters.index(end)
        if i > j:
            raise _RangeError(f"host range [{spec}]: begin is after end")
        values = list(letters[i : j + 1 : step])
    else:
        raise _RangeError(
            f"host range [{spec}] must be numeric ([01:10]) or single letters ([a:f])"
        )
    for v in values:
        candidate = head + v + tail
        if "[" in candidate or "]" in candidate:
            _expand_ranges(candidate, out)
        else:
            out.append(candidate)
        if len(out) > _MAX_RANGE_HOSTS:
            raise _RangeError(f"host range {name!r} expands to more than {_MAX_RANGE_HOSTS} hosts")


def _ini_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal if it is one, else the string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _ini_coerce(value)


def _ini_coerce(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_ini_coerce(v) for v in value]
    if isinstance(value, dict):
        return {_ini_coerce(k): _ini_coerce(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _raise_problems(problems: list[InventoryError], file: str) -> None:
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    raise InventoryError(
        f"{len(problems)} problems in the inventory",
        location=Location(file),
        problems=list[InputError](problems),
    )


# --------------------------------------------------------------------------- the builder
class _GroupRec:
    __slots__ = ("name", "hosts", "children", "parents", "vars", "var_locs", "priority", "loc")

    def __init__(self, name: str, loc: Location | None) -> None:
        self.name = name
        self.hosts: dict[str, None] = {}
        self.children: dict[str, Location | None] = {}  # child -> where the edge was written
        self.parents: dict[str, None] = {}
        self.vars: dict[str, Any] = {}
        self.var_locs: dict[str, Location] = {}
        self.priority = 1
        self.loc = loc


class _HostRec:
    __slots__ = ("name", "groups", "vars", "var_locs", "loc")

    def __init__(self, name: str, loc: Location | None) -> None:
        self.name = name
        self.groups: dict[str, None] = {}
        self.vars: dict[str, Any] = {}
        self.var_locs: dict[str, Location] = {}
        self.loc = loc


class _Builder:
    """Accumulates sources (like Ansible's InventoryData), then builds the Inventory."""

    def __init__(self, vault: Any = None) -> None:
        self.vault = vault  # hvprov.vault.VaultSecrets: encrypted files and !vault values
        self.groups: dict[str, _GroupRec] = {}
        self.hosts: dict[str, _HostRec] = {}
        self.sources: list[str] = []
        self.var_dirs: list[Path] = []
        self.problems: list[InventoryError] = []
        self._seen: dict[tuple[str, str, str], tuple[Any, Location]] = {}
        self.add_group("all", None)
        self.add_group("ungrouped", None)
        self.link("all", "ungrouped", None)

    # -- per file --------------------------------------------------------------
    def begin_file(self) -> None:
        self.problems = []
        self._seen = {}

    def end_file(self, file: str) -> None:
        problems, self.problems = self.problems, []
        _raise_problems(problems, file)

    def problem(self, message: str, loc: Location, field_name: str | None) -> None:
        self.problems.append(InventoryError(message, location=loc, field=field_name))

    # -- structure ---------------------------------------------------------------
    def add_group(self, name: str, loc: Location | None) -> _GroupRec:
        rec = self.groups.get(name)
        if rec is None:
            rec = self.groups[name] = _GroupRec(name, loc)
        return rec

    def link(self, parent: str, child: str, loc: Location | None) -> None:
        p = self.groups[parent]
        if child not in p.children:
            p.children[child] = loc
            self.groups[child].parents[parent] = None

    def add_host(self, name: str, group: str | None, loc: Location | None) -> _HostRec:
        rec = self.hosts.get(name)
        if rec is None:
            rec = self.hosts[name] = _HostRec(name, loc)
        if group is not None:
            self.groups[group].hosts[name] = None
            rec.groups[group] = None
        return rec

    def _check(
        self, kind: str, owner: str, key: str, value: Any, loc: Location, field_name: str
    ) -> bool:
        seen_key = (kind, owner, key)
        prev = self._seen.get(seen_key)
        if prev is not None and not _same(prev[0], value):
            what = "host" if kind == "h" else "group"
            self.problem(
                f"{what} {owner!r} is given a different value for {key!r} here than at "
                f"{_where(prev[1])} of the same file (same precedence level: which one wins?)",
                loc,
                field_name,
            )
            return False
        self._seen[seen_key] = (value, loc)
        return True

    def set_host_var(self, host: str, key: str, value: Any, loc: Location, field_name: str) -> None:
        value = _plain(value)
        if self._check("h", host, key, value, loc, field_name):
            rec = self.hosts[host]
            rec.vars[key] = value
            rec.var_locs[key] = loc

    def set_group_var(
        self, group: str, key: str, value: Any, loc: Location, field_name: str
    ) -> None:
        value = _plain(value)
        rec = self.groups[group]
        if key == PRIORITY_VAR:
            try:
                if isinstance(value, bool):
                    raise ValueError
                priority = int(value)
            except (TypeError, ValueError):
                self.problem(f"{PRIORITY_VAR} must be an integer, got {value!r}", loc, field_name)
                return
            if self._check("g", group, key, priority, loc, field_name):
                rec.priority = priority
            return
        if self._check("g", group, key, value, loc, field_name):
            rec.vars[key] = value
            rec.var_locs[key] = loc

    # -- YAML / dict inventories ------------------------------------------------------
    def parse_data(self, data: Any, file: str) -> None:
        floc = Location(file)
        if data is None:
            return
        if not isinstance(data, Mapping):
            self.problem(
                f"a YAML inventory must be a mapping of group names (like 'all:') to groups, "
                f"got {_tname(data)}",
                _own_loc(data, floc),
                None,
            )
            return
        if "plugin" in data:
            self.problem(
                "inventory plugin configuration files are not supported (only static YAML/INI "
                "inventories)",
                _key_loc(data, "plugin", floc),
                "plugin",
            )
            return
        for name, gdata in data.items():
            self._parse_group(name, gdata, _key_loc(data, name, floc), str(name), None)

    def _parse_group(
        self, name: Any, gdata: Any, loc: Location, path: str, parent: str | None
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            self.problem(
                f"a group name must be a non-empty string, got {_tname(name)} {name!r}", loc, path
            )
            return
        if name == "all" and parent is not None:
            self.problem("'all' contains every group; it cannot be a child group", loc, path)
            return
        if gdata is not None and not isinstance(gdata, Mapping):
            hint = ""
            if isinstance(gdata, (list, str)):
                hint = " (hosts go under 'hosts:', e.g. 'hosts: {hv01: , hv02: }')"
            self.problem(
                f"a group must be a mapping of 'hosts', 'children' and 'vars', got {_tname(gdata)}{hint}",
                loc,
                path,
            )
            return
        self.add_group(name, loc)
        if parent is not None:
            self.link(parent, name, loc)
        if gdata is None:
            return
        for key, value in gdata.items():
            kloc = _key_loc(gdata, key, loc)
            kpath = f"{path}.{key}"
            if key not in GROUP_KEYS:
                self.problem(
                    f"unknown key {key!r} in group {name!r} (a group has only 'hosts', "
                    f"'children' and 'vars'){_suggest(key, GROUP_KEYS)}",
                    kloc,
                    kpath,
                )
                continue
            if value is None:
                continue
            if key in ("hosts", "children") and isinstance(value, str):
                value = {value: None}  # Ansible: a string names one entry
            if not isinstance(value, Mapping):
                what = {
                    "hosts": "host names to their variables (or null)",
                    "children": "group names to groups (or null)",
                    "vars": "variable names to values",
                }[key]
                hint = ""
                if isinstance(value, list) and key != "vars":
                    hint = " (write one 'name:' per line instead of a '- name' list)"
                self.problem(
                    f"'{key}' must be a mapping of {what}, got {_tname(value)}{hint}", kloc, kpath
                )
                continue
            if key == "vars":
                for var, val in value.items():
                    vloc = _key_loc(value, var, kloc)
                    if not isinstance(var, str) or not var:
                        self.problem(
                            f"a variable name must be a non-empty string, got {var!r}",
                            vloc,
                            f"{kpath}.{var}",
                        )
                        continue
                    self.set_group_var(name, var, val, vloc, f"{kpath}.{var}")
            elif key == "children":
                for child, cdata in value.items():
                    self._parse_group(
                        child, cdata, _key_loc(value, child, kloc), f"{kpath}.{child}", name
                    )
            else:
                for pattern, hvars in value.items():
                    self._parse_host_entry(
                        name, pattern, hvars, _key_loc(value, pattern, kloc), f"{kpath}.{pattern}"
                    )

    def _parse_host_entry(
        self, group: str, pattern: Any, hvars: Any, loc: Location, path: str
    ) -> None:
        if not isinstance(pattern, str) or not pattern.strip():
            self.problem(
                f"a host name must be a non-empty string, got {_tname(pattern)} {pattern!r}",
                loc,
                path,
            )
            return
        if hvars is None:
            hvars = {}
        elif not isinstance(hvars, Mapping):
            self.problem(
                f"the variables of host {pattern!r} must be a mapping (or null), got {_tname(hvars)}",
                loc,
                path,
            )
            return
        try:
            names, port = expand_host_pattern(pattern)
        except _RangeError as exc:
            self.problem(str(exc), loc, path)
            return
        good: list[tuple[str, Any, Location]] = []
        for var, val in hvars.items():
            vloc = _key_loc(hvars, var, loc)
            if not isinstance(var, str) or not var:
                self.problem(
                    f"a variable name must be a non-empty string, got {var!r}",
                    vloc,
                    f"{path}.{var}",
                )
                continue
            good.append((var, val, vloc))
        for host in names:
            self.add_host(host, group, loc)
            if port is not None:
                self.set_host_var(host, "ansible_port", port, loc, f"{path}.ansible_port")
            for var, val, vloc in good:
                self.set_host_var(host, var, val, vloc, f"{path}.{var}")

    # -- INI ----------------------------------------------------------------------
    _SECTION_RE = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?\Z")
    _GROUPNAME_RE = re.compile(r"([^:\]\s]+)\s*(?:#.*)?\Z")

    def parse_ini(self, text: str, file: str) -> None:
        pending: dict[str, dict[str, Any]] = {}
        group, state = "ungrouped", "hosts"
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            loc = Location(file, lineno, len(raw) - len(raw.lstrip()) + 1)
            m = self._SECTION_RE.match(line)
            if m:
                group, kind = m.group(1), m.group(2) or "hosts"
                if kind not in GROUP_KEYS:
                    self.problem(
                        f"unknown section type {kind!r} (use [{group}], [{group}:vars] or "
                        f"[{group}:children]){_suggest(kind, GROUP_KEYS)}",
                        loc,
                        f"[{group}:{kind}]",
                    )
                    state = "skip"
                    continue
                state = kind
                if group not in self.groups:
                    if kind == "vars" and group not in pending:
                        pending[group] = {"loc": loc, "state": "vars"}
                    self.add_group(group, loc)
                if group in pending and kind != "vars":
                    decl = pending.pop(group)
                    for parent, ploc in decl.get("parents", []):
                        self.link(parent, group, ploc)
                continue
            if line.startswith("[") and line.endswith("]"):
                self.problem(
                    f"invalid section header {line!r}: a group name has no spaces, ':' or ']' "
                    "and the only suffixes are :vars and :children",
                    loc,
                    line,
                )
                state = "skip"
                continue
            if state == "skip":
                continue
            if state == "hosts":
                self._ini_host_line(group, raw, line, loc)
            elif state == "vars":
                key, sep, value = line.partition("=")
                key = key.strip()
                if not sep or not key:
                    self.problem(
                        f"expected key=value in [{group}:vars], got {line!r}",
                        loc,
                        f"[{group}:vars]",
                    )
                    continue
                self.set_group_var(
                    group, key, _ini_value(value.strip()), loc, f"{group}.vars.{key}"
                )
            else:  # children
                cm = self._GROUPNAME_RE.match(line)
                if not cm:
                    self.problem(
                        f"expected a group name in [{group}:children], got {line!r}",
                        loc,
                        f"[{group}:children]",
                    )
                    continue
                child = cm.group(1)
                if child == "all":
                    self.problem(
                        "'all' contains every group; it cannot be a child group",
                        loc,
                        f"{group}.children.all",
                    )
                elif child in self.groups:
                    self.link(group, child, loc)
                else:
                    decl = pending.setdefault(
                        child, {"loc": loc, "state": "children", "parents": []}
                    )
                    decl.setdefault("parents", []).append((group, loc))
        defined = [g for g in self.groups if g not in pending]
        for name, decl in pending.items():
            if decl["state"] == "vars":
                self.problem(
                    f"[{name}:vars] is for a group that is never defined (add a [{name}] or "
                    f"[{name}:children] section, or put it in another group){_suggest(name, defined)}",
                    decl["loc"],
                    f"[{name}:vars]",
                )
            else:
                parent, ploc = decl["parents"][-1]
                self.problem(
                    f"[{parent}:children] includes {name!r}, a group that is never defined "
                    f"(add a [{name}] section){_suggest(name, defined)}",
                    ploc,
                    f"{parent}.children.{name}",
                )

    def _ini_host_line(self, group: str, raw: str, line: str, loc: Location) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            self.problem(f"cannot read host line {line!r}: {exc}", loc, f"{group}.hosts")
            return
        if not tokens:
            return
        pattern = tokens[0]
        path = f"{group}.hosts.{pattern}"
        try:
            names, port = expand_host_pattern(pattern)
        except _RangeError as exc:
            self.problem(str(exc), loc, path)
            return
        if pattern.endswith(":") and port is None:
            self.problem(
                f"host {pattern!r} ends with ':' (reserved for a port, as in host:5986)", loc, path
            )
            return
        if any(n.strip() == "---" for n in names):
            self.problem("'---' starts a YAML document: name a YAML inventory .yml", loc, path)
            return
        hvars: list[tuple[str, Any, Location]] = []
        cursor = raw.find(pattern) + len(pattern) if pattern in raw else 0
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            col = raw.find(key, cursor)
            if col >= 0:
                cursor = col + len(key)
            vloc = Location(loc.file, loc.line, col + 1 if col >= 0 else loc.column)
            if not sep or not key:
                self.problem(
                    f"expected key=value after host {pattern!r}, got {token!r}",
                    vloc,
                    f"{path}.{token}",
                )
                continue
            hvars.append((key, _ini_value(value), vloc))
        for host in names:
            self.add_host(host, group, loc)
            if port is not None:
                self.set_host_var(host, "ansible_port", port, loc, f"{path}.ansible_port")
            for key, value, vloc in hvars:
                self.set_host_var(host, key, value, vloc, f"{path}.{key}")

    # -- host lists -------------------------------------------------------------------
    def parse_host_list(self, text: str) -> None:
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            parsed = parse_address(item)
            name, port = parsed if parsed is not None and "[" not in parsed[0] else (item, None)
            if name not in self.hosts:
                self.add_host(name, "ungrouped", Location(text))
                if port is not None:
                    self.set_host_var(
                        name, "ansible_port", port, Location(text), f"{name}.ansible_port"
                    )


# --------------------------------------------------------------------------- files
def _looks_like_yaml(text: str) -> bool:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith(("---", "{", "%YAML")):
            return True
        return bool(re.match(r"[^\s\[\]=:]+:(\s|$)", line))
    return False


def _parse_file(b: _Builder, path: Path) -> None:
    file = str(path)
    try:
        text = decrypt_if_vault(path.read_text(encoding="utf-8-sig"), b.vault, file)
    except UnicodeDecodeError as exc:
        raise InventoryError(f"not UTF-8 text ({exc.reason})", location=Location(file)) from None
    except OSError as exc:
        raise InventoryError(
            f"cannot read the inventory: {exc.strerror}", location=Location(file)
        ) from None
    b.begin_file()
    suffix = path.suffix.lower()
    if suffix in YAML_EXTENSIONS or (not suffix and _looks_like_yaml(text)):
        data = load_yaml_text(text, file, InventoryError, b.vault)
        b.parse_data(data, file)
    else:
        b.parse_ini(text, file)
    b.end_file(file)


def _parse_dir(b: _Builder, path: Path) -> None:
    for name in sorted(os.listdir(path)):
        if name.startswith(".") or name in _DIR_SKIP_NAMES or name.endswith(_DIR_SKIP_EXTS):
            continue
        full = path / name
        if full.is_dir():
            _parse_dir(b, full)
        else:
            _parse_file(b, full)


class _VarsDir:
    """group_vars/ and host_vars/ of one source directory (listed once, files loaded once)."""

    def __init__(
        self,
        base: Path,
        cache: dict[Path, tuple[dict[str, Any], dict[str, Location]]],
        problems: list[InventoryError],
        vault: Any = None,
    ) -> None:
        self.vault = vault
        self.base = base
        self.cache = cache
        self.problems = problems
        self.entries = {kind: self._list(base / kind) for kind in ("group_vars", "host_vars")}

    @staticmethod
    def _list(d: Path) -> set[str]:
        try:
            return set(os.listdir(d))
        except OSError:
            return set()

    def files(self, kind: str, name: str) -> list[Path]:
        entries = self.entries[kind]
        if not entries:
            return []
        for ext in VARS_EXTENSIONS:
            if name + ext in entries:
                p = self.base / kind / (name + ext)
                return _dir_vars_files(p) if p.is_dir() else [p]
        return []

    def load(self, kind: str, name: str) -> list[tuple[dict[str, Any], dict[str, Location]]]:
        out = []
        for p in self.files(kind, name):
            if p not in self.cache:
                self.cache[p] = self._load_file(p, f"{kind}.{name}")
            out.append(self.cache[p])
        return out

    def _load_file(self, path: Path, field_name: str) -> tuple[dict[str, Any], dict[str, Location]]:
        floc = Location(str(path))
        try:
            data = load_yaml(path, InventoryError, self.vault)
        except InventoryError as exc:
            data = None
            if path.suffix == ".json":
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (ValueError, OSError):
                    data = None
            if data is None:
                self.problems.append(exc)
                return {}, {}
        if data is None:
            return {}, {}
        if not isinstance(data, Mapping):
            self.problems.append(
                InventoryError(
                    f"a variables file must be a mapping of variable names to values, got {_tname(data)}",
                    location=_own_loc(data, floc),
                    field=field_name,
                )
            )
            return {}, {}
        values: dict[str, Any] = {}
        locs: dict[str, Location] = {}
        for key, value in data.items():
            kloc = _key_loc(data, key, floc)
            if not isinstance(key, str) or not key:
                self.problems.append(
                    InventoryError(
                        f"a variable name must be a non-empty string, got {key!r}",
                        location=kloc,
                        field=f"{field_name}.{key}",
                    )
                )
                continue
            values[key] = _plain(value)
            locs[key] = kloc
        return values, locs


def _dir_vars_files(d: Path) -> list[Path]:
    out: list[Path] = []
    for name in sorted(os.listdir(d)):
        if name.startswith(".") or name.endswith("~"):
            continue
        full = d / name
        ext = os.path.splitext(name)[1]
        if full.is_dir() and not ext:
            out.extend(_dir_vars_files(full))
        elif full.is_file() and (not ext or ext in YAML_EXTENSIONS):
            out.append(full)
    return out


# --------------------------------------------------------------------------- the inventory
class Inventory:
    """Hosts and groups with their merged variables; `select` evaluates host patterns."""

    def __init__(
        self, hosts: dict[str, Host], groups: dict[str, Group], sources: Sequence[str]
    ) -> None:
        self.hosts = hosts
        self.groups = groups
        self.sources = tuple(sources)
        self._matcher = HostMatcher(list(hosts), _GroupMembers(self))

    # -- loading -------------------------------------------------------------------
    @classmethod
    def load(cls, paths: Sequence[str | Path] | str | Path, vault: Any = None,
             playbook_dir: Path | None = None) -> Inventory:
        """Load inventory files/directories/host lists, merged in order (like ``-i a -i b``).

        `vault` (hvprov.vault.VaultSecrets) decrypts Ansible Vault files and ``!vault`` values.
        `playbook_dir`: its ``group_vars/`` and ``host_vars/`` count too, above the inventory's
        at each level (Ansible's host_group_vars plugin, stage "mixed")."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            raise OptionsError("no inventory given")
        b = _Builder(vault)
        for source in paths:
            path = (
                Path(source).expanduser()
                if isinstance(source, str) and "," not in source
                else Path(source)
            )
            if path.is_dir():
                _parse_dir(b, path)
                b.var_dirs.append(path)
            elif path.exists():
                _parse_file(b, path)
                b.var_dirs.append(path.parent)
            elif "," in str(source):
                b.begin_file()
                b.parse_host_list(str(source))
                b.end_file(str(source))
            else:
                raise InventoryError("inventory not found", location=Location(str(source)))
            b.sources.append(str(source))
        if playbook_dir is not None and Path(playbook_dir).resolve() not in {d.resolve() for d in b.var_dirs}:
            b.var_dirs.append(Path(playbook_dir))
        return _finish(b)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], source: str = "<api>", base_dir: Path | None = None
    ) -> Inventory:
        """An inventory from data shaped like a YAML inventory (Secret values are kept).

        With `base_dir`, ``group_vars/`` and ``host_vars/`` there are used.
        """
        b = _Builder()
        b.begin_file()
        b.parse_data(data, source)
        b.end_file(source)
        if base_dir is not None:
            b.var_dirs.append(Path(base_dir))
        b.sources.append(source)
        return _finish(b)

    # -- queries -------------------------------------------------------------------
    def select(self, pattern: str | Sequence[str] | None) -> list[Host]:
        """Hosts matching an Ansible host pattern, in inventory order (None/"all": every host).

        Raises OptionsError for a pattern that cannot be parsed; matching nothing is fine.
        """
        return [self.hosts[name] for name in self._matcher.select(pattern)]

    def group_names(self, host: str) -> tuple[str, ...]:
        """Ansible's ``group_names`` of a host: its groups without ``all``, sorted."""
        try:
            h = self.hosts[host]
        except KeyError:
            raise OptionsError(f"host {host!r} is not in the inventory") from None
        return tuple(g for g in h.groups if g != "all")

    def to_ansible_list(self) -> dict[str, Any]:
        """The document ``ansible-inventory --list`` prints (secrets masked)."""
        out: dict[str, Any] = {}
        seen: set[str] = set()

        def visit(name: str) -> None:
            g = self.groups[name]
            entry: dict[str, Any] = {}
            if name != "all" and g.hosts:
                entry["hosts"] = list(g.hosts)
            if g.children:
                entry["children"] = list(g.children)
            if entry:
                out[name] = entry
            for child in g.children:
                if child not in seen:
                    seen.add(child)
                    visit(child)

        visit("all")
        hostvars = {h.name: mask(dict(h.vars)) for h in self.hosts.values() if h.vars}
        out["_meta"] = {"hostvars": hostvars}
        return out

    def __repr__(self) -> str:
        return f"Inventory({len(self.hosts)} hosts, {len(self.groups)} groups, sources={list(self.sources)})"


class _GroupMembers(Mapping[str, list[str]]):
    """Group name -> every host of the group, Ansible's order (computed on first use).

    The group's direct hosts as listed, then its children's, breadth first; ``all`` is every
    host in inventory order.
    """

    def __init__(self, inv: Inventory) -> None:
        self._inv = inv
        self._cache: dict[str, list[str]] = {}

    def __getitem__(self, name: str) -> list[str]:
        got = self._cache.get(name)
        if got is not None:
            return got
        groups = self._inv.groups
        if name not in groups:
            raise KeyError(name)
        if name == "all":
            got = list(self._inv.hosts)
        else:
            found: dict[str, None] = {}
            level = [name]
            seen = {name}
            while level:
                nxt: list[str] = []
                for g in level:
                    found.update(dict.fromkeys(groups[g].hosts))
                    for child in groups[g].children:
                        if child not in seen:
                            seen.add(child)
                            nxt.append(child)
                level = nxt
            got = list(found)
        self._cache[name] = got
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._inv.groups)

    def __len__(self) -> int:
        return len(self._inv.groups)

    def __contains__(self, name: object) -> bool:
        return name in self._inv.groups


# --------------------------------------------------------------------------- finishing
def _find_cycles(b: _Builder) -> list[InventoryError]:
    problems: list[InventoryError] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in b.groups:
        if root in state:
            continue
        stack: list[tuple[str, Any]] = [(root, iter(b.groups[root].children))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(child) == 1:
                cycle = path[path.index(child) :] + [child]
                loc = b.groups[node].children[child] or Location("<inventory>")
                problems.append(
                    InventoryError(
                        f"circular group nesting: {' -> '.join(cycle)}",
                        location=loc,
                        field=f"{node}.children.{child}",
                    )
                )
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(b.groups[child].children)))
    return problems


def _finish(b: _Builder) -> Inventory:
    groups = b.groups
    for name, rec in groups.items():  # every group descends from all
        if name != "all" and not rec.parents:
            b.link("all", name, None)
    cycles = _find_cycles(b)
    if cycles:
        _raise_problems(
            cycles, str(cycles[0].location.file if cycles[0].location else "<inventory>")
        )

    for name in set(groups) & set(b.hosts):
        log.warning("inventory: %r is both a group and a host", name)

    # depth (longest path from all) and ancestors, memoised over the DAG
    depth: dict[str, int] = {"all": 0}
    ancestors: dict[str, frozenset[str]] = {"all": frozenset({"all"})}

    def depth_of(name: str) -> int:
        d = depth.get(name)
        if d is None:
            d = depth[name] = 1 + max(depth_of(p) for p in groups[name].parents)
        return d

    def ancestors_of(name: str) -> frozenset[str]:
        a = ancestors.get(name)
        if a is None:
            acc = {name}
            for p in groups[name].parents:
                acc |= ancestors_of(p)
            a = ancestors[name] = frozenset(acc)
        return a

    # ungrouped: hosts in no group but all/ungrouped (as Ansible's reconcile_inventory)
    ungrouped = groups["ungrouped"]
    for hrec in b.hosts.values():
        others = [g for g in hrec.groups if g not in ("all", "ungrouped")]
        if "ungrouped" in hrec.groups and others:
            del hrec.groups["ungrouped"]
            del ungrouped.hosts[hrec.name]
        elif not others and "ungrouped" not in hrec.groups:
            hrec.groups["ungrouped"] = None
            ungrouped.hosts[hrec.name] = None

    # group_vars / host_vars
    problems: list[InventoryError] = []
    cache: dict[Path, tuple[dict[str, Any], dict[str, Location]]] = {}
    vdirs = [_VarsDir(d, cache, problems, b.vault) for d in b.var_dirs]
    group_files = {
        name: [layer for vd in vdirs for layer in vd.load("group_vars", name)] for name in groups
    }
    # per source directory, per group (for the Ansible merge order: sources outer, groups inner)
    group_files_by_dir = [{name: vd.load("group_vars", name) for name in groups} for vd in vdirs]
    host_files = {
        name: [layer for vd in vdirs for layer in vd.load("host_vars", name)] for name in b.hosts
    }
    _raise_problems(
        problems,
        str(problems[0].location.file) if problems and problems[0].location else "<inventory>",
    )

    out_groups: dict[str, Group] = {}
    for name, rec in groups.items():
        gvars = dict(rec.vars)
        for values, _ in group_files[name]:
            gvars.update(values)
        out_groups[name] = Group(
            name=name,
            hosts=() if name == "all" else tuple(rec.hosts),
            children=tuple(rec.children),
            vars=gvars,
            parents=tuple(rec.parents),
            depth=depth_of(name),
            priority=rec.priority,
        )

    all_rec = groups["all"]
    layer_cache: dict[frozenset[str], tuple[dict[str, Any], dict[str, Location]]] = {}

    def group_layers(member_of: frozenset[str]) -> tuple[dict[str, Any], dict[str, Location]]:
        cached = layer_cache.get(member_of)
        if cached is not None:
            return cached
        ordered = sorted(
            (groups[g] for g in member_of if g != "all"),
            key=lambda g: (depth_of(g.name), g.priority, g.name),
        )
        values: dict[str, Any] = dict(all_rec.vars)
        locs: dict[str, Location] = dict(all_rec.var_locs)
        for g in ordered:
            values.update(g.vars)
            locs.update(g.var_locs)
        for v, locs_ in group_files["all"]:
            values.update(v)
            locs.update(locs_)
        for per_dir in group_files_by_dir:
            for g in ordered:
                for v, locs_ in per_dir[g.name]:
                    values.update(v)
                    locs.update(locs_)
        layer_cache[member_of] = (values, locs)
        return values, locs

    out_hosts: dict[str, Host] = {}
    for name, hrec in b.hosts.items():
        member_of: set[str] = {"all"}
        for g in hrec.groups:
            member_of |= ancestors_of(g)
        values, locs = group_layers(frozenset(member_of))
        values = dict(values)
        locs = dict(locs)
        values.update(hrec.vars)
        locs.update(hrec.var_locs)
        for v, locs_ in host_files[name]:
            values.update(v)
            locs.update(locs_)
        out_hosts[name] = Host(
            name=name,
            vars=values,
            groups=("all", *sorted(member_of - {"all"})),
            var_sources=locs,
        )
    return Inventory(out_hosts, out_groups, b.sources)
