"""What `facts/host.ps1.j2` reports on the modelled host (contracts §3, exactly).

Version-dependent like the real WMI: on 6.0/6.1 `Win32_Processor` has no VT/SLAT properties
and `Win32_ComputerSystem` no `HypervisorPresent` (null), the hvboot driver state is read
instead; on 6.2+ they are real values, and a running hypervisor hides VT/SLAT from the parent
partition (configurable per host: `hypervisor_hides_cpu_features`).
"""

from __future__ import annotations

import time
from typing import Any

from . import rules
from .model import CPU_ARCHITECTURE, HostModel, Vhd, norm_path
from .windows import HYPERV


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def host_facts(host: HostModel, probe_paths: list[str]) -> dict[str, Any]:
    v1 = host.major_minor <= (6, 1)
    tool = rules.feature_tool(host)
    role = HYPERV.key in host.features  # committed: services and namespace exist after the reboot
    module = None if v1 else ("Hyper-V-PowerShell" in host.features or host.hyperv_server)
    inventory = role and module is not False  # 6.2+ lists switches and VMs with the Hyper-V module
    return {
        "hostname": host.hostname,
        "os": {
            "caption": host.caption_text,
            "version": host.version,
            "build": host.build,
            "sku": host.sku,
            "sp_major": host.release.sp_major,
            "product_type": 3,
            "os_architecture": host.os_architecture_text,
            "installation_type": None if v1 else ("Server Core" if host.server_core else "Server"),
            "last_boot": iso(host.last_boot),
            "ps_version": host.powershell,
        },
        "cpu": _cpu(host, v1),
        "dep": {"available": host.dep_available, "policy": host.dep_policy},
        "memory_mb": host.memory_mb,
        "server_core": host.server_core or host.hyperv_server,
        "pending_reboot": {
            "cbs": host.pending_reboot.cbs,
            "windows_update": host.pending_reboot.windows_update,
            "file_rename": host.pending_reboot.file_rename,
            "computer_rename": host.pending_reboot.computer_rename,
        },
        "features": {
            "tool": tool,
            "installed": [rules.display_name(n, host, tool == "dism") for n in rules.installed_view(host)],
            "hyperv_available": rules.hyperv_offered(host),
        },
        "hypervisor": {
            "present": None if v1 else host.hypervisor_running,
            "vmms": "Running" if role else None,
            "hvboot": ("Running" if host.hypervisor_running else "Stopped") if role and v1 else None,
            "launch_type": host.launch_type,
            "launch_error": host.launch_error,
            "module": module,
        },
        "adapters": _adapters(host),
        "switches": [
            {"id": s.id, "name": s.name, "type": s.type, "adapter": s.adapter,
             "allow_management_os": s.allow_management_os}
            for s in host.switches
        ] if inventory else [],
        "vms": [_vm(vm) for vm in host.vms] if inventory else [],
        "vhds": [_vhd(v) for v in _visible_vhds(host, probe_paths, inventory)],
        "unverified": ["inventory"] if role and not inventory else [],
    }


def _adapters(host: HostModel) -> list[dict[str, Any]]:
    """Network connections as Windows shows them: a physical adapter bound to a switch has no
    TCP/IP of its own; the host vNIC of an external switch carries that adapter's addresses."""
    physical = {a.name.casefold(): a for a in host.adapters if a.vnic_of is None}
    shared = {s.id: physical.get(s.adapter.casefold()) for s in host.switches
              if s.type == "external" and s.adapter is not None}
    out = []
    for a in host.adapters:
        ips, gateway = a.ips, a.gateway
        if a.vnic_of is None and a.bound_switch is not None:
            ips, gateway = [], None
        elif a.vnic_of is not None and shared.get(a.vnic_of) is not None:
            src = shared[a.vnic_of]
            ips, gateway = src.ips, src.gateway  # type: ignore[union-attr]
        out.append({"name": a.name, "description": a.description, "mac": a.mac, "ips": list(ips),
                    "management": gateway is not None, "bound_switch": a.bound_switch})
    return out


def _cpu(host: HostModel, v1: bool) -> dict[str, Any]:
    c = host.cpu
    hidden = host.hypervisor_running and host.hypervisor_hides_cpu_features
    return {
        "architecture": CPU_ARCHITECTURE[host.arch],
        "address_width": 32 if host.arch == "x86" else 64,
        "manufacturer": c.vendor,
        "name": c.name,
        "cores": c.cores,
        "logical": c.logical,
        "vmx": None if v1 else (c.vt_supported and not hidden),
        "vt_firmware": None if v1 else (c.vt_supported and c.vt_enabled and not hidden),
        "slat": None if v1 else (c.slat and not hidden),
    }


def _vm(vm: Any) -> dict[str, Any]:
    if vm.unreadable:  # the facts script reports the VM with its error and goes on
        return {"id": vm.id, "name": vm.name, "state": "other", "error": vm.unreadable}
    return {
        "id": vm.id, "name": vm.name, "state": vm.state, "memory_mb": vm.memory_mb,
        "dynamic_memory": vm.dynamic_memory, "memory_min_mb": vm.memory_min_mb,
        "memory_max_mb": vm.memory_max_mb, "cpus": vm.cpus, "generation": vm.generation, "notes": vm.notes,
        "disks": [{"path": d.path, "controller": d.controller, "controller_number": d.controller_number,
                   "location": d.location} for d in vm.disks],
        "nics": [{"name": n.name, "switch": n.switch, "mac": n.mac, "static_mac": n.static_mac,
                  "legacy": n.legacy, "vlan": n.vlan} for n in vm.nics],
    }


def _visible_vhds(host: HostModel, probe_paths: list[str], role: bool) -> list[Vhd]:
    """VHDs attached to VMs, then the probed paths that exist (each once)."""
    by_path = {norm_path(v.path): v for v in host.vhds}
    wanted = [d.path for vm in host.vms for d in vm.disks] if role else []
    out: dict[str, Vhd] = {}
    for p in [*wanted, *probe_paths]:
        key = norm_path(p)
        if key in by_path and key not in out:
            out[key] = by_path[key]
    return list(out.values())


def _vhd(v: Vhd) -> dict[str, Any]:
    out = {"path": v.path, "size": v.size, "type": v.type, "format": v.format, "parent": v.parent}
    if v.unreadable:  # the Hyper-V service failed; the file's own footer still gives size and type
        out["error"] = v.unreadable
    return out
