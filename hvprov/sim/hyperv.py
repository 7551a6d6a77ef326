"""Hyper-V switches, VHDs and VMs on the host model: the templates of contracts §6, both back ends.

``hyperv_v1/<op>`` is 2008 R2's WMI ``root\\virtualization`` (methods answer a return code, 4096
jobs fail with an ``ErrorCode``): a failure is reported with ``type`` = the return code's name
(``InvalidParameter``, ``InvalidState``, ``JobFailed`` ...) and a message naming the method, the
object and ``(return code 32775 InvalidState)``. ``hyperv_v2/<op>`` is 2012+'s Hyper-V module:
``type`` = the cmdlet's exception type and a message naming the cmdlet. Checks the template
itself makes (an adapter or a switch name that does not resolve, a VM id that is gone) are
``RuntimeException`` records on both (what ``throw`` gives in PowerShell).

Domain sources: brief §4 (switches, jobs, return codes), §5 (VM recipes and limits), §4.5 and
§5.7 (2012+ cmdlets). A template run that fails changes nothing (the templates validate before
they act, or undo), except `vm_delete`, which fails like the real one after the VM is gone when a
listed VHD cannot be deleted.

Each operation is ``op(call) -> data``; `run()` is what the executor calls.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from typing import Any

from .model import Adapter, HostModel, Switch, Vhd, Vm, VmDisk, VmNic, norm_path
from .rules import TERM_NOT_RECOGNIZED, WindowsError
from .windows import HYPERV

V1, V2 = "v1", "v2"

# Msvm_* method return codes (brief §4.2; 32779 from the image management service)
RETURN_CODES = {
    32768: "Failed", 32769: "AccessDenied", 32770: "NotSupported", 32771: "StatusUnknown",
    32772: "Timeout", 32773: "InvalidParameter", 32774: "SystemInUse", 32775: "InvalidState",
    32776: "IncorrectDataType", 32777: "SystemNotAvailable", 32778: "OutOfMemory", 32779: "FileNotFound",
}
_CATEGORY = {
    "Failed": "NotSpecified", "AccessDenied": "PermissionDenied", "NotSupported": "NotImplemented",
    "StatusUnknown": "NotSpecified", "Timeout": "OperationTimeout", "InvalidParameter": "InvalidArgument",
    "SystemInUse": "ResourceBusy", "InvalidState": "InvalidOperation", "IncorrectDataType": "InvalidType",
    "SystemNotAvailable": "ResourceUnavailable", "OutOfMemory": "ResourceUnavailable",
    "FileNotFound": "ObjectNotFound",
}
VIRTUALIZATION_EXCEPTION = "Microsoft.HyperV.PowerShell.VirtualizationException"
RUNTIME_EXCEPTION = "System.Management.Automation.RuntimeException"
BINDING_EXCEPTION = "System.Management.Automation.ParameterBindingException"
HYPERV_POWERSHELL = "Hyper-V-PowerShell"  # the 2012+ feature that brings the Hyper-V module

# limits (brief §5.6; 2012+: 64 vCPUs and 1 TB per VM, 2016+ generation 2: 240 vCPUs and 12 TB)
V1_MAX_CPUS = 4
V1_MAX_MEMORY_MB = 65536
V1_MIN_MEMORY_MB = 8
V2_MIN_MEMORY_MB = 32
V2_MAX_CPUS, V2_MAX_CPUS_2016_GEN2 = 64, 240
V2_MAX_MEMORY_MB, V2_MAX_MEMORY_MB_2016_GEN2 = 1024 * 1024, 12 * 1024 * 1024
VHD_MAX_BYTES = 2_190_433_320_960  # 2040 GB
VHDX_MAX_BYTES = 64 * 1024**4
V1_ZERO_SIZE_BYTES = 3 * 1024**2  # MaxInternalSize 0 silently gives a 3 MB disk (brief §5.1)
V2_MIN_VHD_BYTES = 3 * 1024**2
MAX_SYNTHETIC_NICS, MAX_LEGACY_NICS = 8, 4
HOST_RESERVE_MB = 512  # what the parent partition keeps: VMs start while their sum fits in the rest
DM_BUFFER = (5, 2000)
V2_DEFAULT_DM_MIN_MB = 512
IDE_SLOTS = ((0, 0), (0, 1), (1, 0), (1, 1))
SCSI_CONTROLLERS, SCSI_LOCATIONS = 4, 64
MAC_PREFIX = "00155D"  # Microsoft's OUI: Hyper-V's dynamic MAC pool

_MISSING = object()
_MAC_RE = re.compile(r"[0-9A-F]{12}")


class Call:
    """One template run: the host, its params, the back end, and errors in that back end's words."""

    def __init__(self, backend: str, op: str, host: HostModel, params: dict[str, Any], now: float) -> None:
        self.backend, self.op, self.host, self.params, self.now = backend, op, host, params, now
        self.noise: list[str] = []

    @property
    def v1(self) -> bool:
        return self.backend == V1

    @property
    def product(self) -> str:
        return self.host.release.product

    # -- errors ------------------------------------------------------------------
    def wmi(self, method: str, code: int, text: str, category: str | None = None) -> WindowsError:
        """A WMI method returned `code` (synchronously)."""
        name = RETURN_CODES[code]
        return WindowsError(name, f"{method}: {text} (return code {code} {name})", category or _CATEGORY[name],
                            keyword=method)

    def job(self, method: str, code: int, text: str) -> WindowsError:
        """A WMI method returned 4096 and its job ended in JobState 10 (Exception)."""
        return WindowsError("JobFailed", f"{method}: job failed (JobState 10 Exception, ErrorCode {code} "
                            f"{RETURN_CODES[code]}): {text}", "NotSpecified", keyword=method)

    def cmdlet(self, cmdlet: str, text: str, category: str) -> WindowsError:
        return WindowsError(VIRTUALIZATION_EXCEPTION, f"{cmdlet}: {text}", category, keyword=cmdlet)

    def fail(self, method: str, code: int, cmdlet: str, text: str, category: str | None = None, *,
             job: bool = False, v2_text: str | None = None) -> WindowsError:
        """The same failure on either back end: a return code / job on v1, a cmdlet error on v2."""
        if self.v1:
            return self.job(method, code, text) if job else self.wmi(method, code, text, category)
        return self.cmdlet(cmdlet, v2_text or text, category or _CATEGORY[RETURN_CODES[code]])

    def thrown(self, text: str, category: str, keyword: str | None = None) -> WindowsError:
        """The template's own check failed (``throw``)."""
        return WindowsError(RUNTIME_EXCEPTION, text, category, keyword=keyword)

    # -- params ------------------------------------------------------------------
    def get(self, key: str, typ: type | tuple[type, ...], default: Any = _MISSING, *,
            nullable: bool = False, where: dict[str, Any] | None = None, label: str | None = None) -> Any:
        src = self.params if where is None else where
        label = label or key
        if key not in src:
            if default is _MISSING:
                raise binding(f"missing template parameter '{label}'")
            return default
        value = src[key]
        if value is None and nullable:
            return None
        if (isinstance(value, bool) and typ is int) or not isinstance(value, typ):
            raise binding(f"template parameter '{label}' has the wrong type ({type(value).__name__})")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.get(key, str, default)
        if value not in allowed:
            raise binding(f"template parameter '{key}' must be {' or '.join(allowed)}, got {value!r}")
        return str(value)

    def strings(self, key: str) -> list[str]:
        items = self.get(key, list, [])
        if not all(isinstance(x, str) for x in items):
            raise binding(f"template parameter '{key}' must be a list of strings")
        return list(items)

    def mappings(self, key: str, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        items = self.get(key, list, [], where=where)
        if not all(isinstance(x, dict) for x in items):
            raise binding(f"template parameter '{key}' must be a list of mappings")
        return list(items)


def binding(message: str) -> WindowsError:
    return WindowsError(BINDING_EXCEPTION, message, "InvalidArgument")


def new_id() -> str:
    return str(uuid.uuid4()).upper()


def same_name(a: str, b: str) -> bool:
    """PowerShell ``-eq`` on strings: case-insensitive."""
    return a.casefold() == b.casefold()


def same_path(a: str, b: str) -> bool:
    return norm_path(a) == norm_path(b)


# ---------------------------------------------------------------------------- availability


def require_hyperv(call: Call, method: str, cmdlet: str) -> None:
    """No switch/VHD/VM operation without the role's API and a running hypervisor (contracts §6)."""
    h = call.host
    role = HYPERV.key in h.features  # committed: the namespace and vmms appear with the reboot
    if call.v1:
        if not role or h.major_minor >= (6, 3):  # WMI v1 was removed in 2012 R2
            raise WindowsError("System.Management.ManagementException",
                               "Get-WmiObject: Invalid namespace 'root\\virtualization'", "InvalidOperation",
                               keyword="root\\virtualization")
        if not h.hypervisor_running:
            raise call.wmi(method, 32777, f"the Hyper-V hypervisor is not running on {h.hostname} "
                           f"(launch type {h.launch_type}; {h.launch_error or 'no launch error logged'})")
        return
    if h.major_minor < (6, 2) or not (HYPERV_POWERSHELL in h.features or h.hyperv_server):
        raise WindowsError("System.Management.Automation.CommandNotFoundException",
                           TERM_NOT_RECOGNIZED.format(cmdlet), "ObjectNotFound", keyword=cmdlet)
    if not role:
        raise call.cmdlet(cmdlet, f"Hyper-V encountered an error trying to access an object on computer "
                          f"'{h.hostname}' because the object was not found. The object might have been deleted, "
                          "or you might not have permission to perform the task. Verify that the Virtual Machine "
                          "Management service on the computer is running.", "ObjectNotFound")
    if not h.hypervisor_running:
        raise call.cmdlet(cmdlet, f"Hyper-V cannot perform the operation on computer '{h.hostname}' because the "
                          f"hypervisor is not running ({h.launch_error or 'hypervisorlaunchtype ' + str(h.launch_type)}).",
                          "ResourceUnavailable")


# ---------------------------------------------------------------------------- switches


def _new_mac(host: HostModel) -> str:
    used = {a.mac.upper() for a in host.adapters} | {n.mac for vm in host.vms for n in vm.nics if n.mac}
    while True:
        mac = MAC_PREFIX + uuid.uuid4().hex[:6].upper()
        if mac not in used:
            return mac


def _vnic_name(host: HostModel, sw: Switch) -> str:
    if host.major_minor >= (6, 2):
        return f"vEthernet ({sw.name})"
    taken = {a.name.casefold() for a in host.adapters}
    n = 2
    while f"local area connection {n}" in taken:
        n += 1
    return f"Local Area Connection {n}"


def _vnic_description(host: HostModel) -> str:
    base = "Hyper-V Virtual Ethernet Adapter" if host.major_minor >= (6, 2) else "Microsoft Virtual Network Switch Adapter"
    taken = {a.description for a in host.adapters}
    if base not in taken:
        return base
    n = 2
    while f"{base} #{n}" in taken:
        n += 1
    return f"{base} #{n}"


def _physical(host: HostModel, name: str | None) -> Adapter | None:
    if name is None:
        return None
    return next((a for a in host.adapters if a.vnic_of is None and same_name(a.name, name)), None)


def attach(host: HostModel, sw: Switch, mac: str | None = None) -> None:
    """The switch's network side: bind the adapter, create the management OS vNIC."""
    if sw.type == "external":
        nic = _physical(host, sw.adapter)
        if nic is None:
            return
        nic.bound_switch = sw.name
        if sw.allow_management_os:  # SetupSwitch: the adapter's addresses move to a host vNIC
            host.adapters.append(Adapter(_vnic_name(host, sw), _vnic_description(host), nic.mac, vnic_of=sw.id))
            if nic.gateway is not None:  # ... including the management connection's: it drops
                host.network_drop_pending = True
        elif nic.gateway is not None:  # TCP/IP leaves the adapter that carried the management route
            host.management_lost = True
    elif sw.type == "internal":
        host.adapters.append(Adapter(_vnic_name(host, sw), _vnic_description(host), mac or _new_mac(host),
                                     vnic_of=sw.id))


def detach(host: HostModel, sw: Switch) -> None:
    """Undo `attach`: the vNIC goes, the adapter is unbound and gets its own addresses back."""
    host.adapters = [a for a in host.adapters if a.vnic_of != sw.id]
    nic = _physical(host, sw.adapter) if sw.type == "external" else None
    if nic is not None and nic.bound_switch is not None:
        nic.bound_switch = None
        if nic.gateway is not None:
            host.management_lost = False


def remove_switch(host: HostModel, sw: Switch) -> None:
    """Delete a switch: unbind, drop its vNIC, leave the VM NICs on it disconnected."""
    detach(host, sw)
    host.switches = [s for s in host.switches if s is not sw]
    still_named = any(same_name(s.name, sw.name) for s in host.switches)
    for vm in host.vms:
        for nic in vm.nics:
            by_id = nic.switch_id is not None and nic.switch_id.lower() == sw.id.lower()
            by_name = nic.switch_id is None and nic.switch is not None and same_name(nic.switch, sw.name)
            if by_id or (by_name and not still_named):
                nic.switch, nic.switch_id = None, None


def _switch_by_id(call: Call) -> Switch:
    sid = call.get("id", str)
    name = call.get("name", str, "")
    for sw in call.host.switches:
        if sw.id.lower() == sid.lower():
            return sw
    if call.v1:
        raise call.thrown(f"virtual switch '{name}' (id {sid}) not found: no Msvm_VirtualSwitch has Name '{sid}'",
                          "ObjectNotFound", keyword="Msvm_VirtualSwitch")
    raise call.cmdlet("Get-VMSwitch", f"Hyper-V was unable to find a virtual switch with id \"{sid}\" "
                      f"(switch '{name}' not found).", "ObjectNotFound")


def _switch_by_name(call: Call, name: str, cmdlet: str) -> Switch:
    found = [s for s in call.host.switches if same_name(s.name, name)]
    if len(found) == 1:
        return found[0]
    if not found:
        if call.v1:
            raise call.thrown(f"virtual switch '{name}' not found (no Msvm_VirtualSwitch with that ElementName)",
                              "ObjectNotFound", keyword="Msvm_VirtualSwitch")
        raise call.cmdlet(cmdlet, f"Unable to find a virtual switch with name \"{name}\" (not found).", "ObjectNotFound")
    ids = ", ".join(s.id for s in found)
    if call.v1:
        raise call.thrown(f"{len(found)} virtual switches are named '{name}' (ids {ids}): the name is ambiguous",
                          "InvalidArgument", keyword="Msvm_VirtualSwitch")
    raise call.cmdlet(cmdlet, f"Multiple virtual switches named \"{name}\" were found (ids {ids}): the name is "
                      "ambiguous.", "InvalidArgument")


def _bindable_adapter(call: Call, name: str, current: Switch | None, allow: bool, cmdlet: str) -> Adapter:
    """The physical adapter an external switch binds to: it must exist and be free (or be current's)."""
    h = call.host
    method = "SetupSwitch" if allow else "BindExternalEthernetPort"
    nic = _physical(h, name)
    if nic is None:
        if call.v1:
            raise call.thrown(f"network adapter '{name}' not found: no physical adapter (Msvm_ExternalEthernetPort) "
                              "has that connection name", "ObjectNotFound", keyword="Msvm_ExternalEthernetPort")
        raise call.cmdlet(cmdlet, f"Failed while adding virtual Ethernet switch connections. The physical network "
                          f"adapter '{name}' was not found.", "ObjectNotFound")
    mine = (current is not None and current.type == "external" and current.adapter is not None
            and same_name(current.adapter, nic.name))
    if nic.bound_switch is not None and not mine:
        raise call.fail(method, 32774, cmdlet,
                        f"network adapter '{nic.name}' is already bound to virtual network '{nic.bound_switch}'",
                        "ResourceBusy",
                        v2_text=f"Failed while adding virtual Ethernet switch connections. External Ethernet adapter "
                                f"'{nic.description}' is already bound to the Microsoft Virtual Switch protocol "
                                f"(switch '{nic.bound_switch}').")
    return nic


def _switch_params(call: Call, cmdlet: str, current: Switch | None) -> Switch:
    """A switch as the params describe it (id: current's or new), validated."""
    name = call.get("name", str)
    typ = call.choice("type", ("external", "internal", "private"))
    adapter = call.get("adapter", str, None, nullable=True)
    allow = call.get("allow_management_os", bool, False)
    if not name.strip():
        if call.v1:
            raise call.wmi("CreateSwitch", 32773, "FriendlyName must not be empty")
        raise WindowsError("System.Management.Automation.ParameterBindingValidationException",
                           f"{cmdlet}: Cannot validate argument on parameter 'Name'. The argument is null or empty.",
                           "InvalidData", keyword=cmdlet)
    sw = Switch(current.id if current else new_id(), name, typ)  # type: ignore[arg-type]
    if typ == "external":
        if adapter is None:
            raise binding("template parameter 'adapter' is required for an external switch")
        sw.adapter = _bindable_adapter(call, adapter, current, allow, cmdlet).name
        sw.allow_management_os = allow
    else:
        sw.allow_management_os = typ == "internal"  # an internal switch is the host's vNIC
    return sw


def vswitch_create(call: Call) -> dict[str, Any]:
    require_hyperv(call, "CreateSwitch", "New-VMSwitch")
    sw = _switch_params(call, "New-VMSwitch", None)
    call.host.switches.append(sw)  # names are not unique: WMI and New-VMSwitch accept a duplicate
    attach(call.host, sw)
    return {"id": sw.id}


def vswitch_update(call: Call) -> dict[str, Any]:
    """Set-VMSwitch (and Rename-VMSwitch) in place: same id, VM NICs stay connected (v2 only)."""
    require_hyperv(call, "ModifyVirtualSwitch", "Get-VMSwitch")
    sw = _switch_by_id(call)
    new = _switch_params(call, "Set-VMSwitch", sw)
    h = call.host
    old_mac = next((a.mac for a in h.adapters if a.vnic_of == sw.id), None)
    detach(h, sw)
    if new.name != sw.name:
        for vm in h.vms:
            for nic in vm.nics:
                if nic.switch_id is not None and nic.switch_id.lower() == sw.id.lower():
                    nic.switch = new.name
    sw.name, sw.type, sw.adapter, sw.allow_management_os = new.name, new.type, new.adapter, new.allow_management_os
    attach(h, sw, old_mac)
    return {"id": sw.id}


def vswitch_delete(call: Call) -> dict[str, Any]:
    require_hyperv(call, "DeleteSwitch", "Get-VMSwitch")
    remove_switch(call.host, _switch_by_id(call))
    return {}


# ---------------------------------------------------------------------------- VHDs

_VHD_METHODS = {"dynamic": "CreateDynamicVirtualHardDisk", "fixed": "CreateFixedVirtualHardDisk",
                "differencing": "CreateDifferencingVirtualHardDisk"}


def find_vhd(host: HostModel, path: str) -> Vhd | None:
    want = norm_path(path)
    return next((v for v in host.vhds if norm_path(v.path) == want), None)


def _vhd_format(call: Call, path: str, method: str, cmdlet: str) -> str:
    base = path.replace("/", "\\").rsplit("\\", 1)[-1]
    ext = base.rsplit(".", 1)[-1].lower() if "." in base else ""
    if ext not in ("vhd", "vhdx"):
        raise call.fail(method, 32773, cmdlet, f"'{path}' is not a virtual hard disk file name "
                        f"({'.vhd' if call.v1 else '.vhd or .vhdx'})")
    if ext == "vhdx" and (call.v1 or call.host.major_minor < (6, 2)):
        raise call.fail(method, 32773, cmdlet, f"'{path}': the VHDX format is not supported by Hyper-V on "
                        f"{call.product} (VHD only)")
    return ext


def _check_size(call: Call, size: int, fmt: str, path: str, method: str, cmdlet: str) -> None:
    if size < 0:
        raise binding(f"template parameter 'size_bytes' must not be negative, got {size}")
    if size % 512:
        raise call.fail(method, 32773, cmdlet, f"size {size} bytes of '{path}' is not a multiple of 512 bytes")
    limit = VHD_MAX_BYTES if fmt == "vhd" else VHDX_MAX_BYTES
    if size > limit:
        human = "2040 GB" if fmt == "vhd" else "64 TB"
        raise call.fail(method, 32773, cmdlet, f"size {size} bytes of '{path}' exceeds the {fmt.upper()} maximum "
                        f"of {limit} bytes ({human})")


def _vms_using(host: HostModel, path: str, states: tuple[str, ...] | None = None) -> list[Vm]:
    return [vm for vm in host.vms if (states is None or vm.state in states)
            and any(same_path(d.path, path) for d in vm.disks)]


def vhd_create(call: Call) -> dict[str, Any]:
    typ = call.choice("type", ("dynamic", "fixed", "differencing"), "dynamic")
    method = _VHD_METHODS[typ]
    require_hyperv(call, method, "New-VHD")
    h = call.host
    path = call.get("path", str)
    parent = call.get("parent", str, None, nullable=True)
    fmt = _vhd_format(call, path, method, "New-VHD")
    if typ == "differencing":
        if parent is None:
            raise binding("template parameter 'parent' is required for a differencing disk")
        base = find_vhd(h, parent)
        if base is None:
            raise call.fail(method, 32779, "New-VHD", f"parent '{parent}' of '{path}' not found",
                            v2_text=f"Failed to create the virtual hard disk. The system cannot find the parent "
                                    f"virtual hard disk '{parent}' (not found).")
        if base.format != fmt:
            raise call.fail(method, 32773, "New-VHD", f"'{path}' ({fmt}) must have the format of its parent "
                            f"'{parent}' ({base.format})")
        size = base.size
    else:
        size = call.get("size_bytes", int)
        _check_size(call, size, fmt, path, method, "New-VHD")
        if size == 0 and call.v1:
            size = V1_ZERO_SIZE_BYTES  # WMI quirk: MaxInternalSize 0 is a 3 MB disk
        elif size < V2_MIN_VHD_BYTES and not call.v1:
            raise call.cmdlet("New-VHD", f"Failed to create the virtual hard disk '{path}': the size must be at "
                              f"least 3 MB ({V2_MIN_VHD_BYTES} bytes), got {size}.", "InvalidArgument")
    if h.path_exists(path):
        raise call.fail(method, 32768, "New-VHD", f"The system failed to create '{path}'. The file exists. "
                        "(0x80070050)", "ResourceExists", job=True)
    h.vhds.append(Vhd(path, size, typ, fmt, parent if typ == "differencing" else None))  # type: ignore[arg-type]
    return {"path": path}


def vhd_resize(call: Call) -> dict[str, Any]:
    method, cmdlet = "ExpandVirtualHardDisk", "Resize-VHD"
    require_hyperv(call, method, cmdlet)
    path = call.get("path", str)
    size = call.get("size_bytes", int)
    vhd = find_vhd(call.host, path)
    if vhd is None:
        raise call.fail(method, 32779, cmdlet, f"'{path}' not found",
                        v2_text=f"Failed to get the disk information. The system cannot find the file '{path}' "
                                "(not found). (0x80070002)")
    _check_size(call, size, vhd.format, path, method, cmdlet)
    if size < vhd.size:
        raise call.fail(method, 32773, cmdlet, f"'{path}' cannot shrink from {vhd.size} to {size} bytes (grow only)")
    busy = _vms_using(call.host, path, ("running", "paused"))
    if busy:
        raise call.fail(method, 32768, cmdlet, f"The system failed to resize '{path}'. The process cannot access "
                        f"the file because it is being used by another process (VM '{busy[0].name}' is "
                        f"{busy[0].state}). (0x80070020)", "ResourceBusy", job=True)
    vhd.size = size
    return {}


def _check_deletable(call: Call, path: str) -> None:
    users = _vms_using(call.host, path)
    if not users:
        return
    busy = [vm for vm in users if vm.state in ("running", "paused")]
    if busy:
        raise WindowsError("System.IO.IOException", f"Remove-Item: Cannot remove item {path}: The process cannot "
                           f"access the file '{path}' because it is being used by another process.", "WriteError",
                           keyword="Remove-Item")
    names = ", ".join(f"'{vm.name}' ({vm.id})" for vm in users)
    raise call.thrown(f"cannot delete '{path}': it is attached to VM {names}; detach it first",
                      "ResourceBusy", keyword="Remove-Item")


def delete_file(host: HostModel, path: str) -> None:
    host.vhds = [v for v in host.vhds if not same_path(v.path, path)]
    host.files = [f for f in host.files if not same_path(f, path)]


def vhd_delete(call: Call) -> dict[str, Any]:
    require_hyperv(call, "GetVirtualHardDiskInfo", "Get-VHD")
    path = call.get("path", str)
    if not call.host.path_exists(path):
        raise WindowsError("System.Management.Automation.ItemNotFoundException",
                           f"Cannot find path '{path}' because it does not exist.", "ObjectNotFound",
                           keyword="Remove-Item")
    _check_deletable(call, path)
    delete_file(call.host, path)
    return {}


# ---------------------------------------------------------------------------- VMs


def _find_vm(call: Call) -> tuple[int, Vm]:
    vid = call.get("id", str)
    name = call.get("name", str, "")
    for i, vm in enumerate(call.host.vms):
        if vm.id.lower() == vid.lower():
            return i, vm
    if call.v1:
        raise call.thrown(f"virtual machine '{name}' (id {vid}) not found: no Msvm_ComputerSystem has Name '{vid}'",
                          "ObjectNotFound", keyword="Msvm_ComputerSystem")
    raise call.cmdlet("Get-VM", f"Hyper-V was unable to find a virtual machine with id \"{vid}\" "
                      f"(VM '{name}' not found).", "ObjectNotFound")


def _check_cpus(call: Call, vm_name: str, cpus: int, generation: int) -> None:
    method, cmdlet = "ModifyVirtualSystemResources", "Set-VMProcessor"
    h = call.host
    if cpus < 1:
        raise call.fail(method, 32773, cmdlet, f"VM '{vm_name}': {cpus} virtual processors (at least 1)")
    if call.v1:
        limit = V1_MAX_CPUS
    else:
        limit = V2_MAX_CPUS_2016_GEN2 if h.major_minor >= (10, 0) and generation == 2 else V2_MAX_CPUS
    if cpus > limit:
        raise call.fail(method, 32773, cmdlet, f"VM '{vm_name}': {cpus} virtual processors exceed the maximum of "
                        f"{limit} per VM on {call.product}")
    if cpus > h.cpu.logical:
        raise call.fail(method, 32773, cmdlet, f"VM '{vm_name}': {cpus} virtual processors exceed the host's "
                        f"{h.cpu.logical} logical processors")


def _memory(call: Call, vm_name: str, memory_mb: int, dm: Any, generation: int
            ) -> tuple[bool, int | None, int | None]:
    """(dynamic, min, max) for startup memory `memory_mb` and the dynamic_memory param."""
    method, cmdlet = "ModifyVirtualSystemResources", "Set-VMMemory"
    h = call.host
    lo = V1_MIN_MEMORY_MB if call.v1 else V2_MIN_MEMORY_MB
    if call.v1:
        hi = V1_MAX_MEMORY_MB
    else:
        hi = V2_MAX_MEMORY_MB_2016_GEN2 if h.major_minor >= (10, 0) and generation == 2 else V2_MAX_MEMORY_MB
    if not lo <= memory_mb <= hi:
        raise call.fail(method, 32773, cmdlet, f"VM '{vm_name}': {memory_mb} MB of memory is outside "
                        f"{lo}..{hi} MB on {call.product}")
    if dm is None:
        return False, None, None
    if not isinstance(dm, dict):
        raise binding(f"template parameter 'dynamic_memory' must be null or a mapping, got {type(dm).__name__}")
    if call.v1 and h.build < 7601:  # RTM: Msvm_MemorySettingData has no DynamicMemoryEnabled
        raise call.thrown("Property 'DynamicMemoryEnabled' cannot be found on this object; make sure it exists "
                          "and is settable.", "InvalidOperation", keyword="DynamicMemoryEnabled")
    min_mb = call.get("min_mb", int, None, nullable=True, where=dm, label="dynamic_memory.min_mb")
    max_mb = call.get("max_mb", int, None, nullable=True, where=dm, label="dynamic_memory.max_mb")
    buffer = call.get("buffer", int, None, nullable=True, where=dm, label="dynamic_memory.buffer")
    max_mb = hi if max_mb is None else max_mb
    if call.v1:
        if min_mb is not None and min_mb != memory_mb:
            raise call.wmi(method, 32773, f"VM '{vm_name}': 2008 R2 SP1 Dynamic Memory has no minimum apart from "
                           f"the startup memory ({memory_mb} MB), got minimum {min_mb} MB")
        min_mb = memory_mb  # Reservation = VirtualQuantity = startup
    elif min_mb is None:
        min_mb = min(V2_DEFAULT_DM_MIN_MB, memory_mb)
    if not lo <= min_mb <= memory_mb:
        raise call.fail(method, 32773, cmdlet, f"VM '{vm_name}': minimum memory {min_mb} MB must be between "
                        f"{lo} MB and the startup memory ({memory_mb} MB)")
    if not memory_mb <= max_mb <= hi:
        raise call.fail(method, 32773, cmdlet, f"VM '{vm_name}': maximum memory {max_mb} MB must be between the "
                        f"startup memory ({memory_mb} MB) and {hi} MB")
    if buffer is not None and not DM_BUFFER[0] <= buffer <= DM_BUFFER[1]:
        raise call.fail(method, 32773, cmdlet, f"VM '{vm_name}': memory buffer {buffer} % is outside "
                        f"{DM_BUFFER[0]}..{DM_BUFFER[1]}")
    return True, min_mb, max_mb


def _place(call: Call, vm: Vm, method: str, cmdlet: str) -> tuple[str, int, int]:
    """The first free disk location: IDE 0:0, 0:1, 1:0, 1:1 (generation 1), then SCSI (v2)."""
    used = {(d.controller, d.controller_number, d.location) for d in vm.disks}
    if vm.generation == 1:
        for c, loc in IDE_SLOTS:
            if ("ide", c, loc) not in used:
                return "ide", c, loc
        if call.v1:
            raise call.wmi(method, 32773, f"VM '{vm.name}': no free IDE location (2 controllers x 2 disks; this "
                           f"template attaches disks to IDE, which {call.product} boots from)")
    for c in range(SCSI_CONTROLLERS):
        for loc in range(SCSI_LOCATIONS):
            if ("scsi", c, loc) not in used:
                return "scsi", c, loc
    raise call.fail(method, 32773, cmdlet, f"VM '{vm.name}': no free disk location")


def _add_disk(call: Call, vm: Vm, spec: Any, label: str) -> None:
    method, cmdlet = "AddVirtualSystemResources", "Add-VMHardDiskDrive"
    if isinstance(spec, dict):
        path = call.get("path", str, where=spec, label=f"{label}.path")
    else:
        raise binding(f"template parameter '{label}' must be a mapping with 'path'")
    vhd = find_vhd(call.host, path)
    if vhd is None:
        raise call.fail(method, 32768, cmdlet, f"'{vm.name}' failed to add device 'Microsoft Virtual Hard Disk': "
                        f"the system cannot find the file '{path}' (not found). (0x80070002)", "ObjectNotFound",
                        job=True)
    if vhd.format == "vhdx" and call.v1:
        raise call.wmi(method, 32773, f"VM '{vm.name}': '{path}' is a VHDX file; {call.product} attaches VHD only")
    controller, number, location = _place(call, vm, method, cmdlet)
    vm.disks.append(VmDisk(path, controller, number, location))  # type: ignore[arg-type]


def _mac(call: Call, vm_name: str, raw: str) -> str:
    mac = raw.replace("-", "").replace(":", "").upper()
    if not _MAC_RE.fullmatch(mac) or int(mac[:2], 16) & 1:
        raise call.fail("AddVirtualSystemResources", 32773, "Set-VMNetworkAdapter",
                        f"VM '{vm_name}': '{raw}' is not a valid unicast MAC address (12 hex digits)")
    return mac


def _build_nic(call: Call, vm: Vm, spec: Any, label: str) -> VmNic:
    method, cmdlet = "AddVirtualSystemResources", "Add-VMNetworkAdapter"
    if not isinstance(spec, dict):
        raise binding(f"template parameter '{label}' must be a mapping")
    legacy = call.get("legacy", bool, False, where=spec, label=f"{label}.legacy")
    name = call.get("name", str, None, nullable=True, where=spec, label=f"{label}.name")
    switch = call.get("switch", str, None, nullable=True, where=spec, label=f"{label}.switch")
    mac = call.get("mac", str, None, nullable=True, where=spec, label=f"{label}.mac")
    vlan = call.get("vlan", int, None, nullable=True, where=spec, label=f"{label}.vlan")
    if legacy and vm.generation == 2:
        raise call.cmdlet(cmdlet, f"Failed to add device 'Legacy Network Adapter' to '{vm.name}': generation 2 "
                          "virtual machines have no legacy network adapters.", "InvalidOperation")
    nic = VmNic(name or ("Legacy Network Adapter" if legacy else "Network Adapter"), legacy=legacy)
    if mac is not None:
        nic.mac, nic.static_mac = _mac(call, vm.name, mac), True
    if vlan is not None:
        if call.v1:
            raise call.wmi(method, 32770, f"VM '{vm.name}': this template sets no VLAN id on {call.product} "
                           "(Msvm_VLANEndpointSettingData is per switch port)")
        if not 1 <= vlan <= 4094:
            raise call.cmdlet("Set-VMNetworkAdapterVlan", f"VLAN id {vlan} of '{vm.name}' is outside 1..4094.",
                              "InvalidArgument")
        nic.vlan = vlan
    if switch is not None:
        sw = _switch_by_name(call, switch, "Connect-VMNetworkAdapter")
        nic.switch, nic.switch_id = sw.name, sw.id
    return nic


def _check_nic_counts(call: Call, vm: Vm) -> None:
    legacy = sum(1 for n in vm.nics if n.legacy)
    synthetic = len(vm.nics) - legacy
    for count, limit, kind in ((synthetic, MAX_SYNTHETIC_NICS, "synthetic"), (legacy, MAX_LEGACY_NICS, "legacy")):
        if count > limit:
            raise call.fail("AddVirtualSystemResources", 32773, "Add-VMNetworkAdapter",
                            f"VM '{vm.name}': {count} {kind} network adapters exceed the maximum of {limit}",
                            "InvalidOperation")


def vm_create(call: Call) -> dict[str, Any]:
    require_hyperv(call, "DefineVirtualSystem", "New-VM")
    name = call.get("name", str)
    memory_mb = call.get("memory_mb", int)
    dm = call.get("dynamic_memory", dict, None, nullable=True)
    cpus = call.get("cpus", int, 1)
    generation = call.get("generation", int, 1)
    notes = call.get("notes", str, "", nullable=True) or ""
    disks = call.get("disks", list, [])
    nics = call.get("nics", list, [])
    if generation not in (1, 2):
        raise WindowsError("System.Management.Automation.ParameterBindingValidationException",
                           f"New-VM: Cannot validate argument on parameter 'Generation'. The argument \"{generation}\" "
                           "does not belong to the set \"1,2\".", "InvalidData", keyword="New-VM")
    if generation == 2:
        if call.v1:
            raise call.wmi("DefineVirtualSystem", 32770, f"VM '{name}': generation 2 virtual machines are not "
                           f"supported by Hyper-V on {call.product} (generation 1 only)")
        if call.host.major_minor < (6, 3):  # -Generation arrived with 2012 R2
            raise WindowsError(BINDING_EXCEPTION, "New-VM: A parameter cannot be found that matches parameter "
                               "name 'Generation'.", "InvalidArgument", keyword="New-VM")
    vm = Vm(new_id(), name, "off", memory_mb, cpus=cpus, generation=generation, notes=notes)
    vm.dynamic_memory, vm.memory_min_mb, vm.memory_max_mb = _memory(call, name, memory_mb, dm, generation)
    _check_cpus(call, name, cpus, generation)
    for i, spec in enumerate(disks):  # the first is the boot disk: IDE 0:0 (generation 1)
        _add_disk(call, vm, spec, f"disks[{i}]")
    for i, spec in enumerate(nics):
        vm.nics.append(_build_nic(call, vm, spec, f"nics[{i}]"))
    _check_nic_counts(call, vm)
    call.host.vms.append(vm)  # names are not unique: DefineVirtualSystem / New-VM never check
    return {"id": vm.id}


_SETTABLE = ("memory_mb", "dynamic_memory", "cpus", "notes")


def vm_update(call: Call) -> dict[str, Any]:
    require_hyperv(call, "ModifyVirtualSystemResources", "Get-VM")
    index, vm = _find_vm(call)
    settings = call.get("set", dict, {})
    unknown = [k for k in settings if k not in _SETTABLE]
    if unknown:
        raise binding(f"template parameter 'set' has unknown key '{unknown[0]}' (known: {', '.join(_SETTABLE)})")
    add_disks = call.get("add_disks", list, [])
    remove_disks = call.strings("remove_disks")
    add_nics = call.get("add_nics", list, [])
    remove_nics = call.strings("remove_nics")
    connect = call.mappings("connect_nics")
    # (what, WMI method, cmdlet) of each change that needs the VM off
    offline = [item for item, wanted in (
        (("memory", "ModifyVirtualSystemResources", "Set-VMMemory"), "memory_mb" in settings or "dynamic_memory" in settings),
        (("the processor count", "ModifyVirtualSystemResources", "Set-VMProcessor"), "cpus" in settings),
        (("disks", "RemoveVirtualSystemResources", "Remove-VMHardDiskDrive"), bool(remove_disks)),
        (("disks", "AddVirtualSystemResources", "Add-VMHardDiskDrive"), bool(add_disks)),
        (("network adapters", "RemoveVirtualSystemResources", "Remove-VMNetworkAdapter"), bool(remove_nics)),
        (("network adapters", "AddVirtualSystemResources", "Add-VMNetworkAdapter"), bool(add_nics)),
    ) if wanted]
    if offline and vm.state != "off":
        what, method, cmdlet = offline[0]
        raise call.fail(method, 32775, cmdlet, f"VM '{vm.name}' is {vm.state}: changing {what} needs it off",
                        "InvalidOperation",
                        v2_text=f"'{vm.name}' failed to modify {what}. The operation cannot be performed while the "
                                f"virtual machine is in its current state ({vm.state}). (Virtual machine ID {vm.id}) "
                                "(InvalidState)")
    new = copy.deepcopy(vm)
    if "memory_mb" in settings or "dynamic_memory" in settings:
        memory_mb = call.get("memory_mb", int, vm.memory_mb, where=settings, label="set.memory_mb")
        if "dynamic_memory" in settings:
            dm = settings["dynamic_memory"]
        else:  # startup memory only: the dynamic settings stay
            dm = {"min_mb": None if call.v1 else vm.memory_min_mb, "max_mb": vm.memory_max_mb} if vm.dynamic_memory else None
        new.memory_mb = memory_mb
        new.dynamic_memory, new.memory_min_mb, new.memory_max_mb = _memory(call, vm.name, memory_mb, dm, vm.generation)
    if "cpus" in settings:
        new.cpus = call.get("cpus", int, where=settings, label="set.cpus")
        _check_cpus(call, vm.name, new.cpus, vm.generation)
    if "notes" in settings:
        new.notes = call.get("notes", str, "", nullable=True, where=settings, label="set.notes") or ""
    for path in remove_disks:
        kept = [d for d in new.disks if not same_path(d.path, path)]
        if len(kept) == len(new.disks):
            raise call.thrown(f"disk '{path}' is not attached to VM '{vm.name}' (not found)", "ObjectNotFound",
                              keyword="RemoveVirtualSystemResources" if call.v1 else "Remove-VMHardDiskDrive")
        new.disks = kept
    for i, spec in enumerate(add_disks):
        _add_disk(call, new, spec, f"add_disks[{i}]")
    for nic_name in remove_nics:
        kept_nics = [n for n in new.nics if not same_name(n.name, nic_name)]
        if len(kept_nics) == len(new.nics):
            raise call.thrown(f"network adapter '{nic_name}' of VM '{vm.name}' not found", "ObjectNotFound",
                              keyword="RemoveVirtualSystemResources" if call.v1 else "Remove-VMNetworkAdapter")
        new.nics = kept_nics
    for i, spec in enumerate(add_nics):
        new.nics.append(_build_nic(call, new, spec, f"add_nics[{i}]"))
    _check_nic_counts(call, new)
    for i, item in enumerate(connect):
        nic_name = call.get("name", str, where=item, label=f"connect_nics[{i}].name")
        switch = call.get("switch", str, None, nullable=True, where=item, label=f"connect_nics[{i}].switch")
        targets = [n for n in new.nics if same_name(n.name, nic_name)]
        if not targets:
            raise call.thrown(f"network adapter '{nic_name}' of VM '{vm.name}' not found", "ObjectNotFound",
                              keyword="ModifyVirtualSystemResources" if call.v1 else "Connect-VMNetworkAdapter")
        sw = None if switch is None else _switch_by_name(call, switch, "Connect-VMNetworkAdapter")
        for n in targets:  # Connect-VMNetworkAdapter -Name: every adapter of that name
            n.switch, n.switch_id = (sw.name, sw.id) if sw else (None, None)
    call.host.vms[index] = new
    return {}


def _check_start(call: Call, vm: Vm) -> None:
    method, cmdlet = "RequestStateChange", "Start-VM"
    h = call.host
    for d in vm.disks:
        if find_vhd(h, d.path) is None:
            raise call.fail(method, 32768, cmdlet, f"'{vm.name}' failed to start. Cannot open attachment "
                            f"'{d.path}': the system cannot find the file specified (not found). (0x80070002) "
                            f"(Virtual machine ID {vm.id})", "ObjectNotFound", job=True)
        other = [o for o in _vms_using(h, d.path, ("running", "paused")) if o is not vm]
        if other:
            raise call.fail(method, 32768, cmdlet, f"'{vm.name}' failed to start. Cannot open attachment "
                            f"'{d.path}': the process cannot access the file because it is being used by another "
                            f"process (VM '{other[0].name}'). (0x80070020) (Virtual machine ID {vm.id})",
                            "ResourceBusy", job=True)
    if vm.state == "paused":  # resuming: its memory is already held
        return
    used = sum(o.memory_mb for o in h.vms if o is not vm and o.state in ("running", "paused"))
    free = h.memory_mb - HOST_RESERVE_MB - used
    if vm.memory_mb > free:
        raise call.fail(method, 32778, cmdlet, f"'{vm.name}' failed to start. Not enough memory in the system to "
                        f"start the virtual machine {vm.name} with ram size {vm.memory_mb} megabytes ({max(free, 0)} "
                        f"MB available). (Virtual machine ID {vm.id})", "ResourceUnavailable", job=True)


def _assign_macs(host: HostModel, vm: Vm) -> None:
    for nic in vm.nics:
        if nic.mac is None:  # dynamic MACs come from the host's pool at first start
            nic.mac = _new_mac(host)


def vm_state(call: Call) -> dict[str, Any]:
    require_hyperv(call, "RequestStateChange", "Get-VM")
    _, vm = _find_vm(call)
    want = call.choice("state", ("running", "off"))
    graceful = call.get("graceful", bool, False)
    method = "InitiateShutdown" if want == "off" and graceful else "RequestStateChange"
    cmdlet = "Start-VM" if want == "running" else "Stop-VM"
    if vm.state == want:
        if call.v1:  # brief §5.2: 32775 = already in that state
            raise call.wmi(method, 32775, f"VM '{vm.name}' is already {want}")
        call.noise.append(f"WARNING: The virtual machine '{vm.name}' is already in the specified state.")
        return {"state": vm.state}
    if want == "running":
        _check_start(call, vm)
        _assign_macs(call.host, vm)
    elif graceful and vm.state != "running":
        raise call.fail(method, 32775, cmdlet, f"VM '{vm.name}' is {vm.state}: a guest shutdown needs it running",
                        "InvalidOperation",
                        v2_text=f"'{vm.name}' cannot shut down: the operation cannot be performed while the virtual "
                                f"machine is in its current state ({vm.state}). (Virtual machine ID {vm.id})")
    vm.state = want  # type: ignore[assignment]
    return {"state": vm.state}


def vm_delete(call: Call) -> dict[str, Any]:
    require_hyperv(call, "DestroyVirtualSystem", "Get-VM")
    _, vm = _find_vm(call)
    paths = call.strings("delete_disks")
    vm.state = "off"  # RequestStateChange(3) / Stop-VM -TurnOff
    call.host.vms = [v for v in call.host.vms if v is not vm]
    for path in paths:  # Remove-Item after DestroyVirtualSystem / Remove-VM: a failure leaves the VM gone
        if call.host.path_exists(path):
            _check_deletable(call, path)
            delete_file(call.host, path)
    return {}


# ---------------------------------------------------------------------------- dispatch

Op = Callable[[Call], dict[str, Any]]
OPS: dict[str, Op] = {
    "vswitch_create": vswitch_create,
    "vswitch_update": vswitch_update,
    "vswitch_delete": vswitch_delete,
    "vhd_create": vhd_create,
    "vhd_resize": vhd_resize,
    "vhd_delete": vhd_delete,
    "vm_create": vm_create,
    "vm_update": vm_update,
    "vm_state": vm_state,
    "vm_delete": vm_delete,
}
V2_ONLY = frozenset({"vswitch_update"})  # 2008 R2 replaces a switch (delete + create)
TEMPLATES: tuple[tuple[str, str], ...] = tuple(
    (backend, op) for backend in (V1, V2) for op in OPS if backend == V2 or op not in V2_ONLY
)


def run(backend: str, op: str, host: HostModel, params: dict[str, Any], now: float) -> tuple[dict[str, Any], list[str]]:
    """(data, noise) of template ``hyperv_<backend>/<op>``; raises WindowsError like the template."""
    call = Call(backend, op, host, params, now)
    return OPS[op](call), call.noise


__all__ = ["OPS", "RETURN_CODES", "TEMPLATES", "attach", "delete_file", "detach", "find_vhd", "remove_switch", "run"]
