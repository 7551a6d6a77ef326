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


# --------------------------------------------------------------------------- one unreadable object


def _broken_host_facts():
    from hvprov.facts import parse_facts
    from hvprov.scriptresult import parse_result
    from hvprov.sim.executor import execute
    from hvprov.sim.model import Vhd, Vm, VmDisk
    from hvprov.sim.profiles import build_host

    h = build_host("hyperv-server-2008r2", {}, name="hv01", now=1_790_000_000.0)
    for name, broken in (("good", None), ("bad", "Msvm_VirtualSystemSettingData: Invalid class")):
        path = f"C:\\VMs\\{name}.vhd"
        h.vhds.append(Vhd(path, 10 * 1024**3, unreadable=f"GetVirtualHardDiskInfo returned 32768 for {path}" if broken else None))
        h.vms.append(Vm(id=f"id-{name}", name=name, memory_mb=1024, disks=[VmDisk(path)], unreadable=broken))
    script = '# hvprov-template: facts/host.ps1.j2\n# hvprov-params: {"probe_paths":[]}\n'
    return parse_facts(parse_result(execute(h, script, 1_790_000_000.0), "facts"))


def test_one_unreadable_vm_or_vhd_is_reported_on_that_object() -> None:
    facts = _broken_host_facts()
    vms = {v.name: v for v in facts.vms}
    assert vms["good"].error is None and vms["good"].memory_mb == 1024
    assert vms["bad"].error == "Msvm_VirtualSystemSettingData: Invalid class" and vms["bad"].id == "id-bad"
    vhds = {v.path: v for v in facts.vhds}
    assert vhds["C:\\VMs\\good.vhd"].error is None
    assert "GetVirtualHardDiskInfo returned 32768" in (vhds["C:\\VMs\\bad.vhd"].error or "")


def test_plans_refuse_to_act_on_what_they_cannot_read() -> None:
    import pytest

    from hvprov.errors import TaskError
    from hvprov.modules import MODULES
    from hvprov.modules.base import PlanContext

    facts = _broken_host_facts()
    ctx = PlanContext("hv01", True, {})
    vm, vhd = MODULES["hyperv_vm"], MODULES["hyperv_vhd"]
    same = {"name": "good", "memory": 1024, "cpus": 1, "disks": ["C:\\VMs\\good.vhd"], "state": "off"}
    ok = vm.plan(vm.ArgsModel.model_validate(same), facts, ctx)
    assert not ok.changes, ok.changes  # the readable VM next to it plans as usual
    with pytest.raises(TaskError, match="could not be read"):
        vm.plan(vm.ArgsModel.model_validate({"name": "bad", "memory": 2048}), facts, ctx)
    with pytest.raises(TaskError, match="could not be read"):
        vhd.plan(vhd.ArgsModel.model_validate({"path": "C:\\VMs\\bad.vhd", "size": "20GB"}), facts, ctx)
    grown = vhd.plan(vhd.ArgsModel.model_validate({"path": "C:\\VMs\\good.vhd", "size": "20GB"}), facts, ctx)
    assert [c.action.value for c in grown.changes] == ["update"]
