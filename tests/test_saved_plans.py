"""Saved plans (issue 5): plan --out, apply the file, staleness per host and for inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import hvprov
from hvprov.api import apply_plan
from hvprov.cli import main
from hvprov.plans import StalePlanError, load_plan
from hvprov.sim.store import LabStore

ROOT = Path(__file__).resolve().parent.parent
FAST = {"sim": {"reboot_seconds": 0.2}}
HOSTS = "hv-std01,hv-2019,hv-web01"


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A copy of the playbooks and inventory, so input changes can be tested."""
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    return tmp_path


def _plan(ws: Path, out: Path, **kw: object) -> hvprov.RunResult:
    return hvprov.plan(str(ws / "playbooks" / "site.yml"), str(ws / "inventories" / "lab.yml"), lab_dir=ws / "lab",
                       limit=HOSTS, extra_vars=FAST, skip_tags=["network", "vms"], out=out, **kw)


def test_plan_out_then_apply_converges_and_reapply_is_stale(workspace: Path) -> None:
    out = workspace / "plan.json"
    planned = _plan(workspace, out)
    doc = json.loads(out.read_text())
    assert doc["format"] == "hvprov-plan/1"
    assert set(doc["hosts"]) == {"hv-std01", "hv-2019", "hv-web01"}
    saved_changes = {n: sum(len(v) for v in h["task_changes"].values()) for n, h in doc["hosts"].items()}
    assert saved_changes == {n: h.change_count + sum(1 for t in h.tasks for c in t.changes if not c.mutating)
                             for n, h in planned.hosts.items()}
    assert all(h["facts_digest"] for h in doc["hosts"].values())

    applied = apply_plan(out, lab_dir=workspace / "lab")
    assert applied.hosts["hv-std01"].status.value == "changed"
    assert applied.hosts["hv-2019"].status.value == "changed"
    assert applied.hosts["hv-web01"].status.value == "failed"
    assert applied.total_changes == planned.total_changes

    again = apply_plan(out, lab_dir=workspace / "lab")
    for name in ("hv-std01", "hv-2019"):
        assert again.hosts[name].status.value == "failed"
        assert "plan is stale" in again.hosts[name].msg and "features.installed" in again.hosts[name].msg
    assert again.total_changes == 0


def test_manual_change_refuses_only_that_host_and_names_it(workspace: Path) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    store = LabStore(workspace / "lab")
    store.alter("hv-2019", memory_mb=4096)  # someone swapped DIMMs after the plan was reviewed
    res = apply_plan(out, lab_dir=workspace / "lab")
    assert res.hosts["hv-2019"].status.value == "failed"
    assert "plan is stale for hv-2019" in res.hosts["hv-2019"].msg and "memory_mb: 65536 -> 4096" in res.hosts["hv-2019"].msg
    assert [t.name for t in res.hosts["hv-2019"].tasks] == ["Gathering Facts"]  # nothing else ran there
    assert res.hosts["hv-std01"].status.value == "changed"  # the others proceed


def test_stale_abort_touches_no_host(workspace: Path) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    LabStore(workspace / "lab").alter("hv-2019", memory_mb=4096)
    res = apply_plan(out, lab_dir=workspace / "lab", on_stale="abort")
    assert {h.status.value for h in res.hosts.values()} == {"failed"}
    assert res.total_changes == 0
    assert "--stale abort" in res.hosts["hv-std01"].msg


def test_changed_inputs_refuse_the_whole_plan(workspace: Path) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    gv = workspace / "inventories" / "group_vars" / "vm_hosts.yml"
    gv.write_text(gv.read_text().replace("memory: 1024", "memory: 2048"))
    with pytest.raises(StalePlanError, match="vm_hosts.yml changed"):
        apply_plan(out, lab_dir=workspace / "lab")


def test_show_renders_a_saved_plan(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "hv-std01: changed" in text and "feature/Hyper-V (install)" in text and "[disruptive]" in text
    assert load_plan(out).doc["summary"]["changes"] > 0


def test_secret_not_saved(workspace: Path) -> None:
    out = workspace / "plan.json"
    hvprov.plan(str(workspace / "playbooks" / "site.yml"), str(workspace / "inventories" / "lab.yml"),
                lab_dir=workspace / "lab", limit="hv-std01", extra_vars=FAST, secrets={"admin_pw": "Top-Secret-123"},
                skip_tags=["network", "vms"], out=out)
    assert "Top-Secret-123" not in out.read_text()
    with pytest.raises(hvprov.OptionsError, match="secret variables"):
        apply_plan(out, lab_dir=workspace / "lab")
