"""The simulator's answers to rendered scripts: header parsing, facts, features, reboot, scripts."""

from __future__ import annotations

import json

import pytest

from hvprov.errors import RemoteError, ResultParseError
from hvprov.scriptresult import RESULT_PREFIX, parse_result
from hvprov.sim.executor import HANDLERS, execute, parse_header
from hvprov.sim.model import HostModel, Vhd, Vm, VmDisk
from hvprov.sim.profiles import build_host
from hvprov.transports.base import ExecResult

T0 = 1_800_000_000.0


def script(template: str, **params: object) -> str:
    header = f"# hvprov-template: {template}\n# hvprov-params: {json.dumps(params, separators=(',', ':'))}\n"
    return header + "$ErrorActionPreference = 'Stop'\nImport-Module ServerManager\nAdd-WindowsFeature $names\n"


def host(profile: str = "2008r2-standard", **overrides: object) -> HostModel:
    return build_host(profile, overrides, name="hv01", now=T0)


def run(h: HostModel, template: str, now: float = T0, **params: object) -> ExecResult:
    return execute(h, script(template, **params), now)


def data(res: ExecResult, template: str = "t") -> dict:
    assert res.rc == 0, res.stdout
    return parse_result(res, template)


def error(res: ExecResult) -> dict:
    assert res.rc == 1, res.stdout
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    assert len(lines) == 1
    payload = json.loads(lines[0][len(RESULT_PREFIX):])
    assert payload["ok"] is False
    return payload["error"]


def facts(h: HostModel, probe_paths: list[str] | None = None) -> dict:
    return data(run(h, "facts/host.ps1.j2", probe_paths=probe_paths or []))


# --------------------------------------------------------------------------- header


def test_parse_header():
    assert parse_header(script("feature/dism_v1.ps1.j2", names=["Microsoft-Hyper-V"], state="present")) == (
        "feature/dism_v1.ps1.j2", {"names": ["Microsoft-Hyper-V"], "state": "present"})


@pytest.mark.parametrize(
    "text, message",
    [
        ("Write-Host hi\n", "does not start with"),
        ("# hvprov-template: facts/host.ps1.j2\nWrite-Host hi\n", "does not start with"),
        ("# hvprov-template: facts/host.ps1.j2\n# hvprov-params: {nope}\n", "not valid JSON"),
        ("# hvprov-template: facts/host.ps1.j2\n# hvprov-params: [1]\n", "not a JSON object"),
        ("", "does not start with"),
    ],
)
def test_malformed_header_is_a_parse_error(text, message):
    err = error(execute(host(), text, T0))
    assert err["type"] == "HeaderParseError" and message in err["message"]


def test_crlf_header_is_accepted():
    text = script("system/boot_time.ps1.j2").replace("\n", "\r\n")
    assert data(execute(host(), text, T0))["hostname"] == "HV01"


def test_unknown_template_is_not_supported():
    err = error(run(host(), "hyperv_v1/vswitch_update.ps1.j2", name="External"))
    assert err["type"] == "NotSupportedBySimulator"
    with pytest.raises(RemoteError, match="vswitch_update"):
        parse_result(run(host(), "hyperv_v1/vswitch_update.ps1.j2"), "hyperv_v1/vswitch_update.ps1.j2")


def test_every_contract_template_has_a_handler():
    assert {k for k in HANDLERS if not k.startswith("hyperv_")} == {"facts/host", "feature/servermanager_v1", "feature/dism_v1",
                             "feature/servermanager_v2", "system/reboot", "system/boot_time",
                             "powershell/script", "system/lease", "powershell/process", "powershell/structured"}


