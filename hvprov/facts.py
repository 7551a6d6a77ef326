"""Typed host facts, parsed once from the facts script's JSON (templates/facts/host.ps1.j2).

The raw shape is documented in docs/contracts.md ("Facts"); `parse_facts()` validates it and
raises `ResultParseError` naming the field when the host returned something unexpected.
Facts are frozen: modules' `predict()` returns modified copies with `dataclasses.replace`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ResultParseError
from .plaindata import _field_names, as_vars, plain

_T = TypeVar("_T")


@dataclass(frozen=True)
class OsFacts:
    caption: str
    version: str  # "6.1.7601"
    build: int
    sku: int
    sp_major: int
    product_type: int
    os_architecture: str  # localized "64-bit"
    installation_type: str | None  # "Server" | "Server Core" | None on 6.1
    last_boot: str  # ISO-8601 UTC
    ps_version: str

    @property
    def major_minor(self) -> tuple[int, int]:
        parts = self.version.split(".")
        return int(parts[0]), int(parts[1])


@dataclass(frozen=True)
class CpuFacts:
    architecture: int  # Win32_Processor.Architecture: 0 x86, 6 ia64, 9 x64
    address_width: int
    manufacturer: str
    name: str
    cores: int
    logical: int
    vmx: bool | None  # VMMonitorModeExtensions (None before 2012)
    vt_firmware: bool | None  # VirtualizationFirmwareEnabled (None before 2012)
    slat: bool | None


@dataclass(frozen=True)
class DepFacts:
    available: bool
    policy: int  # 0 AlwaysOff, 1 AlwaysOn, 2 OptIn, 3 OptOut


@dataclass(frozen=True)
class PendingReboot:
    cbs: bool = False
    windows_update: bool = False
    file_rename: bool = False
    computer_rename: bool = False

    @property
    def any(self) -> bool:
        return self.cbs or self.windows_update or self.file_rename or self.computer_rename

    def reasons(self) -> list[str]:
        names = {
            "cbs": "Component Based Servicing RebootPending",
            "windows_update": "Windows Update RebootRequired",
            "file_rename": "PendingFileRenameOperations",
            "computer_rename": "computer rename",
        }
        return [text for key, text in names.items() if getattr(self, key)]


@dataclass(frozen=True)
class FeatureFacts:
    tool: str  # "servermanager" | "dism" | "none"
    installed: tuple[str, ...]
    hyperv_available: bool | None  # the edition offers the Hyper-V role (None: cannot tell)


@dataclass(frozen=True)
class HypervisorFacts:
    present: bool | None  # Win32_ComputerSystem.HypervisorPresent (None on 6.1)
    vmms: str | None  # service state "Running" | "Stopped" | None (not installed)
    hvboot: str | None  # boot driver state on 6.1
    launch_type: str | None  # BCD hypervisorlaunchtype
    launch_error: str | None  # latest Hyper-V-Hypervisor launch failure event text
    module: bool | None = None  # 6.2+: the Hyper-V PowerShell module is installed (None: n/a, 6.1)

    @property
    def running(self) -> bool:
        if self.present is not None:
            return self.present and self.vmms == "Running"
        return self.hvboot == "Running" and self.vmms == "Running"


@dataclass(frozen=True)
class Adapter:
    name: str
    description: str
    mac: str
    ips: tuple[str, ...]
    management: bool
    bound_switch: str | None


@dataclass(frozen=True)
class Switch:
    id: str
    name: str
    type: str  # external | internal | private
    adapter: str | None
    allow_management_os: bool


@dataclass(frozen=True)
class VmDisk:
    path: str
    controller: str  # ide | scsi
    controller_number: int
    location: int


@dataclass(frozen=True)
class VmNic:
    name: str
    switch: str | None
    mac: str | None
    static_mac: bool
    legacy: bool
    vlan: int | None


@dataclass(frozen=True)
class Vm:
    id: str
    name: str
    state: str  # running | off | saved | paused | other
    memory_mb: int
    dynamic_memory: bool
    memory_min_mb: int | None
    memory_max_mb: int | None
    cpus: int
    generation: int
    notes: str
    disks: tuple[VmDisk, ...] = ()
    nics: tuple[VmNic, ...] = ()
    error: str | None = None  # the VM could not be read (only id, name and this are reliable)


@dataclass(frozen=True)
class Vhd:
    path: str
    size: int  # bytes (virtual size)
    type: str  # dynamic | fixed | differencing
    format: str  # vhd | vhdx
    parent: str | None
    error: str | None = None  # the disk could not be read (size/type may be missing)


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    os: OsFacts
    cpu: CpuFacts
    dep: DepFacts
    memory_mb: int
    server_core: bool
    pending_reboot: PendingReboot
    features: FeatureFacts
    hypervisor: HypervisorFacts
    adapters: tuple[Adapter, ...] = ()
    switches: tuple[Switch, ...] = ()
    vms: tuple[Vm, ...] = ()
    vhds: tuple[Vhd, ...] = ()
    # Facts a plan() predicted rather than read (shown as "known after apply").
    predicted: frozenset[str] = field(default_factory=frozenset)
    # Fact areas Windows cannot tell or hvprov could not read (keys of UNVERIFIED): changes
    # that depend on them are planned as unknown (docs/plans-vs-applies.md).
    unverified: frozenset[str] = field(default_factory=frozenset)
    # DISM features to enable before PowerShell can run (2008 R2 Server Core); () = it runs.
    bootstrap: tuple[str, ...] = ()

    @property
    def backend(self) -> str:
        """'v1' (WMI root\\virtualization, PS 2.0) on 6.0/6.1, 'v2' (cmdlets) on 6.2+."""
        return "v1" if self.os.major_minor < (6, 2) else "v2"

    def to_dict(self) -> dict[str, Any]:
        d = plain(self)  # = dataclasses.asdict(self), without deep copies
        d["predicted"] = sorted(self.predicted)
        d["unverified"] = sorted(self.unverified)
        d["backend"] = self.backend
        return d

    def to_vars(self, text: Callable[[str], str]) -> dict[str, Any]:
        """`unsafe(self.to_dict())` in one pass (`text`: templating.UnsafeText)."""
        d = as_vars(self, text)
        d["predicted"] = [text(x) for x in sorted(self.predicted)]
        d["unverified"] = [text(x) for x in sorted(self.unverified)]
        d["backend"] = text(self.backend)
        return d  # type: ignore[no-any-return]


# Why a fact area is unverified; the text is appended to the reason of each change that
# depends on it (and shown with "[effect unknown]").
UNVERIFIED: dict[str, str] = {
    "hypervisor": "verified after the reboot: Windows before 2012 does not report whether VT is enabled in the BIOS",
    "inventory": "verified when the host's switches, VMs and VHDs can be read (no PowerShell or Hyper-V module yet)",
}


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Typed access into the raw JSON with precise error paths."""

    def __init__(self, raw: Any, path: str, template: str) -> None:
        self.raw = raw
        self.path = path
        self.template = template

    def fail(self, key: str, expected: str, got: Any) -> ResultParseError:
        return ResultParseError(
            f"facts field {self.path}.{key}: expected {expected}, got {type(got).__name__} {got!r:.60}",
            template=self.template,
        )

    def sub(self, key: str) -> _Reader:
        value = self.raw.get(key) if isinstance(self.raw, dict) else None
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return _Reader(value, f"{self.path}.{key}", self.template)

    def get(self, key: str, typ: type | tuple[type, ...], optional: bool = False, default: Any = None) -> Any:
        raw = self.raw
        if type(raw) is dict:  # the common case first: present, and exactly the type asked for
            value = raw.get(key)
            if type(value) is typ and value is not None:
                return value
        return self._get(key, typ, optional, default)

    def _get(self, key: str, typ: type | tuple[type, ...], optional: bool, default: Any) -> Any:
        if not isinstance(self.raw, dict):
            raise self.fail(key, "an object", self.raw)
        if key not in self.raw or self.raw[key] is None:
            if optional:
                return default
            raise self.fail(key, _tname(typ), None)
        value = self.raw[key]
        if typ is int and isinstance(value, bool):
            raise self.fail(key, "an integer", value)
        if typ is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, typ):
            raise self.fail(key, _tname(typ), value)
        return value

    def items(self, key: str) -> list[_Reader]:
        value = self.raw.get(key, []) if isinstance(self.raw, dict) else None
        if value is None:
            value = []
        if isinstance(value, dict):  # PowerShell 2.0 unrolls one-element arrays
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, "a list", value)
        return [_Reader(v, f"{self.path}.{key}[{i}]", self.template) for i, v in enumerate(value)]

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, []) if isinstance(self.raw, dict) else None
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of strings", value)
        return tuple(value)


