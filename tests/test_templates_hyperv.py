"""The Hyper-V templates of docs/contracts.md section 6 (``hyperv_v1/``: Windows Server 2008 R2,
WMI ``root\\virtualization``; ``hyperv_v2/``: 2012+, Hyper-V cmdlets), rendered with realistic
and hostile parameters: each script parses, passes the PowerShell 2.0 lint, starts with the
contract header, prints its result through the prelude only, carries every user value only as
an inert literal, and matches its reviewed golden file byte for byte. Parameter shapes are
refused at render time; v1 uses only documented WMI methods and argument names and no Hyper-V
cmdlet, v2 never touches the v1 namespace.

Regenerate the golden files after an intended change with ``HVPROV_UPDATE_GOLDEN=1`` and review
the diff like code.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from hvprov.pscheck import lint_template_source, ps2_lint, syntax_errors
from hvprov.render import RenderedScript, ScriptRenderer, ps_literal
from hvprov.sim import hyperv as sim_hyperv

GOLDEN = Path(__file__).parent / "golden"
TEMPLATES = Path(__file__).parent.parent / "hvprov" / "templates"
UPDATE = os.environ.get("HVPROV_UPDATE_GOLDEN") == "1"
RESULT_PREFIX = "##hvprov-result##"

V1_VM = "6F9619FF-8B86-D011-B42D-00C04FC964FF"  # Msvm_ComputerSystem.Name (upper case)
V2_VM = "1c3b2f0e-5d4a-4e8b-9f6a-2b7c8d9e0f1a"  # [string]VirtualMachine.Id (lower case)
V1_SWITCH = "e2a7d4c1-93f0-4b5e-8c6d-7f1a2b3c4d5e"  # the GUID vswitch_create chose as Name
V2_SWITCH = "0d4f6b8a-1c3e-4a5b-9d7f-8e6c4a2b0d1f"

# Hostile values: every kind of PowerShell quote (U+2019 included), subexpressions, backticks,
# variables, here-string terminators, wildcards, non-ASCII. Names and paths cannot hold control
# characters (refused at render time, see BAD_PARAMS); notes can hold line breaks.
EVIL_NAME = (
    'O\u2019Brien\'s "lab" $(Remove-Item C:\\ -Recurse) `n ${env:PATH} \u00c4rger \u6f22\u5b57'
)
EVIL_SWITCH = "LAN \u2018uplink\u2019 \u201cDMZ\u201d; exit 1 # \u00fcber"
EVIL_ADAPTER = "Ethernet \u201a2\u201b $null | Out-File x"
EVIL_PATH = "D:\\Hyper-V\\O\u2019Brien's $(whoami) `disk`\\[web] 01 \u00e9t\u00e9.vhd"
EVIL_PATH_X = "E:\\VMs\\'@\\\u00c5s@{a=1}.vhdx"
EVIL_NOTES = (
    "owner: O'Brien\nticket: $(calc) `t\n'@\n\"@\n\u2018smart\u2019 \u201cquotes\u201d \U0001f600"
)
EVIL_NIC = "Uplink \u2019A\u2019 $x"

NIC = {"name": "Network Adapter", "switch": "External", "mac": None, "legacy": False, "vlan": None}

# Realistic parameters, as the modules pass them (docs/contracts.md section 6); two cases per
# template: "basic" (plain values) and "hostile".
CASES: dict[str, dict[str, dict[str, Any]]] = {
    # ------------------------------------------------------------------ hyperv_v1 (2008 R2)
    "hyperv_v1/vswitch_create.ps1.j2": {
        "basic": {
            "name": "External",
            "type": "external",
            "adapter": "Local Area Connection 2",
            "allow_management_os": True,
        },
        "hostile": {
            "name": EVIL_SWITCH,
            "type": "external",
            "adapter": EVIL_ADAPTER,
            "allow_management_os": False,
        },
    },
    "hyperv_v1/vswitch_delete.ps1.j2": {
        "basic": {"id": V1_SWITCH, "name": "Internal"},
        "hostile": {"id": V1_SWITCH, "name": EVIL_SWITCH},
    },
    "hyperv_v1/vhd_create.ps1.j2": {
        "basic": {
            "path": r"C:\VMs\web01.vhd",
            "size_bytes": 40 * 1024**3,
            "type": "dynamic",
            "parent": None,
        },
        "hostile": {
            "path": EVIL_PATH,
            "size_bytes": None,
            "type": "differencing",
            "parent": "D:\\Base\\w2k8r2 \u2019gold\u2019.vhd",
        },
    },
    "hyperv_v1/vhd_resize.ps1.j2": {
        "basic": {"path": r"C:\VMs\web01.vhd", "size_bytes": 60 * 1024**3},
        "hostile": {"path": EVIL_PATH, "size_bytes": 2_190_433_320_960},
    },
    "hyperv_v1/vhd_delete.ps1.j2": {
        "basic": {"path": r"C:\VMs\old.vhd"},
        "hostile": {"path": EVIL_PATH},
    },
    "hyperv_v1/vm_create.ps1.j2": {
        "basic": {
            "name": "web01",
            "memory_mb": 2048,
            "dynamic_memory": None,
            "cpus": 2,
            "generation": 1,
            "notes": "",
            "disks": [{"path": r"C:\VMs\web01.vhd"}],
            "nics": [NIC],
        },
        "hostile": {
            "name": EVIL_NAME,
            "memory_mb": 1024,
            "dynamic_memory": {"min_mb": None, "max_mb": 8192, "buffer": 20},
            "cpus": 4,
            "generation": 1,
            "notes": EVIL_NOTES,
            "disks": [{"path": EVIL_PATH}, {"path": "C:\\VMs\\data [2].vhd"}],
            "nics": [
                {
                    "name": EVIL_NIC,
                    "switch": EVIL_SWITCH,
                    "mac": "00-15-5D-01-02-0A",
                    "legacy": False,
                    "vlan": None,
                },
                {
                    "name": "Legacy Network Adapter",
                    "switch": None,
                    "mac": None,
                    "legacy": True,
                    "vlan": None,
                },
            ],
        },
    },
    "hyperv_v1/vm_update.ps1.j2": {
        "basic": {
            "id": V1_VM,
            "name": "web01",
            "set": {"memory_mb": 4096, "dynamic_memory": None, "cpus": 4},
            "add_disks": [],
            "remove_disks": [],
            "add_nics": [],
            "remove_nics": [],
            "connect_nics": [{"name": "Network Adapter", "switch": "Internal"}],
        },
        "hostile": {
            "id": V1_VM,
            "name": EVIL_NAME,
            "set": {
                "memory_mb": 2048,
                "dynamic_memory": {"min_mb": 2048, "max_mb": 16384, "buffer": 50},
                "notes": EVIL_NOTES,
            },
            "add_disks": [{"path": EVIL_PATH}],
            "remove_disks": ["C:\\VMs\\data [2].vhd"],
            "add_nics": [
                {
                    "name": EVIL_NIC,
                    "switch": EVIL_SWITCH,
                    "mac": "00155D01020B",
                    "legacy": True,
                    "vlan": None,
                }
            ],
            "remove_nics": ["Legacy \u2019old\u2019"],
            "connect_nics": [{"name": "Network Adapter", "switch": None}],
        },
    },
    "hyperv_v1/vm_state.ps1.j2": {
        "basic": {"id": V1_VM, "name": "web01", "state": "running", "graceful": False},
        "hostile": {"id": V1_VM, "name": EVIL_NAME, "state": "off", "graceful": True},
    },
    "hyperv_v1/vm_delete.ps1.j2": {
        "basic": {"id": V1_VM, "name": "web01", "delete_disks": []},
        "hostile": {"id": V1_VM, "name": EVIL_NAME, "delete_disks": [EVIL_PATH, r"C:\VMs\b.vhd"]},
    },
    # ------------------------------------------------------------------ hyperv_v2 (2012+)
    "hyperv_v2/vswitch_create.ps1.j2": {
        "basic": {
            "name": "Internal",
            "type": "internal",
            "adapter": None,
            "allow_management_os": False,
        },
        "hostile": {
            "name": EVIL_SWITCH,
            "type": "external",
            "adapter": EVIL_ADAPTER,
            "allow_management_os": True,
        },
    },
    "hyperv_v2/vswitch_update.ps1.j2": {
        "basic": {
            "id": V2_SWITCH,
            "name": "Private",
            "type": "private",
            "adapter": None,
            "allow_management_os": False,
        },
        "hostile": {
            "id": V2_SWITCH,
            "name": EVIL_SWITCH,
            "type": "external",
            "adapter": EVIL_ADAPTER,
            "allow_management_os": False,
        },
    },
    "hyperv_v2/vswitch_delete.ps1.j2": {
        "basic": {"id": V2_SWITCH, "name": "External"},
        "hostile": {"id": V2_SWITCH, "name": EVIL_SWITCH},
    },
    "hyperv_v2/vhd_create.ps1.j2": {
        "basic": {
            "path": r"D:\Hyper-V\Virtual Hard Disks\app01.vhdx",
            "size_bytes": 127 * 1024**3,
            "type": "fixed",
            "parent": None,
        },
        "hostile": {
            "path": EVIL_PATH_X,
            "size_bytes": None,
            "type": "differencing",
            "parent": EVIL_PATH,
        },
    },
    "hyperv_v2/vhd_resize.ps1.j2": {
        "basic": {"path": r"D:\Hyper-V\Virtual Hard Disks\app01.vhdx", "size_bytes": 200 * 1024**3},
        "hostile": {"path": EVIL_PATH_X, "size_bytes": 64 * 1024**4},
    },
    "hyperv_v2/vhd_delete.ps1.j2": {
        "basic": {"path": r"D:\Hyper-V\Virtual Hard Disks\old.vhdx"},
        "hostile": {"path": EVIL_PATH_X},
    },
    "hyperv_v2/vm_create.ps1.j2": {
        "basic": {
            "name": "app01",
            "memory_mb": 4096,
            "dynamic_memory": None,
            "cpus": 2,
            "generation": 2,
            "notes": "",
            "disks": [{"path": r"D:\Hyper-V\Virtual Hard Disks\app01.vhdx"}],
            "nics": [
                {
                    "name": "Network Adapter",
                    "switch": "External",
                    "mac": None,
                    "legacy": False,
                    "vlan": 20,
                }
            ],
        },
        "hostile": {
            "name": EVIL_NAME,
            "memory_mb": 1024,
            "dynamic_memory": {"min_mb": 512, "max_mb": 8192, "buffer": 20},
            "cpus": 8,
            "generation": 1,
            "notes": EVIL_NOTES,
            "disks": [{"path": EVIL_PATH}, {"path": EVIL_PATH_X}],
            "nics": [
                {
                    "name": EVIL_NIC,
                    "switch": EVIL_SWITCH,
                    "mac": "00:15:5D:01:02:0C",
                    "legacy": True,
                    "vlan": None,
                },
                {"name": None, "switch": None, "mac": None, "legacy": False, "vlan": 4094},
            ],
        },
    },
    "hyperv_v2/vm_update.ps1.j2": {
        "basic": {
            "id": V2_VM,
            "name": "app01",
            "set": {"cpus": 4, "notes": "patched"},
            "add_disks": [{"path": r"D:\Hyper-V\Virtual Hard Disks\data.vhdx"}],
            "remove_disks": [],
            "add_nics": [],
            "remove_nics": [],
            "connect_nics": [],
        },
        "hostile": {
            "id": V2_VM,
            "name": EVIL_NAME,
            "set": {
                "memory_mb": 2048,
                "dynamic_memory": {"min_mb": None, "max_mb": 4096, "buffer": None},
                "notes": EVIL_NOTES,
            },
            "add_disks": [{"path": EVIL_PATH_X}],
            "remove_disks": [EVIL_PATH],
            "add_nics": [
                {"name": EVIL_NIC, "switch": EVIL_SWITCH, "mac": None, "legacy": False, "vlan": 100}
            ],
            "remove_nics": ["Legacy \u2019old\u2019"],
            "connect_nics": [
                {"name": "Network Adapter", "switch": EVIL_SWITCH},
                {"name": EVIL_NIC, "switch": None},
            ],
        },
    },
    "hyperv_v2/vm_state.ps1.j2": {
        "basic": {"id": V2_VM, "name": "app01", "state": "off", "graceful": False},
        "hostile": {"id": V2_VM, "name": EVIL_NAME, "state": "running", "graceful": True},
    },
    "hyperv_v2/vm_delete.ps1.j2": {
        "basic": {"id": V2_VM, "name": "app01", "delete_disks": []},
        "hostile": {"id": V2_VM, "name": EVIL_NAME, "delete_disks": [EVIL_PATH_X, EVIL_PATH]},
    },
}

OPS = {  # contracts §6: params and the `data` keys of each operation
    "vswitch_create": ({"name", "type", "adapter", "allow_management_os"}, {"id"}),
    "vswitch_update": ({"id", "name", "type", "adapter", "allow_management_os"}, {"id"}),
    "vswitch_delete": ({"id", "name"}, set()),
    "vhd_create": ({"path", "size_bytes", "type", "parent"}, {"path"}),
    "vhd_resize": ({"path", "size_bytes"}, set()),
    "vhd_delete": ({"path"}, set()),
    "vm_create": (
        {"name", "memory_mb", "dynamic_memory", "cpus", "generation", "notes", "disks", "nics"},
        {"id"},
    ),
    "vm_update": (
        {
            "id",
            "name",
            "set",
            "add_disks",
            "remove_disks",
            "add_nics",
            "remove_nics",
            "connect_nics",
        },
        set(),
    ),
    "vm_state": ({"id", "name", "state", "graceful"}, {"state"}),
    "vm_delete": ({"id", "name", "delete_disks"}, set()),
}

RENDERS = [(t, case) for t, cases in CASES.items() for case in cases]
V1 = sorted(t for t in CASES if t.startswith("hyperv_v1/"))
V2 = sorted(t for t in CASES if t.startswith("hyperv_v2/"))

# WMI v1 methods and their documented input parameters (domain brief 4.2 / 5.1, the v1
# reference pages): a typo in a method or argument name fails here, not on a 2008 R2 host.
WMI_METHODS: dict[str, set[str]] = {
    "CreateSwitch": {"Name", "FriendlyName", "NumLearnableAddresses", "ScopeOfResidence"},
    "CreateSwitchPort": {"VirtualSwitch", "Name", "FriendlyName", "ScopeOfResidence"},
    "DeleteSwitchPort": {"SwitchPort"},
    "CreateInternalEthernetPortDynamicMac": {"Name", "FriendlyName"},
    "DeleteInternalEthernetPort": {"InternalEthernetPort"},
    "BindExternalEthernetPort": {"ExternalEthernetPort"},
    "UnbindExternalEthernetPort": {"ExternalEthernetPort"},
    "ConnectSwitchPort": {"SwitchPort", "LANEndpoint"},
    "SetupSwitch": {
        "ExternalSwitchPort",
        "InternalSwitchPort",
        "ExternalEthernetPort",
        "InternalEthernetPortName",
        "InternalEthernetPortFriendlyName",
    },
    "TeardownSwitch": {"ExternalEthernetPort", "InternalEthernetPort"},
    "DeleteSwitch": {"VirtualSwitch"},
    "DefineVirtualSystem": {"SystemSettingData", "ResourceSettingData", "SourceSetting"},
    "ModifyVirtualSystem": {"ComputerSystem", "SystemSettingData"},
    "ModifyVirtualSystemResources": {"ComputerSystem", "ResourceSettingData"},
    "AddVirtualSystemResources": {"TargetSystem", "ResourceSettingData"},
    "RemoveVirtualSystemResources": {"TargetSystem", "ResourceSettingData"},
    "DestroyVirtualSystem": {"ComputerSystem"},
    "RequestStateChange": {"RequestedState", "TimeoutPeriod"},
    "InitiateShutdown": {"Force", "Reason"},
    "CreateDynamicVirtualHardDisk": {"Path", "MaxInternalSize"},
    "CreateFixedVirtualHardDisk": {"Path", "MaxInternalSize"},
    "CreateDifferencingVirtualHardDisk": {"Path", "ParentPath"},
    "ExpandVirtualHardDisk": {"Path", "MaxInternalSize"},
}
WMI_OUT_PARAMS = {
    "ReturnValue",
    "Job",
    "CreatedVirtualSwitch",
    "CreatedSwitchPort",
    "CreatedInternalEthernetPort",
    "DefinedSystem",
    "NewResources",
}
RESOURCE_SUBTYPES = {  # brief 5.4
    "Microsoft Synthetic Disk Drive",
    "Microsoft Virtual Hard Disk",
    "Microsoft Synthetic Ethernet Port",
    "Microsoft Emulated Ethernet Port",
}
RETURN_CODES = {  # brief 4.2 (+ 32779 image management)
    32768: "Failed",
    32769: "AccessDenied",
    32770: "NotSupported",
    32771: "StatusUnknown",
    32772: "Timeout",
    32773: "InvalidParameter",
    32774: "SystemInUse",
    32775: "InvalidState",
    32776: "IncorrectDataType",
    32777: "SystemNotAvailable",
    32778: "OutOfMemory",
    32779: "FileNotFound",
}
# Every cmdlet with a VM/VHD noun the v2 templates may use (brief 4.5, 5.7).
V2_CMDLETS = {
    "Get-VM",
    "New-VM",
    "Set-VM",
    "Start-VM",
    "Stop-VM",
    "Remove-VM",
    "Get-VMSwitch",
    "New-VMSwitch",
    "Set-VMSwitch",
    "Rename-VMSwitch",
    "Remove-VMSwitch",
    "Set-VMMemory",
    "Get-VMHardDiskDrive",
    "Add-VMHardDiskDrive",
    "Remove-VMHardDiskDrive",
    "Get-VMDvdDrive",
    "Get-VMScsiController",
    "Add-VMScsiController",
    "Get-VMNetworkAdapter",
    "Add-VMNetworkAdapter",
    "Remove-VMNetworkAdapter",
    "Connect-VMNetworkAdapter",
    "Disconnect-VMNetworkAdapter",
    "Set-VMNetworkAdapterVlan",
    "New-VHD",
    "Get-VHD",
    "Resize-VHD",
}
HYPERV_CMDLET = re.compile(r"(?<![\w-])[A-Za-z]+-(?:VM|VHD)\w*(?![\w-])")

SAFE = re.compile(r"'([A-Za-z0-9 _.,:\\/@+=-]*)'")
B64 = re.compile(
    r"\(\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\)"
)


@pytest.fixture(scope="module")
def renderer() -> ScriptRenderer:
    return ScriptRenderer()


def _render(renderer: ScriptRenderer, template: str, case: str) -> RenderedScript:
    return renderer.render(template, **CASES[template][case])


def _op(template: str) -> str:
    return template.split("/", 1)[1].removesuffix(".ps1.j2")


def _body(text: str) -> str:
    """The script after the two header lines."""
    return text.split("\n", 2)[2]


def _strings(value: Any) -> list[str]:
    """Every string value inside params (not the mapping keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def assert_values_are_literals(text: str, params: dict[str, Any]) -> None:
    """Each user string reaches the script only as the renderer's literal: plain-quoted when it is
    plain-safe ASCII, else base64 that decodes back to it (and its raw text appears nowhere);
    every base64 literal decodes to a user value and sits in a `$name = ...` assignment."""
    body = _body(text)
    values = _strings(params)
    for value in values:
        literal = ps_literal(value)
        assert literal in body, f"{value!r} is not in the script as {literal}"
        if not SAFE.fullmatch(literal):
            assert B64.fullmatch(literal), literal
            assert value not in body, f"{value!r} appears raw in the script"
    for line in body.splitlines():
        for encoded in B64.findall(line):
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
            assert decoded in values, f"base64 literal {decoded!r} is not a parameter value"
            assert re.match(r"^\s+\$\w+ = ", line), f"value outside an assignment: {line.strip()}"


# --------------------------------------------------------------------------- coverage


def test_every_hyperv_template_has_cases(renderer: ScriptRenderer) -> None:
    packaged = [t for t in renderer.templates() if t.startswith(("hyperv_v1/", "hyperv_v2/"))]
    assert sorted(CASES) == packaged
    # the set the contract defines (v1 has no vswitch_update) and the simulator answers
    assert {_op(t) for t in V2} == set(OPS)
    assert {_op(t) for t in V1} == set(OPS) - {"vswitch_update"}
    assert set(CASES) == {f"hyperv_{b}/{op}.ps1.j2" for b, op in sim_hyperv.TEMPLATES}
    assert all(set(cases) == {"basic", "hostile"} for cases in CASES.values())


@pytest.mark.parametrize("template", sorted(CASES))
def test_template_parameters_follow_the_contract(renderer: ScriptRenderer, template: str) -> None:
    params, _ = OPS[_op(template)]
    assert renderer.template_params(template) == params
    for case in CASES[template].values():
        assert set(case) == params


@pytest.mark.parametrize("template", sorted(CASES))
def test_render_refuses_missing_and_extra_parameters(
    renderer: ScriptRenderer, template: str
) -> None:
    params = CASES[template]["basic"]
    for key in params:
        partial = {k: v for k, v in params.items() if k != key}
        with pytest.raises(TypeError, match=rf"missing \['{key}'\]"):
            renderer.render(template, **partial)
    with pytest.raises(TypeError, match=r"unexpected \['force'\]"):
        renderer.render(template, **params, force=True)


# --------------------------------------------------------------------------- rendered scripts


@pytest.mark.parametrize("template,case", RENDERS)
def test_rendered_script_parses_and_is_powershell_2(
    renderer: ScriptRenderer, template: str, case: str
) -> None:
    out = _render(renderer, template, case)
    assert syntax_errors(out.text) == []
    assert ps2_lint(out.text) == []
    assert out.text.isascii()
    assert out.shown == out.text  # no secrets in these params


@pytest.mark.parametrize("template,case", RENDERS)
def test_rendered_script_starts_with_the_header(
    renderer: ScriptRenderer, template: str, case: str
) -> None:
    out = _render(renderer, template, case)
    params = json.dumps(
        CASES[template][case], ensure_ascii=True, separators=(",", ":"), sort_keys=True
    )
    assert out.text.startswith(f"# hvprov-template: {template}\n# hvprov-params: {params}\n")
    assert (
        json.loads(out.text.split("\n")[1].removeprefix("# hvprov-params: "))
        == CASES[template][case]
    )
    assert out.text.split("\n")[2] == "$ErrorActionPreference = 'Stop'"
    assert out.text.split("\n")[3] == "$ProgressPreference = 'SilentlyContinue'"


@pytest.mark.parametrize("template,case", RENDERS)
def test_user_values_are_only_literals(renderer: ScriptRenderer, template: str, case: str) -> None:
    out = _render(renderer, template, case)
    assert_values_are_literals(out.text, CASES[template][case])


def test_hostile_cases_really_use_base64() -> None:
    hostile = [v for t in CASES for v in _strings(CASES[t]["hostile"])]
    assert sum(1 for v in hostile if B64.fullmatch(ps_literal(v))) >= 40
    assert any("\u2019" in v for v in hostile) and any("\n" in v for v in hostile)


def test_the_literal_check_can_fail(renderer: ScriptRenderer) -> None:
    evil = "x'; Remove-Item C:\\ -Recurse; '"
    raw = renderer.render_source("$a = {{ v }}\n$b = '{{ v | ps_raw }}'\n", v=evil)
    with pytest.raises(AssertionError, match="appears raw"):
        assert_values_are_literals(raw.text, {"v": evil})
    stray = renderer.render_source("$a = {{ v }}\nWrite-Host {{ v }}\n", v=evil)
    missing = renderer.render_source("$a = 'constant'\n")
    with pytest.raises(AssertionError, match="is not in the script"):
        assert_values_are_literals(missing.text, {"v": evil})
    with pytest.raises(AssertionError, match="outside an assignment"):
        assert_values_are_literals(stray.text, {"v": evil})


@pytest.mark.parametrize("template,case", RENDERS)
def test_result_is_printed_in_one_place_by_the_prelude(
    renderer: ScriptRenderer, template: str, case: str
) -> None:
    text = _render(renderer, template, case).text
    assert text.count(RESULT_PREFIX) == 1
    writer = re.search(r"^function Write-HvResultLine\b.*?^\}", text, re.MULTILINE | re.DOTALL)
    assert writer and RESULT_PREFIX in writer.group(0)
    assert len(re.findall(r"\[Console\]::Out\.Write", text)) == len(
        re.findall(r"\[Console\]::Out\.Write", writer.group(0))
    )
    body = text[text.index("\ntry {\n") :]
    assert text.count("\ntry {\n") == 1
    assert body.rstrip().endswith("} catch {\n    Write-HvError $_\n}")
    assert body.count("Write-HvResult ") == 1
    # the one success result comes last, after every step that can fail
    tail = body[body.index("Write-HvResult ") :].split("\n")
    assert tail[1].strip() == "throw 'hvprov: the script ended without writing a result'"


@pytest.mark.parametrize("template", sorted(CASES))
def test_result_data_keys_follow_the_contract(template: str) -> None:
    _, keys = OPS[_op(template)]
    source = (TEMPLATES / template).read_text()
    writes = re.findall(r"Write-HvResult @\{(.*?)\}\s*$", source, re.MULTILINE)
    assert len(writes) == 1
    assert set(re.findall(r"'(\w+)' =", writes[0])) == keys


@pytest.mark.parametrize("template,case", RENDERS)
def test_golden(renderer: ScriptRenderer, template: str, case: str) -> None:
    text = _render(renderer, template, case).text
    path = GOLDEN / f"{template}.{case}.ps1"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("ascii"))
    assert path.exists(), f"no golden file {path}: run with HVPROV_UPDATE_GOLDEN=1 and review it"
    assert path.read_bytes() == text.encode("ascii"), (
        f"{path} differs: review, then HVPROV_UPDATE_GOLDEN=1"
    )