@pytest.mark.parametrize(
    "template, params",
    [
        ("feature/servermanager_v1.ps1.j2", {"state": "present"}),
        ("feature/servermanager_v1.ps1.j2", {"names": "Hyper-V", "state": "present"}),
        ("feature/servermanager_v1.ps1.j2", {"names": [], "state": "present"}),
        ("feature/servermanager_v1.ps1.j2", {"names": ["Hyper-V"], "state": "installed"}),
        ("system/reboot.ps1.j2", {"reason": "x", "delay_seconds": "soon"}),
        ("powershell/script.ps1.j2", {"creates": None}),
    ],
)
def test_bad_params_are_a_binding_error(template, params):
    assert error(run(host(), template, **params))["type"].endswith("ParameterBindingException")


# --------------------------------------------------------------------------- facts

CONTRACT_KEYS = {
    "": {"hostname", "os", "cpu", "dep", "memory_mb", "server_core", "pending_reboot", "features",
         "hypervisor", "adapters", "switches", "vms", "vhds", "unverified"},
    "os": {"caption", "version", "build", "sku", "sp_major", "product_type", "os_architecture",
           "installation_type", "last_boot", "ps_version"},
    "cpu": {"architecture", "address_width", "manufacturer", "name", "cores", "logical", "vmx",
            "vt_firmware", "slat"},
    "dep": {"available", "policy"},
    "pending_reboot": {"cbs", "windows_update", "file_rename", "computer_rename"},
    "features": {"tool", "installed", "hyperv_available"},
    "hypervisor": {"present", "vmms", "hvboot", "launch_type", "launch_error", "module"},
}


def test_facts_have_exactly_the_contract_shape():
    h = host(features=["Hyper-V"])
    h.vms.append(Vm(id="g1", name="web01", state="running", disks=[VmDisk("C:\\VMs\\web01.vhd")]))
    h.vhds.append(Vhd("C:\\VMs\\web01.vhd", 21474836480))
    f = facts(h)
    for key, expected in CONTRACT_KEYS.items():
        assert set(f[key] if key else f) == expected, key
    assert set(f["adapters"][0]) == {"name", "description", "mac", "ips", "management", "bound_switch"}
    assert set(f["vms"][0]) == {"id", "name", "state", "memory_mb", "dynamic_memory", "memory_min_mb",
                                "memory_max_mb", "cpus", "generation", "notes", "disks", "nics"}
    assert set(f["vhds"][0]) == {"path", "size", "type", "format", "parent"}


# profile -> expected facts (dotted path -> value)
FACTS_TABLE = {
    "2008r2-standard": {"os.caption": "Microsoft Windows Server 2008 R2 Standard ", "os.sku": 7,
                        "os.build": 7601, "os.sp_major": 1, "os.os_architecture": "64-bit",
                        "os.installation_type": None, "os.ps_version": "2.0", "cpu.architecture": 9,
                        "cpu.vmx": None, "cpu.vt_firmware": None, "cpu.slat": None,
                        "features.tool": "servermanager", "features.hyperv_available": True,
                        "hypervisor.present": None, "hypervisor.vmms": None, "hypervisor.hvboot": None,
                        "server_core": False, "dep.available": True},
    "2008r2-standard-rtm": {"os.version": "6.1.7600", "os.build": 7600, "os.sp_major": 0},
    "2008r2-datacenter-core": {"os.sku": 12, "server_core": True, "features.tool": "dism",
                               "features.installed": ["NetFx2-ServerCore", "MicrosoftWindowsPowerShell"],
                               "features.hyperv_available": True},
    "2008r2-web": {"os.sku": 17, "features.hyperv_available": False},
    "2008r2-foundation": {"os.sku": 33, "features.hyperv_available": False},
    "2008r2-enterprise-nohv": {"os.sku": 38, "features.hyperv_available": False},
    "2008r2-itanium": {"os.sku": 15, "cpu.architecture": 6, "cpu.address_width": 64,
                       "features.hyperv_available": False},
    "2008r2-standard-vtoff": {"cpu.vt_firmware": None, "features.hyperv_available": True},
    "hyperv-server-2008r2": {"os.sku": 42, "os.caption": "Microsoft Hyper-V Server 2008 R2 ",
                             "server_core": True, "hypervisor.vmms": "Running", "hypervisor.hvboot": "Running",
                             "hypervisor.launch_type": "Auto", "hypervisor.present": None},
    "2012r2-datacenter": {"os.caption": "Microsoft Windows Server 2012 R2 Datacenter", "os.ps_version": "4.0",
                          "os.installation_type": "Server", "cpu.vmx": True, "cpu.vt_firmware": True,
                          "cpu.slat": True, "hypervisor.present": False, "hypervisor.hvboot": None},
    "2019-standard": {"os.version": "10.0.17763", "os.build": 17763, "os.ps_version": "5.1",
                      "hypervisor.present": False},
}


