"""The simulated host model: profiles, overrides and their validation, Windows rules."""

from __future__ import annotations

import json

import pytest

from hvprov.errors import LabError
from hvprov.sim import rules
from hvprov.sim.model import HostModel, Vm
from hvprov.sim.profiles import PROFILES, build_host, hostname_for, profile_names

T0 = 1_800_000_000.0

# profile -> (sku, version, arch, server_core, hyperv offered, feature tool, hypervisor running, caption)
PROFILE_TABLE = {
    "2008r2-standard": (7, "6.1.7601", "x64", False, True, "servermanager", False,
                        "Microsoft Windows Server 2008 R2 Standard "),
    "2008r2-enterprise": (10, "6.1.7601", "x64", False, True, "servermanager", False,
                          "Microsoft Windows Server 2008 R2 Enterprise "),
    "2008r2-datacenter": (8, "6.1.7601", "x64", False, True, "servermanager", False,
                          "Microsoft Windows Server 2008 R2 Datacenter "),
    "2008r2-datacenter-core": (12, "6.1.7601", "x64", True, True, "dism", False,
                               "Microsoft Windows Server 2008 R2 Datacenter "),
    "2008r2-standard-core": (13, "6.1.7601", "x64", True, True, "dism", False,
        "Microsoft Windows Server 2008 R2 Standard "),
    "2008r2-enterprise-core": (14, "6.1.7601", "x64", True, True, "dism", False,
        "Microsoft Windows Server 2008 R2 Enterprise "),
    "2008r2-datacenter-core-fresh": (12, "6.1.7601", "x64", True, True, "dism", False,
        "Microsoft Windows Server 2008 R2 Datacenter "),
    "2008r2-web-core": (29, "6.1.7601", "x64", True, False, "dism", False,
        "Microsoft Windows Web Server 2008 R2 "),
    "2008r2-standard-core-nohv": (40, "6.1.7601", "x64", True, False, "dism", False,
        "Microsoft Windows Server 2008 R2 Standard without Hyper-V "),
    "2008r2-enterprise-core-nohv": (41, "6.1.7601", "x64", True, False, "dism", False,
        "Microsoft Windows Server 2008 R2 Enterprise without Hyper-V "),
    "2008r2-datacenter-core-nohv": (39, "6.1.7601", "x64", True, False, "dism", False,
        "Microsoft Windows Server 2008 R2 Datacenter without Hyper-V "),
    "2008r2-web": (17, "6.1.7601", "x64", False, False, "servermanager", False,
                   "Microsoft Windows Web Server 2008 R2 "),
    "2008r2-foundation": (33, "6.1.7601", "x64", False, False, "servermanager", False,
                          "Microsoft Windows Server 2008 R2 Foundation "),
    "2008r2-enterprise-nohv": (38, "6.1.7601", "x64", False, False, "servermanager", False,
                               "Microsoft Windows Server 2008 R2 Enterprise without Hyper-V "),
    "2008r2-itanium": (15, "6.1.7601", "ia64", False, False, "servermanager", False,
                       "Microsoft Windows Server 2008 R2 for Itanium-Based Systems "),
    "2008r2-standard-vtoff": (7, "6.1.7601", "x64", False, True, "servermanager", False,
                              "Microsoft Windows Server 2008 R2 Standard "),
    "hyperv-server-2008r2": (42, "6.1.7601", "x64", True, True, "servermanager", True,
                             "Microsoft Hyper-V Server 2008 R2 "),
    "2008r2-standard-rtm": (7, "6.1.7600", "x64", False, True, "servermanager", False,
                            "Microsoft Windows Server 2008 R2 Standard "),
    "2012r2-datacenter": (8, "6.3.9600", "x64", False, True, "servermanager", False,
                          "Microsoft Windows Server 2012 R2 Datacenter"),
    "2019-standard": (7, "10.0.17763", "x64", False, True, "servermanager", False,
                      "Microsoft Windows Server 2019 Standard"),
}


def test_profile_names_are_exactly_the_lab_set():
    assert profile_names() == sorted(PROFILE_TABLE)


