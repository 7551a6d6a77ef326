"""Drift: changes made behind hvprov's back, as mutators for `LabStore.alter`.

    store.alter("hv01", drift.stop_vm("web01"))               # someone turned the VM off
    store.alter("hv01", drift.delete_switch("External"))      # ... deleted a switch (NICs disconnected)
    store.alter("hv01", drift.set_vm("web01", memory_mb=2048, cpus=2))
    store.alter("hv01", drift.delete_file("D:\\VMs\\web01.vhd"))
    store.alter("hv01", management_lost=False)                # plain fields need no helper

VMs and switches are named by id or by name; a name that several share is an error (use the id).
Fields are type-checked when `alter` re-validates the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import LabError
from . import hyperv
from .model import HostModel, Switch, Vm

Mutator = Callable[[HostModel], None]
T = TypeVar("T", Vm, Switch)

_VM_FIELDS = {"name", "state", "memory_mb", "dynamic_memory", "memory_min_mb", "memory_max_mb", "cpus",
              "generation", "notes"}


def _one(items: list[T], ref: str, what: str) -> T:
    by_id = [x for x in items if x.id.lower() == ref.lower()]
    found = by_id or [x for x in items if hyperv.same_name(x.name, ref)]
    if len(found) != 1:
        why = "no" if not found else f"{len(found)}"
        raise LabError(f"drift: {why} {what}s match {ref!r} (by id or name)")
    return found[0]


def set_vm(ref: str, **fields: Any) -> Mutator:
    """Set VM fields (state, memory_mb, cpus, dynamic_memory, notes ...)."""
    unknown = sorted(set(fields) - _VM_FIELDS)
    if unknown:
        raise LabError(f"drift: unknown VM field {unknown[0]!r} (known: {', '.join(sorted(_VM_FIELDS))})")

    def mutate(host: HostModel) -> None:
        vm = _one(host.vms, ref, "VM")
        for key, value in fields.items():
            setattr(vm, key, value)

    return mutate


def stop_vm(ref: str) -> Mutator:
    return set_vm(ref, state="off")


def delete_vm(ref: str) -> Mutator:
    def mutate(host: HostModel) -> None:
        vm = _one(host.vms, ref, "VM")
        host.vms = [v for v in host.vms if v is not vm]

    return mutate


def delete_switch(ref: str) -> Mutator:
    """Remove a switch as Remove-VMSwitch -Force would: adapter unbound, VM NICs disconnected."""

    def mutate(host: HostModel) -> None:
        hyperv.remove_switch(host, _one(host.switches, ref, "switch"))

    return mutate


def delete_file(path: str) -> Mutator:
    """A VHD (or other file) deleted outside Hyper-V; attached VMs keep pointing at it."""

    def mutate(host: HostModel) -> None:
        if not host.path_exists(path):
            raise LabError(f"drift: no file {path!r} on {host.hostname}")
        hyperv.delete_file(host, path)

    return mutate


__all__ = ["delete_file", "delete_switch", "delete_vm", "set_vm", "stop_vm"]
