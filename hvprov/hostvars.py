"""A task's variables in Ansible's precedence, and Ansible's magic variables.

Lowest to highest (ansible-core's VariableManager.get_vars, the levels hvprov has):
role defaults (every public role of the play, then the task's own role), inventory variables
(group_vars/host_vars merged by the inventory), play vars and vars_files, role vars, block and
task vars, set_fact / registered results / include_vars, role parameters, include parameters,
extra vars; then the magic variables.
"""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .inventory import Host, Inventory
from .runctx import HostState, RunContext
from .secrets import SCALARS, tag_by_name
from .tasktree import Play, Task
from .templating import Templar

ANSIBLE_VERSION = MappingProxyType({"full": "2.19.14", "major": 2, "minor": 19, "revision": 14, "string": "2.19.14"})
OMIT = "__omit_place_holder__" + hashlib.sha1(b"hvprov").hexdigest()

ROLE_MAGIC = frozenset({"role_path", "role_name", "ansible_role_name"})
MAGIC = frozenset({
    "inventory_hostname", "inventory_hostname_short", "group_names", "groups", "play_hosts", "hostvars",
    "ansible_check_mode", "ansible_diff_mode", "hvprov_mode", "hvprov_facts", "ansible_play_hosts", "ansible_play_hosts_all",
    "ansible_play_batch", "playbook_dir", "inventory_dir", "inventory_file",
    "ansible_run_tags", "ansible_skip_tags", "ansible_version",
    "omit", "ansible_failed_task", "ansible_failed_result", "ansible_play_name",
})