def _get(d: dict, path: str) -> object:
    for part in path.split("."):
        d = d[part]
    return d


@pytest.mark.parametrize("profile", sorted(FACTS_TABLE))
def test_facts_per_profile(profile):
    f = facts(host(profile))
    got = {path: _get(f, path) for path in FACTS_TABLE[profile]}
    assert got == FACTS_TABLE[profile]
    assert f["hostname"] == "HV01" and f["os"]["last_boot"] == "2027-01-12T08:00:00Z"


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"version": "6.3.9600", "vt_enabled": False}, {"cpu.vmx": True, "cpu.vt_firmware": False}),
        ({"version": "6.3.9600", "vt_supported": False}, {"cpu.vmx": False, "cpu.vt_firmware": False}),
        ({"version": "6.3.9600", "features": ["Hyper-V"]},  # a running hypervisor hides VT from WMI
         {"hypervisor.present": True, "cpu.vmx": False, "cpu.vt_firmware": False, "cpu.slat": False}),
        ({"version": "6.3.9600", "features": ["Hyper-V"], "hypervisor_hides_cpu_features": False},
         {"hypervisor.present": True, "cpu.vmx": True, "cpu.vt_firmware": True}),
        ({"server_core": True, "version": "6.3.9600"}, {"os.installation_type": "Server Core", "server_core": True}),
        ({"pending_reboot": {"windows_update": True}}, {"pending_reboot.windows_update": True,
                                                        "pending_reboot.cbs": False}),
        ({"dep_available": False, "dep_policy": 0}, {"dep.available": False, "dep.policy": 0}),
        ({"arch": "x86"}, {"cpu.architecture": 0, "cpu.address_width": 32, "os.os_architecture": "32-bit",
                           "features.hyperv_available": False}),
        ({"os_architecture": "64 Bit"}, {"os.os_architecture": "64 Bit"}),
        ({"role_offered": False}, {"features.hyperv_available": False}),
        ({"features": ["Hyper-V"], "vt_enabled": False},
         {"hypervisor.vmms": "Running", "hypervisor.hvboot": "Stopped", "hypervisor.launch_type": "Auto",
          "hypervisor.launch_error": "Hyper-V launch failed; Either VMX not present or not enabled in BIOS."}),
        ({"memory_mb": 4096}, {"memory_mb": 4096}),
    ],
)
def test_facts_follow_the_model(overrides, expected):
    f = facts(host(**overrides))
    assert {path: _get(f, path) for path in expected} == expected


def test_management_adapter_is_the_one_with_the_gateway():
    adapters = facts(host())["adapters"]
    assert [a["management"] for a in adapters] == [True, False]
    assert adapters[0]["name"] == "Local Area Connection" and adapters[0]["ips"]
    assert facts(host("2019-standard"))["adapters"][1]["name"] == "Ethernet 2"


def test_vhds_are_attached_plus_existing_probes():
    h = host(features=["Hyper-V"])
    h.vhds = [Vhd("C:\\VMs\\a.vhd", 1024), Vhd("D:\\Spare\\b.vhd", 2048, "fixed"), Vhd("D:\\x.vhd", 512)]
    h.vms = [Vm(id="1", name="a", disks=[VmDisk("C:\\VMs\\a.vhd")])]
    f = facts(h, ["d:/spare/B.VHD", "E:\\missing.vhd", "C:\\VMs\\a.vhd"])
    assert [v["path"] for v in f["vhds"]] == ["C:\\VMs\\a.vhd", "D:\\Spare\\b.vhd"]


