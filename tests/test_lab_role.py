"""Issue 2 end to end on the simulated lab: prerequisites -> role -> reboot -> verify -> recap.

Runs the real site playbook and lab inventory through the CLI and the API, on a lab directory
of its own, limited to the role tasks (the switch/VM tasks are covered in test_lab_vms.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hvprov
from hvprov.cli import main

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
LAB = str(ROOT / "inventories" / "lab.yml")
FAST = '{"sim": {"reboot_seconds": 0.3}}'  # same seed for every run of a test: hosts persist

REFUSED = {
    "hv-web01": "edition Web Server (SKU 17) cannot run Hyper-V",
    "hv-fnd01": "edition Foundation (SKU 33) cannot run Hyper-V",
    "hv-nohv01": "Enterprise without Hyper-V (SKU 38) cannot run Hyper-V",
    "hv-ia64": "Itanium (IA-64) host: Hyper-V runs only on x64",
    "hv-vtoff01": "VMX not present or not enabled in BIOS",
}
CHANGED = ["hv-std01", "hv-ent01", "hv-dc01", "hv-core01", "hv-rtm01", "hv-2012r2", "hv-2019"]


def _apply_json(lab_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    code = main(["apply", SITE, "-i", LAB, "--lab-dir", str(lab_dir), "-e", FAST, "--skip-tags", "network,vms",
                 "-f", "13", "--format", "json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_apply_then_idempotent_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _apply_json(tmp_path, capsys)
    hosts = doc["hosts"]
    assert code == 2
    for name, why in REFUSED.items():
        assert hosts[name]["status"] == "failed", (name, hosts[name])
        assert why in hosts[name]["msg"], (name, hosts[name]["msg"])
    for name in CHANGED:
        assert hosts[name]["status"] == "changed", (name, hosts[name])
        tasks = {t["name"]: t for t in hosts[name]["tasks"]}
        role = tasks["Enable the Hyper-V role"]
        assert [c["resource"] for c in role["changes"]][0] == "feature/Hyper-V"
        assert tasks["Reboot into the hypervisor when the role needs it"]["status"] == "changed"
    assert hosts["hvs-2008r2"]["status"] == "ok"
    assert hosts["hvs-2008r2"]["changes"] == 0
    # the VT-off host installed the role and rebooted before verification failed: honest record
    vt = {t["name"]: t for t in hosts["hv-vtoff01"]["tasks"]}
    assert vt["Enable the Hyper-V role"]["status"] == "changed"
    assert "BIOS" in vt["Reboot into the hypervisor when the role needs it"]["msg"]
    assert doc["summary"]["hosts"] == {"ok": 1, "changed": 7, "failed": 5, "unreachable": 0}

    code2, doc2 = _apply_json(tmp_path, capsys)
    assert code2 == 2  # the refused hosts still fail, truthfully
    assert doc2["summary"]["changes"] == 0
    for name, h in doc2["hosts"].items():
        assert h["changes"] == 0, name
        assert h["round_trips"] == 1, (name, h["round_trips"])  # the facts script, nothing else
        assert h["status"] == ("failed" if name in REFUSED else "ok"), name


def test_plan_after_reset_lists_install_reboot_verify_and_changes_nothing(tmp_path: Path) -> None:
    assert main(["lab", "reset", "--lab-dir", str(tmp_path)]) == 0
    kwargs = dict(limit="hv-std01", lab_dir=tmp_path, extra_vars={"sim": {"reboot_seconds": 0.3}}, skip_tags=["network", "vms"])
    first = hvprov.plan(SITE, LAB, **kwargs)
    host = first.hosts["hv-std01"]
    planned = [(c.resource, c.action.value, c.disruptive) for t in host.tasks for c in t.changes]
    assert planned == [
        ("feature/Hyper-V", "install", False),
        ("feature/RSAT-Hyper-V", "install", False),
        ("host", "reboot", True),
        ("hypervisor", "verify", False),
    ]
    assert host.round_trips == 1
    state = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    assert state, "the plan contacted the simulated host"
    second = hvprov.plan(SITE, LAB, **kwargs)
    again = [(c.resource, c.action.value, c.disruptive) for t in second.hosts["hv-std01"].tasks for c in t.changes]
    assert again == planned
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.json")} == state  # a plan changes nothing
    assert first.exit_code(detailed=True) == 2


def test_detailed_exitcode_zero_when_converged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-i", LAB, "--lab-dir", str(tmp_path), "-e", FAST, "--skip-tags", "network,vms", "--limit", "hvs-2008r2,hv-2019"]
    assert main(["apply", SITE, *args]) == 0
    capsys.readouterr()
    assert main(["plan", SITE, *args, "--detailed-exitcode"]) == 0
    assert main(["plan", SITE, "-i", LAB, "--lab-dir", str(tmp_path / "fresh"), "-e", FAST, "--skip-tags",
                 "network,vms", "--limit", "hv-2019", "--detailed-exitcode"]) == 2