@pytest.mark.parametrize("name", sorted(PROFILE_TABLE))
def test_profile_builds_expected_host(name):
    sku, version, arch, core, offered, tool, running, caption = PROFILE_TABLE[name]
    h = build_host(name, {}, name="lab-host", now=T0)
    got = (h.sku, h.version, h.arch, h.server_core, rules.hyperv_offered(h), rules.feature_tool(h),
           h.hypervisor_running, h.caption_text)
    assert got == (sku, version, arch, core, offered, tool, running, caption)
    assert h.hostname == "LAB-HOST"
    assert h.last_boot == T0 - 3 * 86400
    assert len(h.adapters) >= 2
    assert [a.gateway is not None for a in h.adapters].count(True) == 1
    assert all(a.ips for a in h.adapters if a.gateway)


def test_vtoff_profile_has_vt_supported_but_disabled():
    cpu = build_host("2008r2-standard-vtoff", now=T0).cpu
    assert (cpu.vt_supported, cpu.vt_enabled) == (True, False)


@pytest.mark.parametrize("name", sorted(PROFILE_TABLE))
def test_json_round_trip(name):
    h = build_host(name, {}, name=name, now=T0)
    h.vms.append(Vm(id="1", name="web01", state="running"))
    text = json.dumps(h.to_dict())
    assert HostModel.from_dict(json.loads(text)) == h


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"vt_enabled": "yes"}, "sim.cpu.vt_enabled: expected a boolean, got str 'yes'"),
        ({"sku": "7"}, "sim.sku: expected an integer, got str"),
        ({"sku": True}, "sim.sku: expected an integer, got bool"),
        ({"memory_mb": 1.5}, "sim.memory_mb: expected an integer"),
        ({"arch": "arm64"}, "sim.arch: expected 'x64' or 'x86' or 'ia64'"),
        ({"features": "Hyper-V"}, "sim.features: expected a list"),
        ({"features": ["Hyper-V", 3]}, "sim.features[1]: expected a string"),
        ({"reboot_seconds": "fast"}, "sim.reboot_seconds: expected a number"),
        ({"reboot_seconds": -1}, "sim.reboot_seconds: expected seconds >= 0"),
        ({"pending_reboot": "yes"}, "sim.pending_reboot: expected a mapping"),
        ({"pending_reboot": {"cbs": 1}}, "sim.pending_reboot.cbs: expected a boolean"),
        ({"pending_reboot": {"reboot": True}}, "sim.pending_reboot.reboot: unknown field"),
        ({"cpu": {"vt": True}}, "sim.cpu.vt: unknown field"),
        ({"bogus": 1}, "sim.bogus: unknown setting"),
        ({"version": "6.1.9999"}, "sim.version: unknown Windows version '6.1.9999'"),
        ({"hostname": "bad name!"}, "sim.hostname: expected a NetBIOS name"),
        ({"memory_mb": 0}, "sim.memory_mb: expected a positive number"),
        ({"dep_policy": 7}, "sim.dep_policy: expected 0 (AlwaysOff)"),
        ({"sku": 12, "server_core": False}, "sim.server_core: False contradicts SKU 12"),
        ({"sku": 7, "arch": "ia64"}, "sim.arch: SKU 7 and arch ia64 contradict"),
        ({"sku": 13, "version": "6.3.9600"}, "sim.sku: Windows 6.3.9600 never reports OperatingSystemSKU 13"),
        ({"sku": 42, "server_core": False}, "sim.server_core: False contradicts SKU 42"),
        ({"launch_type": "auto"}, "sim.launch_type: expected 'Auto' or 'Off'"),
        ({"sku": 17, "features": ["Hyper-V"]}, "sim.features: Hyper-V is installed but SKU 17"),
    ],
)
def test_bad_override_names_field_and_type(overrides, message):
    with pytest.raises(LabError) as exc:
        build_host("2008r2-standard", overrides, name="hv01", now=T0)
    assert message in str(exc.value)


def test_itanium_profile_cannot_become_x64_without_sku():
    with pytest.raises(LabError, match="sim.arch: x64 does not fit SKU 15"):
        build_host("2008r2-itanium", {"arch": "x64"}, now=T0)


