"""What `hvprov inventory` prints, shaped as `ansible-inventory` prints it: --list (JSON, --yaml,
--toml), --graph [GROUP] with --vars, --host, --export, --limit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import OptionsError
from ..secrets import MASK, Secret
from .core import Inventory


def mask(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    """Secrets replaced by the mask; a value shared by several hosts (a group variable) stays
    one object, so YAML output shows it as an anchor and aliases, as ansible-inventory's."""
    memo = {} if memo is None else memo
    if isinstance(obj, Secret):
        return MASK
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in memo:
            return memo[id(obj)]
        out: Any = {} if isinstance(obj, dict) else []
        memo[id(obj)] = out
        if isinstance(obj, dict):
            out.update({k: mask(v, memo) for k, v in obj.items()})
        else:
            out.extend(mask(v, memo) for v in obj)
        return out
    return obj


def host_vars(inv: Inventory, name: str, export: bool = False, memo: dict[int, Any] | None = None) -> dict[str, Any]:
    h = inv.hosts[name]
    return mask(dict(h.own_vars if export else h.vars), memo)  # type: ignore[no-any-return]


def group_vars(inv: Inventory, name: str, memo: dict[int, Any] | None = None) -> dict[str, Any]:
    g = inv.groups[name]
    out = dict(g.vars)
    if g.priority != 1:
        out["ansible_group_priority"] = g.priority
    return mask(out, memo)  # type: ignore[no-any-return]


def _prune(entry: dict[str, Any]) -> None:
    for key in ("hosts", "vars", "children"):
        if key in entry and not entry[key]:
            del entry[key]


def list_doc(inv: Inventory, export: bool = False, limit: str | None = None) -> dict[str, Any]:
    available = {h.name for h in inv.select(limit)}
    seen: set[str] = set()
    out: dict[str, Any] = {}

    stack = ["all"]  # depth first, children in order, without recursion (deep chains)
    while stack:
        name = stack.pop()
        g = inv.groups[name]
        entry: dict[str, Any] = {}
        if name != "all":
            entry["hosts"] = [h for h in g.hosts if h in available]
        entry["children"] = list(g.children)
        if export:
            entry["vars"] = group_vars(inv, name)
        _prune(entry)
        if entry:
            out[name] = entry
        fresh = [c for c in g.children if c not in seen]
        seen.update(fresh)
        stack.extend(reversed(fresh))

    hostvars = {}
    for h in inv.select(limit):
        hv = host_vars(inv, h.name, export)
        if hv:
            hostvars[h.name] = hv
    out["_meta"] = {"hostvars": hostvars, "profile": "inventory_legacy"}  # ansible-core 2.19's JSON profile
    return out


def yaml_doc(inv: Inventory, export: bool = False, limit: str | None = None) -> dict[str, Any]:
    available = {h.name for h in inv.select(limit)}
    memo: dict[int, Any] = {}
    seen_hosts: set[str] = set()
    seen_groups: set[str] = set()

    def fmt(name: str) -> dict[str, Any]:
        g = inv.groups[name]
        entry: dict[str, Any] = {"children": {}}
        for child in g.children:
            if child in seen_groups:
                entry["children"][child] = {}
            else:
                entry["children"].update(fmt(child))
                seen_groups.add(child)
        entry["hosts"] = {}
        if name != "all":
            for h in g.hosts:
                if h not in available:
                    continue
                hv: dict[str, Any] = {}
                if h not in seen_hosts:
                    seen_hosts.add(h)
                    hv = host_vars(inv, h, export, memo)
                entry["hosts"][h] = hv
        if export:
            gv = group_vars(inv, name, memo)
            if gv:
                entry["vars"] = gv
        _prune(entry)
        return {name: entry} if entry else {}

    return fmt("all")


def toml_doc(inv: Inventory, export: bool = False, limit: str | None = None) -> dict[str, Any]:
    available = {h.name for h in inv.select(limit)}
    seen_hosts: set[str] = set()
    has_ungrouped = bool(inv.groups["ungrouped"].hosts) if "ungrouped" in inv.groups else False
    out: dict[str, Any] = {}

    def fmt(name: str) -> None:
        g = inv.groups[name]
        entry: dict[str, Any] = {"children": []}
        out[name] = entry
        for child in g.children:
            if child == "ungrouped" and not has_ungrouped:
                continue
            if name != "all":
                entry["children"].append(child)
            fmt(child)
        if name != "all":
            for h in g.hosts:
                if h not in available:
                    continue
                hv: dict[str, Any] = {}
                if h not in seen_hosts:
                    seen_hosts.add(h)
                    hv = host_vars(inv, h, export)
                entry.setdefault("hosts", {})[h] = hv
        if export:
            entry["vars"] = group_vars(inv, name)
        _prune(entry)
        if not entry:
            del out[name]

    fmt("all")
    return out


def graph(inv: Inventory, group: str = "all", show_vars: bool = False) -> str:
    if group not in inv.groups:
        raise OptionsError("Pattern must be valid group name when using --graph")

    def name(text: str, depth: int) -> str:
        return "  |" * depth + "--" + text if depth else text

    def show(values: Mapping[str, Any], depth: int) -> list[str]:
        return [name("{%s = %s}" % (k, v), depth) for k, v in sorted(values.items())]

    lines: list[str] = []
    todo: list[tuple[str, int] | list[str]] = [(group, 0)]  # without recursion (deep chains)
    while todo:
        item = todo.pop()
        if isinstance(item, list):
            lines += item
            continue
        gname, depth = item
        g = inv.groups[gname]
        lines.append(name(f"@{gname}:", depth))
        after: list[str] = []
        if gname != "all":
            for h in g.hosts:
                after.append(name(h, depth + 1))
                if show_vars:
                    after += show(host_vars(inv, h), depth + 2)
        if show_vars:
            after += show(group_vars(inv, gname), depth + 1)
        todo.append(after)
        todo.extend((child, depth + 1) for child in reversed(g.children))
    return "\n".join(lines)


def dump(doc: Any, fmt: str) -> str:
    if fmt == "yaml":
        return yaml.safe_dump(doc, default_flow_style=False, allow_unicode=True)
    if fmt == "toml":
        import tomli_w

        try:
            return tomli_w.dumps(doc)
        except TypeError as exc:
            raise OptionsError(f"the inventory cannot be written as TOML: {exc}") from None
    return json.dumps(doc, sort_keys=True, indent=4, default=str)
