"""Windows reference data for the simulator: releases, SKUs, captions, the feature catalog.

Written from the domain brief (§1 SKU table and versions, §3 feature names), independently of
hvprov's own edition table: the simulator must not share code with what it tests. Rows the
brief marks [U] are best guesses; a host model can overrule them (`HostModel.role_offered`).
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------- releases


@dataclass(frozen=True)
class Release:
    version: str  # Win32_OperatingSystem.Version
    product: str  # caption stem, e.g. "Windows Server 2008 R2"
    sp_major: int
    ps_version: str  # PowerShell that ships in the box
    hyperv_product: str  # the free Hyper-V Server of that release


RELEASES: dict[str, Release] = {
    r.version: r
    for r in [
        Release("6.0.6001", "Windows Server\u00ae 2008", 1, "1.0", "Hyper-V Server 2008"),
        Release("6.0.6002", "Windows Server\u00ae 2008", 2, "1.0", "Hyper-V Server 2008"),
        Release("6.1.7600", "Windows Server 2008 R2", 0, "2.0", "Hyper-V Server 2008 R2"),
        Release("6.1.7601", "Windows Server 2008 R2", 1, "2.0", "Hyper-V Server 2008 R2"),
        Release("6.2.9200", "Windows Server 2012", 0, "3.0", "Hyper-V Server 2012"),
        Release("6.3.9600", "Windows Server 2012 R2", 0, "4.0", "Hyper-V Server 2012 R2"),
        Release("10.0.14393", "Windows Server 2016", 0, "5.1", "Hyper-V Server 2016"),
        Release("10.0.17763", "Windows Server 2019", 0, "5.1", "Hyper-V Server 2019"),
        Release("10.0.20348", "Windows Server 2022", 0, "5.1", "Hyper-V Server 2022"),
    ]
}


def major_minor(version: str) -> tuple[int, int]:
    parts = version.split(".")
    return int(parts[0]), int(parts[1])


def build_of(version: str) -> int:
    return int(version.split(".")[2])


# ---------------------------------------------------------------------------- SKUs


@dataclass(frozen=True)
class Sku:
    number: int
    label: str  # caption suffix, e.g. "Standard", "Enterprise without Hyper-V"
    hyperv: bool  # the edition offers the Hyper-V role (on x64)
    core: bool = False  # a *_SERVER_CORE value (only reported up to 6.1)
    full_twin: int | None = None  # the full-installation SKU of a core SKU
    since: tuple[int, int] = (6, 0)
    until: tuple[int, int] = (10, 0)  # last release (major, minor) reporting it


_LEGACY = (6, 1)  # SKUs that 2012+ no longer reports

SKUS: dict[int, Sku] = {
    s.number: s
    for s in [
        Sku(7, "Standard", True),
        Sku(8, "Datacenter", True),
        Sku(10, "Enterprise", True, until=_LEGACY),
        Sku(13, "Standard", True, core=True, full_twin=7, until=_LEGACY),
        Sku(12, "Datacenter", True, core=True, full_twin=8, until=_LEGACY),
        Sku(14, "Enterprise", True, core=True, full_twin=10, until=_LEGACY),
        Sku(36, "Standard without Hyper-V", False, until=_LEGACY),
        Sku(37, "Datacenter without Hyper-V", False, until=_LEGACY),
        Sku(38, "Enterprise without Hyper-V", False, until=_LEGACY),
        Sku(40, "Standard without Hyper-V", False, core=True, full_twin=36, until=_LEGACY),
        Sku(39, "Datacenter without Hyper-V", False, core=True, full_twin=37, until=_LEGACY),
        Sku(41, "Enterprise without Hyper-V", False, core=True, full_twin=38, until=_LEGACY),
        Sku(17, "Web", False, until=_LEGACY),
        Sku(29, "Web", False, core=True, full_twin=17, until=_LEGACY),
        Sku(33, "Foundation", False),
        Sku(15, "for Itanium-Based Systems", False, until=_LEGACY),
        Sku(18, "HPC Edition", True, until=_LEGACY),  # [U] brief: rely on the host's answer
        Sku(64, "HPC Edition without Hyper-V", False, until=_LEGACY),
        Sku(9, "Small Business Server", True, until=_LEGACY),  # [U]
        Sku(25, "Small Business Server Premium", True, until=_LEGACY),  # [U]
        Sku(50, "Essentials", False),
        Sku(20, "Storage Server Express", False, until=_LEGACY),
        Sku(42, "Hyper-V Server", True, core=True),  # the free product; role pre-installed
        Sku(79, "Standard Evaluation", True, since=(6, 2)),
        Sku(80, "Datacenter Evaluation", True, since=(6, 2)),
        Sku(146, "Standard", True, since=(10, 0)),
        Sku(145, "Datacenter", True, since=(10, 0)),
    ]
}

HYPERV_SERVER_SKU = 42
ITANIUM_SKU = 15
CORE_SKUS_61 = frozenset({12, 13, 14, 39, 40, 41, 29, 43, 44, 45, 46, 53, 63})


def core_twin(sku: int) -> int | None:
    """The core SKU of a full-installation SKU (6.0/6.1), if there is one."""
    for s in SKUS.values():
        if s.full_twin == sku:
            return s.number
    return None


def sku_reported(sku: int, version: str) -> bool:
    """Whether Windows of that version can report that SKU (unknown SKUs: assume yes)."""
    s = SKUS.get(sku)
    if s is None:
        return True
    mm = major_minor(version)
    return s.since <= mm <= s.until


def caption(sku: int, version: str) -> str:
    """Win32_OperatingSystem.Caption (English). 6.x-era captions end with a space."""
    rel = RELEASES[version]
    mm = major_minor(version)
    s = SKUS.get(sku)
    label = s.label if s else f"(SKU {sku})"
    trail = " " if mm <= (6, 1) else ""
    vendor = "Microsoft\u00ae " if mm == (6, 0) else "Microsoft "
    if sku == HYPERV_SERVER_SKU:
        return f"Microsoft {rel.hyperv_product}{trail}"
    if s is not None and s.label == "Web":
        return f"{vendor}{rel.product.replace('Server', 'Web Server', 1)}{trail}"
    return f"{vendor}{rel.product} {label}{trail}"


# ---------------------------------------------------------------------------- features


@dataclass(frozen=True)
class Feature:
    """One role/feature, by its ServerManager and DISM names."""

    sm: str | None  # Get-WindowsFeature name (None: DISM only)
    dism: str | None  # DISM name (case-sensitive on 6.1)
    restart: bool = False  # installing or removing it needs a restart
    where: str = "any"  # any | full | core (installation type that offers it)
    since: tuple[int, int] = (6, 1)
    until: tuple[int, int] = (10, 0)
    hyperv: bool = False  # offered only where the Hyper-V role is

    @property
    def key(self) -> str:
        return self.sm or self.dism or ""


HYPERV = Feature("Hyper-V", "Microsoft-Hyper-V", restart=True, since=(6, 0), hyperv=True)

CATALOG: tuple[Feature, ...] = (
    HYPERV,
    Feature("RSAT-Hyper-V", "Microsoft-Hyper-V-Management-Clients", where="full", until=(6, 1)),
    Feature("RSAT-Hyper-V-Tools", None, where="full", since=(6, 2)),
    Feature("Hyper-V-Tools", "Microsoft-Hyper-V-Management-Clients", where="full", since=(6, 2)),
    Feature("Hyper-V-PowerShell", "Microsoft-Hyper-V-Management-PowerShell", since=(6, 2)),
    Feature("File-Services", None, where="full", until=(6, 1)),
    Feature("FS-FileServer", "CoreFileServer", until=(6, 1)),
    Feature("FileAndStorage-Services", None, since=(6, 2)),
    Feature("Storage-Services", None, since=(6, 2)),
    Feature("NET-Framework-Core", "NetFx3", where="full"),
    Feature("NET-Framework-45-Core", "NetFx4", since=(6, 2)),
    Feature("PowerShell-ISE", "MicrosoftWindowsPowerShellISE", where="full", until=(6, 1)),
    Feature("PowerShell", "MicrosoftWindowsPowerShellRoot", since=(6, 2)),
    Feature("WoW64-Support", None, since=(6, 2)),
    Feature("Multipath-IO", "MultipathIo"),
    Feature("SNMP-Service", "SNMP"),
    Feature("Telnet-Client", "TelnetClient"),
    Feature("Windows-Server-Backup", "WindowsServerBackup"),
    Feature("Failover-Clustering", "FailoverCluster-FullServer", restart=False),
    # 2008 R2 Server Core packages, visible through DISM only
    Feature(None, "NetFx2-ServerCore", where="core", until=(6, 1)),
    Feature(None, "NetFx3-ServerCore", where="core", until=(6, 1)),
    Feature(None, "MicrosoftWindowsPowerShell", where="core", until=(6, 1)),
    Feature(None, "ServerManager-PSH-Cmdlets", where="core", until=(6, 1)),
)

PS_CORE_61 = "MicrosoftWindowsPowerShell"
SM_CMDLETS_CORE_61 = "ServerManager-PSH-Cmdlets"


def exists_in(f: Feature, mm: tuple[int, int]) -> bool:
    return f.since <= mm <= f.until


def find_feature(
    name: str, mm: tuple[int, int], *, dism: bool = False, case_sensitive: bool = False
) -> Feature | None:
    """The catalog entry called `name` (ServerManager or DISM naming), preferring entries of
    the release `mm` (some DISM names were reused between releases)."""
    found: list[Feature] = []
    for f in CATALOG:
        for cand in (f.dism,) if dism else (f.sm, f.dism):
            if cand is not None and (cand == name or (not case_sensitive and cand.lower() == name.lower())):
                found.append(f)
                break
    current = [f for f in found if exists_in(f, mm)]
    best = current or found
    return best[0] if best else None


def canonical(name: str, mm: tuple[int, int]) -> str:
    """How the model stores an installed feature: ServerManager name, else DISM name."""
    f = find_feature(name, mm)
    return f.key if f else name


def hyperv_sku_offers(sku: int) -> bool:
    s = SKUS.get(sku)
    return bool(s and s.hyperv)
