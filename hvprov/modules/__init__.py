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
from .win_command import WinCommand, WinShell
from .win_feature import WinFeature
from .win_powershell import WinPowerShell
from .win_reboot import WinReboot

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
        WinFeature(),
        WinReboot(),
        Fail(),
        WinCommand(),
        WinShell(),
        WinPowerShell(),
    )
}

# Ansible names users bring with them.
ALIASES = {
    "ansible.windows.win_feature": "win_feature",  # ansible.windows' own arguments and result keys
    "ansible.windows.win_reboot": "win_reboot",
    "ansible.windows.win_powershell": "win_powershell",  # ansible.windows' arguments and result keys
    "ansible.windows.win_shell": "win_shell",
    "ansible.windows.win_command": "win_command",
    "ansible.builtin.debug": "debug",
    "ansible.builtin.set_fact": "set_fact",
    "ansible.builtin.assert": "assert",
    "ansible.builtin.fail": "fail",
    "win_hyperv_switch": "hyperv_vswitch",
}


def get(name: str) -> Module | None:
    return MODULES.get(ALIASES.get(name, name))
