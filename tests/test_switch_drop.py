"""External switch on the management adapter with allow_management_os (issue 10, item 6).

SetupSwitch (2008 R2) and New-VMSwitch -AllowManagementOS (2012+) move the adapter's addresses
to a new host vNIC: the WinRM connection drops for seconds. The lab models it (the script runs,
its answer is lost, the host refuses connections for `network_drop_seconds`); hvprov treats the
drop as "in progress": it reconnects, re-reads the facts and decides from them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import hvprov
from hvprov.connection import ConnectionSpec
from hvprov.errors import UnreachableError
from hvprov.render import ScriptRenderer
from hvprov.transports.sim import SimTransport

PLAY = [{
    "name": "switch on the management adapter",
    "hosts": "all",
    "gather_facts": True,
    "tasks": [{
        "name": "External switch shared with the host",
        "hyperv_vswitch": {
            "name": "Uplink", "type": "external", "allow_management_os": True, "reconnect_timeout": 30,
            "adapter": "{{ uplink }}",  # by name: afterwards the management adapter is the host vNIC
        },
    }],
}]
HOSTS = {
    "hvs-2008r2": {"sim_profile": "hyperv-server-2008r2", "uplink": "Local Area Connection"},
    "hv-2019": {"sim_profile": "2019-standard", "uplink": "Ethernet",
                "sim": {"features": ["Hyper-V", "Hyper-V-PowerShell"]}},
}


def _inventory(name: str, drop: float) -> dict:
    host = dict(HOSTS[name])
    host["sim"] = {**host.get("sim", {}), "network_drop_seconds": drop}
    return {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {name: host}}}


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_dropped_connection_is_in_progress_then_decided_from_facts(name: str, tmp_path: Path) -> None:
    inv = _inventory(name, 1.5)
    res = hvprov.apply(PLAY, inv, lab_dir=tmp_path)
    h = res.hosts[name]
    assert h.status.value == "changed", h.msg
    task = h.tasks[-1]
    assert "connection dropped" in task.msg and "the switch is there" in task.msg, task.msg
    switch = next(s for s in h.state["switches"] if s["name"] == "Uplink")
    assert switch["allow_management_os"] is True
    again = hvprov.apply(PLAY, inv, lab_dir=tmp_path)
    assert again.hosts[name].status.value == "ok" and again.hosts[name].change_count == 0


def test_host_that_never_comes_back_is_unreachable_not_failed(tmp_path: Path) -> None:
    play = [{**PLAY[0], "tasks": [{**PLAY[0]["tasks"][0], "hyperv_vswitch": {
        **PLAY[0]["tasks"][0]["hyperv_vswitch"], "reconnect_timeout": 1}}]}]
    res = hvprov.apply(play, _inventory("hvs-2008r2", 60), lab_dir=tmp_path)
    h = res.hosts["hvs-2008r2"]
    assert h.status.value == "unreachable" and "did not answer again" in h.msg, h.msg


def test_lab_drops_the_connection_of_the_script_that_moves_the_addresses(tmp_path: Path) -> None:
    spec = ConnectionSpec(name="hvs-2008r2", kind="sim", address="hvs-2008r2", sim_profile="hyperv-server-2008r2",
                          sim_overrides={"network_drop_seconds": 30})
    t = SimTransport(spec, tmp_path)
    script = ScriptRenderer().render("hyperv_v1/vswitch_create.ps1.j2", name="Uplink", type="external",
                                     adapter="Local Area Connection", allow_management_os=True).text
    with pytest.raises(UnreachableError, match="connection reset"):
        t.run(script)
    with pytest.raises(UnreachableError, match="moving to the host vNIC"):
        t.run(script)  # still down: nothing runs twice
    host = t.store.load("hvs-2008r2")
    assert host is not None and [s.name for s in host.switches] == ["Uplink"]  # the script did its work
