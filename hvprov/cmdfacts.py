"""Facts without PowerShell, and enabling PowerShell 2.0 on 2008 R2 Server Core.

PowerShell is an optional feature of 2008 / 2008 R2 Server Core and Hyper-V Server, off on a
fresh install (domain brief §3.3). When the facts script cannot start ("'powershell' is not
recognized", cmd.exe exit 9009), `read_facts()` reads the facts a plan needs through cmd-level
tools (`Transport.run_command`): wmic (OS, CPU, memory, adapters), dism (features), reg (pending
reboot), sc (Hyper-V services), bcdedit (hypervisor launch type). Editions that cannot run
Hyper-V are then still refused before any change. `facts.bootstrap` lists the DISM features
to enable; the first task that changes the host enables them first (`ensure_powershell`),
through cmd, and the facts are read again with PowerShell. Sources: docs/servercore.md.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import RemoteError, TaskError
from .model import Action, Change
from .transports.base import ExecResult

if TYPE_CHECKING:  # annotations only
    from .facts import HostFacts

# In this order: each needs the one before (SCVMM KB / domain brief §3.3).
POWERSHELL_FEATURES = ("NetFx2-ServerCore", "MicrosoftWindowsPowerShell", "ServerManager-PSH-Cmdlets")
DISM_RESTART = 3010  # ERROR_SUCCESS_REBOOT_REQUIRED
CORE_SKUS_61 = frozenset({12, 13, 14, 29, 39, 40, 41, 42, 43, 44, 45, 46, 53, 63})
_NOT_RECOGNIZED = re.compile(r"'[^']*powershell(\.exe)?'\s+is not recognized as an internal or external command", re.I)

WMIC = {
    "os": "BuildNumber,Caption,DataExecutionPrevention_Available,DataExecutionPrevention_SupportPolicy,"
          "LastBootUpTime,OperatingSystemSKU,OSArchitecture,ProductType,ServicePackMajorVersion,Version",
    "cpu": "AddressWidth,Architecture,Manufacturer,Name,NumberOfCores,NumberOfLogicalProcessors",
    "computersystem": "Name,TotalPhysicalMemory",
    "nic": "Index,MACAddress,Name,NetConnectionID",
    "nicconfig": "DefaultIPGateway,Index,IPAddress",
}
REG_PENDING = {
    "cbs": r'reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending"',
    "windows_update": r'reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired"',
    "file_rename": r'reg query "HKLM\SYSTEM\CurrentControlSet\Control\Session Manager" /v PendingFileRenameOperations',
}


class PowerShellMissing(RemoteError):
    """The host has no powershell.exe (2008 R2 Server Core before the bootstrap)."""


def powershell_missing(text: str) -> bool:
    return bool(_NOT_RECOGNIZED.search(text))


def bootstrap_command(names: tuple[str, ...] | list[str]) -> str:
    return "dism /online /enable-feature " + " ".join(f"/featurename:{n}" for n in names) + " /norestart"


# ---------------------------------------------------------------------------- output parsing


def parse_wmic_list(text: str) -> list[dict[str, str]]:
    """``/format:list`` output: instances separated by blank lines, ``Name=Value`` lines."""
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for raw in text.replace("\r", "").split("\n"):
        line = raw.strip()
        if not line:
            if cur:
                out.append(cur)
                cur = {}
            continue
        key, sep, value = raw.partition("=")
        if sep:
            cur[key.strip()] = value  # as printed: 6.1 captions end with a space
    if cur:
        out.append(cur)
    return out


def wmic_array(value: str) -> list[str]:
    """``{"192.0.2.10","fe80::1"}`` -> list; empty -> []."""
    return re.findall(r'"([^"]*)"', value) if value.startswith("{") else ([value] if value else [])


def parse_dism_features(text: str) -> dict[str, str]:
    """``dism /get-features /format:table``: feature name -> state."""
    out: dict[str, str] = {}
    for line in text.replace("\r", "").split("\n"):
        name, sep, state = line.partition("|")
        name, state = name.strip(), state.strip()
        if sep and name and not name.startswith("-") and name != "Feature Name":
            out[name] = state
    return out


def cim_to_iso(value: str) -> str:
    """CIM datetime ``20261124100000.500000+060`` (offset in minutes) -> ISO-8601 UTC."""
    m = re.match(r"(\d{14})\.\d{6}([+-]\d{3})", value)
    if m is None:
        raise RemoteError(f"wmic returned an unreadable LastBootUpTime {value!r}", template="wmic os")
    local = time.strptime(m.group(1), "%Y%m%d%H%M%S")
    t = calendar.timegm(local) - int(m.group(2)) * 60
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# ---------------------------------------------------------------------------- reading facts

Run = Callable[[str], ExecResult]


def _wmic(run: Run, alias: str) -> list[dict[str, str]]:
    line = f"wmic {alias} get {WMIC[alias]} /format:list"
    res = run(line)
    if res.rc != 0:
        raise RemoteError(f"{line} failed (exit {res.rc}): {(res.stderr or res.stdout).strip()[:300]}", template="cmd")
    return parse_wmic_list(res.stdout)


def _int(d: dict[str, str], key: str, default: int = 0) -> int:
    v = d.get(key, "")
    return int(v) if v.lstrip("-").isdigit() else default


def _service(run: Run, name: str) -> str | None:
    res = run(f"sc query {name}")
    m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", res.stdout)
    if res.rc != 0 or m is None:
        return None
    return {"RUNNING": "Running", "STOPPED": "Stopped"}.get(m.group(1), m.group(1).title())


def read_facts(run: Run) -> dict[str, Any]:
    """The facts (contracts §3 shape) of a host without PowerShell, through cmd-level tools."""
    os_ = _wmic(run, "os")[0]
    cpus = _wmic(run, "cpu")
    cs = _wmic(run, "computersystem")[0]
    sku = _int(os_, "OperatingSystemSKU")
    dism = run("dism /online /get-features /format:table")
    if dism.rc != 0:
        raise RemoteError(f"dism /get-features failed (exit {dism.rc}): {dism.stdout.strip()[-300:]}", template="cmd")
    states = parse_dism_features(dism.stdout)
    installed = sorted(n for n, s in states.items() if s in ("Enabled", "Enable Pending"))
    role = "Microsoft-Hyper-V" in installed
    bcd = run("bcdedit /enum {current}")
    launch = re.search(r"^hypervisorlaunchtype\s+(\S+)", bcd.stdout, re.M) if bcd.rc == 0 else None
    cpu0 = cpus[0] if cpus else {}
    return {
        "hostname": cs.get("Name", ""),
        "os": {"caption": os_.get("Caption", ""), "version": os_.get("Version", ""), "build": _int(os_, "BuildNumber"),
               "sku": sku, "sp_major": _int(os_, "ServicePackMajorVersion"), "product_type": _int(os_, "ProductType", 3),
               "os_architecture": os_.get("OSArchitecture", ""), "installation_type": None,
               "last_boot": cim_to_iso(os_.get("LastBootUpTime", "")), "ps_version": ""},
        "cpu": {"architecture": _int(cpu0, "Architecture"), "address_width": _int(cpu0, "AddressWidth", 64),
                "manufacturer": cpu0.get("Manufacturer", ""), "name": cpu0.get("Name", "").strip(),
                "cores": sum(_int(c, "NumberOfCores", 1) for c in cpus) or 1,
                "logical": sum(_int(c, "NumberOfLogicalProcessors", 1) for c in cpus) or 1,
                "vmx": None, "vt_firmware": None, "slat": None},
        "dep": {"available": os_.get("DataExecutionPrevention_Available", "").upper() == "TRUE",
                "policy": _int(os_, "DataExecutionPrevention_SupportPolicy", 2)},
        "memory_mb": _int(cs, "TotalPhysicalMemory") // 1048576,
        "server_core": sku in CORE_SKUS_61,
        "pending_reboot": {key: run(line).rc == 0 for key, line in REG_PENDING.items()},
        "features": {"tool": "dism", "installed": installed, "hyperv_available": "Microsoft-Hyper-V" in states},
        "hypervisor": {"present": None, "vmms": _service(run, "vmms") if role else None,
                       "hvboot": _service(run, "hvboot") if role else None,
                       "launch_type": launch.group(1) if launch else None, "launch_error": None},
        "adapters": _adapters(run),
        "switches": [], "vms": [], "vhds": [],
        "unverified": ["inventory"] if role else [],
        "bootstrap": [n for n in POWERSHELL_FEATURES if states.get(n) != "Enabled"],
    }


def _adapters(run: Run) -> list[dict[str, Any]]:
    configs = {c.get("Index"): c for c in _wmic(run, "nicconfig")}
    out = []
    for nic in _wmic(run, "nic"):
        if not nic.get("NetConnectionID"):
            continue
        cfg = configs.get(nic.get("Index"), {})
        out.append({"name": nic["NetConnectionID"], "description": nic.get("Name", ""),
                    "mac": nic.get("MACAddress", "").replace(":", "").replace("-", "").upper(),
                    "ips": wmic_array(cfg.get("IPAddress", "")),
                    "management": bool(wmic_array(cfg.get("DefaultIPGateway", ""))), "bound_switch": None})
    return out


# ---------------------------------------------------------------------------- the bootstrap


def bootstrap_change(facts: HostFacts) -> Change:
    names = list(facts.bootstrap)
    return Change(
        resource="powershell", action=Action.INSTALL,
        before={"installed": False}, after={"installed": True, "version": "2.0", "dism_features": ", ".join(names)},
        reason=f"enable PowerShell 2.0 (DISM: {', '.join(names)}): hvprov's scripts need it",
        data={"command": bootstrap_command(names)},
    )


def predict_bootstrap(facts: HostFacts) -> HostFacts:
    installed = tuple(dict.fromkeys([*facts.features.installed, *facts.bootstrap]))
    tool = "servermanager" if "ServerManager-PSH-Cmdlets" in installed else "dism"
    return dataclasses.replace(
        facts, bootstrap=(), os=dataclasses.replace(facts.os, ps_version="2.0"),
        features=dataclasses.replace(facts.features, installed=installed, tool=tool),
        predicted=facts.predicted | {"features.installed", "os.ps_version"})


def refused(facts: HostFacts) -> str:
    return (f"PowerShell is not installed on {facts.hostname} (Server Core) and hvprov_bootstrap_powershell is "
            f"false: run `{bootstrap_command(facts.bootstrap)}` on the host (exit 3010 means restart), "
            "or set hvprov_bootstrap_powershell: true")


def run_bootstrap(run: Run, facts: HostFacts) -> str:
    """Enable the features through cmd; a message, or TaskError with DISM's own words."""
    line = bootstrap_command(facts.bootstrap)
    res = run(line)
    if res.rc not in (0, DISM_RESTART):
        text = "; ".join(s.strip() for s in res.stdout.splitlines()[-4:] if s.strip()) or res.stderr.strip()
        raise TaskError(f"enabling PowerShell failed: `{line}` exited {res.rc}: {text[:400]}")
    return "PowerShell 2.0 enabled" + (" (DISM: restart required)" if res.rc == DISM_RESTART else "")


def bootstrap_enabled(value: Any) -> bool:
    """hvprov_bootstrap_powershell: a boolean (or Ansible's yes/no/true/false words)."""
    if isinstance(value, bool):
        return value
    words = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
    if isinstance(value, (str, int)) and str(value).strip().lower() in words:
        return words[str(value).strip().lower()]
    raise TaskError(f"hvprov_bootstrap_powershell: expected a boolean, got {type(value).__name__} {value!r:.40}")


def ensure_powershell(session: Any, facts: HostFacts, plan_mode: bool, enabled: bool) -> tuple[Change, HostFacts]:
    """Before the first change on a host without PowerShell: plan (or run) the bootstrap.
    Returns the change and the facts to plan the task against (predicted, or re-read)."""
    if not enabled:
        raise TaskError(refused(facts))
    change = bootstrap_change(facts)
    if plan_mode:
        after = predict_bootstrap(facts)
        session.set_facts(after)
        return change, after
    session.progress(f"enabling PowerShell: {change.data['command']}")
    run_bootstrap(lambda line: session.transport.run_command(line), facts)
    return change, session.regather()