@dataclass
class PlayContext:
    """One play's run: its hosts, the current batch, every host's state (for hostvars)."""

    ctx: RunContext
    play: Play
    inventory: Inventory
    hosts: list[Host]
    states: Mapping[str, HostState]
    groups: Mapping[str, list[str]]
    batch: list[Host] = field(default_factory=list)
    snapshot: dict[str, list[str]] | None = None  # linear: the play's hosts as of this task
    # per play, computed once (not per host-task): each host's inventory file and directory
    # (paths resolved against the file system once), the play's host names, the playbook directory
    _sources: dict[str, tuple[str | None, str | None]] = field(default_factory=dict, repr=False, compare=False)
    _resolved: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # file -> resolved path
    _parents: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # resolved path -> its directory
    _static: dict[tuple[str, int, bool], tuple[Host, Any, dict[str, Any]]] = field(
        default_factory=dict, repr=False, compare=False)  # static_vars per host, role, tagging
    _magic: dict[tuple[str, int], tuple[Host, Any, dict[str, Any]]] = field(
        default_factory=dict, repr=False, compare=False)  # fixed_magic per host and role

    def source_of(self, host: Host) -> tuple[str | None, str | None]:
        """inventory_file and inventory_dir of a host."""
        try:
            return self._sources[host.name]
        except KeyError:
            source = inventory_source(self.inventory, host, self._resolved)
            parent = None
            if source:  # hosts of one file share its directory: one Path per file, not per host
                parent = self._parents.get(source)
                if parent is None:
                    parent = self._parents[source] = str(Path(source).parent)
            found = self._sources[host.name] = (source, parent)
            return found

    @cached_property
    def hosts_all(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    @cached_property
    def playbook_dir(self) -> str:
        return self.play.playbook_dir or str(self.ctx.playbook_dir.resolve())

    def static_vars(self, host: Host, role: Any, tagged: bool) -> dict[str, Any]:
        """hostvars.static_vars for this play, kept per host, role and tagging (never changed
        once made: compose copies it)."""
        key = (host.name, id(role), tagged)
        hit = self._static.get(key)
        if hit is None or hit[0] is not host or hit[1] is not role:
            made = static_vars(self.play, host, role)
            hit = self._static[key] = (host, role, tag_by_name(made) if tagged else made)
        return hit[2]

    def magic_fixed(self, host: Host, role: Any) -> dict[str, Any]:
        """hostvars.fixed_magic for this play, kept per host and role (never changed once made:
        magic copies it)."""
        key = (host.name, id(role))
        hit = self._magic.get(key)
        if hit is None or hit[0] is not host or hit[1] is not role:
            hit = self._magic[key] = (host, role, fixed_magic(self, host, role))
        return hit[2]

    def active(self, hosts: list[Host]) -> list[str]:
        return [h.name for h in hosts if h.name not in self.states or not self.states[h.name].down]

    def freeze(self) -> None:
        """Linear: ansible_play_hosts / ansible_play_batch as the task starts (computed once, not per host;
        once for both when the batch is the play's hosts, as without `serial`)."""
        self.snapshot = None
        hosts = self.active(self.hosts)
        batch = self.batch or self.hosts
        batch_names = list(hosts) if batch == self.hosts else self.active(batch)
        self.snapshot = {"hosts": hosts, "batch": batch_names, "play_hosts": list(batch_names),
                         "all": list(self.hosts_all)}

    def play_hosts(self, which: str) -> list[str]:
        if self.snapshot is not None:
            return list(self.snapshot[which])
        return self.active(self.hosts if which == "hosts" else (self.batch or self.hosts))


def inventory_groups(inventory: Inventory) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {name: [] for name in inventory.groups}
    out.setdefault("all", [])
    out.setdefault("ungrouped", [])
    for host in inventory.hosts.values():
        for g in host.groups:
            out.setdefault(g, []).append(host.name)
        if "all" not in host.groups:
            out["all"].append(host.name)
    return out


def inventory_source(inventory: Inventory, host: Host, resolved: dict[str, str]) -> str | None:
    """The inventory file the host came from (its first variable's file, else the one file source).
    `resolved` keeps each file's resolved path (hosts of one file share it: one resolve per file)."""
    for loc in host.var_sources.values():
        if loc.file and not loc.file.startswith("<") and "group_vars" not in loc.file and "host_vars" not in loc.file:
            hit = resolved.get(loc.file)
            if hit is None:
                hit = resolved[loc.file] = str(Path(loc.file).resolve())
            return hit
    files = [s for s in inventory.sources if Path(s).is_file()]
    return str(Path(files[0]).resolve()) if files else None


class HostVars:
    """hostvars: every inventory host's variables as a play-level task sees them, read lazily
    (not a Mapping, so that nothing walks every host's variables to look for templates)."""

    def __init__(self, pctx: PlayContext) -> None:
        self.pctx = pctx

    def __getitem__(self, name: str) -> Any:
        host = self.pctx.inventory.hosts.get(name)
        if host is None:
            raise KeyError(name)
        return _Rendered(self.pctx, compose(self.pctx, host, None, {}))

    def __iter__(self) -> Iterator[str]:
        return iter(self.pctx.inventory.hosts)

    def __len__(self) -> int:
        return len(self.pctx.inventory.hosts)

    def __contains__(self, name: object) -> bool:
        return name in self.pctx.inventory.hosts

    def keys(self) -> list[str]:
        return list(self.pctx.inventory.hosts)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default


class _Rendered(Mapping[str, Any]):
    """One host's variables in hostvars: a value written as a template is rendered (against that
    host's variables) when it is read, as ansible-core does."""

    def __init__(self, pctx: PlayContext, variables: dict[str, Any]) -> None:
        self._pctx = pctx
        self._vars = variables

    def __getitem__(self, key: str) -> Any:
        value = self._vars[key]
        if key == "hostvars" or not _holds_template(value):
            return value
        return self._pctx.ctx.templar.template(value, self._vars)

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)


def _holds_template(value: Any) -> bool:
    if isinstance(value, str):
        return Templar.is_template(value)
    if isinstance(value, dict):
        return any(_holds_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_template(v) for v in value)
    return False


def compose(pctx: PlayContext, host: Host, task: Task | None, include_vars: Mapping[str, Any],
            tagged: bool = False) -> dict[str, Any]:
    """Everything a task on `host` sees (task None: the play-level view, as hostvars shows).
    `tagged`: plain strings under secret-looking names made Secrets (secrets.tag_by_name), as a
    task sees them. The levels that do not change during a play are merged (and tagged) once
    per host and role, then copied (tests/test_compose_tagged.py checks every call against
    merging every level each time)."""
    ctx = pctx.ctx
    st = pctx.states.get(host.name)
    role = task.role if task is not None else None
    v = dict(pctx.static_vars(host, role, tagged))
    top: dict[str, Any] = {}  # the levels that may change from task to task
    if st is not None and st.session.has_facts:
        top["hvprov_facts"] = st.session.facts_dict()
    if task is not None and task.vars:  # (an empty level: no update call)
        top.update(task.vars)
    if st is not None:
        if st.included_vars:
            top.update(st.included_vars)
        top.update(st.facts_vars)
    if role is not None:
        top.update(role.params)
    if include_vars:
        top.update(include_vars)
    if ctx.opts.extra_vars:
        top.update(ctx.opts.extra_vars)
    v.update(tag_by_name(top) if tagged else top)
    v.update(magic(pctx, host, role))  # no magic name looks secret (tests/test_compose_tagged.py)
    return v


