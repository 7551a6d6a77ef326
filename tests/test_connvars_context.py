"""connvars.connection_vars builds the variables a connection setting is templated with once per
host: the previous form (a fresh copy per setting) is kept here as the oracle, on an inventory
whose settings refer to each other, to inventory_hostname, to extra vars and to a vault value,
and on a host whose own variable is named inventory_hostname. Same values (Secrets included:
compared by their real and shown values), same errors."""

from __future__ import annotations

from typing import Any

import pytest

from hvprov.api import load_inventory
from hvprov.connvars import connection_vars
from hvprov.errors import HvprovError
from hvprov.secrets import Secret
from hvprov.templating import Templar


def _old_connection_vars(host: Any, extra_vars: Any, templar: Templar) -> dict[str, Any]:
    merged = {**host.vars, **extra_vars}
    out: dict[str, Any] = {}
    for key, value in merged.items():
        if key.startswith(("ansible_", "hvprov_")) or key in ("sim", "sim_profile"):
            where = None if key in extra_vars else host.var_sources.get(key)
            out[key] = templar.template(value, {**merged, "inventory_hostname": host.name}, where,
                                        f"hosts.{host.name}.{key}")
    return out


def _shown(v: Any) -> Any:
    if isinstance(v, Secret):
        return ("Secret", v.reveal(), v.shown)
    if isinstance(v, dict):
        return {k: _shown(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shown(x) for x in v]
    return (type(v).__name__, v)


INVENTORY = {
    "all": {
        "vars": {"domain": "lab.example", "base_port": 5985, "admin_pw": "S3cret-Admin!",
                 "ansible_user": "Administrator", "ansible_password": "{{ admin_pw }}"},
        "hosts": {
            "h1": {"ansible_host": "{{ inventory_hostname }}.{{ domain }}", "ansible_port": "{{ base_port + 1 }}"},
            "h2": {"ansible_host": "10.0.0.2", "hvprov_winrm_path": "/wsman-{{ ansible_user | lower }}",
                   "ansible_winrm_transport": ["ntlm", "kerberos"], "sim": {"cores": "{{ base_port // 1000 }}"},
                   "sim_profile": "2008r2", "inventory_hostname": "not-h2", "other": "{{ nothing }}",
                   "hvprov_ssh_jump_host": "{{ inventory_hostname }}-jump"},
            "h3": {"ansible_password": "{{ admin_pw }}-{{ inventory_hostname }}", "hvprov_retries": 2,
                   "ansible_host": "{{ ansible_user }}-{{ ansible_port | default(1) }}"},
            "bad": {"ansible_host": "{{ undefined_thing }}"},
            "plain": {},
        },
    }
}


@pytest.mark.parametrize("extra", [{}, {"domain": "override.example", "ansible_port": 5986},
                                   {"hvprov_user": "{{ domain }}\\\\svc"}])
def test_connection_vars_equal_the_previous_form(extra: dict[str, Any]) -> None:
    inv = load_inventory(INVENTORY)
    templar = Templar()
    for name in sorted(inv.hosts):
        host = inv.hosts[name]
        try:
            old: Any = _shown(_old_connection_vars(host, extra, templar))
        except HvprovError as exc:
            old = ("error", type(exc).__name__, str(exc))
        try:
            new: Any = _shown(connection_vars(host, extra, templar))
        except HvprovError as exc:
            new = ("error", type(exc).__name__, str(exc))
        assert new == old, name
    assert _shown(connection_vars(inv.hosts["h1"], extra, templar))["ansible_host"][1].startswith("h1.")