def test_no_stale_hyperv_golden_files() -> None:
    expected = {f"{t}.{c}.ps1" for t, c in RENDERS}
    found = {
        p.relative_to(GOLDEN).as_posix()
        for folder in ("hyperv_v1", "hyperv_v2")
        for p in (GOLDEN / folder).rglob("*.ps1")
    }
    assert found == expected


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(TEMPLATES).as_posix()
        for p in TEMPLATES.rglob("*.j2")
        if p.parent.name in ("hyperv_v1", "hyperv_v2") or p.name.startswith("hyperv_")
    ),
)
def test_template_source_lint(path: str) -> None:
    source = (TEMPLATES / path).read_text()
    assert source.isascii()
    assert lint_template_source(source) == []
    assert "ps_raw" not in source
    assert "ps_b64" not in source  # finalize picks base64 itself for non-plain values


# --------------------------------------------------------------------------- back ends


@pytest.mark.parametrize("template", V1)
def test_v1_uses_wmi_only(renderer: ScriptRenderer, template: str) -> None:
    text = _render(renderer, template, "hostile").text
    assert HYPERV_CMDLET.findall(text) == []
    assert "Import-Module Hyper-V" not in text
    assert "'root\\virtualization'" in text
    assert "root\\virtualization\\v2" not in text.lower()


