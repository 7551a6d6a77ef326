"""2008 R2 Server Core without PowerShell (issue 10, item 2).

Fresh Standard, Enterprise and Datacenter Server Core hosts (SKU 13, 14, 12) have no
powershell.exe: hvprov reads their facts with wmic/dism/reg/sc/bcdedit, plans "enable
PowerShell 2.0" before the role, applies it through cmd and converges; a rerun changes nothing.
Web Server Core (29) and the "without Hyper-V" Core SKUs (39-41) are refused before any change.
The facts read through cmd agree with the facts script's on every lab profile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import hvprov
from hvprov.cmdfacts import (
    POWERSHELL_FEATURES,
    bootstrap_command,
    cim_to_iso,
    parse_dism_features,
    parse_wmic_list,
    read_facts,
    wmic_array,
)
from hvprov.facts import parse_facts
from hvprov.scriptresult import parse_result
from hvprov.sim.cmdshell import split_args as split_command_line
from hvprov.sim.cmdtools import run_command_line
from hvprov.sim.executor import execute
from hvprov.sim.profiles import PROFILES, build_host
from hvprov.sim.rules import powershell_available

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
CORE = str(ROOT / "inventories" / "core.yml")
FAST = {"sim": {"reboot_seconds": 0.2}}
T0 = 1_790_000_000.0
SUPPORTED = {"hv-core-std01": 13, "hv-core-ent01": 14, "hv-core-dc01": 12}
REFUSED = {"hv-core-web01": 29, "hv-core-nohv39": 39, "hv-core-nohv40": 40, "hv-core-nohv41": 41}


def _changes(result: hvprov.RunResult, host: str) -> list[tuple[str, str]]:
    return [(c.resource, c.action.value) for t in result.hosts[host].tasks for c in t.changes if c.mutating]


@pytest.mark.parametrize("host", sorted(SUPPORTED))
def test_fresh_core_plans_bootstrap_then_role_applies_and_converges(host: str, tmp_path: Path) -> None:
    plan = hvprov.plan(SITE, CORE, limit=host, lab_dir=tmp_path, extra_vars=FAST)
    assert plan.hosts[host].status.value == "changed", plan.hosts[host].msg
    assert plan.hosts[host].facts["os"]["sku"] == SUPPORTED[host]
    assert plan.hosts[host].facts["os"]["ps_version"] == ""  # read without PowerShell
    planned = _changes(plan, host)
    assert planned[:3] == [("powershell", "install"), ("feature/Hyper-V", "install"), ("host", "reboot")], planned
    boot = next(c for t in plan.hosts[host].tasks for c in t.changes if c.resource == "powershell")
    assert boot.reason.startswith("enable PowerShell 2.0 (DISM: NetFx2-ServerCore, MicrosoftWindowsPowerShell, "
                                  "ServerManager-PSH-Cmdlets)")

    applied = hvprov.apply(SITE, CORE, limit=host, lab_dir=tmp_path, extra_vars=FAST)
    assert applied.hosts[host].status.value == "changed", applied.hosts[host].msg
    assert _changes(applied, host) == planned  # every planned change, in order
    assert applied.hosts[host].state["hypervisor_running"] is True
    assert {v["name"] for v in applied.hosts[host].state["vms"]} == {"web01", "app01", "lab01"}

    again = hvprov.apply(SITE, CORE, limit=host, lab_dir=tmp_path, extra_vars=FAST)
    assert again.hosts[host].status.value == "ok" and again.hosts[host].change_count == 0
    assert again.hosts[host].round_trips == 1  # PowerShell now runs the facts script


@pytest.mark.parametrize("host", sorted(REFUSED))
def test_core_editions_without_hyperv_are_refused_before_any_change(host: str, tmp_path: Path) -> None:
    for mode in ("plan", "apply"):
        res = hvprov.run(SITE, CORE, mode=mode, limit=host, lab_dir=tmp_path, extra_vars=FAST)
        h = res.hosts[host]
        assert h.status.value == "failed" and h.change_count == 0, (mode, h.msg)
        assert f"(SKU {REFUSED[host]}) cannot run Hyper-V" in h.msg
    after = hvprov.plan(SITE, CORE, limit=host, lab_dir=tmp_path, extra_vars=FAST).hosts[host].facts
    assert not set(POWERSHELL_FEATURES) & set(after["features"]["installed"])  # nothing was enabled
    assert after["bootstrap"] == list(POWERSHELL_FEATURES)


def test_bootstrap_off_fails_with_the_command_to_run(tmp_path: Path) -> None:
    host = "hv-core-std01"
    evars = {**FAST, "hvprov_bootstrap_powershell": False}
    for mode in ("plan", "apply"):
        h = hvprov.run(SITE, CORE, mode=mode, limit=host, lab_dir=tmp_path, extra_vars=evars).hosts[host]
        assert h.status.value == "failed" and h.change_count == 0
        assert bootstrap_command(POWERSHELL_FEATURES) in h.msg and "hvprov_bootstrap_powershell" in h.msg
    res = hvprov.plan(SITE, CORE, limit=host, lab_dir=tmp_path, extra_vars={**FAST, "hvprov_bootstrap_powershell": "maybe"})
    assert "expected a boolean" in res.hosts[host].msg


# --------------------------------------------------------------------------- cmd-level facts


def _ps_facts(profile: str) -> dict:
    h = build_host(profile, {}, name="hv01", now=T0)
    script = '# hvprov-template: facts/host.ps1.j2\n# hvprov-params: {"probe_paths":[]}\n'
    return parse_result(execute(h, script, T0), "facts")


@pytest.mark.parametrize("profile", sorted(p for p in PROFILES if p.startswith("2008r2")))
def test_cmd_facts_agree_with_the_facts_script(profile: str) -> None:
    """Where both can read a fact, wmic & co. and the facts script say the same (lab profiles
    whose PowerShell exists answer both ways)."""
    h = build_host(profile, {}, name="hv01", now=T0)
    cmd = parse_facts(read_facts(lambda line: run_command_line(h, line, T0)))
    if not powershell_available(h):  # no facts script: compare with the model itself
        assert (cmd.os.sku, cmd.os.version, cmd.memory_mb) == (h.sku, h.version, h.memory_mb)
        assert cmd.bootstrap == POWERSHELL_FEATURES
        return
    ps = parse_facts(_ps_facts(profile))
    assert cmd.hostname == ps.hostname and cmd.os.sku == ps.os.sku and cmd.os.version == ps.os.version
    assert (cmd.os.build, cmd.os.os_architecture, cmd.os.last_boot, cmd.os.caption) == (
        ps.os.build, ps.os.os_architecture, ps.os.last_boot, ps.os.caption)
    assert (cmd.cpu, cmd.dep, cmd.memory_mb, cmd.server_core) == (ps.cpu, ps.dep, ps.memory_mb, ps.server_core)
    assert cmd.pending_reboot == ps.pending_reboot and cmd.hypervisor.launch_type == ps.hypervisor.launch_type
    assert cmd.adapters == ps.adapters
    if ps.features.tool == "dism":
        assert set(cmd.features.installed) == set(ps.features.installed)
    assert cmd.features.hyperv_available == ps.features.hyperv_available


def test_wmic_list_dism_table_and_cim_dates_parse() -> None:
    text = "\r\r\n\r\r\nOperatingSystemSKU=13\r\r\nOSArchitecture=64-bit\r\r\nVersion=6.1.7601\r\r\n\r\r\n\r\r\n"
    assert parse_wmic_list(text) == [{"OperatingSystemSKU": "13", "OSArchitecture": "64-bit", "Version": "6.1.7601"}]
    two = "\r\r\n\r\r\nIndex=1\r\r\nIPAddress={\"192.0.2.10\",\"fe80::1\"}\r\r\n\r\r\n\r\r\nIndex=2\r\r\nIPAddress=\r\r\n"
    rows = parse_wmic_list(two)
    assert [wmic_array(r["IPAddress"]) for r in rows] == [["192.0.2.10", "fe80::1"], []]
    table = ("Feature Name                 | State\r\n-----------------------------| --------\r\n"
             "NetFx2-ServerCore            | Enabled\r\nMicrosoft-Hyper-V            | Enable Pending\r\n")
    assert parse_dism_features(table) == {"NetFx2-ServerCore": "Enabled", "Microsoft-Hyper-V": "Enable Pending"}
    assert cim_to_iso("20261124110000.500000+060") == "2026-11-24T10:00:00Z"  # offset in minutes east of UTC
    assert split_command_line('reg query "HKLM\\A B" /v X') == ["reg", "query", "HKLM\\A B", "/v", "X"]


def test_lab_tools_answer_as_windows_does() -> None:
    h = build_host("2008r2-standard-core", {}, name="hv01", now=T0)
    assert run_command_line(h, "powershell -NoProfile", T0).rc == 9009
    bad = run_command_line(h, "wmic cpu get VirtualizationFirmwareEnabled /format:list", T0)
    assert bad.rc != 0 and "Invalid query" in bad.stderr  # the property does not exist before 2012
    step = run_command_line(h, "dism /online /enable-feature /featurename:MicrosoftWindowsPowerShell /norestart", T0)
    assert step.rc != 0 and "NetFx2-ServerCore" in step.stdout  # needs its parent first
    wrong_case = run_command_line(h, bootstrap_command([n.lower() for n in POWERSHELL_FEATURES]), T0)
    assert wrong_case.rc != 0  # feature names are case-sensitive on 6.1
    ok = run_command_line(h, bootstrap_command(POWERSHELL_FEATURES), T0)
    assert ok.rc == 0 and "completed successfully" in ok.stdout
    role = run_command_line(h, "dism /online /enable-feature /featurename:Microsoft-Hyper-V /norestart", T0)
    assert role.rc == 3010 and "Restart Windows" in role.stdout


def test_hyperv_server_without_powershell_reads_the_role_and_bootstraps_before_the_switch(tmp_path: Path) -> None:
    """Hyper-V Server 2008 R2 (SKU 42) without PowerShell: DISM shows the role, sc shows vmms and
    hvboot running; the switch inventory cannot be read, so the switch is unknown in the plan."""
    play = [{"name": "p", "hosts": "all", "gather_facts": True, "tasks": [
        {"name": "prereqs", "hyperv_prereqs": {}},
        {"name": "role", "windows_feature": {"name": "Hyper-V", "include_management_tools": True}},
        {"name": "reboot", "reboot": {"delay": 0, "poll_interval": 0.5}},
        {"name": "switch", "hyperv_vswitch": {"name": "Lan", "type": "internal"}}]}]
    inv = {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"hvs-fresh": {
        "sim_profile": "hyperv-server-2008r2", "sim": {"features": ["Hyper-V"], "reboot_seconds": 0.2}}}}}

    def run(mode: str) -> list[tuple[str, str, list[tuple[str, str, bool]]]]:
        h = hvprov.run(play, inv, mode=mode, lab_dir=tmp_path).hosts["hvs-fresh"]
        assert h.status.value in ("ok", "changed"), h.msg
        return [(t.name, t.status.value, [(c.resource, c.action.value, c.unknown) for c in t.changes]) for t in h.tasks]

    planned = run("plan")
    assert planned[1:4] == [("prereqs", "ok", []), ("role", "ok", []), ("reboot", "ok", [])]
    assert planned[4] == ("switch", "changed", [("powershell", "install", False), ("vswitch/Lan", "create", True)])
    applied = run("apply")
    assert applied[4] == ("switch", "changed", [("powershell", "install", False), ("vswitch/Lan", "create", False)])
    assert run("apply")[4] == ("switch", "ok", [])
