"""Helpers shared by the Hyper-V resource modules (switches, VHDs, VMs)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from ..editions import product_name
from ..errors import TaskError
from ..facts import UNVERIFIED, Adapter, HostFacts, Switch, Vhd, Vm
from .base import PlanResult

# Windows Server 2008 R2 (Hyper-V v1) limits, domain brief §5.6.
V1_MAX_CPUS = 4
V1_MAX_MEMORY_MB = 64 * 1024
V1_MAX_VHD_BYTES = 2040 * 1024**3
V1_MAX_SYNTHETIC_NICS = 8
V1_MAX_LEGACY_NICS = 4
V2_MAX_VHD_BYTES = 2040 * 1024**3  # VHD format; VHDX: 64 TB
VHDX_MAX_BYTES = 64 * 1024**4


def _control(ch: str) -> bool:
    """C0/C1 controls, DEL, and the Unicode line/paragraph separators."""
    return ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029"


def windows_name(value: str, what: str) -> str:
    """A name Hyper-V and its tools accept: not blank, no control characters, no edge spaces."""
    if not value.strip():
        raise ValueError(f"{what} cannot be blank")
    if any(_control(ch) for ch in value):
        raise ValueError(f"{what} cannot contain control characters")
    if value != value.strip():
        raise ValueError(f"{what} cannot start or end with spaces")
    return value


def template(facts: HostFacts, op: str) -> str:
    return f"hyperv_{facts.backend}/{op}.ps1.j2"


def require_hypervisor(facts: HostFacts, what: str) -> None:
    if facts.backend == "v2" and facts.hypervisor.module is False:
        raise TaskError(
            f"cannot manage {what}: the Hyper-V role is installed but the Hyper-V PowerShell module is not "
            "(Install-WindowsFeature Hyper-V without -IncludeManagementTools): set include_management_tools: true "
            "on the windows_feature task for Hyper-V, or install the feature Hyper-V-PowerShell "
            "(Install-WindowsFeature Hyper-V-PowerShell)"
        )
    if not facts.hypervisor.running and "hypervisor" not in facts.predicted:
        raise TaskError(
            f"cannot manage {what}: the Hyper-V hypervisor is not running on this host "
            "(install the role with windows_feature and reboot first)"
        )


def os_name(facts: HostFacts) -> str:
    return product_name(facts.os.version)


def find_switch(facts: HostFacts, name: str) -> Switch | None:
    found = [s for s in facts.switches if s.name == name]
    if len(found) > 1:
        raise TaskError(f"{len(found)} virtual switches are named {name!r} (ids {', '.join(s.id for s in found)}); rename or remove one")
    return found[0] if found else None


def find_adapter(facts: HostFacts, ref: str) -> Adapter | None:
    norm = ref.replace("-", "").replace(":", "").upper()
    for a in facts.adapters:
        if a.name == ref or (a.mac and a.mac.replace("-", "").replace(":", "").upper() == norm):
            return a
    return None


def find_vm(facts: HostFacts, name: str) -> Vm | None:
    found = [v for v in facts.vms if v.name == name]
    if len(found) > 1:
        raise TaskError(
            f"{len(found)} VMs are named {name!r} (ids {', '.join(v.id for v in found)}): Hyper-V does not keep "
            "VM names unique, so hvprov cannot tell which one you mean; rename or remove the extra one"
        )
    return found[0] if found else None


def find_vhd(facts: HostFacts, path: str) -> Vhd | None:
    low = path.lower()
    for v in facts.vhds:
        if v.path.lower() == low:
            return v
    return None


def vms_on_switch(facts: HostFacts, name: str) -> list[str]:
    return sorted({vm.name for vm in facts.vms for nic in vm.nics if nic.switch == name})


def vms_using_disk(facts: HostFacts, path: str) -> list[Vm]:
    low = path.lower()
    return [vm for vm in facts.vms if any(d.path.lower() == low for d in vm.disks)]


# Fact areas every Hyper-V resource change depends on.
DEPENDS_ON = ("hypervisor", "inventory")


def mark_unverified(result: PlanResult, facts: HostFacts | None) -> PlanResult:
    """Changes planned on facts Windows could not confirm (the hypervisor's start on 2008 R2,
    an inventory that could not be read) are unknown until applied, with the reason."""
    areas = [a for a in DEPENDS_ON if facts is not None and a in facts.unverified]
    if not areas or not result.changes:
        return result
    why = "; ".join(UNVERIFIED[a] for a in areas)
    changes = tuple(c if c.unknown else dataclasses.replace(c, unknown=True, reason=f"{c.reason} ({why})")
                    for c in result.changes)
    return dataclasses.replace(result, changes=changes)


def unverified_aware(plan: Callable[..., PlanResult]) -> Callable[..., PlanResult]:
    """Decorator for a Hyper-V resource module's plan(): see `mark_unverified`."""

    @functools.wraps(plan)
    def wrapper(self: Any, args: Any, facts: HostFacts | None, ctx: Any) -> PlanResult:
        return mark_unverified(plan(self, args, facts, ctx), facts)

    return wrapper
