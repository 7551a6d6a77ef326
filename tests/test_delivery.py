"""Script delivery (issue 10 items 1 and 3): the $input bootstrap, the file delivery, 32-bit shells.

The lab's powershell.exe (hvprov/sim/psexe.py) is an independent model of the console host:
on PowerShell 2.0 a redirected stdin goes to $input and [Console]::In reads nothing; on 3.0+
[Console]::In gets stdin unless the command text uses $input. These tests show the old
bootstrap failing where the model says it must, and the site playbook converging with both
deliveries.
"""
# ruff: noqa: F811  (the lab/echo fixtures are imported from fixtures_winrm)

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from fixtures_winrm import EchoHandler, add_host, connected, echo, lab, spec_for  # noqa: F401

from hvprov.cli import main
from hvprov.render import ScriptRenderer
from hvprov.scriptresult import RESULT_PREFIX
from hvprov.sim import psexe
from hvprov.sim.profiles import build_host
from hvprov.sim.wsman import WSManLab
from hvprov.transports import bootstrap

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
LAB = str(ROOT / "inventories" / "lab.yml")


def render_script(template: str, params: dict) -> str:
    return ScriptRenderer().render(template, **params).text


def _facts_script() -> str:
    return render_script("facts/host.ps1.j2", {"probe_paths": []})


def _host(profile: str, **over: object):  # noqa: ANN202
    return build_host(profile, dict(over), name="hv01", now=1000.0)


def _run(host, line: str, stdin: bytes | None = None):  # noqa: ANN001, ANN202
    return psexe.run_powershell(host, psexe.split_command_line(line), stdin, 1000.0)


LEGACY = bootstrap.command_line(bootstrap.LEGACY_BOOTSTRAP)


@pytest.mark.parametrize("profile", ["2008r2-standard", "2008r2-datacenter-core", "hyperv-server-2008r2"])
def test_legacy_console_in_bootstrap_gets_an_empty_script_on_powershell_2(profile: str) -> None:
    script = _facts_script()
    assert len(script) > 8000 and not bootstrap.fits_command_line(script)
    host = _host(profile, features=["MicrosoftWindowsPowerShell", "NetFx2-ServerCore"])
    assert host.powershell.startswith("2.")
    old = _run(host, LEGACY, bootstrap.stdin_payload(script))
    assert old.rc == 0 and RESULT_PREFIX not in old.stdout  # ran nothing, no result line
    new = _run(host, bootstrap.bootstrap_command_line(), bootstrap.stdin_payload(script))
    assert new.rc == 0 and RESULT_PREFIX in new.stdout


def test_console_in_works_on_powershell_3_plus_and_input_too() -> None:
    script = _facts_script()
    host = _host("2019-standard")
    for line in (LEGACY, bootstrap.bootstrap_command_line()):
        res = _run(host, line, bootstrap.stdin_payload(script))
        assert res.rc == 0 and RESULT_PREFIX in res.stdout, line[:40]
    swallowing = _host("2019-standard", ps_swallows_stdin=True)  # the flag, not the version, decides
    assert RESULT_PREFIX not in _run(swallowing, LEGACY, bootstrap.stdin_payload(script)).stdout


def test_model_rejects_text_it_cannot_run_and_bad_base64() -> None:
    host = _host("2019-standard")
    bad = _run(host, bootstrap.bootstrap_command_line(), b"!!not base64!!\r\n")
    assert bad.rc == 1 and "FromBase64String" in bad.stderr
    unknown = _run(host, bootstrap.command_line("Get-Frobnicator -All"))
    assert unknown.rc == 1 and RESULT_PREFIX in unknown.stdout  # the host's executor: no header
    assert _run(host, "powershell.exe -Bogus").rc == 64


