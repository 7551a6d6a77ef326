"""Windows Server editions by OperatingSystemSKU (GetProductInfo PRODUCT_* values).

From the domain brief §1.2: whether an edition may carry the Hyper-V role. ``None`` means the
brief could not establish it; hvprov then trusts the host's own answer
(``Get-WindowsFeature Hyper-V`` / DISM, facts.features.hyperv_available).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edition:
    sku: int
    constant: str
    name: str
    hyperv: bool | None  # may carry the role
    core: bool = False
    reason: str = ""  # why not, when hyperv is False


_NOHV = "the 'without Hyper-V' editions are licensed without the role"

EDITIONS: dict[int, Edition] = {
    e.sku: e
    for e in [
        Edition(7, "PRODUCT_STANDARD_SERVER", "Standard", True),
        Edition(8, "PRODUCT_DATACENTER_SERVER", "Datacenter", True),
        Edition(10, "PRODUCT_ENTERPRISE_SERVER", "Enterprise", True),
        Edition(12, "PRODUCT_DATACENTER_SERVER_CORE", "Datacenter (Server Core)", True, core=True),
        Edition(13, "PRODUCT_STANDARD_SERVER_CORE", "Standard (Server Core)", True, core=True),
        Edition(14, "PRODUCT_ENTERPRISE_SERVER_CORE", "Enterprise (Server Core)", True, core=True),
        Edition(36, "PRODUCT_STANDARD_SERVER_V", "Standard without Hyper-V", False, reason=_NOHV),
        Edition(37, "PRODUCT_DATACENTER_SERVER_V", "Datacenter without Hyper-V", False, reason=_NOHV),
        Edition(38, "PRODUCT_ENTERPRISE_SERVER_V", "Enterprise without Hyper-V", False, reason=_NOHV),
        Edition(39, "PRODUCT_DATACENTER_SERVER_CORE_V", "Datacenter without Hyper-V (Server Core)", False, core=True, reason=_NOHV),
        Edition(40, "PRODUCT_STANDARD_SERVER_CORE_V", "Standard without Hyper-V (Server Core)", False, core=True, reason=_NOHV),
        Edition(41, "PRODUCT_ENTERPRISE_SERVER_CORE_V", "Enterprise without Hyper-V (Server Core)", False, core=True, reason=_NOHV),
        Edition(17, "PRODUCT_WEB_SERVER", "Web Server", False, reason="Web Server edition does not include the Hyper-V role"),
        Edition(29, "PRODUCT_WEB_SERVER_CORE", "Web Server (Server Core)", False, core=True, reason="Web Server edition does not include the Hyper-V role"),
        Edition(33, "PRODUCT_SERVER_FOUNDATION", "Foundation", False, reason="Foundation edition has no virtualization rights and no Hyper-V role"),
        Edition(15, "PRODUCT_ENTERPRISE_SERVER_IA64", "Enterprise for Itanium-based Systems", False, reason="Hyper-V runs only on x64; Itanium editions do not offer it"),
        Edition(18, "PRODUCT_CLUSTER_SERVER", "HPC Edition", None),
        Edition(64, "PRODUCT_CLUSTER_SERVER_V", "HPC Edition without Hyper-V", False, reason=_NOHV),
        Edition(9, "PRODUCT_SMALLBUSINESS_SERVER", "Small Business Server", None),
        Edition(25, "PRODUCT_SMALLBUSINESS_SERVER_PREMIUM", "Small Business Server Premium", None),
        Edition(35, "PRODUCT_SERVER_FOR_SMALLBUSINESS_V", "Essential Server Solutions without Hyper-V", False, reason=_NOHV),
        Edition(50, "PRODUCT_SB_SOLUTION_SERVER", "Small Business Server Essentials", False, reason="Essentials editions do not include the Hyper-V role"),
        Edition(34, "PRODUCT_HOME_PREMIUM_SERVER", "Home Server", False, reason="Home Server does not include the Hyper-V role"),
        Edition(20, "PRODUCT_STORAGE_EXPRESS_SERVER", "Storage Server Express", False, reason="Storage Server Express does not include the Hyper-V role"),
        Edition(42, "PRODUCT_HYPERV", "Hyper-V Server", True, core=True),
        Edition(79, "PRODUCT_STANDARD_EVALUATION_SERVER", "Standard Evaluation", True),
        Edition(80, "PRODUCT_DATACENTER_EVALUATION_SERVER", "Datacenter Evaluation", True),
        Edition(145, "PRODUCT_DATACENTER_A_SERVER_CORE", "Datacenter (Semi-Annual Channel)", True, core=True),
        Edition(146, "PRODUCT_STANDARD_A_SERVER_CORE", "Standard (Semi-Annual Channel)", True, core=True),
    ]
}

HYPERV_SERVER_SKU = 42


def edition(sku: int) -> Edition:
    return EDITIONS.get(sku, Edition(sku, f"SKU {sku}", f"unknown edition (SKU {sku})", None))


def product_name(version: str) -> str:
    """'Windows Server 2008 R2' from '6.1.7601'."""
    parts = version.split(".")
    key = ".".join(parts[:2])
    build = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0
    if key == "10.0":
        if build >= 20348:
            return "Windows Server 2022"
        if build >= 17763:
            return "Windows Server 2019"
        return "Windows Server 2016"
    return {
        "6.0": "Windows Server 2008",
        "6.1": "Windows Server 2008 R2",
        "6.2": "Windows Server 2012",
        "6.3": "Windows Server 2012 R2",
    }.get(key, f"Windows {version}")