@pytest.mark.parametrize("template", V2)
def test_v2_uses_cmdlets_not_the_v1_namespace(renderer: ScriptRenderer, template: str) -> None:
    text = _render(renderer, template, "hostile").text
    assert "root\\virtualization" not in text.lower()
    assert "root/virtualization" not in text.lower()
    assert "Invoke-HvWmiMethod" not in text
    assert "\n    Import-Module Hyper-V\n" in _body(text)
    assert set(HYPERV_CMDLET.findall(text)) <= V2_CMDLETS
    # addressed by id: a Guid compared as text, never by name
    assert "Get-VM -Name" not in text and "Get-VMSwitch -Name" not in text


def _wmi_calls(text: str) -> list[tuple[str, set[str]]]:
    """(method, argument names) of every Invoke-HvWmiMethod call in a script."""
    pattern = r"Invoke-HvWmiMethod\s+(?:\$\w+|\(Get-HvService '\w+'\))\s+'(\w+)'\s+@\{(.*?)\}"
    calls = [
        (m.group(1), set(re.findall(r"'(\w+)' =", m.group(2))))
        for m in re.finditer(pattern, text, re.DOTALL)
    ]
    sites = [
        line
        for line in text.splitlines()
        if "Invoke-HvWmiMethod " in line
        and not line.lstrip().startswith(("#", "function Invoke-HvWmiMethod"))
    ]
    assert len(calls) == len(sites), "an Invoke-HvWmiMethod call the test cannot read"
    return calls


