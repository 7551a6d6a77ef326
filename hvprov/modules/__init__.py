"""The module registry: an explicit dict, no import-time discovery."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Module

# name -> (submodule, class): a module's code and its pydantic argument model are built on first
# use, so a run imports only the modules its playbook names (the CLI's start-up stays short); the
# control modules' pydantic models only when plain arguments are not enough (argfront.py).
_TABLE: dict[str, tuple[str, str]] = {
    "hyperv_prereqs": ("prereqs", "HypervPrereqs"),
    "windows_feature": ("feature", "WindowsFeature"),
    "reboot": ("reboot", "Reboot"),
    "hyperv_vswitch": ("vswitch", "VSwitch"),
    "hyperv_vhd": ("vhd", "HypervVhd"),
    "hyperv_vm": ("vm", "HypervVm"),
    "powershell": ("powershell", "PowerShell"),
    "debug": ("control", "Debug"),
    "set_fact": ("control", "SetFact"),
    "assert": ("control", "Assert"),
    "win_feature": ("win_feature", "WinFeature"),
    "win_reboot": ("win_reboot", "WinReboot"),
    "fail": ("control", "Fail"),
    "win_command": ("win_command", "WinCommand"),
    "win_shell": ("win_command", "WinShell"),
    "win_powershell": ("win_powershell", "WinPowerShell"),
}


class _Registry(Mapping[str, "Module"]):
    """The explicit module table; each Module instance is created once, when first looked up."""

    def __init__(self, table: dict[str, tuple[str, str]]) -> None:
        self._table = table
        self._made: dict[str, Module] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Module:
        made = self._made.get(name)
        if made is not None:
            return made
        where, cls = self._table[name]  # KeyError for an unknown name, as a dict
        with self._lock:
            if name not in self._made:
                self._made[name] = getattr(importlib.import_module(f"{__name__}.{where}"), cls)()
            return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table


MODULES: Mapping[str, Module] = _Registry(_TABLE)

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