def _build(cls: type[_T], /, **values: Any) -> _T:
    """`cls(**values)` for a frozen facts class given every field: the instance's attributes set
    in field order, without the generated `__init__`'s `object.__setattr__` call per field (about
    60 per host). The facts classes have no `__post_init__`, `InitVar` or `init=False` field; a
    field left out is a KeyError. tests/test_facts_build.py keeps the constructor as the oracle."""
    obj = object.__new__(cls)
    attrs = obj.__dict__
    names = _field_names(cls) or ()
    if tuple(values) == names:
        attrs.update(values)
    else:
        for n in names:
            attrs[n] = values[n]
    return obj


def _tname(typ: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "an object"}
    if isinstance(typ, tuple):
        return " or ".join(names.get(t, t.__name__) for t in typ)
    return names.get(typ, typ.__name__)


def parse_facts(raw: Any, template: str = "facts/host.ps1.j2") -> HostFacts:
    """Validate and type the facts script's `data` object."""
    r = _Reader(raw, "facts", template)
    if not isinstance(raw, dict):
        raise r.fail("(root)", "an object", raw)
    o, c, d = r.sub("os"), r.sub("cpu"), r.sub("dep")
    f, h, p = r.sub("features"), r.sub("hypervisor"), r.sub("pending_reboot")
    os_facts = _build(OsFacts,
        caption=o.get("caption", str, True, ""),
        version=o.get("version", str),
        build=o.get("build", int),
        sku=o.get("sku", int),
        sp_major=o.get("sp_major", int, True, 0),
        product_type=o.get("product_type", int, True, 3),
        os_architecture=o.get("os_architecture", str, True, ""),
        installation_type=o.get("installation_type", str, True),
        last_boot=o.get("last_boot", str),
        ps_version=o.get("ps_version", str, True, ""),
    )
    return _build(HostFacts,
        hostname=r.get("hostname", str),
        os=os_facts,
        cpu=_build(CpuFacts,
            architecture=c.get("architecture", int),
            address_width=c.get("address_width", int, True, 64),
            manufacturer=c.get("manufacturer", str, True, ""),
            name=c.get("name", str, True, ""),
            cores=c.get("cores", int, True, 1),
            logical=c.get("logical", int, True, 1),
            vmx=c.get("vmx", bool, True),
            vt_firmware=c.get("vt_firmware", bool, True),
            slat=c.get("slat", bool, True),
        ),
        dep=_build(DepFacts, available=d.get("available", bool), policy=d.get("policy", int, True, 2)),
        memory_mb=r.get("memory_mb", int),
        server_core=r.get("server_core", bool),
        pending_reboot=_build(PendingReboot,
            cbs=p.get("cbs", bool, True, False),
            windows_update=p.get("windows_update", bool, True, False),
            file_rename=p.get("file_rename", bool, True, False),
            computer_rename=p.get("computer_rename", bool, True, False),
        ),
        features=_build(FeatureFacts,
            tool=f.get("tool", str, True, "servermanager"),
            installed=f.strings("installed"),
            hyperv_available=f.get("hyperv_available", bool, True),
        ),
        hypervisor=_build(HypervisorFacts,
            present=h.get("present", bool, True),
            vmms=h.get("vmms", str, True),
            hvboot=h.get("hvboot", str, True),
            launch_type=h.get("launch_type", str, True),
            launch_error=h.get("launch_error", str, True),
            module=h.get("module", bool, True),
        ),
        adapters=tuple(
            _build(Adapter,
                name=a.get("name", str),
                description=a.get("description", str, True, ""),
                mac=a.get("mac", str, True, ""),
                ips=a.strings("ips"),
                management=a.get("management", bool, True, False),
                bound_switch=a.get("bound_switch", str, True),
            )
            for a in r.items("adapters")
        ),
        switches=tuple(
            _build(Switch,
                id=s.get("id", str),
                name=s.get("name", str),
                type=s.get("type", str),
                adapter=s.get("adapter", str, True),
                allow_management_os=s.get("allow_management_os", bool, True, False),
            )
            for s in r.items("switches")
        ),
        vms=tuple(_parse_vm(v) for v in r.items("vms")),
        unverified=frozenset(r.strings("unverified")),
        bootstrap=r.strings("bootstrap"),
        predicted=frozenset(),
        vhds=tuple(
            _build(Vhd,
                path=v.get("path", str),
                size=v.get("size", int, "error" in v.raw, 0),
                type=v.get("type", str, "error" in v.raw, "unknown"),
                format=v.get("format", str, True, "vhd"),
                parent=v.get("parent", str, True),
                error=v.get("error", str, True),
            )
            for v in r.items("vhds")
        ),
    )


