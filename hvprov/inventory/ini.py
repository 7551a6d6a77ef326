"""Ansible's INI inventory format."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from ..errors import Location
from .common import GROUP_KEYS, _ini_value, _RangeError, _suggest, expand_host_pattern

if TYPE_CHECKING:  # the builder calls into this module; no import at run time
    from .builder import _Builder


def parse_ini(b: _Builder, text: str, file: str) -> None:
    pending: dict[str, dict[str, Any]] = {}
    group, state = "ungrouped", "hosts"
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        loc = Location(file, lineno, len(raw) - len(raw.lstrip()) + 1)
        m = b._SECTION_RE.match(line)
        if m:
            group, kind = m.group(1), m.group(2) or "hosts"
            if kind not in GROUP_KEYS:
                b.problem(
                    f"unknown section type {kind!r} (use [{group}], [{group}:vars] or "
                    f"[{group}:children]){_suggest(kind, GROUP_KEYS)}",
                    loc,
                    f"[{group}:{kind}]",
                )
                state = "skip"
                continue
            state = kind
            if group not in b.groups:
                if kind == "vars" and group not in pending:
                    pending[group] = {"loc": loc, "state": "vars"}
                b.add_group(group, loc)
            if group in pending and kind != "vars":
                decl = pending.pop(group)
                for parent, ploc in decl.get("parents", []):
                    b.link(parent, group, ploc)
            continue
        if line.startswith("[") and line.endswith("]"):
            b.problem(
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
            _ini_host_line(b, group, raw, line, loc)
        elif state == "vars":
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not key:
                b.problem(
                    f"expected key=value in [{group}:vars], got {line!r}",
                    loc,
                    f"[{group}:vars]",
                )
                continue
            b.set_group_var(
                group, key, _ini_value(value.strip()), loc, f"{group}.vars.{key}"
            )
        else:  # children
            cm = b._GROUPNAME_RE.match(line)
            if not cm:
                b.problem(
                    f"expected a group name in [{group}:children], got {line!r}",
                    loc,
                    f"[{group}:children]",
                )
                continue
            child = cm.group(1)
            if child == "all":
                b.problem(
                    "'all' contains every group; it cannot be a child group",
                    loc,
                    f"{group}.children.all",
                )
            elif child in b.groups:
                b.link(group, child, loc)
            else:
                decl = pending.setdefault(
                    child, {"loc": loc, "state": "children", "parents": []}
                )
                decl.setdefault("parents", []).append((group, loc))
    defined = [g for g in b.groups if g not in pending]
    for name, decl in pending.items():
        if decl["state"] == "vars":
            b.problem(
                f"[{name}:vars] is for a group that is never defined (add a [{name}] or "
                f"[{name}:children] section, or put it in another group){_suggest(name, defined)}",
                decl["loc"],
                f"[{name}:vars]",
            )
        else:
            parent, ploc = decl["parents"][-1]
            b.problem(
                f"[{parent}:children] includes {name!r}, a group that is never defined "
                f"(add a [{name}] section){_suggest(name, defined)}",
                ploc,
                f"{parent}.children.{name}",
            )

def _ini_host_line(b: _Builder, group: str, raw: str, line: str, loc: Location) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        b.problem(f"cannot read host line {line!r}: {exc}", loc, f"{group}.hosts")
        return
    if not tokens:
        return
    pattern = tokens[0]
    path = f"{group}.hosts.{pattern}"
    try:
        names, port = expand_host_pattern(pattern)
    except _RangeError as exc:
        b.problem(str(exc), loc, path)
        return
    if pattern.endswith(":") and port is None:
        b.problem(
            f"host {pattern!r} ends with ':' (reserved for a port, as in host:5986)", loc, path
        )
        return
    if any(n.strip() == "---" for n in names):
        b.problem("'---' starts a YAML document: name a YAML inventory .yml", loc, path)
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
            b.problem(
                f"expected key=value after host {pattern!r}, got {token!r}",
                vloc,
                f"{path}.{token}",
            )
            continue
        hvars.append((key, _ini_value(value), vloc))
    for host in names:
        b.add_host(host, group, loc)
        if port is not None:
            b.set_host_var(host, "ansible_port", port, loc, f"{path}.ansible_port")
        for key, value, vloc in hvars:
            b.set_host_var(host, key, value, vloc, f"{path}.{key}")

# -- host lists -------------------------------------------------------------------
