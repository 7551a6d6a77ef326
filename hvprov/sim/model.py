"""The state of one simulated Windows host, and its JSON form.

Plain mutable dataclasses: the executor changes a host in place while the store holds its
lock. `HostModel.from_dict(data, path)` validates every value against the field types and
raises `LabError` naming the field (``sim.cpu.vt_enabled: expected a boolean, got str 'yes'``);
`to_dict()` is its inverse. Behaviour (feature installs, reboots, the hypervisor) lives in
`rules.py`; reference data (SKUs, releases, feature names) in `windows.py`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ..errors import LabError
from . import windows

Arch = Literal["x64", "x86", "ia64"]
VmState = Literal["running", "off", "saved", "paused"]
SwitchType = Literal["external", "internal", "private"]

CPU_ARCHITECTURE = {"x64": 9, "x86": 0, "ia64": 6}  # Win32_Processor.Architecture


@dataclass
class Cpu:
    vendor: str = "GenuineIntel"  # Win32_Processor.Manufacturer (AuthenticAMD for AMD)
    name: str = "Intel(R) Xeon(R) CPU E5-2620 0 @ 2.00GHz"
    cores: int = 6
    logical: int = 12
    vt_supported: bool = True  # the processor has VT-x / AMD-V
    vt_enabled: bool = True  # ... and the BIOS enables it
    slat: bool = True  # EPT / RVI


@dataclass
class PendingReboot:
    cbs: bool = False  # Component Based Servicing\RebootPending
    windows_update: bool = False  # WindowsUpdate\Auto Update\RebootRequired
    file_rename: bool = False  # Session Manager\PendingFileRenameOperations
    computer_rename: bool = False

    @property
    def any(self) -> bool:
        return self.cbs or self.windows_update or self.file_rename or self.computer_rename


@dataclass
class PendingFeature:
    name: str  # canonical (ServerManager) name
    action: Literal["install", "remove"]


@dataclass
class Adapter:
    name: str  # "Local Area Connection" (6.1) / "Ethernet" (6.2+)
    description: str
    mac: str  # 12 hex digits, no separators
    ips: list[str] = field(default_factory=list)
    gateway: str | None = None  # the adapter holding the default route is the management one
    bound_switch: str | None = None  # name of the virtual switch a physical adapter is bound to
    vnic_of: str | None = None  # id of the switch whose host (management OS) vNIC this is; None: physical


@dataclass
class Switch:
    id: str
    name: str
    type: SwitchType
    adapter: str | None = None
    allow_management_os: bool = False


@dataclass
class VmDisk:
    path: str
    controller: Literal["ide", "scsi"] = "ide"
    controller_number: int = 0
    location: int = 0


@dataclass
class VmNic:
    name: str = "Network Adapter"
    switch: str | None = None
    mac: str | None = None
    static_mac: bool = False
    legacy: bool = False
    vlan: int | None = None
    switch_id: str | None = None  # id of the switch `switch` names (names are not unique)


@dataclass
class Vm:
    id: str
    name: str
    state: VmState = "off"
    memory_mb: int = 512
    dynamic_memory: bool = False
    memory_min_mb: int | None = None
    memory_max_mb: int | None = None
    cpus: int = 1
    generation: int = 1
    notes: str = ""
    disks: list[VmDisk] = field(default_factory=list)
    nics: list[VmNic] = field(default_factory=list)
    unreadable: str | None = None  # reading its settings fails with this error (a broken configuration)


@dataclass
class Vhd:
    path: str
    size: int  # virtual size, bytes
    type: Literal["dynamic", "fixed", "differencing"] = "dynamic"
    format: Literal["vhd", "vhdx"] = "vhd"
    parent: str | None = None
    unreadable: str | None = None  # GetVirtualHardDiskInfo / Get-VHD fails with this error


@dataclass
class HostModel:
    hostname: str
    version: str = "6.1.7601"  # Win32_OperatingSystem.Version
    sku: int = 7  # OperatingSystemSKU
    arch: Arch = "x64"
    server_core: bool = False
    caption: str | None = None  # None: from the SKU table (English, 6.1 trailing space)
    os_architecture: str | None = None  # None: "64-bit" / "32-bit" (localized on real hosts)
    ps_version: str | None = None  # None: the release's in-box PowerShell
    role_offered: bool | None = None  # None: the SKU table decides if Hyper-V is offered
    cpu: Cpu = field(default_factory=Cpu)
    dep_available: bool = True
    dep_policy: int = 3  # 0 AlwaysOff, 1 AlwaysOn, 2 OptIn, 3 OptOut
    memory_mb: int = 16384
    features: list[str] = field(default_factory=list)  # installed (committed), canonical names
    pending_features: list[PendingFeature] = field(default_factory=list)  # applied at reboot
    pending_reboot: PendingReboot = field(default_factory=PendingReboot)
    launch_type: Literal["Auto", "Off"] | None = None  # BCD hypervisorlaunchtype
    hypervisor_running: bool = False
    launch_error: str | None = None  # newest Hyper-V-Hypervisor error event since boot
    hypervisor_hides_cpu_features: bool = True  # 6.2+: WMI VT/SLAT read false under a hypervisor
    last_boot: float = 0.0  # epoch seconds
    reboot_seconds: float = 2.0  # how long a reboot keeps the host down
    reboot_at: float | None = None  # when a scheduled reboot takes the host down
    adapters: list[Adapter] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    vhds: list[Vhd] = field(default_factory=list)
    vms: list[Vm] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # other paths that exist (creates/removes)
    management_lost: bool = False  # the management adapter went to a switch without management OS
    # SetupSwitch / New-VMSwitch -AllowManagementOS on the management adapter: its addresses move to
    # the new host vNIC and the management connection drops for `network_drop_seconds`.
    network_drop_seconds: float = 3.0
    network_drop_pending: bool = False  # set by the script that moved them; the transport drops it
    network_down_until: float | None = None
    lease_owner: str | None = None  # %ProgramData%\hvprov\lease.txt (system/lease.ps1.j2)
    lease_expires: float | None = None
    # script delivery (sim/psexe.py): the remote shell starts 32-bit processes on 64-bit Windows;
    # the console host drains a redirected stdin (None: PowerShell 2.0 does); files in %TEMP%
    shell_32bit: bool = False
    ps_swallows_stdin: bool | None = None
    temp_files: dict[str, str] = field(default_factory=dict)  # lower-case path -> base64 bytes
    # winrm/config (None: the WinRM version's default, sim/psexe.py) and a Group Policy
    # execution policy (MachinePolicy scope; None: Undefined) that -ExecutionPolicy cannot override
    winrm_max_envelope_kb: int | None = None
    winrm_max_memory_per_shell_mb: int | None = None
    winrm_max_shells_per_user: int | None = None
    execution_policy_gpo: str | None = None

    # -- derived -----------------------------------------------------------------
    @property
    def major_minor(self) -> tuple[int, int]:
        return windows.major_minor(self.version)

    @property
    def build(self) -> int:
        return windows.build_of(self.version)

    @property
    def release(self) -> windows.Release:
        return windows.RELEASES[self.version]

    @property
    def hyperv_server(self) -> bool:
        return self.sku == windows.HYPERV_SERVER_SKU

    @property
    def caption_text(self) -> str:
        return self.caption if self.caption is not None else windows.caption(self.sku, self.version)

    @property
    def os_architecture_text(self) -> str:
        if self.os_architecture is not None:
            return self.os_architecture
        return "32-bit" if self.arch == "x86" else "64-bit"

    @property
    def powershell(self) -> str:
        return self.ps_version or self.release.ps_version

    # -- reboot state machine ----------------------------------------------------
    @property
    def up_at(self) -> float | None:
        return None if self.reboot_at is None else self.reboot_at + self.reboot_seconds

    def is_down(self, now: float) -> bool:
        up = self.up_at
        return self.reboot_at is not None and up is not None and self.reboot_at <= now < up

    def advance(self, now: float) -> bool:
        """Finish a reboot whose downtime is over. True if the host rebooted."""
        up = self.up_at
        if up is None or now < up:
            return False
        from .rules import complete_reboot

        complete_reboot(self, up)
        return True

    def path_exists(self, path: str) -> bool:
        want = norm_path(path)
        return any(norm_path(p) == want for p in [*self.files, *(v.path for v in self.vhds)])

    # -- JSON --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Any, path: str = "host") -> HostModel:
        host = converter(cls)(data, path)
        host.validate(path)
        return host

    def validate(self, path: str = "host") -> None:
        """Value rules the types cannot say."""

        def bad(name: str, msg: str) -> LabError:
            return LabError(f"{path}.{name}: {msg}")

        if self.version not in windows.RELEASES:
            raise bad("version", f"unknown Windows version {self.version!r} (known: {', '.join(windows.RELEASES)})")
        if not self.hostname or len(self.hostname) > 15 or not all(c.isalnum() or c == "-" for c in self.hostname):
            raise bad("hostname", f"expected a NetBIOS name (1-15 letters, digits, '-'), got {self.hostname!r}")
        if self.memory_mb <= 0:
            raise bad("memory_mb", f"expected a positive number of MB, got {self.memory_mb}")
        if self.dep_policy not in (0, 1, 2, 3):
            raise bad("dep_policy", f"expected 0 (AlwaysOff), 1 (AlwaysOn), 2 (OptIn) or 3 (OptOut), got {self.dep_policy}")
        if self.reboot_seconds < 0:
            raise bad("reboot_seconds", f"expected seconds >= 0, got {self.reboot_seconds}")
        if self.cpu.cores < 1 or self.cpu.logical < self.cpu.cores:
            raise bad("cpu", f"expected 1 <= cores <= logical, got {self.cpu.cores} / {self.cpu.logical}")
        if not windows.sku_reported(self.sku, self.version):
            raise bad("sku", f"Windows {self.version} never reports OperatingSystemSKU {self.sku}")


def norm_path(path: str) -> str:
    """Windows paths compare case-insensitively, with either slash."""
    return path.replace("/", "\\").rstrip("\\").lower()


# ---------------------------------------------------------------------------- typed conversion

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(v: Any) -> Any:
    """dataclasses.asdict without its deep copies (values here are JSON scalars)."""
    if type(v) in _SCALARS:
        return v
    if isinstance(v, list):
        return [_plain(x) for x in v]
    names = _FIELD_NAMES.get(type(v))
    if names is None:
        if not dataclasses.is_dataclass(v):
            return v
        names = _FIELD_NAMES[type(v)] = tuple(f.name for f in dataclasses.fields(v))
    return {n: _plain(getattr(v, n)) for n in names}

Conv = Callable[[Any, str], Any]
_CACHE: dict[Any, Conv] = {}
_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def _fail(path: str, expected: str, value: Any) -> LabError:
    return LabError(f"{path}: expected {expected}, got {type(value).__name__} {value!r:.60}")


def converter(hint: Any) -> Conv:
    """A function (value, path) -> value of type `hint`, raising LabError naming `path`."""
    conv = _CACHE.get(hint)
    if conv is None:
        conv = _CACHE[hint] = _build(hint)
    return conv


def _build(hint: Any) -> Conv:
    origin = get_origin(hint)
    if hint in (bool, str):

        def scalar(v: Any, p: str) -> Any:
            if not isinstance(v, hint):
                raise _fail(p, _NAMES[hint], v)
            return v

        return scalar
    if hint is int:

        def integer(v: Any, p: str) -> int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise _fail(p, "an integer", v)
            return v

        return integer
    if hint is float:

        def number(v: Any, p: str) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _fail(p, "a number", v)
            return float(v)

        return number
    if origin is Literal:
        allowed = get_args(hint)
        text = " or ".join(repr(a) for a in allowed)

        def literal(v: Any, p: str) -> Any:
            if v not in allowed or isinstance(v, bool):
                raise _fail(p, text, v)
            return v

        return literal
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {hint}")
        sub = converter(inner[0])
        return lambda v, p: None if v is None else sub(v, p)
    if origin is list:
        item = converter(get_args(hint)[0])

        def listing(v: Any, p: str) -> list[Any]:
            if not isinstance(v, (list, tuple)):
                raise _fail(p, "a list", v)
            return [item(x, f"{p}[{i}]") for i, x in enumerate(v)]

        return listing
    if origin is dict:
        key, val = (converter(a) for a in get_args(hint))

        def mapping(v: Any, p: str) -> dict[Any, Any]:
            if not isinstance(v, dict):
                raise _fail(p, "a mapping", v)
            return {key(k, p): val(x, f"{p}.{k}") for k, x in v.items()}

        return mapping
    if dataclasses.is_dataclass(hint):
        return _dataclass_converter(hint)
    raise TypeError(f"unsupported field type {hint}")


def _dataclass_converter(cls: Any) -> Conv:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    convs = {name: converter(hints[name]) for name in fields}
    required = [
        name for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]

    def build(v: Any, p: str) -> Any:
        if isinstance(v, cls):
            return v
        if not isinstance(v, dict):
            raise _fail(p, "a mapping", v)
        unknown = [k for k in v if k not in fields]
        if unknown:
            raise LabError(f"{p}.{unknown[0]}: unknown field (known: {', '.join(fields)})")
        missing = [k for k in required if k not in v]
        if missing:
            raise LabError(f"{p}.{missing[0]}: missing")
        return cls(**{k: convs[k](x, f"{p}.{k}") for k, x in v.items()})

    return build
