"""Collecting hosts, groups and variables from YAML/dict data and host lists (INI: ini.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InventoryError, Location
from ..patterns import parse_address
from ..validate import check_host_name
from .common import (
    GROUP_KEYS,
    PRIORITY_VAR,
    _key_loc,
    _own_loc,
    _plain,
    _raise_problems,
    _RangeError,
    _same,
    _suggest,
    _tname,
    _where,
    expand_host_pattern,
    log,
)


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
            if (why := check_host_name(name, loc)) is not None:  # ansible-core refuses `all`
                self.problem(why, loc or Location("<inventory>"), name)
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
            if key not in GROUP_KEYS:  # Ansible warns and skips the key
                log.warning(
                    "%s: %s: Skipping unexpected key (%s) in group (%s), only \"vars\", \"children\" "
                    "and \"hosts\" are valid%s", kloc, kpath, key, name, _suggest(key, GROUP_KEYS))
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
        from .ini import parse_ini

        parse_ini(self, text, file)

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
