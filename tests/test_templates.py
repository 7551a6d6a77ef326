"""Every packaged PowerShell template, rendered for a 2008 R2 and a 2019 host: it parses, passes
the PowerShell 2.0 lint, starts with the contract header, prints its result through the
prelude only, and matches its reviewed golden file byte for byte.

Regenerate the golden files after an intended change with ``HVPROV_UPDATE_GOLDEN=1`` and review
the diff like code.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from hvprov.pscheck import lint_template_source, ps2_lint, syntax_errors
from hvprov.render import RenderedScript, ScriptRenderer
from hvprov.secrets import Secret

GOLDEN = Path(__file__).parent / "golden"
TEMPLATES = Path(__file__).parent.parent / "hvprov" / "templates"
UPDATE = os.environ.get("HVPROV_UPDATE_GOLDEN") == "1"
RESULT_PREFIX = "##hvprov-result##"

# Realistic parameters, as the modules pass them (docs/contracts.md section 2).
CASES: dict[str, dict[str, dict[str, Any]]] = {
    "facts/host.ps1.j2": {
        "w2008r2": {"probe_paths": [r"C:\VMs\web01.vhd", r"D:\Hyper-V\Base\w2k8r2-base.vhd"]},
        "w2019": {
            "probe_paths": [
                r"D:\Hyper-V\Virtual Hard Disks\app01.vhdx",
                "E:\\\u00c4rger\\O'Brien's disk.vhdx",
            ]
        },
    },
    "feature/servermanager_v1.ps1.j2": {
        "w2008r2": {"names": ["Hyper-V", "RSAT-Hyper-V"], "state": "present"},
        "w2019": {"names": ["Hyper-V"], "state": "absent"},
    },
    "feature/dism_v1.ps1.j2": {
        "w2008r2": {"names": ["Microsoft-Hyper-V"], "state": "present"},
        "w2019": {
            "names": ["Microsoft-Hyper-V", "Microsoft-Hyper-V-Management-PowerShell"],
            "state": "absent",
        },
    },
    "feature/servermanager_v2.ps1.j2": {
        "w2008r2": {"names": ["Hyper-V"], "state": "absent", "include_management_tools": False},
        "w2019": {"names": ["Hyper-V"], "state": "present", "include_management_tools": True},
    },
    "system/reboot.ps1.j2": {
        "w2008r2": {"reason": "hvprov: Hyper-V role installed", "delay_seconds": 5},
        "w2019": {
            "reason": 'Planned "maintenance" \u2013 Hyper-V\nsecond line',
            "delay_seconds": 0,
        },
    },
    "system/boot_time.ps1.j2": {"w2008r2": {}, "w2019": {}},
    "system/lease.ps1.j2": {
        "w2008r2": {"action": "acquire", "owner": "ctl01:4242:1a2b3c4d", "ttl_seconds": 900, "steal_from": None},
        "w2019": {"action": "release", "owner": "ctl01:4242:1a2b3c4d", "ttl_seconds": 0, "steal_from": "ctl01:17:dead"},
    },
    "powershell/script.ps1.j2": {
        "w2008r2": {
            "script": "winrm set winrm/config/winrs '@{MaxMemoryPerShellMB=\"1024\"}'\n$hvprov.changed = $true\n",
            "creates": None,
            "removes": None,
        },
        "w2019": {
            "script": "Get-Service vmms | Select-Object -ExpandProperty Status\n",
            "creates": r"C:\hvprov\done.flag",
            "removes": None,
        },
    },
    "powershell/process.ps1.j2": {  # win_command / win_shell
        "w2008r2": {"file": "whoami.exe", "arguments": "/all", "chdir": None, "stdin": None, "encoding": None,
                    "creates": None, "removes": None, "expand_file": False},
        "w2019": {"file": "powershell.exe", "arguments": "-NonInteractive -EncodedCommand RwBlAHQALQBEAGEAdABlAA==",
                  "chdir": "C:\\Windows\\Temp", "stdin": "y\n", "encoding": "utf-8", "creates": r"C:\done.flag",
                  "removes": None, "expand_file": True},
    },
    "powershell/structured.ps1.j2": {  # win_powershell
        "w2008r2": {"script": "param($Name)\nGet-Service -Name $Name\n", "parameters": {"Name": "WinRM"}, "chdir": None,
                    "creates": None, "removes": None, "depth": 2, "error_action": "continue"},
        "w2019": {"script": "$Ansible.Changed = $false\nWrite-Warning w\n", "parameters": {}, "chdir": "C:\\",
                  "creates": None, "removes": r"C:\todo.flag", "depth": 3, "error_action": "stop"},
    },
}

PARAMS = {  # contracts §2
    "facts/host.ps1.j2": {"probe_paths"},
    "feature/servermanager_v1.ps1.j2": {"names", "state"},
    "feature/dism_v1.ps1.j2": {"names", "state"},
    "feature/servermanager_v2.ps1.j2": {"names", "state", "include_management_tools"},
    "system/reboot.ps1.j2": {"reason", "delay_seconds"},
    "system/boot_time.ps1.j2": set(),
    "system/lease.ps1.j2": {"action", "owner", "ttl_seconds", "steal_from"},
    "powershell/script.ps1.j2": {"script", "creates", "removes"},
    "powershell/process.ps1.j2": {"file", "arguments", "chdir", "stdin", "encoding", "creates", "removes", "expand_file"},
    "powershell/structured.ps1.j2": {"script", "parameters", "chdir", "creates", "removes", "depth", "error_action"},
}

RESULT_KEYS = {  # the `data` keys each template writes (contracts §2)
    "feature/servermanager_v1.ps1.j2": {"success", "exit_code", "restart_needed", "changed"},
    "feature/dism_v1.ps1.j2": {"success", "exit_code", "restart_needed", "changed"},
    "feature/servermanager_v2.ps1.j2": {"success", "exit_code", "restart_needed", "changed"},
    "system/reboot.ps1.j2": {"scheduled", "last_boot"},
    "system/boot_time.ps1.j2": {"last_boot", "hostname"},
    "system/lease.ps1.j2": {"acquired", "holder", "expires", "released"},
    "powershell/script.ps1.j2": {"skipped", "output", "changed"},
    "powershell/process.ps1.j2": {"skipped", "why", "rc", "stdout", "stderr", "start", "end"},
    "powershell/structured.ps1.j2": {"skipped", "why", "output", "error", "warning", "verbose", "debug", "information",
                                     "result", "changed", "failed", "host_out", "host_err"},
}

RENDERS = [(t, case) for t, cases in CASES.items() for case in cases]


@pytest.fixture(scope="module")
def renderer() -> ScriptRenderer:
    return ScriptRenderer()


def _render(renderer: ScriptRenderer, template: str, case: str) -> RenderedScript:
    return renderer.render(template, **CASES[template][case])


HYPERV = ("hyperv_v1/", "hyperv_v2/")  # their cases live in tests/test_templates_hyperv.py


def test_every_template_has_cases(renderer: ScriptRenderer) -> None:
    assert sorted(CASES) == [t for t in renderer.templates() if not t.startswith(HYPERV)]
    assert all(set(cases) == {"w2008r2", "w2019"} for cases in CASES.values())


@pytest.mark.parametrize("template", sorted(PARAMS))
def test_template_parameters_follow_the_contract(renderer: ScriptRenderer, template: str) -> None:
    assert renderer.template_params(template) == PARAMS[template]


@pytest.mark.parametrize("template,case", RENDERS)
def test_rendered_script_parses_and_is_powershell_2(
    renderer: ScriptRenderer, template: str, case: str
) -> None:
    out = _render(renderer, template, case)
    assert syntax_errors(out.text) == []
    assert ps2_lint(out.text) == []
    assert out.text.isascii()


@pytest.mark.parametrize("template,case", RENDERS)
def test_rendered_script_starts_with_the_header(
    renderer: ScriptRenderer, template: str, case: str
) -> None:
    out = _render(renderer, template, case)
    params = json.dumps(
        CASES[template][case], ensure_ascii=True, separators=(",", ":"), sort_keys=True
    )
    assert out.text.startswith(f"# hvprov-template: {template}\n# hvprov-params: {params}\n")
    assert out.text.split("\n")[2] == "$ErrorActionPreference = 'Stop'"
    assert out.text.split("\n")[3] == "$ProgressPreference = 'SilentlyContinue'"


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
    # the body runs inside the one try/catch that turns any error into the error result
    body = text[text.index("\ntry {\n") :]
    assert "Write-HvResult " in body
    assert body.rstrip().endswith("} catch {\n    Write-HvError $_\n}")
    assert text.count("\ntry {\n") == 1


@pytest.mark.parametrize("template", sorted(RESULT_KEYS))
def test_result_data_keys_follow_the_contract(template: str) -> None:
    source = (TEMPLATES / template).read_text()
    writes = re.findall(r"Write-HvResult @\{(.*?)\n?\s*\}\s*$", source, re.MULTILINE | re.DOTALL)
    assert writes
    seen: set[str] = set()
    for block in writes:  # each result writes contract keys; together, all of them
        keys = set(re.findall(r"'(\w+)' =", block))
        assert keys <= RESULT_KEYS[template], keys - RESULT_KEYS[template]
        seen |= keys
    assert seen == RESULT_KEYS[template]


def _keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _keys(v)}
    return set()


def test_facts_template_writes_every_contract_field() -> None:
    contracts = (Path(__file__).parent.parent / "docs" / "contracts.md").read_text()
    section = contracts[contracts.index("## 3. Facts") :]
    example = json.loads(re.search(r"```json\n(.*?)\n```", section, re.DOTALL).group(1))  # type: ignore[union-attr]
    wanted = _keys(example)
    assert len(wanted) > 60
    written = set(re.findall(r"'(\w+)' =", (TEMPLATES / "facts/host.ps1.j2").read_text()))
    assert wanted <= written, sorted(wanted - written)


def test_facts_template_reads_pending_file_renames_as_a_value() -> None:
    source = (TEMPLATES / "facts/host.ps1.j2").read_text()
    assert re.search(r"Get-HvRegValue '[^']*Session Manager' 'PendingFileRenameOperations'", source)
    assert not re.search(r"Test-Path[^\n]*PendingFileRenameOperations", source)


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


def test_no_stale_golden_files() -> None:
    expected = {f"{t}.{c}.ps1" for t, c in RENDERS}
    found = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.ps1")}
    assert {f for f in found if not f.startswith(HYPERV)} == expected


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.j2"))
)
def test_template_source_lint(path: str) -> None:
    source = (TEMPLATES / path).read_text()
    assert source.isascii()
    assert lint_template_source(source) == []
    assert "ps_raw" not in source, (
        "raw insertion is for reviewed fragments only; none is needed yet"
    )


# --------------------------------------------------------------------------- parameter checks

BAD_PARAMS = [
    ("feature/servermanager_v1.ps1.j2", {"names": "Hyper-V", "state": "present"}),
    ("feature/servermanager_v1.ps1.j2", {"names": [], "state": "present"}),
    ("feature/servermanager_v1.ps1.j2", {"names": ["Hyper-V"], "state": "installed"}),
    ("feature/dism_v1.ps1.j2", {"names": ["Microsoft-Hyper-V"], "state": "enabled"}),
    (
        "feature/servermanager_v2.ps1.j2",
        {"names": ["Hyper-V"], "state": "present", "include_management_tools": "yes"},
    ),
    ("system/reboot.ps1.j2", {"reason": "x", "delay_seconds": -1}),
    ("system/reboot.ps1.j2", {"reason": "x", "delay_seconds": 315360001}),
    ("system/reboot.ps1.j2", {"reason": "x", "delay_seconds": True}),
    ("system/reboot.ps1.j2", {"reason": None, "delay_seconds": 5}),
    ("powershell/script.ps1.j2", {"script": "x", "creates": 5, "removes": None}),
    ("facts/host.ps1.j2", {"probe_paths": r"C:\x.vhd"}),
]


@pytest.mark.parametrize("template,params", BAD_PARAMS)
def test_bad_parameters_are_refused_before_anything_runs(
    renderer: ScriptRenderer, template: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        renderer.render(template, **params)


def test_user_script_travels_as_base64_and_secret_script_is_masked(
    renderer: ScriptRenderer,
) -> None:
    code = "Get-Date"
    out = renderer.render("powershell/script.ps1.j2", script=code, creates=None, removes=None)
    assert (
        "[ScriptBlock]::Create(([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('R2V0LURhdGU='))))"
        in out.text
    )
    secret = renderer.render(
        "powershell/script.ps1.j2", script=Secret("net user x P@ss"), creates=None, removes=None
    )
    assert "[ScriptBlock]::Create('********')" in secret.shown
    assert "P@ss" not in secret.shown and "P@ss" in secret.text
    assert syntax_errors(secret.shown) == [] and syntax_errors(secret.text) == []
