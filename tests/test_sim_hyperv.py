"""The simulator's Hyper-V templates (contracts §6): switches, VHDs, VMs on both back ends.

Most rules are scenarios in tests/data/sim_hyperv/scenarios.json (see its _doc): each runs a
sequence of templates against a fresh host per back end and checks the result line and the
facts after each step. Below: the end-to-end lab sequence on 2008r2-standard through the sim
transport and the store, the dropped management connection, drift helpers, output details.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from hvprov.connection import ConnectionSpec
from hvprov.errors import LabError, RemoteError, UnreachableError
from hvprov.scriptresult import RESULT_PREFIX, parse_result
from hvprov.sim import drift, hyperv
from hvprov.sim.executor import HANDLERS, execute
from hvprov.sim.model import HostModel
from hvprov.sim.profiles import build_host
from hvprov.sim.store import HostSeed, LabStore
from hvprov.transports.base import ExecResult
from hvprov.transports.sim import SimTransport

T0 = 1_800_000_000.0
DATA = json.loads((Path(__file__).parent / "data" / "sim_hyperv" / "scenarios.json").read_text(encoding="utf-8"))
SCENARIOS = DATA["scenarios"]
BACKENDS = ("v1", "v2")
_MISSING = object()
_PATH_RE = re.compile(r"^[A-Za-z]:[\\/]")


def script(template: str, params: dict[str, Any], body: str = "") -> str:
    return (f"# hvprov-template: {template}\n# hvprov-params: {json.dumps(params, separators=(',', ':'))}\n"
            f"$ErrorActionPreference = 'Stop'\n{body}")


def result(res: ExecResult) -> dict[str, Any]:
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    assert len(lines) == 1, res.stdout
    payload = json.loads(lines[0][len(RESULT_PREFIX):])
    assert res.rc == (0 if payload["ok"] else 1)
    return payload


def facts_of(host: HostModel, probes: list[str]) -> dict[str, Any]:
    return result(execute(host, script("facts/host.ps1.j2", {"probe_paths": probes}), T0))["data"]


# --------------------------------------------------------------------------- scenario machinery


def pick(value: Any, backend: str) -> Any:
    """A {"v1": x, "v2": y} value -> the back end's (or _MISSING); anything else as is."""
    if isinstance(value, dict) and value and set(value) <= set(BACKENDS):
        return value.get(backend, _MISSING)
    return value