def static_vars(play: Play, host: Host, role: Any) -> dict[str, Any]:
    """The levels below the facts, which stay as they are for a whole play: role defaults,
    inventory variables, play vars (and vars_files), role vars."""
    v: dict[str, Any] = {}
    for r in play.roles:
        v.update(r.defaults)
    if role is not None:
        v.update(role.defaults)
    v.update(host.vars)
    v.update(play.vars)
    for r in play.roles:
        v.update(r.vars)
    if role is not None:
        v.update(role.vars)
    return v


def magic(pctx: PlayContext, host: Host, role: Any) -> dict[str, Any]:
    """The magic variables of a task on `host`: what stays the same for the play comes from a
    dict made once per host and role (PlayContext.magic_fixed); the lists and the version dict
    are fresh copies on every call, as they were when the whole dict was made on every call."""
    out = pctx.magic_fixed(host, role).copy()
    out["group_names"] = list(out["group_names"])
    snapshot = pctx.snapshot
    if snapshot is not None:  # linear: the round's lists, shared by its hosts (see PlayContext.freeze)
        out["ansible_play_hosts_all"] = snapshot["all"]
        out["ansible_play_hosts"] = snapshot["hosts"]
        out["ansible_play_batch"] = snapshot["batch"]
        out["play_hosts"] = snapshot["play_hosts"]
    else:
        out["ansible_play_hosts_all"] = list(pctx.hosts_all)
        out["ansible_play_hosts"] = pctx.play_hosts("hosts")
        batch = pctx.play_hosts("batch")
        out["ansible_play_batch"] = batch
        out["play_hosts"] = list(batch)
    out["ansible_run_tags"] = list(out["ansible_run_tags"])
    out["ansible_skip_tags"] = list(out["ansible_skip_tags"])
    out["ansible_version"] = dict(ANSIBLE_VERSION)
    return out


def fixed_magic(pctx: PlayContext, host: Host, role: Any) -> dict[str, Any]:
    """The magic variables in their order, with the values that stay the same for a play (the
    list-valued ones are copied by `magic` on every call)."""
    ctx = pctx.ctx
    source, source_dir = pctx.source_of(host)
    out: dict[str, Any] = {
        "inventory_hostname": host.name,
        "inventory_hostname_short": host.name.split(".")[0],
        "group_names": sorted(g for g in host.groups if g != "all"),
        "groups": pctx.groups,
        "hostvars": HostVars(pctx),
        "ansible_play_hosts_all": None,
        "ansible_play_hosts": None,
        "ansible_play_batch": None,
        "play_hosts": None,
        "ansible_play_name": pctx.play.name,
        "ansible_check_mode": ctx.opts.mode == "plan",
        "ansible_diff_mode": ctx.opts.diff,
        "hvprov_mode": ctx.opts.mode,
        "playbook_dir": pctx.playbook_dir,
        "inventory_file": source,
        "inventory_dir": source_dir,
        "ansible_run_tags": list(ctx.opts.tags) or ["all"],
        "ansible_skip_tags": list(ctx.opts.skip_tags),
        "ansible_version": None,
        "omit": OMIT,
    }
    if role is not None:
        out.update(role_path=role.path, role_name=role.name, ansible_role_name=role.name)
    return out


def drop_omitted(value: Any) -> Any:
    """Module arguments with `omit` values removed (default(omit) drops the argument)."""
    if isinstance(value, dict) or (type(value) is not list and isinstance(value, Mapping)):
        out = {}
        for k, v in value.items():
            if isinstance(v, str):  # a leaf (a str subclass too): kept unless it is omit
                if v != OMIT:
                    out[k] = v
            else:
                out[k] = v if type(v) in SCALARS else drop_omitted(v)
        return out
    if isinstance(value, list):
        return [v if type(v) in SCALARS or isinstance(v, str) else drop_omitted(v) for v in value
                if not (isinstance(v, str) and v == OMIT)]
    return value