def test_file_delivery_writes_chunks_runs_with_file_and_removes_it() -> None:
    host = _host("2008r2-standard")
    script = _facts_script()
    lines: list[str] = []

    def step(line: str, stdin: bytes | None):  # noqa: ANN202
        assert stdin is None and len(line) <= bootstrap.CMD_LINE_LIMIT
        lines.append(line)
        return _run(host, line)

    res, used = bootstrap.deliver_file(script, step)
    assert res.rc == 0 and RESULT_PREFIX in res.stdout
    assert used == len(lines) >= 3 and " -File " in lines[-2] and "sysnative" not in lines[-2]
    assert host.temp_files == {}  # removed


def test_32bit_shell_relaunches_through_sysnative() -> None:
    host = _host("2008r2-standard", shell_32bit=True)
    dism = render_script("feature/dism_v1.ps1.j2", {"names": ["Microsoft-Hyper-V"], "state": "present"})
    probe = _run(host, bootstrap.command_line("'bits=' + [IntPtr]::Size + '|' + $env:PROCESSOR_ARCHITEW6432"))
    assert probe.stdout.strip() == "bits=4|AMD64"  # the model: a 32-bit process on x64
    legacy = _run(host, LEGACY, bootstrap.stdin_payload(dism))  # 2.0: empty anyway; use the 3.0 view
    assert RESULT_PREFIX not in legacy.stdout
    new = _run(host, bootstrap.bootstrap_command_line(), bootstrap.stdin_payload(dism))
    assert new.rc == 0 and RESULT_PREFIX in new.stdout, new
    assert host.temp_files == {}
    # without the relaunch, 32-bit DISM refuses (the model can fail)
    wow = psexe.Process("2.0", True, True, {}, lambda t, w: psexe.ExecResult("", "", 11 if w else 0))
    assert wow.start(["-EncodedCommand", bootstrap.encode_command(dism)], None).rc == 11
    lines: list[str] = []

    def step(line: str, stdin: bytes | None):  # noqa: ANN202
        lines.append(line)
        return _run(host, line)

    res, _ = bootstrap.deliver_file(dism, step)
    assert res.rc == 0 and "sysnative" in lines[-2]