def test_switches_and_vms_are_invisible_without_the_role():
    h = host()
    h.vms = [Vm(id="1", name="a")]
    assert facts(h)["vms"] == []
    h.features.append("Hyper-V")
    assert [v["name"] for v in facts(h)["vms"]] == ["a"]


def test_facts_parse_with_hvprovs_own_parser():
    """Contract cross-check (the simulator itself never imports hvprov.facts)."""
    from hvprov.facts import parse_facts

    for profile in FACTS_TABLE:
        parsed = parse_facts(facts(host(profile)))
        assert parsed.hostname == "HV01"
    assert parse_facts(facts(host("hyperv-server-2008r2"))).hypervisor.running is True


def test_server_core_without_powershell_cannot_run_scripts():
    res = run(host("2008r2-datacenter-core", features=["NetFx2-ServerCore"]), "facts/host.ps1.j2", probe_paths=[])
    assert res.rc == 9009 and "'powershell.exe' is not recognized" in res.stderr
    with pytest.raises(ResultParseError, match="exit code 9009"):
        parse_result(res, "facts/host.ps1.j2")


# --------------------------------------------------------------------------- features

SM1, SM2, DISM = "feature/servermanager_v1.ps1.j2", "feature/servermanager_v2.ps1.j2", "feature/dism_v1.ps1.j2"
OK_RESTART = {"success": True, "exit_code": "SuccessRestartRequired", "restart_needed": "Yes", "changed": ["Hyper-V"]}
NO_CHANGE = {"success": True, "exit_code": "NoChangeNeeded", "restart_needed": "No", "changed": []}
BLOCKED = {"success": False, "exit_code": "FailedRestartRequired", "restart_needed": "Yes", "changed": []}
NOT_VALID = ("System.ArgumentException", "The role, role service, or feature name is not valid: 'Hyper-V'")
NO_VT = ("System.InvalidOperationException", "The processor does not have required virtualization capabilities")

