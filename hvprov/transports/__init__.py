"""Transports: how a script reaches a host. See base.Transport."""

from __future__ import annotations

from pathlib import Path

from ..connection import ConnectionSpec
from ..errors import OptionsError
from .base import ExecResult, Transport

__all__ = ["ExecResult", "Transport", "open_transport"]


def open_transport(spec: ConnectionSpec, lab_dir: Path | None = None) -> Transport:
    """A new, not yet opened, transport for the host (imports only the library it needs)."""
    if spec.kind == "sim":
        from .sim import SimTransport

        return SimTransport(spec, lab_dir or Path(".hvprov-lab"))
    if spec.kind == "winrm":
        from .winrm import WinRMTransport

        return WinRMTransport(spec)
    if spec.kind == "ssh":
        from .ssh import SSHTransport

        return SSHTransport(spec)
    raise OptionsError(f"connection '{spec.kind}' is not available on this controller (host {spec.name})")
