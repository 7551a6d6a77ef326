"""What one simulated WinRM host is configured with (``winrm get winrm/config``), Windows'
defaults per WinRM version, and what the lab records of each HTTP request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..transports.base import ExecResult

Handler = Callable[[str, str], "ExecResult | None"]


@dataclass
class HostConfig:
    """`winrm get winrm/config` of one simulated host (WinRM 2.0 defaults)."""

    users: dict[str, str] = field(default_factory=dict)  # local accounts: name -> password
    handler: Handler | None = None  # None: the lab's handler
    allow_unencrypted: bool = False  # Service/AllowUnencrypted
    basic: bool = False  # Service/Auth/Basic
    negotiate: bool = True  # Service/Auth/Negotiate (NTLM)
    cbt_hardening: str = "Relaxed"  # Service/Auth/CbtHardeningLevel: None, Relaxed, Strict
    winrm_version: str = "2.0"  # the WinRM stack (Identify's "Stack:", CreateResponse shape)
    os_version: str = "6.1.7601"  # Identify's "OS:" when authenticated
    max_envelope_kb: int = 150  # MaxEnvelopeSizekb
    max_shells_per_user: int = 5  # Winrs/MaxShellsPerUser
    max_concurrent_users: int = 5  # Winrs/MaxConcurrentUsers
    max_processes_per_shell: int = 15  # Winrs/MaxProcessesPerShell
    max_memory_per_shell_mb: int = 150  # Winrs/MaxMemoryPerShellMB
    idle_timeout_s: float = 180.0  # Winrs/IdleTimeout
    max_timeout_s: float = 60.0  # MaxTimeoutms: longest a Receive waits
    tls_versions: tuple[str, ...] = ("1.2",)  # what the https listener's SChannel offers
    latency_s: float = 0.0  # added to every HTTP request
    progress_noise: bool = True  # PowerShell's "Preparing modules for first use." on stderr
    write_delay_s: float = 0.0  # > 0: powershell.exe's stdout appears line by line, this far apart


def winrm_config(version: str, **settings: Any) -> HostConfig:
    """Windows' defaults: WinRM 2.0 (2008 R2) or 3.0 (2012 R2 and later; docs/wsman-conformance.md)."""
    if version == "2.0":
        return replace(HostConfig(), **settings)
    base = HostConfig(
        winrm_version="3.0", os_version="10.0.17763", max_envelope_kb=500, max_shells_per_user=30,
        max_concurrent_users=10, max_processes_per_shell=25, max_memory_per_shell_mb=1024,
        idle_timeout_s=7200.0,
    )
    return replace(base, **settings)


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request as the server saw it (what a packet capture would show)."""

    host: str
    scheme: str
    action: str  # Create Command Send Receive Signal Delete Get Identify, or "" (handshake)
    status: int
    auth: str  # "basic", "ntlm-negotiate", "ntlm-authenticate", "connection" or ""
    content_type: str
    encrypted: bool
    body_bytes: int  # on the wire
    soap_bytes: int  # the SOAP envelope after decryption
    soap_on_wire: bool  # the SOAP text is readable in the HTTP body
    cbt: bool | None = None  # the client bound its NTLM to the TLS channel (https only)
    tls: str | None = None  # the negotiated TLS version (https only), e.g. "TLSv1.2"
    fault: int | None = None  # the f:WSManFault Code of a fault answer
