"""The Inventory: loading sources in order and answering host-pattern queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InventoryError, Location, OptionsError
from ..patterns import HostMatcher
from ..secrets import mask
from .builder import _Builder
from .files import _parse_dir, _parse_file
from .finish import _finish
from .model import Group, Host


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
        return cls(*_finish(b))

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
        return cls(*_finish(b))

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

        stack = ["all"]  # depth first, children in order, without recursion (deep chains)
        while stack:
            name = stack.pop()
            g = self.groups[name]
            entry: dict[str, Any] = {}
            if name != "all" and g.hosts:
                entry["hosts"] = list(g.hosts)
            if g.children:
                entry["children"] = list(g.children)
            if entry:
                out[name] = entry
            fresh = [c for c in g.children if c not in seen]
            seen.update(fresh)
            stack.extend(reversed(fresh))
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