@pytest.mark.parametrize("template", V1)
def test_v1_calls_documented_wmi_methods_with_documented_arguments(
    renderer: ScriptRenderer, template: str
) -> None:
    text = _render(renderer, template, "basic").text
    calls = _wmi_calls(text)
    assert calls, "every v1 template calls WMI methods through Invoke-HvWmiMethod"
    for method, arguments in calls:
        assert method in WMI_METHODS, method
        assert arguments <= WMI_METHODS[method], (method, arguments - WMI_METHODS[method])
    assert set(re.findall(r"Get-HvOut \$\w+ '(\w+)'", text)) <= WMI_OUT_PARAMS
    for subtype in re.findall(r"Get-HvDefaultSetting '\w+' '([^']+)'", text):
        assert subtype in RESOURCE_SUBTYPES
    # objects are found by fetching instances and comparing in PowerShell: no WQL LIKE, and the
    # one -Filter holds only a subtype constant of the template library
    assert not re.search(r"(?i)-(?:Filter|Query)\b[^\n]*\blike\b", text)
    assert set(re.findall(r"-Filter (.*)", text)) <= {
        '("ResourceSubType = \'" + $subType + "\'"))) {'
    }


def test_v1_template_operations_use_their_recipes(renderer: ScriptRenderer) -> None:
    def methods(template: str) -> set[str]:
        return {m for m, _ in _wmi_calls(_render(renderer, template, "basic").text)}

    assert {
        "CreateSwitch",
        "CreateSwitchPort",
        "CreateInternalEthernetPortDynamicMac",
        "ConnectSwitchPort",
        "SetupSwitch",
        "BindExternalEthernetPort",
        "DeleteSwitch",
    } <= methods("hyperv_v1/vswitch_create.ps1.j2")
    assert {
        "TeardownSwitch",
        "DeleteInternalEthernetPort",
        "UnbindExternalEthernetPort",
        "DeleteSwitch",
    } <= methods("hyperv_v1/vswitch_delete.ps1.j2")
    assert {
        "CreateDynamicVirtualHardDisk",
        "CreateFixedVirtualHardDisk",
        "CreateDifferencingVirtualHardDisk",
    } <= methods("hyperv_v1/vhd_create.ps1.j2")
    assert "ExpandVirtualHardDisk" in methods("hyperv_v1/vhd_resize.ps1.j2")
    assert {
        "DefineVirtualSystem",
        "ModifyVirtualSystemResources",
        "ModifyVirtualSystem",
        "AddVirtualSystemResources",
        "CreateSwitchPort",
    } <= methods("hyperv_v1/vm_create.ps1.j2")
    assert {"RequestStateChange", "InitiateShutdown"} <= methods("hyperv_v1/vm_state.ps1.j2")
    assert {"DestroyVirtualSystem", "RequestStateChange"} <= methods("hyperv_v1/vm_delete.ps1.j2")


