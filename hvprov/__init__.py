"""hvprov: declarative provisioning of Hyper-V hosts over WinRM and SSH.

The public API (pinned by tests/test_public_api.py). Names are imported lazily so that
`import hvprov.sim` or the CLI do not pay for what they do not use.
"""

from __future__ import annotations

import importlib
import logging

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`hvprov --help` does not need it)
if TYPE_CHECKING:
    from typing import Any
del TYPE_CHECKING

logging.getLogger("hvprov").addHandler(logging.NullHandler())  # a library stays quiet unless asked

__version__ = "0.1.0"

_EXPORTS = {
    "run": "hvprov.api",
    "plan": "hvprov.api",
    "apply": "hvprov.api",
    "apply_plan": "hvprov.api",
    "load_inventory": "hvprov.api",
    "load_playbook_input": "hvprov.api",
    "parse_extra_vars": "hvprov.api",
    "Inventory": "hvprov.inventory",
    "Host": "hvprov.inventory",
    "Playbook": "hvprov.playbook",
    "load_playbook": "hvprov.playbook",
    "playbook_from_data": "hvprov.playbook",
    "RunResult": "hvprov.model",
    "HostResult": "hvprov.model",
    "TaskResult": "hvprov.model",
    "Change": "hvprov.model",
    "Action": "hvprov.model",
    "Status": "hvprov.model",
    "HostFacts": "hvprov.facts",
    "Secret": "hvprov.secrets",
    "HvprovError": "hvprov.errors",
    "InputError": "hvprov.errors",
    "InventoryError": "hvprov.errors",
    "PlaybookError": "hvprov.errors",
    "VariableError": "hvprov.errors",
    "OptionsError": "hvprov.errors",
    "TransportError": "hvprov.errors",
    "UnreachableError": "hvprov.errors",
    "AuthenticationError": "hvprov.errors",
    "TrustError": "hvprov.errors",
    "RemoteError": "hvprov.errors",
    "TaskError": "hvprov.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hvprov' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
