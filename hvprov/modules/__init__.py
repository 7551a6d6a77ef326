"""The module registry: an explicit dict, no import-time discovery."""

from __future__ import annotations

from .base import Module
from .control import Assert, Debug, Fail, SetFact
from .feature import WindowsFeature
from .powershell import PowerShell
from .prereqs import HypervPrereqs
from .reboot import Reboot
from .vhd import HypervVhd
from .vm import HypervVm
from .vswitch import VSwitch

MODULES: dict[str, Module] = {
    m.name: m
    for m in (
        HypervPrereqs(),
        WindowsFeature(),
        Reboot(),
        VSwitch(),
        HypervVhd(),
        HypervVm(),
        PowerShell(),
        Debug(),
        SetFact(),
        Assert(),
        Fail(),
    )
}

# Ansible names users bring with them.
ALIASES = {
    "win_feature": "windows_feature",
    "ansible.windows.win_feature": "windows_feature",
    "win_reboot": "reboot",
    "ansible.windows.win_reboot": "reboot",
    "win_powershell": "powershell",
    "ansible.windows.win_powershell": "powershell",
    "ansible.builtin.debug": "debug",
    "ansible.builtin.set_fact": "set_fact",
    "ansible.builtin.assert": "assert",
    "ansible.builtin.fail": "fail",
    "win_hyperv_switch": "hyperv_vswitch",
}


def get(name: str) -> Module | None:
    return MODULES.get(ALIASES.get(name, name))