def test_v1_job_wait_and_return_codes_follow_the_brief(renderer: ScriptRenderer) -> None:
    text = _render(renderer, "hyperv_v1/vhd_create.ps1.j2", "basic").text
    wait = re.search(r"^function Wait-HvWmiJob\b.*?^\}", text, re.MULTILINE | re.DOTALL)
    assert wait
    job = wait.group(0)
    assert "$job = [wmi]$jobPath" in job  # re-fetched on every poll
    # still running while New, Starting, Running or Shutting Down
    assert "@(2, 3, 4, 6) -notcontains $state" in job
    assert "if ($state -eq 7) { return $null }" in job  # Completed
    assert "'Timeout'" in job and "'JobFailed'" in job and "ErrorCode" in job
    invoke = re.search(r"^function Invoke-HvWmiMethod\b.*?^\}", text, re.MULTILINE | re.DOTALL)
    assert invoke and "psbase.GetMethodParameters($HvMethod)" in invoke.group(0)
    assert "psbase.InvokeMethod($HvMethod, $in, $null)" in invoke.group(0)
    assert "$code -eq 4096" in invoke.group(0)
    names = re.search(r"^function Get-HvReturnCodeName\b.*?^\}", text, re.MULTILINE | re.DOTALL)
    assert names
    table = {
        int(code): name
        for code, name in re.findall(r"(\d{5}) \{ return '(\w+)' \}", names.group(0))
    }
    assert {code: table[code] for code in RETURN_CODES} == RETURN_CODES


