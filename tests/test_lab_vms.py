"""Issue 3 end to end: switches, VHDs and VMs on both back ends, property-level diffs,
limits refused in plan, teardown; on the in-process simulated lab."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import hvprov
from hvprov.cli import main

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ["hv-std01", "hv-ent01", "hv-dc01", "hv-core01", "hv-rtm01", "hv-2012r2", "hv-2019"]
FAST = {"sim": {"reboot_seconds": 0.2}}


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace copy of the playbooks and inventory, and a lab the site playbook converged."""
    ws = tmp_path_factory.mktemp("ws")
    shutil.copytree(ROOT / "playbooks", ws / "playbooks")
    shutil.copytree(ROOT / "inventories", ws / "inventories")
    first = hvprov.apply(str(ws / "playbooks" / "site.yml"), str(ws / "inventories" / "lab.yml"),
                         lab_dir=ws / "lab", extra_vars=FAST, forks=13)
    for name in SUPPORTED:
        h = first.hosts[name]
        assert h.status.value == "changed", (name, h.msg)
        assert {s["name"]: s["type"] for s in h.state["switches"]} == {"External": "external", "Internal": "internal", "Private": "private"}
        assert {v["name"]: (v["state"], v["memory_mb"], v["switches"]) for v in h.state["vms"]} == {
            "web01": ("running", 1024, ["External"]), "app01": ("running", 2048, ["Internal"]),
            "lab01": ("running", 512, ["Private"])}, name
        ext = next(s for s in h.state["switches"] if s["name"] == "External")
        assert ext["adapter"] and not ext["allow_management_os"]
    assert first.hosts["hvs-2008r2"].status.value == "ok"
    return ws


def _run(ws: Path, *args: str) -> int:
    return main([args[0], str(ws / "playbooks" / args[1]), "-i", str(ws / "inventories" / "lab.yml"),
                 "--lab-dir", str(ws / "lab"), "-e", json.dumps(FAST), "-f", "13", *args[2:]])