def _parse_vm(v: _Reader) -> Vm:
    broken = isinstance(v.raw, dict) and v.raw.get("error") is not None  # unreadable: id and name only
    return _build(Vm,
        id=v.get("id", str),
        name=v.get("name", str),
        state=v.get("state", str, broken, "other"),
        error=v.get("error", str, True),
        memory_mb=v.get("memory_mb", int, broken, 0),
        dynamic_memory=v.get("dynamic_memory", bool, True, False),
        memory_min_mb=v.get("memory_min_mb", int, True),
        memory_max_mb=v.get("memory_max_mb", int, True),
        cpus=v.get("cpus", int, broken, 0),
        generation=v.get("generation", int, True, 1),
        notes=v.get("notes", str, True, ""),
        disks=tuple(
            _build(VmDisk,
                path=dk.get("path", str),
                controller=dk.get("controller", str, True, "ide"),
                controller_number=dk.get("controller_number", int, True, 0),
                location=dk.get("location", int, True, 0),
            )
            for dk in v.items("disks")
        ),
        nics=tuple(
            _build(VmNic,
                name=n.get("name", str, True, "Network Adapter"),
                switch=n.get("switch", str, True),
                mac=n.get("mac", str, True),
                static_mac=n.get("static_mac", bool, True, False),
                legacy=n.get("legacy", bool, True, False),
                vlan=n.get("vlan", int, True),
            )
            for n in v.items("nics")
        ),
    )
