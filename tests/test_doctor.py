"""`hvprov doctor` (issue 10 item 7): all ready on the lab over sim, WinRM http/https and SSH;
each broken setup named with its fix and a non-zero exit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import yaml

from hvprov.cli import main
from hvprov.sim.lab import LabServers
from hvprov.sim.profiles import build_host
from hvprov.sim.store import HostSeed

READY = ("hv-std01", "hv-2019")


def _no_powershell() -> list[str]:
    host = build_host("2008r2-datacenter-core", {}, name="x", now=0.0)
    return [f for f in host.features if f not in ("MicrosoftWindowsPowerShell", "NetFx2-ServerCore",
                                                  "ServerManager-PSH-Cmdlets")]


SEEDS = {
    "hv-std01": HostSeed("2008r2-standard", {}),
    "hv-2019": HostSeed("2019-standard", {}),
    "hv-wow": HostSeed("2008r2-standard", {"shell_32bit": True}),
    "hv-nops": HostSeed("2008r2-datacenter-core", {"features": _no_powershell()}),
    "hv-env": HostSeed("2008r2-standard", {"winrm_max_envelope_kb": 100}),
    "hv-gpo": HostSeed("2012r2-datacenter", {"execution_policy_gpo": "AllSigned"}),
    "hv-web": HostSeed("2008r2-web", {}),
}


def _doctor(inv: Path, lab_dir: Path, limit: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["doctor", "-i", str(inv), "-l", limit, "--lab-dir", str(lab_dir), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def _failed(doc: dict, host: str) -> dict[str, dict]:
    return {c["name"]: c for c in doc["hosts"][host]["checks"] if c["status"] == "fail"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServers, dict[str, Path]]]:
    servers = LabServers(tmp_path_factory.mktemp("doctorlab"), SEEDS)
    with servers:
        yield servers, servers.inventories()


def _sim_inventory(tmp_path: Path) -> Path:
    hosts = {n: {"sim_profile": s.profile, "sim": dict(s.overrides)} for n, s in SEEDS.items()}
    inv = tmp_path / "sim.yml"
    inv.write_text(yaml.safe_dump({"all": {"vars": {"ansible_connection": "sim"}, "hosts": hosts}}), encoding="utf-8")
    return inv


def test_sim_all_ready_then_each_problem_named_with_its_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = _sim_inventory(tmp_path)
    code, doc = _doctor(inv, tmp_path / "lab", ",".join(READY), capsys)
    assert code == 0 and doc["ready"] == 2, doc
    for name in READY:
        checks = {c["name"]: c["status"] for c in doc["hosts"][name]["checks"]}
        assert checks["delivery stdin (200 KB)"] == checks["delivery file (200 KB)"] == "ok", checks
    code, doc = _doctor(inv, tmp_path / "lab", "hv-wow,hv-nops,hv-web,hv-gpo", capsys)
    assert code == 2 and doc["ready"] == 0
    wow = _failed(doc, "hv-wow")
    assert set(wow) == {"64-bit shell"} and "DefaultShell" in wow["64-bit shell"]["fix"]
    oks = {c["name"] for c in doc["hosts"]["hv-wow"]["checks"] if c["status"] == "ok"}
    assert {"delivery stdin (200 KB)", "delivery file (200 KB)"} <= oks  # re-launched through sysnative
    assert "MicrosoftWindowsPowerShell" in _failed(doc, "hv-nops")["powershell"]["fix"]
    assert "cannot run Hyper-V" in _failed(doc, "hv-web")["edition"]["detail"]
    gpo = _failed(doc, "hv-gpo")
    assert set(gpo) == {"execution policy", "delivery file (200 KB)"}, gpo
    assert "hvprov_script_delivery: stdin" in gpo["execution policy"]["fix"]
    text_code = main(["doctor", "-i", str(inv), "-l", "hv-wow", "--lab-dir", str(tmp_path / "lab")])
    text = capsys.readouterr().out
    assert text_code == 2 and "hv-wow (sim://" in text and "NOT READY" in text and "fix: make the endpoint" in text


@pytest.mark.parametrize("kind", ["lab-winrm.yml", "lab-winrm-https.yml", "lab-ssh.yml"])
def test_protocols_all_ready(lab: tuple[LabServers, dict[str, Path]], kind: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    _, files = lab
    code, doc = _doctor(files[kind], tmp_path, ",".join(READY), capsys)
    assert code == 0, doc
    code, doc = _doctor(files[kind], tmp_path, "hv-wow,hv-nops", capsys)
    assert code == 2
    assert "64-bit shell" in _failed(doc, "hv-wow") and "powershell" in _failed(doc, "hv-nops")
    if kind != "lab-ssh.yml":
        code, doc = _doctor(files[kind], tmp_path, "hv-env", capsys)
        assert code == 2 and "hvprov_winrm_max_envelope_kb: 100" in _failed(doc, "hv-env")["winrm MaxEnvelopeSizekb"]["fix"]


def _with(path: Path, out: Path, **changes: object) -> Path:
    doc = yaml.safe_load(path.read_text())
    for h in doc["all"]["hosts"].values():
        h.update(changes)
    out.write_text(yaml.safe_dump(doc))
    return out


def test_wrong_password_and_untrusted_ca(lab: tuple[LabServers, dict[str, Path]], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, files = lab
    wrong = "Wr0ng-Passw0rd-XYZ"
    for kind in ("lab-winrm.yml", "lab-ssh.yml"):
        inv = _with(files[kind], tmp_path / kind, ansible_password=wrong, ansible_ssh_private_key_file=None,
                    hvprov_ssh_allow_agent=False)
        code = main(["doctor", "-i", str(inv), "-l", "hv-std01", "--lab-dir", str(tmp_path)])
        out = capsys.readouterr().out
        assert code == 2 and "[FAIL] authentication" in out and "fix: check ansible_user" in out, out
        assert wrong not in out
    inv = _with(files["lab-winrm-https.yml"], tmp_path / "ca.yml", ansible_winrm_ca_trust_path=certifi.where())
    code, doc = _doctor(inv, tmp_path, "hv-std01", capsys)
    assert code == 2 and "ansible_winrm_ca_trust_path" in _failed(doc, "hv-std01")["TLS"]["fix"]


def test_hyperv_module_missing_on_2012_plus_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 2019 host with the role but not its PowerShell module (the lab's model: Hyper-V without
    Hyper-V-PowerShell) is named with the fix; the same host with the module is ready."""
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"vars": {"ansible_connection": "sim"}, "hosts": {
        "hv-2019": {"sim_profile": "2019-standard", "sim": {"features": ["Hyper-V"], "hypervisor_running": True}}}}}))
    code, doc = _doctor(inv, tmp_path / "lab", "hv-2019", capsys)
    assert code == 2
    assert "RSAT-Hyper-V-Tools" in _failed(doc, "hv-2019")["Hyper-V module"]["fix"]
    inv.write_text(yaml.safe_dump({"all": {"vars": {"ansible_connection": "sim"}, "hosts": {
        "hv-2019": {"sim_profile": "2019-standard",
                    "sim": {"features": ["Hyper-V", "Hyper-V-PowerShell"], "hypervisor_running": True}}}}}))
    code, doc = _doctor(inv, tmp_path / "lab2", "hv-2019", capsys)
    assert "Hyper-V module" not in _failed(doc, "hv-2019")