def test_second_run_changes_nothing_in_one_round_trip(converged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _run(converged, "apply", "site.yml", "--format", "json") == 2  # the refused editions still fail
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["changes"] == 0
    for name in SUPPORTED + ["hvs-2008r2"]:
        assert doc["hosts"][name]["status"] == "ok", name
        assert doc["hosts"][name]["round_trips"] == 1, name


def test_drift_made_outside_hvprov_is_detected(converged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--limit", "hv-std01,hv-2019", "--detailed-exitcode"]
    capsys.readouterr()
    assert _run(converged, "plan", "site.yml", *args) == 0  # converged: nothing to do
    assert main(["lab", "alter", "hv-std01", "--stop-vm", "web01", "--lab-dir", str(converged / "lab")]) == 0
    assert main(["lab", "alter", "hv-2019", "--delete-switch", "Private", "--lab-dir", str(converged / "lab")]) == 0
    capsys.readouterr()
    assert _run(converged, "plan", "site.yml", *args) == 2
    out = capsys.readouterr().out
    assert "> vm/web01 (start): state running" in out  # std01's drift, named
    assert "+ vswitch/Private (create): does not exist" in out  # 2019's drift
    assert "vm/lab01 (update)" in out  # its NIC lost the deleted switch: reconnect planned
    assert _run(converged, "apply", "site.yml", "--limit", "hv-std01,hv-2019") == 0
    assert _run(converged, "plan", "site.yml", *args) == 0


def test_raising_a_vm_memory_plans_and_applies_exactly_one_update(converged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gv = converged / "inventories" / "group_vars" / "vm_hosts.yml"
    data = yaml.safe_load(gv.read_text())
    data["vms"][0]["memory"] = 2048  # web01: 1024 -> 2048
    data["allow_vm_restart"] = True  # web01 runs: static memory needs it off (disruptive)
    gv.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert _run(converged, "plan", "site.yml", "--diff", "--limit", "vm_hosts:!hv-vtoff01", "--detailed-exitcode") == 2
    out = capsys.readouterr().out
    for name in [h for h in SUPPORTED]:
        block = [line for line in out.splitlines() if f"[{name}]" in line and "would change" in line]
        assert len(block) == 1 and "VM web01" in block[0], (name, block)
    assert out.count("~ vm/web01 (update) [disruptive]") == len(SUPPORTED)
    assert out.count("~ memory: 1024 MB → 2048 MB") == len(SUPPORTED)
    applied = hvprov.apply(str(converged / "playbooks" / "site.yml"), str(converged / "inventories" / "lab.yml"),
                           lab_dir=converged / "lab", extra_vars=FAST, limit="vm_hosts:!hv-vtoff01", forks=13)
    for name in SUPPORTED:
        h = applied.hosts[name]
        changes = [(c.resource, c.action.value, c.before, c.after) for t in h.tasks for c in t.changes]
        assert changes == [("vm/web01", "update", {"memory": "1024 MB"}, {"memory": "2048 MB"})], (name, changes)
        web = next(v for v in h.state["vms"] if v["name"] == "web01")
        assert (web["memory_mb"], web["state"]) == (2048, "running")


@pytest.mark.parametrize("host, task, expected", [
    ("hv-std01", {"hyperv_vm": {"name": "big", "cpus": 8}}, "allows at most 4 virtual processors per VM (asked 8)"),
    ("hv-dc01", {"hyperv_vm": {"name": "big", "memory": "80GB"}}, "allows at most 64 GB of memory per VM (asked 80 GB)"),
    ("hv-std01", {"hyperv_vhd": {"path": "C:\\\\Hyper-V\\\\x.vhdx", "size": "10GB"}}, "VHDX needs Windows Server 2012 or later"),
    ("hv-std01", {"hyperv_vm": {"name": "g2", "generation": 2}}, "generation 2 VMs need Windows Server 2012 R2 or later"),
    ("hv-std01", {"hyperv_vswitch": {"name": "Mgmt", "adapter": "{{ hvprov_facts.adapters | selectattr('management') | map(attribute='name') | first }}",
                                     "allow_management_os": False}}, "carries this host's management connection"),
])
def test_limits_fail_in_plan_before_any_change(converged: Path, host: str, task: dict, expected: str) -> None:
    pb = [{"hosts": host, "tasks": [{"name": "ok first", "hyperv_vswitch": {"name": "Extra", "type": "private"}},
                                    {"name": "refused", **task}]}]
    res = hvprov.plan(pb, str(converged / "inventories" / "lab.yml"), lab_dir=converged / "lab", extra_vars=FAST)
    h = res.hosts[host]
    assert h.status.value == "failed" and expected in h.msg, h.msg
    applied = hvprov.apply([{"hosts": host, "tasks": [{"name": "refused", **task}]}],
                           str(converged / "inventories" / "lab.yml"), lab_dir=converged / "lab", extra_vars=FAST)
    assert applied.hosts[host].status.value == "failed" and applied.hosts[host].round_trips == 1  # facts only


def test_teardown_leaves_nothing_and_twice_changes_nothing(converged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = hvprov.apply(str(converged / "playbooks" / "teardown.yml"), str(converged / "inventories" / "lab.yml"),
                         lab_dir=converged / "lab", extra_vars=FAST, forks=13)
    for name in SUPPORTED:
        h = first.hosts[name]
        assert h.status.value == "changed", (name, h.msg)
        assert h.state["vms"] == [] and h.state["switches"] == [], name
    second = hvprov.apply(str(converged / "playbooks" / "teardown.yml"), str(converged / "inventories" / "lab.yml"),
                          lab_dir=converged / "lab", extra_vars=FAST, forks=13)
    assert second.total_changes == 0
    assert {h.status.value for n, h in second.hosts.items() if n in SUPPORTED} == {"ok"}