def test_winrm_file_delivery_reaches_the_handler_once(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    echo.rc = 3
    big = "# big\n" + "Write-Output 'padding padding padding'\n" * 1500
    with connected(replace(spec_for(lab), script_delivery="file")) as t:
        res = t.run(big + "exit 3\n")
    assert res.rc == 3
    assert [s for _, s in echo.scripts] == [big + "exit 3\n"]


def _apply(lab_dir: Path, capsys: pytest.CaptureFixture[str], inventory: str) -> dict:
    main(["apply", SITE, "-i", inventory, "--lab-dir", str(lab_dir), "-e", json.dumps({"sim": {"reboot_seconds": 0.3}}),
          "-f", "13", "--format", "json"])
    return json.loads(capsys.readouterr().out)


def test_site_playbook_converges_with_file_delivery_on_every_lab_host(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(LAB).read_text(encoding="utf-8")
    assert "\n  vars:\n    ansible_connection: sim\n" in text
    inv = tmp_path / "lab-file.yml"
    inv.write_text(text.replace("\n  vars:\n", "\n  vars:\n    hvprov_script_delivery: file\n", 1), encoding="utf-8")
    for sub in ("group_vars", "host_vars"):
        if (ROOT / "inventories" / sub).exists():
            (tmp_path / sub).symlink_to(ROOT / "inventories" / sub)
    ref = _apply(tmp_path / "stdin", capsys, LAB)
    got = _apply(tmp_path / "file", capsys, str(inv))
    assert {n: h["status"] for n, h in got["hosts"].items()} == {n: h["status"] for n, h in ref["hosts"].items()}
    assert {n: h["changes"] for n, h in got["hosts"].items()} == {n: h["changes"] for n, h in ref["hosts"].items()}
    assert got["summary"]["hosts"]["changed"] >= 7
    again = _apply(tmp_path / "file", capsys, str(inv))
    assert again["summary"]["changes"] == 0
    for name, h in again["hosts"].items():
        assert h["round_trips"] > 3, name  # facts by file: chunks + -File + remove


def test_run_command_seam_sim_winrm_ssh(tmp_path: Path) -> None:
    """Transport.run_command: one raw cmd.exe line, no PowerShell wrapping, same answer everywhere."""
    from hvprov.connection import ConnectionSpec
    from hvprov.sim.lab import LabServers
    from hvprov.sim.store import HostSeed
    from hvprov.transports import open_transport

    line = bootstrap.command_line("'ps=' + $PSVersionTable.PSVersion.ToString()")
    sim = ConnectionSpec(name="hv01", kind="sim", address="hv01", sim_profile="2008r2-standard")
    specs = [sim]
    with LabServers(tmp_path / "lab", {"hv01": HostSeed("2008r2-standard", {})}) as servers:
        for inv in servers.inventories().values():
            doc = yaml.safe_load(inv.read_text())
            specs.append(ConnectionSpec.from_vars("hv01", doc["all"]["hosts"]["hv01"]))
        for spec in specs:
            t = open_transport(spec, tmp_path / "simlab")
            try:
                t.open()
                assert t.run_command(line).stdout.strip() == "ps=2.0", spec.kind
                missing = t.run_command("hvprov-no-such-tool /x")
                assert missing.rc != 0 and "'hvprov-no-such-tool' is not recognized" in missing.stderr, spec.kind
            finally:
                t.close()
    assert len(specs) == 4


def test_unknown_delivery_is_refused_before_any_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"vars": {"ansible_connection": "sim", "hvprov_script_delivery": "pigeon"},
                                           "hosts": {"hv01": {"sim_profile": "2019-standard"}}}}))
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: hi}\n")
    assert main(["apply", str(pb), "-i", str(inv), "--lab-dir", str(tmp_path / "lab")]) == 4
    assert "hvprov_script_delivery: expected stdin or file, got 'pigeon'" in capsys.readouterr().err
    assert not (tmp_path / "lab" / "hv01.json").exists()


def _core_without_sm_cmdlets() -> list[str]:
    """A Core host whose features tool is DISM: a 32-bit DISM refuses to service it."""
    host = _host("2008r2-datacenter-core")
    return [f for f in host.features if f != "ServerManager-PSH-Cmdlets"]


@pytest.mark.parametrize("kind", ["lab-winrm.yml", "lab-ssh.yml"])
def test_role_converges_with_file_delivery_over_real_protocols(tmp_path: Path, kind: str) -> None:
    import hvprov
    from hvprov.sim.lab import LabServers
    from hvprov.sim.store import HostSeed

    seeds = {"hv-std01": HostSeed("2008r2-standard", {"reboot_seconds": 0.5}),
             "hv-wow": HostSeed("2008r2-datacenter-core", {"reboot_seconds": 0.5, "shell_32bit": True,
                                                           "features": _core_without_sm_cmdlets()})}
    with LabServers(tmp_path / "lab", seeds) as servers:
        doc = yaml.safe_load(servers.inventories()[kind].read_text())
        doc["all"]["vars"] = {"hvprov_script_delivery": "file"}
        doc["all"]["children"] = {"hyperv_hosts": {"hosts": {n: None for n in seeds}}}
        inv = tmp_path / "inv.yml"
        inv.write_text(yaml.safe_dump(doc))
        first = hvprov.apply(SITE, str(inv), lab_dir=tmp_path, forks=2, skip_tags=["network", "vms"])
        assert {n: h.status.value for n, h in first.hosts.items()} == {"hv-std01": "changed", "hv-wow": "changed"}, \
            first.to_dict()
        second = hvprov.apply(SITE, str(inv), lab_dir=tmp_path, forks=2, skip_tags=["network", "vms"])
        assert second.total_changes == 0
        for name in seeds:
            host = servers.store.load(name)
            assert host is not None and host.temp_files == {}, name  # every script file was removed
