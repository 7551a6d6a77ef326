"""A playbook written for ansible.windows (win_feature with include_management_tools and
register, `when: feat.reboot_required`, win_reboot with its arguments) runs unchanged on the lab's
2008 R2 and 2019 hosts, registering ansible.windows' documented result keys; arguments hvprov
cannot honour are refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest

import hvprov.api as api
from hvprov.errors import InputError

INVENTORY = {"all": {"vars": {"ansible_connection": "sim", "sim": {"reboot_seconds": 1}},
                     "hosts": {"hv-std01": {"sim_profile": "2008r2-standard"},
                               "hv-2019": {"sim_profile": "2019-standard"}}}}

PLAYBOOK = """\
- hosts: all
  tasks:
    - name: Hyper-V role
      ansible.windows.win_feature:
        name: Hyper-V
        state: present
        include_management_tools: true
      register: feat
    - name: Reboot when the role asks for it
      ansible.windows.win_reboot:
        msg: Hyper-V role installed
        pre_reboot_delay: 0
        post_reboot_delay_sec: 0
        reboot_timeout: 600
        connect_timeout: 5
      register: rebooted
      when: feat.reboot_required
    - assert:
        that:
          - feat.success
          - feat.exitcode in ['Success', 'SuccessRestartRequired', 'NoChangeNeeded']
          - feat.feature_result is sequence
          - rebooted is skipped or (rebooted.rebooted and rebooted.elapsed is number)
"""


def test_ansible_windows_playbook_runs_unchanged_on_2008r2_and_2019(tmp_path: Path) -> None:
    pb = tmp_path / "site.yml"
    pb.write_text(PLAYBOOK)
    first = api.apply(pb, INVENTORY, lab_dir=tmp_path / "lab")
    assert not first.failed, first.to_dict()
    for host in ("hv-std01", "hv-2019"):
        tasks = first.hosts[host].tasks
        feat = next(t for t in tasks if t.name == "Hyper-V role")
        assert feat.status.value == "changed"
        assert feat.data["reboot_required"] is True and feat.data["exitcode"] == "SuccessRestartRequired"
        assert [e["name"] for e in feat.data["feature_result"]] and feat.data["success"] is True
        reboot = next(t for t in tasks if t.name == "Reboot when the role asks for it")
        assert reboot.status.value == "changed" and reboot.data["rebooted"] is True
        assert reboot.data["elapsed"] >= 0
    again = api.apply(pb, INVENTORY, lab_dir=tmp_path / "lab")
    for host in ("hv-std01", "hv-2019"):
        tasks = again.hosts[host].tasks
        feat = next(t for t in tasks if t.name == "Hyper-V role")
        assert feat.status.value == "ok" and feat.data["exitcode"] == "NoChangeNeeded"
        assert feat.data["reboot_required"] is False
        assert next(t for t in tasks if t.name == "Reboot when the role asks for it").status.value == "skipped"


def test_plan_predicts_the_registered_reboot_required(tmp_path: Path) -> None:
    pb = tmp_path / "site.yml"
    pb.write_text(PLAYBOOK)
    res = api.plan(pb, INVENTORY, lab_dir=tmp_path / "lab")
    assert not res.failed
    for host in ("hv-std01", "hv-2019"):
        statuses = [t.status.value for t in res.hosts[host].tasks if t.name.startswith(("Hyper-V", "Reboot"))]
        assert statuses == ["changed", "changed"]


@pytest.mark.parametrize(("module", "args", "reason"), [
    ("ansible.windows.win_feature", "name: Web-Server\n        include_sub_features: true", "include_sub_features"),
    ("ansible.windows.win_feature", "name: NET-Framework-Core\n        source: 'D:\\\\sources\\\\sxs'", "source"),
    ("ansible.windows.win_reboot", "test_command: Get-Service WinRM", "test_command"),
    ("ansible.windows.win_reboot", "boot_time_command: date", "boot_time_command"),
    ("ansible.windows.win_reboot", "shutdown_timeout: 600", "shutdown_timeout"),
])
def test_unsupported_arguments_refused_at_load(tmp_path: Path, module: str, args: str, reason: str) -> None:
    pb = tmp_path / "pb.yml"
    pb.write_text(f"- hosts: all\n  tasks:\n    - {module}:\n        {args}\n")
    with pytest.raises(InputError) as info:
        api.plan(pb, INVENTORY, lab_dir=tmp_path / "lab")
    assert reason in str(info.value) and f"{pb}:" in str(info.value)
