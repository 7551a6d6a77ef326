"""Facts never mislead (issue 10, item 4): a 2012+ host with the Hyper-V role but without the
Hyper-V PowerShell module says so (hypervisor.module false, inventory unverified) instead of
"no switches, no VMs"; the plan installs the module as a change (include_management_tools)
or fails in plan with the fix, never plan OK then "New-VMSwitch is not recognized"."""

from __future__ import annotations

from pathlib import Path

import hvprov

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")


def _inventory() -> dict:
    host = {"sim_profile": "2019-standard", "sim": {"reboot_seconds": 0.2, "features": ["Hyper-V"]}}
    return {"all": {"vars": {"ansible_connection": "sim", "vhd_ext": "vhdx", "vm_dir": "C:\\Hyper-V",
                             "vms": [{"name": "web01", "memory": 1024, "cpus": 1, "disk_size": "20GB",
                                      "switch": "Internal"}]},
                    "children": {"hyperv_hosts": {"hosts": {"hv-nomod": host}},
                                 "vm_hosts": {"hosts": {"hv-nomod": None}}}}}


def test_role_without_module_plans_the_module_then_converges(tmp_path: Path) -> None:
    plan = hvprov.plan(SITE, _inventory(), lab_dir=tmp_path)
    h = plan.hosts["hv-nomod"]
    assert h.facts["hypervisor"]["module"] is False and h.facts["unverified"] == ["inventory"]
    changes = [(c.resource, c.action.value, c.unknown) for t in h.tasks for c in t.changes if c.mutating]
    assert changes[0] == ("feature/Hyper-V-PowerShell", "install", False), changes
    assert ("vswitch/Internal", "create", True) in changes  # unread inventory: unknown until applied
    applied = hvprov.apply(SITE, _inventory(), lab_dir=tmp_path)
    assert applied.hosts["hv-nomod"].status.value == "changed", applied.hosts["hv-nomod"].msg
    again = hvprov.apply(SITE, _inventory(), lab_dir=tmp_path)
    assert again.hosts["hv-nomod"].change_count == 0


def test_role_without_module_and_no_tools_task_fails_in_plan_with_the_fix(tmp_path: Path) -> None:
    res = hvprov.plan(SITE, _inventory(), lab_dir=tmp_path, skip_tags=["role"])
    h = res.hosts["hv-nomod"]
    assert h.status.value == "failed" and h.change_count == 0
    assert "Hyper-V PowerShell module is not" in h.msg and "Install-WindowsFeature Hyper-V-PowerShell" in h.msg