# (id, profile, overrides, template, params, expected data | (error type, message part), cbs after)
FEATURE_CASES = [
    ("fresh 2008 R2", "2008r2-standard", {}, SM1, {"names": ["Hyper-V"]}, OK_RESTART, True),
    ("RTM", "2008r2-standard-rtm", {}, SM1, {"names": ["Hyper-V"]}, OK_RESTART, True),
    ("enterprise", "2008r2-enterprise", {}, SM1, {"names": ["hyper-v"]}, OK_RESTART, True),
    ("already installed", "2008r2-standard", {"features": ["Hyper-V"]}, SM1, {"names": ["Hyper-V"]}, NO_CHANGE, False),
    ("hyper-v server", "hyperv-server-2008r2", {}, SM1, {"names": ["Hyper-V"]}, NO_CHANGE, False),
    ("pending CBS reboot", "2008r2-standard", {"pending_reboot": True}, SM1, {"names": ["Hyper-V"]}, BLOCKED, True),
    ("pending reboot, no-op", "2008r2-standard", {"pending_reboot": True, "features": ["Hyper-V"]}, SM1,
     {"names": ["Hyper-V"]}, NO_CHANGE, True),
    ("windows update reboot does not block", "2008r2-standard", {"pending_reboot": {"windows_update": True}}, SM1,
     {"names": ["Hyper-V"]}, OK_RESTART, True),
    ("web", "2008r2-web", {}, SM1, {"names": ["Hyper-V"]}, NOT_VALID, False),
    ("foundation", "2008r2-foundation", {}, SM1, {"names": ["Hyper-V"]}, NOT_VALID, False),
    ("without hyper-v", "2008r2-enterprise-nohv", {}, SM1, {"names": ["Hyper-V"]}, NOT_VALID, False),
    ("itanium", "2008r2-itanium", {}, SM1, {"names": ["Hyper-V"]}, NOT_VALID, False),
    ("HPC without Hyper-V", "2008r2-standard", {"sku": 64}, SM1, {"names": ["Hyper-V"]}, NOT_VALID, False),
    ("unknown name", "2008r2-standard", {}, SM1, {"names": ["Hyper-Vee"]},
     ("System.ArgumentException", "not valid: 'Hyper-Vee'"), False),
    ("no VT in the CPU", "2008r2-standard", {"vt_supported": False}, SM1, {"names": ["Hyper-V"]}, NO_VT, False),
    ("VT off in BIOS installs on 2008 R2", "2008r2-standard-vtoff", {}, SM1, {"names": ["Hyper-V"]}, OK_RESTART, True),
    ("VT off in BIOS fails on 2012 R2", "2012r2-datacenter", {"vt_enabled": False}, SM2, {"names": ["Hyper-V"]},
     NO_VT, False),
    ("no SLAT on 2019", "2019-standard", {"slat": False}, SM2, {"names": ["Hyper-V"]},
     ("System.InvalidOperationException", "Second Level Address Translation"), False),
    ("plain feature needs no restart", "2008r2-standard", {}, SM1, {"names": ["Telnet-Client"]},
     {"success": True, "exit_code": "Success", "restart_needed": "No", "changed": ["Telnet-Client"]}, False),
    ("remove the role", "2008r2-standard", {"features": ["Hyper-V"]}, SM1, {"names": ["Hyper-V"], "state": "absent"},
     OK_RESTART, True),
    ("remove what is absent", "2008r2-standard", {}, SM1, {"names": ["Telnet-Client"], "state": "absent"},
     NO_CHANGE, False),
    ("2008 R2 tools", "2008r2-standard", {}, SM1, {"names": ["Hyper-V", "RSAT-Hyper-V"]},
     {**OK_RESTART, "changed": ["Hyper-V", "RSAT-Hyper-V"]}, True),
    ("v2 on 2008 R2", "2008r2-standard", {}, SM2, {"names": ["Hyper-V"]},
     ("System.Management.Automation.CommandNotFoundException", "'Install-WindowsFeature' is not recognized"), False),
    ("v2 with tools", "2012r2-datacenter", {}, SM2, {"names": ["Hyper-V"], "include_management_tools": True},
     {**OK_RESTART, "changed": ["Hyper-V", "RSAT-Hyper-V-Tools", "Hyper-V-Tools", "Hyper-V-PowerShell"]}, True),
    ("v2 core tools", "2012r2-datacenter", {"server_core": True}, SM2,
     {"names": ["Hyper-V"], "include_management_tools": True}, {**OK_RESTART, "changed": ["Hyper-V", "Hyper-V-PowerShell"]},
     True),
    ("core without cmdlets", "2008r2-datacenter-core", {}, SM1, {"names": ["Hyper-V"]},
     ("System.IO.FileNotFoundException", "The specified module 'ServerManager' was not loaded"), False),
    ("core with cmdlets", "2008r2-datacenter-core",
     {"features": ["NetFx2-ServerCore", "MicrosoftWindowsPowerShell", "ServerManager-PSH-Cmdlets"]}, SM1,
     {"names": ["Hyper-V"]}, OK_RESTART, True),
    ("dism", "2008r2-datacenter-core", {}, DISM, {"names": ["Microsoft-Hyper-V"]},
     {**OK_RESTART, "changed": ["Microsoft-Hyper-V"]}, True),
    ("dism is case-sensitive on 6.1", "2008r2-datacenter-core", {}, DISM, {"names": ["microsoft-hyper-v"]},
     ("System.Management.Automation.RuntimeException", "0x800f080c: Feature name microsoft-hyper-v is unknown"), False),
    ("dism does not check the CPU", "2008r2-datacenter-core", {"vt_supported": False}, DISM,
     {"names": ["Microsoft-Hyper-V"]}, {**OK_RESTART, "changed": ["Microsoft-Hyper-V"]}, True),
    ("dism ignores a pending reboot", "2008r2-datacenter-core", {"pending_reboot": True}, DISM,
     {"names": ["Microsoft-Hyper-V"]}, {**OK_RESTART, "changed": ["Microsoft-Hyper-V"]}, True),
    ("dism already enabled", "2008r2-datacenter-core", {"features": ["MicrosoftWindowsPowerShell", "Hyper-V"]}, DISM,
     {"names": ["Microsoft-Hyper-V"]}, NO_CHANGE, False),
    ("dism SM cmdlets", "2008r2-datacenter-core", {}, DISM, {"names": ["ServerManager-PSH-Cmdlets"]},
     {"success": True, "exit_code": "Success", "restart_needed": "No", "changed": ["ServerManager-PSH-Cmdlets"]}, False),
    ("dism on a full-only feature", "2008r2-datacenter-core", {}, DISM, {"names": ["MicrosoftWindowsPowerShellISE"]},
     ("System.Management.Automation.RuntimeException", "is unknown"), False),
    ("dism hyper-v on web core", "2008r2-web", {"server_core": True, "features": ["MicrosoftWindowsPowerShell"]},
     DISM, {"names": ["Microsoft-Hyper-V"]}, ("System.Management.Automation.RuntimeException", "is unknown"), False),
]


