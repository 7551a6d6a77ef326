"""What real Windows does: feature installs and removals, reboots, the hypervisor launch.

Each rule follows the domain brief (§2 prerequisites, §3 enabling the role, §3.4 verifying the
hypervisor, §8 simulator checklist). A rule that Windows answers with a cmdlet/program error
raises `WindowsError`; the executor turns it into the script's error record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import windows
from .model import PendingFeature, PendingReboot
from .windows import HYPERV, Feature

if TYPE_CHECKING:
    from .model import HostModel

NO_VT = "Hyper-V cannot be installed: The processor does not have required virtualization capabilities."
NO_SLAT = "Hyper-V cannot be installed: The processor does not have Second Level Address Translation (SLAT)."
TERM_NOT_RECOGNIZED = ("The term '{0}' is not recognized as the name of a cmdlet, function, script file, or "
                       "operable program. Check the spelling of the name, or if a path was included, verify "
                       "that the path is correct and try again.")


class WindowsError(Exception):  # noqa: N818 - named after what the host reports
    """An error record the script would write (exception type, message, category)."""

    def __init__(self, type: str, message: str, category: str = "NotSpecified",
                 keyword: str | None = None, noise: list[str] | None = None) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.category = category
        self.keyword = keyword  # a word of the script line that failed (for the line number)
        self.noise = noise or []  # what the program printed before failing


@dataclass
class FeatureOutcome:
    success: bool
    exit_code: str  # ServerManager ExitCode name
    restart_needed: str  # Yes | No | Maybe
    changed: list[str] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)

    def data(self) -> dict[str, object]:
        return {"success": self.success, "exit_code": self.exit_code,
                "restart_needed": self.restart_needed, "changed": list(self.changed)}


# ---------------------------------------------------------------------------- availability


def hyperv_offered(host: HostModel) -> bool:
    """Get-WindowsFeature Hyper-V returns an object / DISM lists Microsoft-Hyper-V."""
    if host.role_offered is not None:
        return host.role_offered
    return host.arch == "x64" and windows.hyperv_sku_offers(host.sku)


def offered(host: HostModel, f: Feature) -> bool:
    if not windows.exists_in(f, host.major_minor):
        return False
    core = host.server_core or host.hyperv_server
    if (f.where == "full" and core) or (f.where == "core" and not core):
        return False
    return hyperv_offered(host) if f.hyperv else True


def powershell_available(host: HostModel) -> bool:
    """PowerShell is an optional package on 2008 / 2008 R2 Server Core."""
    if host.major_minor <= (6, 1) and (host.server_core or host.hyperv_server):
        return windows.PS_CORE_61 in host.features
    return True


def feature_tool(host: HostModel) -> str:
    """servermanager | dism | none (contracts §3 features.tool)."""
    if host.major_minor < (6, 1):
        return "none"
    if host.major_minor == (6, 1) and (host.server_core or host.hyperv_server):
        return "servermanager" if windows.SM_CMDLETS_CORE_61 in host.features else "dism"
    return "servermanager"


def installed_view(host: HostModel) -> list[str]:
    """Installed as Windows reports it: pending installs count, pending removals do not."""
    out = list(host.features)
    for p in host.pending_features:
        if p.action == "install" and p.name not in out:
            out.append(p.name)
        elif p.action == "remove" and p.name in out:
            out.remove(p.name)
    return out


def display_name(name: str, host: HostModel, dism: bool) -> str:
    f = windows.find_feature(name, host.major_minor)
    if f is None:
        return name
    return (f.dism or f.key) if dism else (f.sm or f.key)


# ---------------------------------------------------------------------------- features


def _not_found(name: str, dism: bool) -> WindowsError:
    if dism:
        return WindowsError(
            "System.Management.Automation.RuntimeException",
            f"dism.exe exited with 0x800f080c: Feature name {name} is unknown.",
            "InvalidArgument", keyword="dism",
            noise=["Error: 0x800f080c", "", f"Feature name {name} is unknown.",
                   "A Windows feature name was not recognized."],
        )
    return WindowsError(
        "System.ArgumentException",
        f"ArgumentNotValid: The role, role service, or feature name is not valid: '{name}'. The name was not found.",
        "InvalidArgument", keyword="WindowsFeature",
    )


def _resolve(host: HostModel, names: list[str], dism: bool, removing: bool) -> list[Feature]:
    mm = host.major_minor
    view = {n.lower(): n for n in installed_view(host)}
    out: list[Feature] = []
    for n in names:
        f = windows.find_feature(n, mm, dism=dism, case_sensitive=dism and mm <= (6, 1))
        if f is None and removing and n.lower() in view:  # installed but not in the catalog
            f = Feature(view[n.lower()], None)
        elif f is None or not offered(host, f):
            raise _not_found(n, dism)
        if f not in out:
            out.append(f)
    return out


def _check_hardware(host: HostModel) -> None:
    """ServerManager's prerequisite check for the role (DISM does not check)."""
    if not host.cpu.vt_supported or (host.major_minor >= (6, 2) and not host.cpu.vt_enabled):
        raise WindowsError("System.InvalidOperationException", NO_VT, "InvalidOperation", keyword="WindowsFeature")
    if host.major_minor >= (10, 0) and not host.cpu.slat:
        raise WindowsError("System.InvalidOperationException", NO_SLAT, "InvalidOperation", keyword="WindowsFeature")


