"""hyperv_prereqs: can this host run Hyper-V? Checks only; changes nothing."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..editions import edition, product_name
from ..errors import TaskError
from ..facts import HostFacts
from .base import Args, Module, PlanContext, PlanResult

_DEP_POLICIES = {0: "AlwaysOff", 1: "AlwaysOn", 2: "OptIn", 3: "OptOut"}


class PrereqArgs(Args):
    allow_pending_reboot: bool = Field(False, description="Do not fail when an unrelated reboot is pending.")
    min_memory_mb: int = Field(1024, ge=0, description="Fail when the host has less physical memory (MB).")


def hyperv_installed(facts: HostFacts) -> bool:
    names = {n.lower() for n in facts.features.installed}
    return "hyper-v" in names or "microsoft-hyper-v" in names


def check(args: PrereqArgs, facts: HostFacts) -> tuple[list[str], list[str]]:
    """(failures, notes). Each failure names what is wrong and what to do."""
    fails: list[str] = []
    notes: list[str] = []
    os_name = product_name(facts.os.version)
    ed = edition(facts.os.sku)
    if facts.cpu.architecture == 6 or ed.sku == 15:
        fails.append("Itanium (IA-64) host: Hyper-V runs only on x64 processors; use an x64 server")
    elif facts.cpu.architecture != 9 or facts.cpu.address_width != 64:
        fails.append(
            f"not an x64 system (CPU architecture {facts.cpu.architecture}, OS {facts.os.os_architecture or '?'}):"
            " Hyper-V needs a 64-bit OS on an x64 processor"
        )
    else:
        notes.append("x64 OS and CPU")
    if ed.hyperv is False:
        fails.append(f"edition {ed.name} (SKU {ed.sku}) cannot run Hyper-V: {ed.reason}; use Standard, Enterprise or Datacenter")
    elif facts.features.hyperv_available is False:
        fails.append(f"edition {ed.name} (SKU {ed.sku}): the host does not offer the Hyper-V role (Get-WindowsFeature/DISM)")
    else:
        notes.append(f"edition {ed.name} (SKU {ed.sku}) offers Hyper-V")
    if not facts.dep.available:
        fails.append(
            "hardware DEP (Intel XD / AMD NX) is not available: enable 'Execute Disable Bit'/'No-Execute Memory Protection' in the BIOS, then power the server off and on"
        )
    elif facts.dep.policy == 0:
        fails.append("DEP policy is AlwaysOff: run 'bcdedit /set nx OptOut' and reboot")
    else:
        notes.append(f"DEP available ({_DEP_POLICIES.get(facts.dep.policy, facts.dep.policy)})")
    running = facts.hypervisor.running
    if running:
        notes.append("hypervisor running")
    elif facts.cpu.vmx is False:
        fails.append("the processor has no hardware virtualization (Intel VT-x / AMD-V): Hyper-V cannot run on this CPU")
    elif facts.cpu.vt_firmware is False:
        fails.append(
            "hardware virtualization (Intel VT-x / AMD-V) is disabled in the BIOS: enable it, then power the server off and on (a reboot is not enough)"
        )
    elif facts.hypervisor.launch_error:
        fails.append(f"the hypervisor failed to launch: {facts.hypervisor.launch_error} Enable VT-x/AMD-V and DEP in the BIOS, then power cycle")
    elif facts.cpu.vt_firmware is None:
        notes.append(f"VT: not detectable on {os_name} (verified after the reboot)")
    else:
        notes.append("VT enabled")
    # With the hypervisor running, Windows 8/2012+ report VT and SLAT as absent (the parent
    # partition sees hypervisor-filtered CPUID): only judge them before the hypervisor runs.
    if not running and facts.os.major_minor >= (10, 0) and facts.cpu.slat is False:
        fails.append(f"{os_name} requires SLAT (Intel EPT / AMD RVI) for Hyper-V; this processor has none")
    if facts.memory_mb < args.min_memory_mb:
        fails.append(f"{facts.memory_mb} MB of memory is below the minimum of {args.min_memory_mb} MB")
    if facts.pending_reboot.any and not args.allow_pending_reboot:
        pending_role = hyperv_installed(facts) and not running
        if not pending_role:
            fails.append(
                "a reboot is already pending ("
                + ", ".join(facts.pending_reboot.reasons())
                + "): reboot the host first, or set allow_pending_reboot: true"
            )
    return fails, notes


class HypervPrereqs(Module):
    name = "hyperv_prereqs"
    summary = "Check that a host can run Hyper-V (x64, edition, DEP, VT, no pending reboot)"
    description = (
        "Reads the gathered facts and fails with every unmet prerequisite, each naming what to do. "
        "On Windows Server 2008 R2 VT cannot be read from WMI: it is reported as unknown and verified "
        "by the reboot module after the role is installed."
    )
    example = "- name: Check Hyper-V prerequisites\n  hyperv_prereqs:\n    min_memory_mb: 4096\n"
    ArgsModel = PrereqArgs

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        assert facts is not None
        fails, notes = check(args, facts)
        if fails:
            raise TaskError("prerequisites not met: " + "; ".join(fails))
        return PlanResult(msg="; ".join(notes), data={"checks": notes})
