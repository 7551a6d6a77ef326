"""`hvprov doctor -i INV [-l PATTERN] [--format json]`: a read-only first-contact checklist.

Per host, in order (a failed step skips the ones that need it):

1. connection: reachability, authentication, TLS - one tiny inline script (command line only)
   that prints the PowerShell version, pointer size, WOW64 architecture, WinRM limits and the
   Group Policy execution policy;
2. PowerShell present (a host without powershell.exe answers cmd.exe's 9009), version, bitness;
3. WinRM limits (`winrm/config`): MaxEnvelopeSizekb >= hvprov_winrm_max_envelope_kb,
   MaxMemoryPerShellMB >= 150, MaxShellsPerUser >= 2 (WinRM connections only);
4. execution policy: a Group Policy Restricted/AllSigned blocks the file delivery;
5. each delivery: a 200 KB script by stdin and by file must print a known value;
6. the facts script: edition offers Hyper-V, `root\\virtualization` or the Hyper-V module
   (when the facts report it), pending reboot (a warning: apply reboots first).

Nothing is changed on the host (the file delivery writes and removes its own temp file).
Exit 0 when every host is ready, 2 when one is not; a failing host never stops the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets as pysecrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cliargs import add_doctor_parser as add_parser  # noqa: F401 - moved; re-exported
from .connection import ConnectionSpec
from .errors import AuthenticationError, HvprovError, TrustError, UnreachableError
from .facts import parse_facts
from .secrets import SecretRegistry
from .transports import bootstrap
from .transports.base import ExecResult, Transport

MIN_MEMORY_MB = 150
PROBE_SIZE = 200 * 1024
ENABLE_PS = ("dism /online /enable-feature /featurename:NetFx2-ServerCore /featurename:MicrosoftWindowsPowerShell "
             "/featurename:ServerManager-PSH-Cmdlets")


@dataclass
class Check:
    name: str
    status: str  # ok | fail | warn | skip
    detail: str = ""
    fix: str = ""


@dataclass
class HostReport:
    name: str
    target: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def add(self, name: str, status: str, detail: str = "", fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))


def _probe_script(nonce: str) -> str:
    return ("'hvprov-doctor|' + '" + nonce + "' + '|' + $PSVersionTable.PSVersion.ToString() + '|' + [IntPtr]::Size"
            " + '|' + $env:PROCESSOR_ARCHITEW6432 + '|' + (Get-Item WSMan:\\localhost\\MaxEnvelopeSizekb).Value"
            " + '|' + (Get-Item WSMan:\\localhost\\Shell\\MaxMemoryPerShellMB).Value"
            " + '|' + (Get-Item WSMan:\\localhost\\Shell\\MaxShellsPerUser).Value"
            " + '|' + (Get-ExecutionPolicy -Scope MachinePolicy).ToString()")


def _big_script(nonce: str) -> str:
    pad = "# hvprov doctor: padding so that this script cannot travel on the command line\n"
    body = pad * (PROBE_SIZE // len(pad) + 1)
    return body[:PROBE_SIZE] + "\n'hvprov-doctor|" + nonce + "'\n"


def _fields(res: ExecResult, nonce: str) -> list[str] | None:
    for line in res.stdout.splitlines():
        if line.startswith("hvprov-doctor|" + nonce):
            return line.split("|")[2:]
    return None


def _connection_failure(report: HostReport, exc: HvprovError, spec: ConnectionSpec) -> None:
    if isinstance(exc, AuthenticationError):
        report.add("authentication", "fail", str(exc),
                   "check ansible_user / ansible_password (or the key for SSH); a local Administrator other than "
                   "the built-in one needs LocalAccountTokenFilterPolicy=1 for WinRM")
    elif isinstance(exc, TrustError):
        report.add("TLS", "fail", str(exc),
                   "give the CA that signed the host's WinRM certificate in ansible_winrm_ca_trust_path (or use "
                   "ntlm/kerberos over http with message encryption)")
    elif isinstance(exc, UnreachableError):
        report.add("reachable", "fail", str(exc),
                   f"check the address and port ({spec.describe()}), the firewall, and that the service runs "
                   "(WinRM: 'winrm quickconfig'; SSH: the sshd service)")
    else:
        report.add("connection", "fail", str(exc), "run with -vvv and check the host's event log")


def _check_probe(report: HostReport, spec: ConnectionSpec, res: ExecResult, nonce: str, used_kb: int = 0) -> bool:
    """`used_kb`: the envelope size the transport uses (hvprov_winrm_max_envelope_kb, or with
    `auto` what it inferred from the host's WinRM version)."""
    if res.rc == 9009 or "'powershell.exe' is not recognized" in res.stderr:
        report.add("powershell", "fail", "powershell.exe is not installed (Server Core / Hyper-V Server 2008 R2)",
                   f"enable it: {ENABLE_PS} (then reboot if DISM asks), or let apply do it")
        return False
    got = _fields(res, nonce)
    if got is None or len(got) < 7:
        report.add("powershell", "fail", f"the probe printed no answer (rc {res.rc}): {res.stderr.strip()[:200]}",
                   "run 'powershell.exe -NoProfile -Command $PSVersionTable' on the host")
        return False
    version, size, wow, envelope, memory, shells, gpo = got[:7]
    report.add("reachable", "ok", spec.describe())
    report.add("authentication", "ok", spec.user or "")
    report.add("powershell", "ok", f"version {version}")
    if size == "4" and wow:
        report.add("64-bit shell", "fail", f"the shell starts 32-bit processes (PROCESSOR_ARCHITEW6432={wow}); "
                   "hvprov re-launches every script through sysnative, one extra process each",
                   "make the endpoint start 64-bit processes: WinRM's default shell, or OpenSSH's DefaultShell "
                   "(HKLM\\SOFTWARE\\OpenSSH) set to %SystemRoot%\\System32\\cmd.exe")
    else:
        report.add("64-bit shell", "ok", f"pointer size {size}")
    if spec.kind == "winrm":
        _check_limits(report, used_kb or spec.max_envelope_kb, envelope, memory, shells)
    if gpo.lower() in ("restricted", "allsigned"):
        report.add("execution policy", "fail", f"Group Policy sets {gpo}: -File scripts cannot run",
                   "use hvprov_script_delivery: stdin (the default) or change the policy in Group Policy")
    else:
        report.add("execution policy", "ok", f"Group Policy: {gpo or 'Undefined'}")
    return True


def _check_limits(report: HostReport, used_kb: int, envelope: str, memory: str, shells: str) -> None:
    def num(text: str) -> int | None:
        return int(text) if text.strip().isdigit() else None

    env, mem, sh = num(envelope), num(memory), num(shells)
    if env is None or env < used_kb:
        report.add("winrm MaxEnvelopeSizekb", "fail", f"{envelope or '?'} KB < {used_kb} KB",
                   f"set hvprov_winrm_max_envelope_kb: {envelope or 150} or run "
                   f"'winrm set winrm/config @{{MaxEnvelopeSizekb=\"{used_kb}\"}}'")
    else:
        report.add("winrm MaxEnvelopeSizekb", "ok", f"{env} KB")
    if mem is None or mem < MIN_MEMORY_MB:
        report.add("winrm MaxMemoryPerShellMB", "fail", f"{memory or '?'} MB < {MIN_MEMORY_MB} MB",
                   f"winrm set winrm/config/winrs @{{MaxMemoryPerShellMB=\"{MIN_MEMORY_MB}\"}}")
    else:
        report.add("winrm MaxMemoryPerShellMB", "ok", f"{mem} MB")
    if sh is None or sh < 2:
        report.add("winrm MaxShellsPerUser", "fail", f"{shells or '?'} < 2",
                   "winrm set winrm/config/winrs @{MaxShellsPerUser=\"5\"}")
    else:
        report.add("winrm MaxShellsPerUser", "ok", str(sh))


def _check_deliveries(report: HostReport, spec: ConnectionSpec, lab_dir: Path, nonce: str) -> None:
    from .transports import open_transport

    big = _big_script(nonce)
    for mode in bootstrap.DELIVERIES:
        name = f"delivery {mode} (200 KB)"
        t = open_transport(dataclasses.replace(spec, script_delivery=mode), lab_dir)
        try:
            t.open()
            res = t.run(big)
            ok = _fields(res, nonce) is not None
            report.add(name, "ok" if ok else "fail",
                       f"{t.round_trips} round trips" if ok else f"no answer (rc {res.rc}): {res.stderr.strip()[:200]}",
                       "" if ok else ("use the other delivery (hvprov_script_delivery) and see docs/delivery.md"))
        except HvprovError as exc:
            report.add(name, "fail", str(exc), "see docs/delivery.md")
        finally:
            t.close()


def _check_facts(report: HostReport, transport: Transport) -> None:
    from .render import ScriptRenderer
    from .scriptresult import parse_result

    try:
        data = parse_result(transport.run(ScriptRenderer().render("facts/host.ps1.j2", probe_paths=[]).text),
                            "facts/host.ps1.j2")
        facts = parse_facts(data)
    except HvprovError as exc:
        report.add("facts", "fail", str(exc), "run 'hvprov plan' with -vvv to see the facts script's output")
        return
    os_ = data["os"]
    edition = f"{os_['caption'].strip()} (SKU {os_['sku']})"
    if not data["features"]["hyperv_available"]:
        report.add("edition", "fail", f"{edition} cannot run Hyper-V",
                   "use Standard, Enterprise or Datacenter (x64), or Hyper-V Server")
    else:
        report.add("edition", "ok", edition)
    module = _module_fact(data)
    installed = data["hypervisor"]["vmms"] is not None
    if facts.os.major_minor <= (6, 1):
        report.add("root\\virtualization", "ok" if installed else "warn",
                   "present" if installed else "absent until the Hyper-V role is installed")
    elif module is False and installed:
        report.add("Hyper-V module", "fail", "the Hyper-V role is installed but not its PowerShell module",
                   "Install-WindowsFeature RSAT-Hyper-V-Tools (or Hyper-V-PowerShell)")
    else:
        report.add("Hyper-V module", "ok" if module or not installed else "warn",
                   "present" if module else ("not reported by the facts" if installed else "role not installed"))
    pending = [k for k, v in data["pending_reboot"].items() if v]
    report.add("pending reboot", "warn" if pending else "ok", ", ".join(pending) or "none",
               "reboot before apply (apply reboots first where the role needs it)" if pending else "")


def _module_fact(data: dict[str, Any]) -> bool | None:
    """hypervisor.module of the facts (docs/contracts.md §3): the Hyper-V PowerShell module on
    6.2+, None where it does not apply."""
    value = (data.get("hypervisor") or {}).get("module")
    return value if isinstance(value, bool) else None


def check_host(name: str, spec: ConnectionSpec, lab_dir: Path) -> HostReport:
    from .transports import open_transport

    report = HostReport(name, spec.describe())
    nonce = pysecrets.token_hex(6)
    transport = open_transport(spec, lab_dir)
    try:
        transport.open()
        res = transport.run(_probe_script(nonce))
        if not _check_probe(report, spec, res, nonce, getattr(transport, "max_envelope_kb", 0)):
            return report
        _check_facts(report, transport)
    except HvprovError as exc:
        _connection_failure(report, exc, spec)
        return report
    finally:
        transport.close()
    _check_deliveries(report, spec, lab_dir, nonce)
    return report


# ---------------------------------------------------------------------------- output
def render_text(reports: list[HostReport], registry: SecretRegistry) -> str:
    lines = []
    for r in reports:
        lines.append(f"{r.name} ({r.target}): {'READY' if r.ready else 'NOT READY'}")
        for c in r.checks:
            lines.append(f"  [{c.status.upper():4}] {c.name}: {c.detail}".rstrip(": "))
            if c.fix and c.status != "ok":
                lines.append(f"         fix: {c.fix}")
    ready = sum(r.ready for r in reports)
    lines.append(f"{ready} of {len(reports)} host(s) ready")
    return registry.scrub("\n".join(lines))


def render_json(reports: list[HostReport], registry: SecretRegistry) -> str:
    doc = {"hosts": {r.name: {"ready": r.ready, "target": r.target,
                              "checks": [dataclasses.asdict(c) for c in r.checks]} for r in reports},
           "ready": sum(r.ready for r in reports), "not_ready": sum(not r.ready for r in reports)}
    return registry.scrub(json.dumps(doc, indent=1))


def doctor_cli(args: argparse.Namespace, inv: Any, lab_dir: Path) -> int:
    from .fleetfacts import selected_specs

    specs, registry = selected_specs(inv, args.limit)
    reports = [check_host(name, spec, lab_dir) for name, spec in specs]
    print((render_json if args.format == "json" else render_text)(reports, registry))
    return 0 if all(r.ready for r in reports) else 2