def test_no_itanium_after_2008r2():
    with pytest.raises(LabError, match="no Itanium release"):
        build_host("2008r2-itanium", {"version": "6.3.9600"}, now=T0)


@pytest.mark.parametrize("profile", [None, "2008r2-standrad"])
def test_unknown_profile_lists_valid_names(profile):
    with pytest.raises(LabError) as exc:
        build_host(profile, {}, now=T0)
    assert "2008r2-datacenter-core" in str(exc.value) and "2019-standard" in str(exc.value)


# profile, overrides -> fields that must follow
DERIVED = [
    ("2008r2-standard", {"server_core": True}, {"sku": 13, "server_core": True}),
    ("2008r2-enterprise", {"server_core": True}, {"sku": 14}),
    ("2008r2-datacenter-core", {"server_core": False}, {"sku": 8}),
    ("2008r2-standard", {"sku": 12}, {"server_core": True}),
    ("2008r2-datacenter-core", {"sku": 7}, {"server_core": False}),
    ("2008r2-standard", {"sku": 15}, {"arch": "ia64"}),
    ("2008r2-standard", {"arch": "ia64"}, {"sku": 15}),
    ("2008r2-itanium", {"sku": 8}, {"arch": "x64"}),
    ("2008r2-datacenter-core", {"version": "6.3.9600"}, {"sku": 8, "server_core": True}),
    ("2008r2-standard", {"sku": 42}, {"server_core": True, "hyperv_server": True}),
    ("2008r2-standard", {"vt_enabled": False}, {"cpu.vt_enabled": False, "cpu.vt_supported": True}),
    ("2008r2-standard", {"cpu.vendor": "AuthenticAMD"}, {"cpu.vendor": "AuthenticAMD"}),
    ("2008r2-standard", {"pending_reboot": True}, {"pending_reboot.cbs": True, "pending_reboot.file_rename": False}),
    ("2008r2-standard", {"pending_reboot": {"file_rename": True}},
     {"pending_reboot.cbs": False, "pending_reboot.file_rename": True}),
    ("2008r2-standard", {"features": ["hyper-v", "Microsoft-Hyper-V"]}, {"features": ["Hyper-V"]}),
    ("2008r2-standard", {"hostname": "CUSTOM01"}, {"hostname": "CUSTOM01"}),
    ("2008r2-standard", {"reboot_seconds": 0.05, "memory_mb": 4096}, {"reboot_seconds": 0.05, "memory_mb": 4096}),
    ("2008r2-standard", {"dep_available": False}, {"dep_available": False}),
]


@pytest.mark.parametrize("profile, overrides, expected", DERIVED)
def test_override_and_derived_fields(profile, overrides, expected):
    h = build_host(profile, overrides, name="hv01", now=T0)
    for path, value in expected.items():
        obj = h
        for part in path.split("."):
            obj = getattr(obj, part)
        assert obj == value, path


def test_role_can_be_forced_onto_an_edition():
    h = build_host("2008r2-web", {"features": ["Hyper-V"], "role_offered": True}, now=T0)
    assert h.hypervisor_running


def test_hostname_from_inventory_name():
    assert hostname_for("hv-std01.lab.example") == "HV-STD01"
    assert hostname_for("a_very_long_host_name_indeed") == "A-VERY-LONG-HOS"


# --------------------------------------------------------------------------- hypervisor launch

ROLE = {"features": ["Hyper-V"]}
LAUNCH = [
    ("2008r2-standard", {}, True, None),
    ("2008r2-standard-vtoff", {}, False, "Hyper-V launch failed; Either VMX not present or not enabled in BIOS."),
    ("2008r2-standard", {"vt_supported": False}, False, "Either VMX not present"),
    ("2008r2-standard-vtoff", {"cpu.vendor": "AuthenticAMD"}, False, "Either SVM not present"),
    ("2008r2-standard", {"dep_available": False}, False, "Either XD not present"),
    ("2008r2-standard", {"launch_type": "Off"}, False, None),
    ("2019-standard", {"slat": False}, False, "Second Level Address Translation"),
    ("2012r2-datacenter", {"slat": False}, True, None),
    ("hyperv-server-2008r2", {}, True, None),
]