@pytest.mark.parametrize("case", FEATURE_CASES, ids=[c[0] for c in FEATURE_CASES])
def test_feature_scenarios(case):
    _, profile, overrides, template, params, expected, cbs_after = case
    h = host(profile, **overrides)
    before = h.to_dict()
    res = run(h, template, **{"state": "present", **params})
    if isinstance(expected, dict):
        assert data(res) == expected
    else:
        err = error(res)
        assert (err["type"], expected[1] in err["message"]) == (expected[0], True), err
        assert h.to_dict() == before  # a failed call changes nothing
    assert h.pending_reboot.cbs is cbs_after


def test_error_record_points_at_the_failing_line():
    err = error(run(host("2008r2-web"), SM1, names=["Hyper-V"], state="present"))
    assert err["line"] == 5 and err["category"] == "InvalidArgument"  # 'Add-WindowsFeature $names'


def test_install_output_carries_noise_before_the_result():
    res = run(host(), SM1, names=["Hyper-V"], state="present")
    lines = res.stdout.split("\r\n")
    assert lines[0].startswith("WARNING: [Installation] Succeeded: [Hyper-V]")
    assert lines[-2].startswith(RESULT_PREFIX) and lines[-1] == ""
    dism = run(host("2008r2-datacenter-core"), DISM, names=["Microsoft-Hyper-V"], state="present")
    assert "Deployment Image Servicing and Management tool" in dism.stdout
    assert parse_result(dism, DISM)["exit_code"] == "SuccessRestartRequired"


def test_enabling_sm_cmdlets_on_core_switches_the_tool():
    h = host("2008r2-datacenter-core")
    assert facts(h)["features"]["tool"] == "dism"
    data(run(h, DISM, names=["ServerManager-PSH-Cmdlets"], state="present"))
    assert facts(h)["features"]["tool"] == "servermanager"
    assert data(run(h, SM1, names=["Hyper-V"], state="present"))["exit_code"] == "SuccessRestartRequired"


def test_core_reports_dism_names_in_installed():
    h = host("2008r2-datacenter-core")
    data(run(h, DISM, names=["Microsoft-Hyper-V"], state="present"))
    assert facts(h)["features"]["installed"][-1] == "Microsoft-Hyper-V"


# --------------------------------------------------------------------------- reboot sequence