# --------------------------------------------------------------------------- refused parameters

BAD_PARAMS: list[tuple[str, dict[str, Any], str]] = []


def _bad(template: str, match: str, **changes: Any) -> None:
    BAD_PARAMS.append((template, {**CASES[template]["basic"], **changes}, match))


for _backend in ("v1", "v2"):
    _t = f"hyperv_{_backend}/"
    _bad(_t + "vswitch_create.ps1.j2", "type must be one of", type="bridge")
    _bad(_t + "vswitch_create.ps1.j2", "adapter is required", type="external", adapter=None)
    _bad(_t + "vswitch_create.ps1.j2", "name must not be empty", name=" ")
    _bad(_t + "vswitch_create.ps1.j2", "name must not contain control", name="two\nlines")
    _bad(_t + "vswitch_create.ps1.j2", "allow_management_os must be", allow_management_os="yes")
    _bad(_t + "vswitch_delete.ps1.j2", "id must not be empty", id="")
    _bad(_t + "vhd_create.ps1.j2", "type must be one of", type="sparse")
    _bad(_t + "vhd_create.ps1.j2", "size_bytes must be", type="dynamic", size_bytes=None)
    _bad(_t + "vhd_create.ps1.j2", "size_bytes must be", type="dynamic", size_bytes=-512)
    _bad(_t + "vhd_create.ps1.j2", "size_bytes must be", type="fixed", size_bytes=True)
    _bad(_t + "vhd_create.ps1.j2", "parent must be a string", type="differencing", parent=None)
    _bad(_t + "vhd_create.ps1.j2", "path must not contain control", path="C:\\x\x00.vhd")
    _bad(_t + "vhd_resize.ps1.j2", "size_bytes must be", size_bytes="10GB")
    _bad(_t + "vhd_resize.ps1.j2", "size_bytes must be", size_bytes=0)
    _bad(_t + "vhd_delete.ps1.j2", "path must be a string", path=None)
    _bad(_t + "vm_create.ps1.j2", "memory_mb must be", memory_mb=True)
    _bad(_t + "vm_create.ps1.j2", "cpus must be", cpus=0)
    _bad(_t + "vm_create.ps1.j2", "generation must be", generation=3)
    _bad(_t + "vm_create.ps1.j2", "notes must not contain control", notes="bell\x07")
    _bad(_t + "vm_create.ps1.j2", "disks must be a list", disks=r"C:\VMs\web01.vhd")
    _bad(
        _t + "vm_create.ps1.j2",
        "unknown key size",
        disks=[{"path": r"C:\VMs\web01.vhd", "size": 1}],
    )
    _bad(_t + "vm_create.ps1.j2", "mac must be 12 hex", nics=[{**NIC, "mac": "00155D01020Z"}])
    _bad(_t + "vm_create.ps1.j2", "unknown key speed", nics=[{**NIC, "speed": 10}])
    _bad(_t + "vm_create.ps1.j2", "legacy must be", nics=[{**NIC, "legacy": "no"}])
    _bad(_t + "vm_create.ps1.j2", "buffer must be", dynamic_memory={"max_mb": 4096, "buffer": 1})
    _bad(_t + "vm_create.ps1.j2", "dynamic_memory must be a mapping", dynamic_memory=4096)
    _bad(_t + "vm_update.ps1.j2", "id must be a GUID", id="web01")
    _bad(_t + "vm_update.ps1.j2", "unknown key state", set={"state": "running"})
    _bad(_t + "vm_update.ps1.j2", "set.cpus must be", set={"cpus": 0})
    _bad(_t + "vm_update.ps1.j2", "remove_disks must be a list", remove_disks="C:\\a.vhd")
    _bad(_t + "vm_update.ps1.j2", "needs the key name", connect_nics=[{"switch": "External"}])
    _bad(_t + "vm_state.ps1.j2", "state must be one of", state="paused")
    _bad(_t + "vm_state.ps1.j2", "graceful must be", graceful=None)
    _bad(_t + "vm_state.ps1.j2", "id must be a GUID", id="{" + V1_VM + "}")
    _bad(_t + "vm_delete.ps1.j2", "delete_disks.0. must be a string", delete_disks=[None])