@pytest.mark.parametrize("profile, overrides, running, error", LAUNCH)
def test_hypervisor_launch_at_boot(profile, overrides, running, error):
    h = build_host(profile, {**ROLE, **overrides} if profile != "hyperv-server-2008r2" else overrides, now=T0)
    assert h.hypervisor_running is running
    assert (h.launch_error is None) if error is None else (error in (h.launch_error or ""))


def test_no_role_no_launch_type():
    h = build_host("2008r2-standard", {}, now=T0)
    assert (h.launch_type, h.hypervisor_running, h.launch_error) == (None, False, None)


def test_vms_are_left_saved_when_the_hypervisor_fails():
    h = build_host("2008r2-standard", ROLE, now=T0)
    h.vms = [Vm(id="1", name="a", state="running"), Vm(id="2", name="b", state="off")]
    h.cpu.vt_enabled = False
    rules.complete_reboot(h, T0)
    assert [v.state for v in h.vms] == ["saved", "off"]


# --------------------------------------------------------------------------- reboot state machine


def test_reboot_state_machine():
    h = build_host("2008r2-standard", {"reboot_seconds": 10.0}, now=T0)
    old_boot = h.last_boot
    rules.schedule_reboot(h, T0, delay=5)
    timeline = [(T0 + 4.9, False), (T0 + 5.0, True), (T0 + 14.9, True), (T0 + 15.0, False)]
    assert [h.is_down(t) for t, _ in timeline] == [down for _, down in timeline]
    assert h.advance(T0 + 14.9) is False and h.last_boot == old_boot
    assert h.advance(T0 + 15.0) is True
    assert h.last_boot == T0 + 15 and h.reboot_at is None
    assert h.advance(T0 + 100) is False


def test_reboot_applies_pending_features_and_launches():
    h = build_host("2008r2-standard", {}, now=T0)
    out = rules.change_features(h, ["Hyper-V"], "present", dism=False)
    assert out.exit_code == "SuccessRestartRequired"
    assert "Hyper-V" not in h.features and "Hyper-V" in rules.installed_view(h)
    assert h.pending_reboot.cbs and not h.hypervisor_running
    rules.schedule_reboot(h, T0, 0)
    assert h.advance(T0 + h.reboot_seconds)
    assert "Hyper-V" in h.features and not h.pending_features
    assert (h.pending_reboot.any, h.hypervisor_running, h.launch_type) == (False, True, "Auto")


def test_removing_the_role_takes_effect_at_reboot():
    h = build_host("2008r2-standard", ROLE, now=T0)
    out = rules.change_features(h, ["Hyper-V"], "absent", dism=False)
    assert (out.exit_code, out.changed) == ("SuccessRestartRequired", ["Hyper-V"])
    assert h.hypervisor_running  # until the reboot
    rules.complete_reboot(h, T0)
    assert ("Hyper-V" in h.features, h.hypervisor_running, h.launch_type) == (False, False, None)


def test_each_boot_reads_as_a_new_second():
    h = build_host("2008r2-standard", {}, now=T0)
    rules.complete_reboot(h, T0 + 0.2)
    first = h.last_boot
    rules.complete_reboot(h, T0 + 0.4)
    assert int(h.last_boot) > int(first)


def test_second_reboot_while_scheduled_keeps_the_first():
    h = build_host("2008r2-standard", {}, now=T0)
    rules.schedule_reboot(h, T0, 30)
    rules.schedule_reboot(h, T0 + 1, 5)
    assert h.reboot_at == T0 + 30


def test_path_exists_is_case_and_slash_insensitive():
    h = build_host("2008r2-standard", {"files": ["C:\\Temp\\Done.txt"]}, now=T0)
    assert h.path_exists("c:/temp/done.TXT")
    assert not h.path_exists("C:\\Temp\\other.txt")


def test_profiles_table_is_not_shared_mutable_state():
    a = build_host("2008r2-standard", {}, now=T0)
    a.features.append("Telnet-Client")
    a.cpu.vt_enabled = False
    b = build_host("2008r2-standard", {}, now=T0)
    assert "Telnet-Client" not in b.features and b.cpu.vt_enabled
    assert PROFILES["2008r2-standard"].fields["cpu"]["vt_enabled"] is True