def test_install_reboot_verify_on_2008r2():
    h = host(reboot_seconds=3.0)
    data(run(h, SM1, names=["Hyper-V"], state="present"))
    f = facts(h)
    assert "Hyper-V" in f["features"]["installed"] and f["pending_reboot"]["cbs"] is True
    assert f["hypervisor"]["vmms"] is None  # services appear with the reboot
    old = f["os"]["last_boot"]
    assert data(run(h, "system/reboot.ps1.j2", reason="role", delay_seconds=1)) == {"scheduled": True, "last_boot": old}
    assert data(run(h, "system/boot_time.ps1.j2", T0 + 0.5))["last_boot"] == old  # still the old boot
    assert h.is_down(T0 + 1) and h.is_down(T0 + 3.9) and not h.is_down(T0 + 4)
    assert h.advance(T0 + 4)
    f = facts(h)
    assert f["os"]["last_boot"] != old and f["pending_reboot"]["cbs"] is False
    assert (f["hypervisor"]["vmms"], f["hypervisor"]["hvboot"], f["hypervisor"]["launch_error"]) == (
        "Running", "Running", None)
    assert data(run(h, SM1, names=["Hyper-V"], state="present")) == NO_CHANGE


def test_vt_off_in_bios_fails_to_launch_after_reboot():
    h = host("2008r2-standard-vtoff")
    data(run(h, SM1, names=["Hyper-V"], state="present"))
    data(run(h, "system/reboot.ps1.j2", reason="role", delay_seconds=0))
    h.advance(T0 + h.reboot_seconds)
    hv = facts(h)["hypervisor"]
    assert (hv["vmms"], hv["hvboot"], hv["launch_type"]) == ("Running", "Stopped", "Auto")
    assert hv["launch_error"] == "Hyper-V launch failed; Either VMX not present or not enabled in BIOS."


def test_2012r2_install_reboot_reports_hypervisor_present():
    h = host("2012r2-datacenter")
    data(run(h, SM2, names=["Hyper-V"], state="present", include_management_tools=True))
    assert facts(h)["hypervisor"]["present"] is False
    data(run(h, "system/reboot.ps1.j2", reason="role", delay_seconds=0))
    h.advance(T0 + 10)
    f = facts(h)
    assert (f["hypervisor"]["present"], f["hypervisor"]["vmms"], f["hypervisor"]["hvboot"]) == (True, "Running", None)


def test_second_reboot_request_keeps_the_first_schedule():
    """shutdown.exe exits 1190 (already scheduled); the template counts that as scheduled."""
    h = host()
    data(run(h, "system/reboot.ps1.j2", reason="a", delay_seconds=30))
    first = h.reboot_at
    assert data(run(h, "system/reboot.ps1.j2", reason="b", delay_seconds=5))["scheduled"] is True
    assert h.reboot_at == first


def test_boot_time():
    assert data(run(host("2019-standard"), "system/boot_time.ps1.j2")) == {
        "last_boot": "2027-01-12T08:00:00Z", "hostname": "HV01"}


# --------------------------------------------------------------------------- user scripts

PS = "powershell/script.ps1.j2"
NOT_RUN = ["(simulated) script not executed"]


@pytest.mark.parametrize(
    "files, creates, removes, skipped",
    [
        ([], None, None, False),
        (["C:\\done.txt"], "c:/DONE.txt", None, True),
        ([], "C:\\done.txt", None, False),
        (["C:\\old.txt"], None, "C:\\old.txt", False),
        ([], None, "C:\\old.txt", True),
    ],
)
def test_user_script_guards(files, creates, removes, skipped):
    h = host(files=files)
    out = data(run(h, PS, script="Write-Output hi", creates=creates, removes=removes))
    assert out == {"skipped": skipped, "output": NOT_RUN, "changed": None}


def test_user_script_with_creates_is_idempotent_on_the_sim():
    h = host()
    assert data(run(h, PS, script="New-Item C:\\flag", creates="C:\\flag", removes=None))["skipped"] is False
    assert data(run(h, PS, script="New-Item C:\\flag", creates="C:\\flag", removes=None))["skipped"] is True


def test_creates_sees_vhd_files():
    h = host()
    h.vhds.append(Vhd("D:\\VMs\\base.vhd", 512))
    assert data(run(h, PS, script="x", creates="D:\\VMs\\base.vhd", removes=None))["skipped"] is True