def _set_pending(host: HostModel, key: str, action: str) -> None:
    undo = "remove" if action == "install" else "install"
    for p in host.pending_features:
        if p.name == key and p.action == undo:
            host.pending_features.remove(p)
            return
    host.pending_features.append(PendingFeature(key, action))  # type: ignore[arg-type]


def change_features(host: HostModel, names: list[str], state: str, *, dism: bool,
                    include_management_tools: bool = False) -> FeatureOutcome:
    """Add-/Install-WindowsFeature (dism=False) or dism /enable-feature (dism=True)."""
    present = state == "present"
    wanted = _resolve(host, names, dism, removing=not present)
    if present and include_management_tools and HYPERV in wanted:
        tools = ("RSAT-Hyper-V-Tools", "Hyper-V-Tools", "Hyper-V-PowerShell")
        extra = [windows.find_feature(t, host.major_minor) for t in tools]
        wanted += [f for f in extra if f is not None and offered(host, f) and f not in wanted]
    view = set(installed_view(host))
    todo = [f for f in wanted if (f.key in view) != present]
    if not todo:
        return FeatureOutcome(True, "NoChangeNeeded", "No")
    if present and HYPERV in todo and not dism:
        _check_hardware(host)
    if host.pending_reboot.cbs and not dism:
        return FeatureOutcome(False, "FailedRestartRequired", "Yes")
    restart = False
    for f in todo:
        if f.restart:
            _set_pending(host, f.key, "install" if present else "remove")
            restart = True
        elif present:
            host.features.append(f.key)
        else:
            host.features.remove(f.key)
    if restart:
        host.pending_reboot.cbs = True
    shown = [(f.dism or f.key) if dism else (f.sm or f.key) for f in todo]
    verb = "Installation" if present else "Removal"
    noise = [f"WARNING: [{verb}] Succeeded: [{n}] {n}. You must restart this server to finish "
             f"the {verb.lower()} process." for n in shown if restart]
    code = "SuccessRestartRequired" if restart else "Success"
    return FeatureOutcome(True, code, "Yes" if restart else "No", shown, noise)


# ---------------------------------------------------------------------------- reboot


def schedule_reboot(host: HostModel, now: float, delay: float) -> None:
    """shutdown.exe /r /t <delay>."""
    if host.reboot_at is not None:
        # shutdown.exe exits 1190 ("a system shutdown has already been scheduled"); the
        # template counts that as scheduled: the earlier schedule stands.
        return
    host.reboot_at = now + max(0.0, delay)


def launch_failure(host: HostModel) -> str | None:
    """Why hvboot could not launch the hypervisor (event text), or None if it launches."""
    amd = host.cpu.vendor == "AuthenticAMD"
    if not (host.cpu.vt_supported and host.cpu.vt_enabled):
        return f"Hyper-V launch failed; Either {'SVM' if amd else 'VMX'} not present or not enabled in BIOS."
    if not host.dep_available:
        return f"Hyper-V launch failed; Either {'NX' if amd else 'XD'} not present or not enabled in BIOS."
    if host.major_minor >= (10, 0) and not host.cpu.slat:
        return "Hyper-V launch failed; the processor does not support Second Level Address Translation."
    return None


def launch_hypervisor(host: HostModel) -> None:
    """At boot: the hypervisor runs iff role installed, x64, VT+DEP on, launch type Auto."""
    host.hypervisor_running = False
    host.launch_error = None
    if HYPERV.key not in host.features:
        return
    if host.launch_type is None:
        host.launch_type = "Auto"  # the role's setup writes hypervisorlaunchtype Auto
    if host.launch_type == "Auto" and host.arch == "x64":
        host.launch_error = launch_failure(host)
        host.hypervisor_running = host.launch_error is None
    if not host.hypervisor_running:
        for vm in host.vms:  # saved at shutdown, cannot be restored without a hypervisor
            if vm.state in ("running", "paused"):
                vm.state = "saved"


def complete_reboot(host: HostModel, at: float) -> None:
    """The host is back: pending changes applied, new boot time, hypervisor (re)launched."""
    for p in host.pending_features:
        if p.action == "install" and p.name not in host.features:
            host.features.append(p.name)
        elif p.action == "remove" and p.name in host.features:
            host.features.remove(p.name)
    host.pending_features = []
    host.pending_reboot = PendingReboot()
    host.reboot_at = None
    # boot times are reported to the second: make sure each boot reads differently
    host.last_boot = max(float(int(at)), float(int(host.last_boot)) + 1.0)
    if HYPERV.key not in host.features:
        host.launch_type = None
    launch_hypervisor(host)