# 2008 R2 only: no generation 2, no VLAN ids on VM adapters, SP1 Dynamic Memory has no minimum
_bad("hyperv_v1/vm_create.ps1.j2", "Windows Server 2012 R2 or later", generation=2)
_bad("hyperv_v1/vm_create.ps1.j2", "VLAN ids", nics=[{**NIC, "vlan": 10}])
_bad(
    "hyperv_v1/vm_create.ps1.j2",
    "no minimum",
    dynamic_memory={"min_mb": 512, "max_mb": 4096, "buffer": 20},
)
_bad(
    "hyperv_v1/vm_update.ps1.j2",
    "no minimum",
    set={"memory_mb": 1024, "dynamic_memory": {"min_mb": 512}},
)
_bad(
    "hyperv_v2/vm_create.ps1.j2",
    "vlan must be an integer from 1 to 4094",
    nics=[{**NIC, "vlan": 4095}],
)
_bad("hyperv_v2/vswitch_update.ps1.j2", "adapter is required", type="external", adapter=None)
_bad("hyperv_v2/vswitch_update.ps1.j2", "id must be a GUID", id="not-a-guid")


@pytest.mark.parametrize(
    "template,params,match",
    BAD_PARAMS,
    ids=[f"{i}:{t.split('/')[1][:12]}" for i, (t, _, _) in enumerate(BAD_PARAMS)],
)
def test_bad_parameters_are_refused_before_anything_runs(
    renderer: ScriptRenderer, template: str, params: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        renderer.render(template, **params)


@pytest.mark.parametrize(
    "template,params",
    [
        # accepted variations the modules send
        (
            "hyperv_v1/vhd_create.ps1.j2",
            {
                "path": r"C:\a.vhd",
                "size_bytes": 1024**3,
                "type": "dynamic",
                "parent": r"C:\ignored.vhd",
            },
        ),
        (
            "hyperv_v2/vhd_create.ps1.j2",
            {
                "path": r"C:\a.vhdx",
                "size_bytes": 1024**3,
                "type": "differencing",
                "parent": r"C:\p.vhdx",
            },
        ),
        (
            "hyperv_v1/vm_create.ps1.j2",
            {
                **CASES["hyperv_v1/vm_create.ps1.j2"]["basic"],
                "dynamic_memory": {"min_mb": 2048, "max_mb": 4096, "buffer": 20},
                "nics": [{}],
            },
        ),
        (
            "hyperv_v2/vm_update.ps1.j2",
            {
                **CASES["hyperv_v2/vm_update.ps1.j2"]["basic"],
                "set": {},
                "connect_nics": [{"name": "x"}],
            },
        ),
        (
            "hyperv_v1/vm_create.ps1.j2",
            {**CASES["hyperv_v1/vm_create.ps1.j2"]["basic"], "notes": None},
        ),
    ],
)
def test_good_variations_render(
    renderer: ScriptRenderer, template: str, params: dict[str, Any]
) -> None:
    out = renderer.render(template, **params)
    assert syntax_errors(out.text) == []
    assert_values_are_literals(out.text, params)
