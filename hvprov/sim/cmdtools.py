"""The lab's command-line tools: wmic, dism, reg, sc and bcdedit as Windows prints them.

What a host without PowerShell (2008 R2 Server Core fresh from setup) can still answer.
`run_tool(host, program, args, now)` returns the program's output and exit code, or None when
the host has no such program (cmd.exe then says "'x' is not recognized", exit 9009).
`run_command_line` is a minimal cmd.exe for one program per line (the sim transport's
`run_command`); hvprov.sim.cmdshell may replace it with a fuller one.

Formats (docs/servercore.md cites the sources): ``wmic ... get A,B /format:list`` prints
``Name=Value`` lines, properties in alphabetical order, each instance between blank lines, lines
ending CR CR LF when redirected; arrays as ``{"a","b"}``, booleans ``TRUE``/``FALSE``, datetimes
as CIM ``yyyymmddHHMMSS.ffffff+UUU``. ``dism /online /get-features /format:table`` prints a
``Feature Name | State`` table; DISM exits 3010 when a restart is needed. ``reg query`` exits 1
when the key or value does not exist. Independent of hvprov's own parsing code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..transports.base import ExecResult
from . import rules, windows
from .cmdshell import not_recognized, split_args
from .model import CPU_ARCHITECTURE, HostModel

Tool = Callable[[HostModel, list[str], float], ExecResult]
_CRLF = "\r\n"


def run_command_line(host: HostModel, line: str, now: float) -> ExecResult:
    words = split_args(line)
    if not words:
        return ExecResult("", "", 0)
    program = words[0].replace("/", "\\").rsplit("\\", 1)[-1].lower().removesuffix(".exe")
    res = run_tool(host, program, words[1:], now)
    if res is None:
        return ExecResult("", not_recognized(words[0]), 9009)
    return res


def run_tool(host: HostModel, program: str, args: list[str], now: float) -> ExecResult | None:
    tool = TOOLS.get(program.replace("/", "\\").rsplit("\\", 1)[-1].lower().removesuffix(".exe"))
    return None if tool is None else tool(host, args, now)


# ---------------------------------------------------------------------------- wmic


def _cim_datetime(t: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + ".500000+000"


def _wmic_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, list):
        return "{" + ",".join(f'"{x}"' for x in v) + "}" if v else ""
    return str(v)


def _os_instance(host: HostModel) -> dict[str, Any]:
    inst: dict[str, Any] = {
        "BuildNumber": host.build, "Caption": host.caption_text, "CSName": host.hostname,
        "DataExecutionPrevention_Available": host.dep_available,
        "DataExecutionPrevention_SupportPolicy": host.dep_policy,
        "LastBootUpTime": _cim_datetime(host.last_boot), "OperatingSystemSKU": host.sku,
        "OSArchitecture": host.os_architecture_text, "ProductType": 3,
        "ServicePackMajorVersion": host.release.sp_major, "TotalVisibleMemorySize": host.memory_mb * 1024 - 2048,
        "Version": host.version,
    }
    return inst


def _cpu_instance(host: HostModel) -> dict[str, Any]:
    c = host.cpu
    inst: dict[str, Any] = {
        "AddressWidth": 32 if host.arch == "x86" else 64, "Architecture": CPU_ARCHITECTURE[host.arch],
        "Manufacturer": c.vendor, "Name": c.name, "NumberOfCores": c.cores, "NumberOfLogicalProcessors": c.logical,
    }
    if host.major_minor >= (6, 2):  # these properties do not exist before Windows 8 / 2012
        hidden = host.hypervisor_running and host.hypervisor_hides_cpu_features
        inst["VirtualizationFirmwareEnabled"] = c.vt_supported and c.vt_enabled and not hidden
        inst["VMMonitorModeExtensions"] = c.vt_supported and not hidden
        inst["SecondLevelAddressTranslationExtensions"] = c.slat and not hidden
    return inst


def _nic_instances(host: HostModel) -> list[dict[str, Any]]:
    return [{"Index": i + 1, "MACAddress": ":".join(a.mac[j:j + 2] for j in range(0, 12, 2)), "Name": a.description,
             "NetConnectionID": a.name} for i, a in enumerate(host.adapters)]


def _nicconfig_instances(host: HostModel) -> list[dict[str, Any]]:
    out = []
    for i, a in enumerate(host.adapters):
        bound = a.vnic_of is None and a.bound_switch is not None
        ips = [] if bound else list(a.ips)
        gw = None if bound or a.gateway is None else [a.gateway]
        out.append({"DefaultIPGateway": gw, "Index": i + 1, "IPAddress": ips or None, "IPEnabled": bool(ips)})
    return out


_ALIASES: dict[str, Callable[[HostModel], list[dict[str, Any]]]] = {
    "os": lambda h: [_os_instance(h)],
    "cpu": lambda h: [_cpu_instance(h)],
    "computersystem": lambda h: [{"Name": h.hostname, "TotalPhysicalMemory": h.memory_mb * 1048576,
                                  "Domain": "WORKGROUP", "Manufacturer": "Dell Inc."}],
    "nic": _nic_instances,
    "nicconfig": _nicconfig_instances,
}


def wmic(host: HostModel, args: list[str], now: float) -> ExecResult:
    node = f"Node - {host.hostname}{_CRLF}ERROR:{_CRLF}"
    fmt = next((a.split(":", 1)[1].lower() for a in args if a.lower().startswith("/format:")), "table")
    words = [a for a in args if not a.startswith("/")]
    if len(words) < 3 or words[1].lower() != "get":
        return ExecResult("", f"{words[0] if words else ''} - Alias not found.{_CRLF}", 44135)
    alias = _ALIASES.get(words[0].lower())
    if alias is None:
        return ExecResult("", f"{words[0]} - Alias not found.{_CRLF}", 44135)
    wanted = [p for p in ",".join(words[2:]).split(",") if p]
    instances = alias(host)
    known = {k.lower(): k for inst in instances for k in inst}
    if not instances or any(p.lower() not in known for p in wanted):
        return ExecResult("", f"{node}Description = Invalid query{_CRLF}", 44210)
    if fmt != "list":
        return ExecResult("", f"{node}Description = only /format:list is modelled{_CRLF}", 1)
    props = sorted((known[p.lower()] for p in wanted), key=str.lower)  # wmic sorts properties
    eol = "\r\r\n"  # wmic's output through a pipe: CR CR LF
    out = ""
    for inst in instances:
        out += eol + eol + "".join(f"{p}={_wmic_value(inst.get(p))}{eol}" for p in props)
    return ExecResult(out + eol + eol, "", 0)


# ---------------------------------------------------------------------------- dism


def _dism_banner(host: HostModel) -> list[str]:
    return ["", "Deployment Image Servicing and Management tool", f"Version: {host.version}.16385", "",
            f"Image Version: {host.version}.17514", ""]


def _dism_catalog(host: HostModel) -> list[tuple[str, str]]:
    view = set(rules.installed_view(host))
    pending = {p.name: p.action for p in host.pending_features}
    rows = []
    for f in windows.CATALOG:
        if f.dism is None or not rules.offered(host, f):
            continue
        state = "Enabled" if f.key in view else "Disabled"
        if pending.get(f.key) == "install":
            state = "Enable Pending"
        elif pending.get(f.key) == "remove":
            state = "Disable Pending"
        rows.append((f.dism, state))
    return rows


def dism(host: HostModel, args: list[str], now: float) -> ExecResult:
    low = [a.lower() for a in args]
    banner = _dism_banner(host)
    if "/online" not in low:
        return _dism_exit(banner + ["Error: 87", "", "The /online option is required here (only /online is modelled)."], 87)
    if "/get-features" in low:
        width = 48
        lines = banner + [f"Features listing for package : Microsoft-Windows-ServerCore-Package~31bf3856ad364e35~amd64~~{host.version}.17514", "",
                          "-" * width + " | --------", "Feature Name".ljust(width) + " | State", "-" * width + " | --------"]
        lines += [name.ljust(width) + " | " + state for name, state in _dism_catalog(host)]
        return _dism_exit(lines + ["", "The operation completed successfully."], 0)
    names = [a.split(":", 1)[1] for a in args if a.lower().startswith("/featurename:")]
    if ("/enable-feature" in low or "/disable-feature" in low) and names:
        state = "present" if "/enable-feature" in low else "absent"
        missing = _missing_parent(host, names) if state == "present" else None
        if missing:
            return _dism_exit(banner + ["Enabling feature(s)", "Error: 0x800f0826", "",
                                        f"The feature {missing[0]} cannot be enabled: its parent feature {missing[1]} "
                                        "is not enabled."], 0x800F0826 - 2**32)
        try:
            out = rules.change_features(host, names, state, dism=True)
        except rules.WindowsError as exc:
            return _dism_exit(banner + exc.noise, 0x800F080C - 2**32)
        verb = "Enabling feature(s)" if state == "present" else "Disabling feature(s)"
        lines = banner + [verb, "[==========================100.0%==========================]",
                          "The operation completed successfully."]
        if out.restart_needed == "Yes":
            return _dism_exit(lines + ["Restart Windows to complete this operation.",
                                       "Do you want to restart the computer now? (Y/N)"], 3010)
        return _dism_exit(lines, 0)
    return _dism_exit(banner + ["Error: 87", "", "The option is unknown (not modelled by the lab)."], 87)


# DISM parents on 2008 R2 Server Core [U: order from the SCVMM KB command; the error text is the lab's]
_PARENTS = {"MicrosoftWindowsPowerShell": "NetFx2-ServerCore", "ServerManager-PSH-Cmdlets": "MicrosoftWindowsPowerShell"}


def _missing_parent(host: HostModel, names: list[str]) -> tuple[str, str] | None:
    have = set(rules.installed_view(host))
    for n in names:
        parent = _PARENTS.get(n)
        if parent and parent not in have and parent not in names:
            return n, parent
    return None


def _dism_exit(lines: list[str], rc: int) -> ExecResult:
    return ExecResult(_CRLF.join(lines) + _CRLF, "", rc)


# ---------------------------------------------------------------------------- reg, sc, bcdedit

_PENDING_KEYS = {
    r"hklm\software\microsoft\windows\currentversion\component based servicing\rebootpending": "cbs",
    r"hklm\software\microsoft\windows\currentversion\windowsupdate\auto update\rebootrequired": "windows_update",
}
_SESSION_MANAGER = r"hklm\system\currentcontrolset\control\session manager"
REG_NOT_FOUND = "ERROR: The system was unable to find the specified registry key or value.\r\n"


def reg(host: HostModel, args: list[str], now: float) -> ExecResult:
    if len(args) < 2 or args[0].lower() != "query":
        return ExecResult("", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1)
    key = args[1].replace("HKEY_LOCAL_MACHINE", "HKLM").rstrip("\\")
    low = key.lower()
    value = args[args.index("/v") + 1] if "/v" in args and args.index("/v") + 1 < len(args) else None
    if low in _PENDING_KEYS and value is None:
        if getattr(host.pending_reboot, _PENDING_KEYS[low]):
            return ExecResult(f"{_CRLF}{key}{_CRLF}{_CRLF}", "", 0)
        return ExecResult("", REG_NOT_FOUND, 1)
    if low == _SESSION_MANAGER and value is not None and value.lower() == "pendingfilerenameoperations":
        if host.pending_reboot.file_rename:
            return ExecResult(f"{_CRLF}{key}{_CRLF}    PendingFileRenameOperations    REG_MULTI_SZ    "
                              r"\??\C:\Windows\temp\x.tmp\0\0" + _CRLF + _CRLF, "", 0)
        return ExecResult("", REG_NOT_FOUND, 1)
    return ExecResult("", REG_NOT_FOUND, 1)


def sc(host: HostModel, args: list[str], now: float) -> ExecResult:
    if len(args) != 2 or args[0].lower() != "query":
        return ExecResult("", "[SC] only 'sc query NAME' is modelled by the lab\r\n", 1)
    name = args[1].lower()
    role = windows.HYPERV.key in host.features
    if name not in ("vmms", "hvboot") or not role or (name == "hvboot" and host.major_minor > (6, 1)):
        return ExecResult(f"[SC] EnumQueryServicesStatus:OpenService FAILED 1060:{_CRLF}{_CRLF}"
                          f"The specified service does not exist as an installed service.{_CRLF}{_CRLF}", "", 1060)
    running = name == "vmms" or host.hypervisor_running
    state = "4  RUNNING" if running else "1  STOPPED"
    kind = "10  WIN32_OWN_PROCESS" if name == "vmms" else "1  KERNEL_DRIVER"
    return ExecResult(f"{_CRLF}SERVICE_NAME: {name}{_CRLF}        TYPE               : {kind}{_CRLF}"
                      f"        STATE              : {state}{_CRLF}", "", 0)


def bcdedit(host: HostModel, args: list[str], now: float) -> ExecResult:
    if [a.lower() for a in args] != ["/enum", "{current}"]:
        return ExecResult("", "The parameter is incorrect (only /enum {current} is modelled).\r\n", 1)
    lines = ["", "Windows Boot Loader", "-------------------", "identifier              {current}",
             "device                  partition=C:", r"path                    \Windows\system32\winload.exe",
             f"description             {host.caption_text.strip()}", "locale                  en-US",
             r"systemroot              \Windows", f"nx                      {['AlwaysOff', 'AlwaysOn', 'OptIn', 'OptOut'][host.dep_policy]}"]
    if host.launch_type is not None:
        lines.append(f"hypervisorlaunchtype    {host.launch_type}")
    return ExecResult(_CRLF.join(lines) + _CRLF, "", 0)


TOOLS: dict[str, Tool] = {"wmic": wmic, "dism": dism, "reg": reg, "sc": sc, "bcdedit": bcdedit}
