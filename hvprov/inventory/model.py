"""The inventory's public types: hosts and groups with their merged variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location


@dataclass(frozen=True)
class Host:
    """A host with its fully merged variables (no magic vars: the runner adds those)."""

    name: str
    vars: Mapping[str, Any] = field(hash=False)
    groups: tuple[str, ...]  # every group it is in, with ancestors: "all" first, then sorted
    var_sources: Mapping[str, Location] = field(hash=False, repr=False)
    # the host's own variables (inventory host entries, then host_vars/): `inventory --export`
    own_vars: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False, compare=False)


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
