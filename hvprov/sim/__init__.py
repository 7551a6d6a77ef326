"""The simulated lab: models of Windows hosts that hvprov's rendered scripts run against.

An independent model of Windows behaviour (it never imports hvprov.modules, hvprov.facts or
hvprov.render): it reads a script's header, acts on the host model and answers as the real
template would (docs/contracts.md §5).

    windows.py    reference data: releases, SKUs, captions, feature names
    model.py      HostModel and friends, JSON (de)serialisation with typed validation
    rules.py      what Windows does: feature installs, reboots, the hypervisor launch
    profiles.py   named lab hosts; build_host(profile, overrides, name=, now=)
    hostfacts.py  the facts object of facts/host.ps1.j2
    hyperv.py     the Hyper-V templates (contracts §6): switches, VHDs, VMs, v1 (WMI) and v2 (cmdlets)
    executor.py   execute(host, script, now) -> ExecResult, one handler per template
    store.py      LabStore: one JSON file per host, locked sessions, reset/list/alter
    drift.py      mutators for LabStore.alter: stop a VM, delete a switch, change a VM ...

The lab servers over real protocols (docs/wsman-conformance.md): lab.py (LabServers), wsman.py
(WinRM: wsconfig, wshttp, wsauth, winrs, wsfaults), sshd.py (Windows OpenSSH), cmdshell.py
(cmd.exe), psline.py (powershell.exe as the lab answers it today), tls.py.
"""

from __future__ import annotations

from .executor import HANDLERS, execute, parse_header
from .model import HostModel
from .profiles import PROFILES, build_host, profile_names
from .store import HostSeed, LabStore

__all__ = [
    "HANDLERS",
    "PROFILES",
    "HostModel",
    "HostSeed",
    "LabStore",
    "build_host",
    "execute",
    "parse_header",
    "profile_names",
]
