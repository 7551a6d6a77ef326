"""The public API is pinned: adding or removing a name is a deliberate change to this list."""

import hvprov

PINNED = [
    "Action", "AuthenticationError", "Change", "Host", "HostFacts", "HostResult", "HvprovError",
    "InputError", "Inventory", "InventoryError", "OptionsError", "Playbook", "PlaybookError",
    "RemoteError", "RunResult", "Secret", "Status", "TaskError", "TaskResult", "TransportError",
    "TrustError", "UnreachableError", "VariableError", "__version__", "apply", "apply_plan", "load_inventory",
    "load_playbook", "load_playbook_input", "parse_extra_vars", "plan", "playbook_from_data", "run",
]


def test_all_is_pinned() -> None:
    assert sorted(hvprov.__all__) == sorted(PINNED)


def test_every_name_resolves() -> None:
    for name in hvprov.__all__:
        assert getattr(hvprov, name) is not None, name