def subst(value: Any, backend: str, names: dict[str, str]) -> Any:
    value = pick(value, backend)
    if isinstance(value, str):
        return re.sub(r"\$(\w+)", lambda m: names.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [subst(v, backend, names) for v in value]
    if isinstance(value, dict):
        return {k: subst(v, backend, names) for k, v in value.items()}
    return value


def lookup(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if part == "#":
            return len(doc)
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and expected.startswith("~"):
        return re.search(expected[1:], actual if isinstance(actual, str) else repr(actual)) is not None
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
    return expected == actual and type(expected) is type(actual)


def probe_paths(scenario: dict[str, Any]) -> list[str]:
    """Every drive path the scenario mentions, in order (the facts template stats them)."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str) and _PATH_RE.match(v) and v not in out:
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(scenario.get("overrides", {}))
    walk([s["params"] for s in scenario["steps"]])
    return out


def scenario_host(scenario: dict[str, Any], backend: str) -> HostModel:
    profile, overrides = scenario.get("host", {}).get(backend) or DATA["hosts"][backend]
    return build_host(profile, {**overrides, **scenario.get("overrides", {})}, name="hv01", now=T0)


def check_error(err: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    want_type = expected.get("type")
    if want_type is not None:
        assert err["type"] == want_type or err["type"].endswith("." + want_type), (where, err)
    assert expected.get("message", "") in err["message"], (where, err)
    if "category" in expected:
        assert err["category"] == expected["category"], (where, err)


def run_scenario(scenario: dict[str, Any], backend: str) -> None:
    host = scenario_host(scenario, backend)
    probes = probe_paths(scenario)
    adapters = [a.name for a in host.adapters]
    names: dict[str, str] = {"nic1": adapters[0], "nic2": adapters[1]}
    for i, step in enumerate(scenario["steps"]):
        where = f"{scenario['id']} [{backend}] step {i + 1} {step['op']}"
        params = subst(step["params"], backend, names)
        before = copy.deepcopy(host.to_dict())
        res = execute(host, script(f"hyperv_{backend}/{step['op']}.ps1.j2", params), T0)
        payload = result(res)
        expect = pick(step.get("expect", "ok"), backend)
        expect = "ok" if expect is _MISSING else subst(expect, backend, names)
        if expect == "ok":
            assert payload["ok"], (where, payload)
            data = payload["data"]
            if "save" in step:
                names[step["save"]] = data.get("id", data.get("path"))
                names[step["save"] + "_lower"] = names[step["save"]].lower()
            if "data" in step:
                assert matches(subst(step["data"], backend, names), data), (where, data)
        else:
            assert not payload["ok"], (where, payload)
            check_error(payload["error"], expect, where)
            if not step.get("partial"):
                assert host.to_dict() == before, f"{where}: a failed call changed the host"
        noise = pick(step.get("noise", _MISSING), backend)
        if noise is not _MISSING:
            assert res.stdout.split("\r\n")[0] == noise, where
        want_facts = pick(step.get("facts", {}), backend)
        if want_facts is not _MISSING and want_facts:
            f = facts_of(host, probes)
            for path, value in want_facts.items():
                value = subst(value, backend, names)
                if value is not _MISSING:
                    assert matches(value, lookup(f, path)), (where, path, lookup(f, path))
        for key, path in step.get("save_fact", {}).items():
            names[key] = lookup(facts_of(host, probes), path)
        for path, value in pick(step.get("model", {}), backend).items():
            assert lookup(host.to_dict(), path) == value, (where, path)


CASES = [(s, b) for s in SCENARIOS for b in BACKENDS if s.get("only", b) == b]


@pytest.mark.parametrize("scenario, backend", CASES, ids=[f"{s['id']} [{b}]" for s, b in CASES])
def test_scenario(scenario, backend):
    run_scenario(scenario, backend)


def test_every_hyperv_template_has_a_handler_and_a_scenario():
    ops = ["vswitch_create", "vswitch_update", "vswitch_delete", "vhd_create", "vhd_resize", "vhd_delete",
           "vm_create", "vm_update", "vm_state", "vm_delete"]
    expected = {f"hyperv_{b}/{op}" for b in BACKENDS for op in ops} - {"hyperv_v1/vswitch_update"}
    assert {k for k in HANDLERS if k.startswith("hyperv_")} == expected
    covered = {f"hyperv_{b}/{st['op']}" for s, b in CASES for st in s["steps"] if pick(st.get("expect", "ok"), b) in ("ok", _MISSING)}
    assert expected <= covered  # each template succeeds somewhere in the table


def test_the_harness_can_fail():
    """A wrong expectation in the table must fail the run (guards the machinery itself)."""
    bad = copy.deepcopy(next(s for s in SCENARIOS if s["id"] == "VHD size must be a multiple of 512"))
    bad["steps"][0]["params"]["size_bytes"] = 1024
    with pytest.raises(AssertionError):
        run_scenario(bad, "v1")
    bad = copy.deepcopy(next(s for s in SCENARIOS if s["id"].startswith("internal switch")))
    bad["steps"][0]["facts"]["adapters.#"] = 2
    with pytest.raises(AssertionError):
        run_scenario(bad, "v2")


# --------------------------------------------------------------------------- output details


def test_error_record_names_the_failing_line_and_exit_code():
    host = build_host(*DATA["hosts"]["v1"], name="hv01", now=T0)
    body = "$svc = Get-WmiObject -Namespace root\\virtualization Msvm_ImageManagementService\n" \
           "$out = $svc.psbase.InvokeMethod('CreateDynamicVirtualHardDisk', $in, $null)\n"
    res = execute(host, script("hyperv_v1/vhd_create.ps1.j2", {"path": "D:\\a.vhd", "size_bytes": 1000,
                                                               "type": "dynamic", "parent": None}, body), T0)
    assert res.rc == 1 and res.stdout.endswith("\r\n")
    err = result(res)["error"]
    assert (err["type"], err["line"], err["category"]) == ("InvalidParameter", 5, "InvalidArgument")
    with pytest.raises(RemoteError, match=r"CreateDynamicVirtualHardDisk: .*\(return code 32773 InvalidParameter\)"):
        parse_result(res, "hyperv_v1/vhd_create.ps1.j2")


def test_bad_params_are_binding_errors():
    host = build_host(*DATA["hosts"]["v2"], name="hv01", now=T0)
    vm = _ok(host, "v2", "vm_create", name="x", memory_mb=512)
    for op, params in [("vhd_create", {"path": 5, "size_bytes": 512}), ("vhd_create", {"path": "D:\\a.vhdx", "size_bytes": True}),
                       ("vm_create", {"name": "a"}), ("vm_create", {"name": "a", "memory_mb": 512, "nics": ["x"]}),
                       ("vm_create", {"name": "a", "memory_mb": 512, "disks": ["D:\\a.vhd"]}),
                       ("vm_update", {"id": vm["id"], "name": "x", "remove_disks": [1]}),
                       ("vm_update", {"id": vm["id"], "name": "x", "connect_nics": [{"switch": "Lan"}]}),
                       ("vm_create", {"name": "a", "memory_mb": 512, "dynamic_memory": {"max_mb": "lots"}})]:
        err = result(execute(host, script(f"hyperv_v2/{op}.ps1.j2", params), T0))["error"]
        assert err["type"] == "System.Management.Automation.ParameterBindingException", (op, params, err)


def test_facts_parse_with_hvprovs_own_parser():
    """Contract cross-check of switches / vms / vhds / adapters (the simulator never imports hvprov.facts)."""
    from hvprov.facts import parse_facts

    host = build_host(*DATA["hosts"]["v1"], name="hv01", now=T0)
    sw = _ok(host, "v1", "vswitch_create", name="Ext", type="external", adapter="Local Area Connection 2",
             allow_management_os=True)
    _ok(host, "v1", "vhd_create", path="D:\\web.vhd", size_bytes=10 * 1024**3, type="dynamic", parent=None)
    vm = _ok(host, "v1", "vm_create", name="web", memory_mb=1024, cpus=2, notes="n",
             dynamic_memory={"min_mb": None, "max_mb": 2048, "buffer": 20}, disks=[{"path": "D:\\web.vhd"}],
             nics=[{"name": "Network Adapter", "switch": "Ext", "mac": None, "legacy": False, "vlan": None}])
    _ok(host, "v1", "vm_state", id=vm["id"], name="web", state="running", graceful=False)
    parsed = parse_facts(facts_of(host, []))
    assert [s.id for s in parsed.switches] == [sw["id"]]
    assert parsed.vms[0].id == vm["id"] and parsed.vms[0].state == "running" and parsed.vms[0].nics[0].switch == "Ext"
    assert parsed.vhds[0].size == 10 * 1024**3
    assert [a.bound_switch for a in parsed.adapters] == [None, "Ext", None]


def _ok(host: HostModel, backend: str, op: str, **params: Any) -> dict[str, Any]:
    payload = result(execute(host, script(f"hyperv_{backend}/{op}.ps1.j2", params), T0))
    assert payload["ok"], payload
    return payload["data"]


# --------------------------------------------------------------------------- end to end on 2008r2-standard


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def sim(tmp_path: Path, clock: Clock, name: str = "hv-std01", **overrides: Any) -> SimTransport:
    spec = ConnectionSpec.from_vars(name, {"ansible_connection": "sim", "sim_profile": "2008r2-standard",
                                           "sim": overrides})
    return SimTransport(spec, tmp_path / "lab", clock=clock)


def call(t: SimTransport, template: str, **params: Any) -> dict[str, Any]:
    return parse_result(t.run(script(template, params)), template)


def fails(t: SimTransport, template: str, **params: Any) -> dict[str, Any]:
    payload = result(t.run(script(template, params)))
    assert not payload["ok"], payload
    return payload["error"]


PROBES = ["D:\\VMs\\web01.vhd", "D:\\VMs\\db01.vhd", "D:\\VMs\\data.vhd"]


def test_end_to_end_lab_on_2008r2_standard(tmp_path):
    clock = Clock()
    t = sim(tmp_path, clock)
    v1 = "hyperv_v1/{}.ps1.j2".format

    def facts() -> dict[str, Any]:
        return call(t, "facts/host.ps1.j2", probe_paths=PROBES)

    # nothing works before the role
    assert fails(t, v1("vswitch_create"), name="Lan", type="private", adapter=None,
                 allow_management_os=False)["message"].endswith("Invalid namespace 'root\\virtualization'")
    # role + reboot
    out = call(t, "feature/servermanager_v1.ps1.j2", names=["Hyper-V"], state="present")
    assert out["restart_needed"] == "Yes"
    assert fails(t, v1("vm_create"), name="web01", memory_mb=1024)["type"] == "System.Management.ManagementException"
    call(t, "system/reboot.ps1.j2", reason="Hyper-V role", delay_seconds=0)
    clock.t += 1
    with pytest.raises(UnreachableError, match="restarting"):
        t.run(script("system/boot_time.ps1.j2", {}))
    clock.t += 5
    f = facts()
    assert (f["hypervisor"]["vmms"], f["hypervisor"]["hvboot"], f["pending_reboot"]["cbs"]) == ("Running", "Running", False)
    assert (f["switches"], f["vms"], f["vhds"]) == ([], [], [])

    # switches: external on the spare NIC, internal, private
    mgmt, spare = (a["name"] for a in f["adapters"])
    ext = call(t, v1("vswitch_create"), name="External", type="external", adapter=spare, allow_management_os=False)["id"]
    internal = call(t, v1("vswitch_create"), name="Internal", type="internal", adapter=None, allow_management_os=False)["id"]
    private = call(t, v1("vswitch_create"), name="Private", type="private", adapter=None, allow_management_os=False)["id"]
    f = facts()
    assert f["switches"] == [
        {"id": ext, "name": "External", "type": "external", "adapter": spare, "allow_management_os": False},
        {"id": internal, "name": "Internal", "type": "internal", "adapter": None, "allow_management_os": True},
        {"id": private, "name": "Private", "type": "private", "adapter": None, "allow_management_os": False},
    ]
    assert [(a["name"], a["bound_switch"], a["management"]) for a in f["adapters"]] == [
        (mgmt, None, True), (spare, "External", False), ("Local Area Connection 3", None, False)]

    # VHDs
    for path, size in zip(PROBES, (20 * 1024**3, 40 * 1024**3, 1024**3), strict=True):
        assert call(t, v1("vhd_create"), path=path, size_bytes=size, type="dynamic", parent=None) == {"path": path}
    assert fails(t, v1("vhd_create"), path="D:\\VMs\\web01.vhdx", size_bytes=1024**3, type="dynamic",
                 parent=None)["type"] == "InvalidParameter"
    f = facts()
    assert [(v["path"], v["size"], v["format"]) for v in f["vhds"]] == [
        (PROBES[0], 20 * 1024**3, "vhd"), (PROBES[1], 40 * 1024**3, "vhd"), (PROBES[2], 1024**3, "vhd")]

    # VMs
    nic = {"name": "Network Adapter", "switch": "External", "mac": None, "legacy": False, "vlan": None}
    web = call(t, v1("vm_create"), name="web01", memory_mb=1024, dynamic_memory=None, cpus=2, generation=1,
               notes="web", disks=[{"path": PROBES[0]}], nics=[nic])["id"]
    db = call(t, v1("vm_create"), name="db01", memory_mb=2048, dynamic_memory=None, cpus=4, generation=1, notes="",
              disks=[{"path": PROBES[1]}, {"path": PROBES[2]}],
              nics=[{**nic, "switch": "Internal"}, {**nic, "name": "Legacy", "switch": "Private", "legacy": True}])["id"]
    f = facts()
    vms = {v["name"]: v for v in f["vms"]}
    assert (vms["web01"]["id"], vms["web01"]["state"], vms["web01"]["cpus"]) == (web, "off", 2)
    assert [(d["controller"], d["controller_number"], d["location"]) for d in vms["db01"]["disks"]] == [
        ("ide", 0, 0), ("ide", 0, 1)]
    assert [(n["switch"], n["mac"], n["legacy"]) for n in vms["db01"]["nics"]] == [
        ("Internal", None, False), ("Private", None, True)]

    # start both; MACs appear
    for vm_id, name in ((web, "web01"), (db, "db01")):
        assert call(t, v1("vm_state"), id=vm_id, name=name, state="running", graceful=False) == {"state": "running"}
    f = facts()
    assert {v["state"] for v in f["vms"]} == {"running"}
    macs = [n["mac"] for v in f["vms"] for n in v["nics"]]
    assert len(set(macs)) == 3 and all(re.fullmatch(r"00155D[0-9A-F]{6}", m) for m in macs)

    # a CPU change while running is refused; memory changes once the VM is off
    err = fails(t, v1("vm_update"), id=web, name="web01", set={"cpus": 4}, add_disks=[], remove_disks=[],
                add_nics=[], remove_nics=[], connect_nics=[])
    assert (err["type"], err["category"]) == ("InvalidState", "InvalidOperation")
    assert "(return code 32775 InvalidState)" in err["message"]
    assert facts()["vms"][0]["cpus"] == 2
    call(t, v1("vm_state"), id=web, name="web01", state="off", graceful=True)
    assert call(t, v1("vm_update"), id=web, name="web01", set={"memory_mb": 4096, "dynamic_memory": None},
                add_disks=[], remove_disks=[], add_nics=[], remove_nics=[], connect_nics=[]) == {}
    f = facts()
    assert (f["vms"][0]["state"], f["vms"][0]["memory_mb"], f["vms"][0]["nics"][0]["mac"]) == ("off", 4096, macs[0])
    call(t, v1("vm_state"), id=web, name="web01", state="running", graceful=False)

    # delete everything
    call(t, v1("vm_delete"), id=web, name="web01", delete_disks=[PROBES[0]])
    call(t, v1("vm_delete"), id=db, name="db01", delete_disks=PROBES[1:])
    for sw_id, name in ((ext, "External"), (internal, "Internal"), (private, "Private")):
        assert call(t, v1("vswitch_delete"), id=sw_id, name=name) == {}
    f = facts()
    assert (f["vms"], f["switches"], f["vhds"]) == ([], [], [])
    assert [(a["name"], a["bound_switch"], a["management"]) for a in f["adapters"]] == [
        (mgmt, None, True), (spare, None, False)]
    assert t.scripts_run == t.round_trips - 1  # only the reboot window refused a connection


def test_binding_the_management_nic_without_management_os_drops_the_connection(tmp_path):
    clock = Clock()
    t = sim(tmp_path, clock, features=["File-Services", "Hyper-V"])
    mgmt = call(t, "facts/host.ps1.j2", probe_paths=[])["adapters"][0]["name"]
    sw = call(t, "hyperv_v1/vswitch_create.ps1.j2", name="Ext", type="external", adapter=mgmt,
              allow_management_os=False)["id"]
    for _ in range(2):  # every later script: like a dropped connection, until the lab is fixed
        with pytest.raises(UnreachableError, match="lost its management address") as info:
            t.run(script("system/boot_time.ps1.j2", {}))
        assert info.value.transient
    store = LabStore(tmp_path / "lab", clock)
    assert store.load("hv-std01").management_lost is True
    store.alter("hv-std01", drift.delete_switch(sw))  # someone removes the switch at the console
    f = call(t, "facts/host.ps1.j2", probe_paths=[])
    assert f["switches"] == [] and f["adapters"][0]["management"] is True


def test_sharing_the_management_nic_drops_the_connection_for_seconds_then_keeps_it(tmp_path):
    clock = Clock()
    t = sim(tmp_path, clock, features=["File-Services", "Hyper-V"], network_drop_seconds=3)
    f = call(t, "facts/host.ps1.j2", probe_paths=[])
    mgmt, ips = f["adapters"][0]["name"], f["adapters"][0]["ips"]
    with pytest.raises(UnreachableError, match="connection reset"):  # SetupSwitch moved the addresses
        call(t, "hyperv_v1/vswitch_create.ps1.j2", name="Ext", type="external", adapter=mgmt, allow_management_os=True)
    clock.t += 2.9
    with pytest.raises(UnreachableError, match="moving to the host vNIC"):
        call(t, "facts/host.ps1.j2", probe_paths=[])
    clock.t += 0.2
    f = call(t, "facts/host.ps1.j2", probe_paths=[])
    assert [(a["ips"], a["management"]) for a in f["adapters"]] == [([], False), ([], False), (ips, True)]


# --------------------------------------------------------------------------- drift and persistence


@pytest.fixture
def lab(tmp_path):
    clock = Clock()
    store = LabStore(tmp_path / "lab", clock)
    seed = HostSeed("2008r2-standard", {"features": ["File-Services", "Hyper-V"]})
    with store.session("hv01", seed) as host:
        _ok(host, "v1", "vswitch_create", name="Lan", type="internal", adapter=None, allow_management_os=False)
        _ok(host, "v1", "vhd_create", path="D:\\web.vhd", size_bytes=1024**3, type="dynamic", parent=None)
        vm = _ok(host, "v1", "vm_create", name="web", memory_mb=1024, disks=[{"path": "D:\\web.vhd"}],
                 nics=[{"name": "n", "switch": "Lan", "mac": None, "legacy": False, "vlan": None}])
        _ok(host, "v1", "vm_state", id=vm["id"], name="web", state="running", graceful=False)
    return store, seed, vm["id"]


def test_model_round_trips_through_the_store(lab):
    store, seed, vm_id = lab
    with store.session("hv01", seed) as host:
        assert host.vms[0].nics[0].switch_id == host.switches[0].id
        assert host.adapters[-1].vnic_of == host.switches[0].id
        assert HostModel.from_dict(host.to_dict()).to_dict() == host.to_dict()


def test_drift_stop_vm_delete_switch_change_memory(lab):
    store, seed, vm_id = lab
    store.alter("hv01", drift.stop_vm("web"))
    store.alter("hv01", drift.set_vm(vm_id, memory_mb=2048, cpus=2))
    store.alter("hv01", drift.delete_switch("lan"))
    with store.session("hv01", seed) as host:
        f = facts_of(host, [])
        assert (f["vms"][0]["state"], f["vms"][0]["memory_mb"], f["vms"][0]["cpus"]) == ("off", 2048, 2)
        assert f["switches"] == [] and f["vms"][0]["nics"][0]["switch"] is None
        assert len(f["adapters"]) == 2  # the internal switch's host vNIC went with it
    store.alter("hv01", drift.delete_file("D:\\web.vhd"))
    with store.session("hv01", seed) as host:
        err = result(execute(host, script("hyperv_v1/vm_state.ps1.j2", {"id": vm_id, "name": "web",
                                                                          "state": "running", "graceful": False}), T0))
        assert err["error"]["type"] == "JobFailed" and "Cannot open attachment" in err["error"]["message"]
    store.alter("hv01", drift.delete_vm("web"))
    assert store.load("hv01").vms == []


def test_drift_errors(lab):
    store, _, _ = lab
    with pytest.raises(LabError, match="no VMs match 'nope'"):
        store.alter("hv01", drift.stop_vm("nope"))
    with pytest.raises(LabError, match="unknown VM field 'colour'"):
        drift.set_vm("web", colour="red")
    with pytest.raises(LabError, match="sim.vms\\[0\\].memory_mb: expected an integer"):
        store.alter("hv01", drift.set_vm("web", memory_mb="2 GB"))
    with pytest.raises(LabError, match="no file"):
        store.alter("hv01", drift.delete_file("Z:\\nothing.vhd"))
    store.alter("hv01", lambda h: h.vms.append(copy.deepcopy(h.vms[0])))
    with pytest.raises(LabError, match="2 VMs match 'web'"):
        store.alter("hv01", drift.stop_vm("web"))


def test_dynamic_macs_are_unique_per_host():
    host = build_host(*DATA["hosts"]["v2"], name="hv01", now=T0)
    nics = [{"name": f"n{i}", "switch": None, "mac": None, "legacy": False, "vlan": None} for i in range(8)]
    for i in range(20):
        vm = _ok(host, "v2", "vm_create", name=f"vm{i}", memory_mb=512, nics=nics)
        _ok(host, "v2", "vm_state", id=vm["id"], name=f"vm{i}", state="running", graceful=False)
    macs = [n.mac for vm in host.vms for n in vm.nics]
    assert len(macs) == 160 == len(set(macs))


def test_module_has_no_forbidden_imports():
    text = Path(hyperv.__file__).read_text() + Path(drift.__file__).read_text()
    assert not re.search(r"hvprov\.(modules|facts|render)|from \.\.(modules|facts|render)", text)
