"""Resolving the collected inventory: the group DAG, depths, and Ansible's variable precedence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InventoryError, Location
from ..limits import parents_first
from ..validate import warn
from .builder import _Builder
from .common import _raise_problems
from .files import _VarsDir
from .model import Group, Host


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


def _finish(b: _Builder) -> tuple[dict[str, Host], dict[str, Group], list[str]]:
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
        warn(f"Found both group and host with same name: {name}")  # ansible-core's warning

    # depth (longest path from all) and ancestors, memoised over the DAG
    depth: dict[str, int] = {"all": 0}
    ancestors: dict[str, frozenset[str]] = {"all": frozenset({"all"})}

    for name in parents_first(groups, lambda g: groups[g].parents):  # iterative: deep chains
        if name not in depth:
            depth[name] = 1 + max(depth[p] for p in groups[name].parents)
            ancestors[name] = frozenset({name}.union(*(ancestors[p] for p in groups[name].parents)))
    depth_of, ancestors_of = depth.__getitem__, ancestors.__getitem__

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
        own = dict(hrec.vars)
        locs.update(hrec.var_locs)
        for v, locs_ in host_files[name]:
            own.update(v)
            locs.update(locs_)
        values.update(own)
        out_hosts[name] = Host(
            name=name,
            vars=values,
            groups=("all", *sorted(member_of - {"all"})),
            var_sources=locs,
            own_vars=own,
        )
    return out_hosts, out_groups, list(b.sources)
