"""Named lab hosts, and building a host model from a profile plus inventory overrides.

`build_host("2008r2-standard", {"vt_enabled": False}, name="hv01", now=t)` returns a freshly
booted `HostModel`. Overrides (the inventory's ``sim`` mapping) may set any model field;
shortcuts: ``vt_supported``, ``vt_enabled``, ``slat``, ``cores`` (into ``cpu``),
``pending_reboot: true`` (= CBS reboot pending), dotted keys (``cpu.vendor``). Every value is
type-checked and a bad one raises `LabError` naming ``sim.<field>`` and the expected type.
Derived values follow an explicit override: ``server_core`` on 2008 R2 moves the SKU to its
core twin (7 -> 13), ``sku: 15`` implies ``arch: ia64``; contradictions are errors.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import LabError
from . import rules, windows
from .model import Adapter, HostModel, converter

UPTIME_AT_CREATION = 3 * 86400.0


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    fields: Mapping[str, Any]


def _cpu(name: str, cores: int, **kw: Any) -> dict[str, Any]:
    return {"vendor": "GenuineIntel", "name": name, "cores": cores, "logical": cores * 2,
            "vt_supported": True, "vt_enabled": True, "slat": True, **kw}


_X5670 = _cpu("Intel(R) Xeon(R) CPU           X5670  @ 2.93GHz", 6)
_R2_FULL = ["File-Services", "FS-FileServer"]
_R2_CORE = ["NetFx2-ServerCore", "MicrosoftWindowsPowerShell"]
_V2_FEATURES = ["FileAndStorage-Services", "Storage-Services", "NET-Framework-45-Core", "PowerShell",
                "WoW64-Support"]


def _r2(**kw: Any) -> dict[str, Any]:
    base = {"version": "6.1.7601", "sku": 7, "cpu": _X5670, "memory_mb": 32768, "features": _R2_FULL}
    return {**base, **kw}


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile("2008r2-standard", "2008 R2 SP1 Standard, full installation, VT and DEP on",
                _r2(hostname="HV-STD01")),
        Profile("2008r2-enterprise", "2008 R2 SP1 Enterprise", _r2(hostname="HV-ENT01", sku=10, memory_mb=65536)),
        Profile("2008r2-datacenter", "2008 R2 SP1 Datacenter", _r2(hostname="HV-DC01", sku=8, memory_mb=131072)),
        Profile("2008r2-datacenter-core",
                "2008 R2 SP1 Datacenter Server Core: PowerShell added, no ServerManager cmdlets (DISM)",
                _r2(hostname="HV-CORE01", sku=12, server_core=True, memory_mb=65536, features=_R2_CORE)),
        # Fresh Server Core installations: no PowerShell (an optional feature, off after setup)
        *(Profile(name, f"2008 R2 SP1 {label} Server Core (SKU {sku}), fresh: no PowerShell",
                  _r2(hostname=f"HV-CORE{sku}", sku=sku, server_core=True, memory_mb=32768, features=[]))
          for sku, label, name in ((13, "Standard", "2008r2-standard-core"), (14, "Enterprise", "2008r2-enterprise-core"),
                                   (12, "Datacenter", "2008r2-datacenter-core-fresh"))),
        Profile("2008r2-web-core", "2008 R2 Web Server Core (SKU 29), fresh: no PowerShell, no Hyper-V role",
                _r2(hostname="WEBCORE01", sku=29, server_core=True, memory_mb=8192, features=[])),
        *(Profile(f"2008r2-{label.lower()}-core-nohv", f"2008 R2 {label} without Hyper-V, Server Core (SKU {sku}), fresh: no PowerShell",
                  _r2(hostname=f"NOHVCORE{sku}", sku=sku, server_core=True, memory_mb=32768, features=[]))
          for sku, label in ((40, "Standard"), (41, "Enterprise"), (39, "Datacenter"))),
        Profile("2008r2-web", "2008 R2 Web Server: no Hyper-V role", _r2(hostname="WEB01", sku=17, memory_mb=8192)),
        Profile("2008r2-foundation", "2008 R2 Foundation: no Hyper-V role, 1 socket, 8 GB",
                _r2(hostname="FND01", sku=33, memory_mb=8192,
                    cpu=_cpu("Intel(R) Xeon(R) CPU E3-1220 V2 @ 3.10GHz", 4, logical=4))),
        Profile("2008r2-enterprise-nohv", "Enterprise without Hyper-V (SKU 38)",
                _r2(hostname="HV-NOHV01", sku=38, memory_mb=65536)),
        Profile("2008r2-itanium", "2008 R2 for Itanium-Based Systems (IA-64): no Hyper-V",
                _r2(hostname="IA64-01", sku=15, arch="ia64", memory_mb=65536,
                    cpu=_cpu("Intel(R) Itanium(R) Processor 9350", 4, vt_supported=False, slat=False))),
        Profile("2008r2-standard-vtoff", "2008 R2 SP1 Standard, VT-x supported but disabled in the BIOS",
                _r2(hostname="HV-VTOFF01", cpu={**_X5670, "vt_enabled": False})),
        Profile("hyperv-server-2008r2", "Hyper-V Server 2008 R2 (SKU 42): role pre-installed, hypervisor running",
                _r2(hostname="HVS01", sku=42, server_core=True,
                    features=["Hyper-V", *_R2_CORE, "ServerManager-PSH-Cmdlets"])),
        Profile("2008r2-standard-rtm", "2008 R2 RTM (6.1.7600, no SP1) Standard",
                _r2(hostname="HV-RTM01", version="6.1.7600")),
        Profile("2012r2-datacenter", "2012 R2 Datacenter, full installation",
                {"hostname": "HV-2012R2", "version": "6.3.9600", "sku": 8, "memory_mb": 131072,
                 "cpu": _cpu("Intel(R) Xeon(R) CPU E5-2650 v2 @ 2.60GHz", 8), "features": _V2_FEATURES}),
        Profile("2019-standard", "2019 Standard, full installation",
                {"hostname": "HV-2019", "version": "10.0.17763", "sku": 7, "memory_mb": 65536,
                 "cpu": _cpu("Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz", 10),
                 "features": [*_V2_FEATURES, "Windows-Defender"]}),
    ]
}

CPU_SHORTCUTS = {"vt_supported", "vt_enabled", "slat", "cores"}
_FIELDS = {f.name for f in dataclasses.fields(HostModel)}


def profile_names() -> list[str]:
    return sorted(PROFILES)


def get_profile(name: str | None) -> Profile:
    if name is None or name not in PROFILES:
        what = "no sim_profile given" if name is None else f"unknown sim_profile {name!r}"
        raise LabError(f"{what}; valid profiles: {', '.join(profile_names())}")
    return PROFILES[name]


def normalize_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Shortcuts and dotted keys -> a nested mapping of model fields."""
    out: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if not isinstance(key, str):
            raise LabError(f"sim: setting names must be strings, got {key!r}")
        path = f"cpu.{key}" if key in CPU_SHORTCUTS else key
        if key == "pending_reboot" and isinstance(value, bool):
            value = {"cbs": value}
        head, *rest = path.split(".")
        if head not in _FIELDS:
            raise LabError(f"sim.{key}: unknown setting (known: {', '.join(sorted(_FIELDS | CPU_SHORTCUTS))})")
        node = out
        for part in [head, *rest][:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise LabError(f"sim.{key}: conflicts with another setting of {part}")
        node[path.split(".")[-1]] = value
    return out


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def hostname_for(name: str) -> str:
    """'hv-std01.lab.example' -> 'HV-STD01' (NetBIOS: first label, upper case, 15 chars)."""
    label = name.split(".")[0].upper()
    return "".join(c if c.isalnum() or c == "-" else "-" for c in label)[:15] or "HOST"


def build_host(profile: str | None, overrides: Mapping[str, Any] | None = None, *,
               name: str | None = None, now: float) -> HostModel:
    """A new host from a profile and overrides, booted `UPTIME_AT_CREATION` seconds ago."""
    prof = get_profile(profile)
    over = normalize_overrides(overrides)
    fields = deep_merge(dict(prof.fields), over)
    if name is not None and "hostname" not in over:
        fields["hostname"] = hostname_for(name)
    host: HostModel = converter(HostModel)(fields, "sim")
    explicit = set(over)
    _reconcile(host, explicit)
    host.validate("sim")
    mm = host.major_minor
    host.features = list(dict.fromkeys(windows.canonical(f, mm) for f in host.features))
    if windows.HYPERV.key in host.features and not rules.hyperv_offered(host):
        raise LabError(f"sim.features: Hyper-V is installed but SKU {host.sku} on {host.arch} does not offer "
                       "the role (set role_offered: true to force it)")
    if "adapters" not in explicit:
        host.adapters = default_adapters(host)
    if "last_boot" not in explicit:
        host.last_boot = float(int(now - UPTIME_AT_CREATION))
    if not explicit & {"hypervisor_running", "launch_error"}:
        rules.launch_hypervisor(host)
    return host


def _reconcile(host: HostModel, explicit: set[str]) -> None:
    """Make SKU, installation type and architecture agree, following what was overridden."""
    sku_x, core_x, arch_x = "sku" in explicit, "server_core" in explicit, "arch" in explicit
    it = windows.ITANIUM_SKU
    if (host.sku == it) != (host.arch == "ia64"):
        if sku_x and not arch_x:
            host.arch = "ia64" if host.sku == it else "x64"
        elif arch_x and not sku_x and host.arch == "ia64":
            host.sku = it
        elif not sku_x and host.arch != "ia64":
            raise LabError(f"sim.arch: {host.arch} does not fit SKU {it} (for Itanium-Based Systems); set sku too")
        else:
            raise LabError(f"sim.arch: SKU {host.sku} and arch {host.arch} contradict (IA-64 is SKU {it} only)")
    if host.arch == "ia64" and host.major_minor > (6, 1):
        raise LabError(f"sim.arch: there is no Itanium release of Windows {host.version}")
    if host.major_minor > (6, 1):
        _reconcile_v2(host, sku_x, core_x)
        return
    sku_core = host.sku in windows.CORE_SKUS_61 or host.hyperv_server
    if sku_core == host.server_core:
        return
    if sku_x and core_x:
        raise LabError(f"sim.server_core: {host.server_core} contradicts SKU {host.sku} on Windows {host.version}")
    if sku_x or not core_x:
        host.server_core = sku_core
        return
    twin = windows.core_twin(host.sku) if host.server_core else getattr(windows.SKUS.get(host.sku), "full_twin", None)
    if twin is None:
        raise LabError(f"sim.server_core: SKU {host.sku} has no {'core' if host.server_core else 'full'} installation")
    host.sku = twin


def _reconcile_v2(host: HostModel, sku_x: bool, core_x: bool) -> None:
    """2012+: the SKU no longer says 'core'; a 2008 R2 core SKU from a profile maps to its twin."""
    info = windows.SKUS.get(host.sku)
    if not sku_x and info is not None and info.core and info.full_twin is not None:
        host.sku = info.full_twin
        host.server_core = True if not core_x else host.server_core
    if host.hyperv_server and not host.server_core:
        if core_x:
            raise LabError("sim.server_core: Hyper-V Server (SKU 42) has no full installation")
        host.server_core = True


def default_adapters(host: HostModel) -> list[Adapter]:
    """Two physical NICs: the management one (address + default gateway) and a spare."""
    digest = hashlib.sha256(host.hostname.encode()).digest()
    if host.major_minor <= (6, 1):
        base, desc = "Local Area Connection", "Intel(R) 82576 Gigabit Dual Port Network Connection"
    else:
        base, desc = "Ethernet", "Intel(R) Ethernet Controller X540-AT2"
    mac = "001B21" + digest[:3].hex().upper()
    mac2 = "001B21" + (int.from_bytes(digest[:3], "big") + 1 & 0xFFFFFF).to_bytes(3, "big").hex().upper()
    ip = f"192.0.2.{10 + digest[3] % 240}"
    return [
        Adapter(base, desc, mac, [ip], "192.0.2.1"),
        Adapter(f"{base} 2", f"{desc} #2", mac2, []),
    ]
