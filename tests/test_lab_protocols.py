"""Issue 4 end to end: the site playbook over real WinRM (NTLM + message encryption over http,
and https with the lab CA validated) and real SSH (host keys checked), against lab servers on
127.0.0.1 serving the same host models as the in-process sim connection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import hvprov
from hvprov.cli import main
from hvprov.sim.lab import LabServers, load_source

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
HOSTS = ("hv-std01", "hvs-2008r2", "hv-web01", "hv-2019")
ROLE_ONLY = {"skip_tags": ["network", "vms"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServers, dict[str, Path]]]:
    inv, seeds = load_source([str(ROOT / "inventories" / "lab.yml")])
    seeds = {n: s.__class__(s.profile, {**s.overrides, "reboot_seconds": 0.5}) for n, s in seeds.items() if n in HOSTS}
    servers = LabServers(tmp_path_factory.mktemp("lab"), seeds, source=inv)
    with servers:
        yield servers, servers.inventories()


@pytest.mark.parametrize("kind", ["lab-winrm.yml", "lab-winrm-https.yml", "lab-ssh.yml"])
def test_site_converges_then_changes_nothing(lab: tuple[LabServers, dict[str, Path]], kind: str, tmp_path: Path) -> None:
    servers, files = lab
    servers.store.reset()  # each protocol starts from fresh hosts
    first = hvprov.apply(SITE, str(files[kind]), lab_dir=tmp_path, forks=4, **ROLE_ONLY)
    status = {n: h.status.value for n, h in first.hosts.items()}
    assert status == {"hv-std01": "changed", "hvs-2008r2": "ok", "hv-web01": "failed", "hv-2019": "changed"}, first.to_dict()
    reboot = next(t for t in first.hosts["hv-std01"].tasks if t.module == "reboot")
    assert reboot.status.value == "changed" and "rebooted in" in reboot.msg and "hypervisor running" in reboot.msg
    second = hvprov.apply(SITE, str(files[kind]), lab_dir=tmp_path, forks=4, **ROLE_ONLY)
    assert second.total_changes == 0
    for name, h in second.hosts.items():
        assert h.scripts_run == 1, (name, h.scripts_run)  # only the facts script
        budget = 3 if kind == "lab-ssh.yml" else 9  # ssh: auth + channel + exec; winrm: NTLM(3) + Create + facts(4) + Delete
        assert h.round_trips <= budget, (kind, name, h.round_trips)


def test_reboot_drops_the_winrm_connection_and_reconnects(lab: tuple[LabServers, dict[str, Path]], tmp_path: Path) -> None:
    servers, files = lab
    servers.store.reset(["hv-std01"])
    before = len(servers.wsman.requests("hv-std01"))
    r = hvprov.apply(SITE, str(files["lab-winrm.yml"]), lab_dir=tmp_path, limit="hv-std01", **ROLE_ONLY)
    assert r.hosts["hv-std01"].status.value == "changed"
    creates = [rec for rec in servers.wsman.requests("hv-std01")[before:] if rec.action == "Create"]
    assert len(creates) >= 2  # a new shell after the reboot dropped the first one


def _inventory_with(path: Path, out: Path, **changes: object) -> Path:
    doc = yaml.safe_load(path.read_text())
    for h in doc["all"]["hosts"].values():
        h.update(changes)
    out.write_text(yaml.safe_dump(doc))
    return out


def test_wrong_password_exit_3_and_never_shown(lab: tuple[LabServers, dict[str, Path]], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, files = lab
    wrong = "Wr0ng-Passw0rd-XYZ"
    for kind in ("lab-winrm.yml", "lab-ssh.yml"):
        inv = _inventory_with(files[kind], tmp_path / kind, ansible_password=wrong, ansible_ssh_private_key_file=None,
                              hvprov_ssh_allow_agent=False)
        code = main(["apply", SITE, "-i", str(inv), "--limit", "hv-std01", "--lab-dir", str(tmp_path)])
        out = capsys.readouterr()
        assert code == 3, (kind, out)
        assert "authentication failed for hv-std01" in out.out + out.err, (kind, out)
        assert wrong not in out.out + out.err
        code = main(["apply", SITE, "-i", str(inv), "--limit", "hv-std01", "--lab-dir", str(tmp_path), "--format", "json"])
        out = capsys.readouterr()
        assert code == 3 and wrong not in out.out + out.err


def test_untrusted_certificate_and_unknown_host_key_name_the_option(
        lab: tuple[LabServers, dict[str, Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, files = lab
    inv = _inventory_with(files["lab-winrm-https.yml"], tmp_path / "https.yml", ansible_winrm_ca_trust_path=None)
    assert main(["apply", SITE, "-i", str(inv), "--limit", "hv-std01", "--lab-dir", str(tmp_path)]) == 3
    text = capsys.readouterr().out
    assert "certificate not trusted for hv-std01" in text and "ansible_winrm_server_cert_validation" in text
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inv = _inventory_with(files["lab-ssh.yml"], tmp_path / "ssh.yml", hvprov_ssh_known_hosts=str(empty))
    assert main(["apply", SITE, "-i", str(inv), "--limit", "hv-std01", "--lab-dir", str(tmp_path)]) == 3
    text = capsys.readouterr().out
    assert "unknown SSH host key for hv-std01" in text and "hvprov_ssh_host_key_policy" in text


def test_plaintext_http_is_refused(lab: tuple[LabServers, dict[str, Path]], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    _, files = lab
    inv = _inventory_with(files["lab-winrm.yml"], tmp_path / "basic.yml", ansible_winrm_transport="basic")
    assert main(["apply", SITE, "-i", str(inv), "--limit", "hv-std01", "--lab-dir", str(tmp_path)]) == 3
    assert "hvprov_winrm_allow_plaintext" in capsys.readouterr().out


def test_lab_up_serves_the_inventory_in_the_background_and_down_stops_it(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`hvprov lab up` (a background process) -> apply over its generated WinRM inventory -> `lab down`."""
    import json as _json
    import os
    import time

    inv = tmp_path / "two.yml"
    inv.write_text("all:\n  vars:\n    ansible_connection: sim\n    sim: {reboot_seconds: 0.5}\n  children:\n"
                   "    hyperv_hosts:\n      hosts:\n        hv-std01: {sim_profile: 2008r2-standard}\n"
                   "        hvs-2008r2: {sim_profile: hyperv-server-2008r2}\n")
    lab = tmp_path / "lab"
    assert main(["lab", "up", "-i", str(inv), "--lab-dir", str(lab)]) == 0
    try:
        out = capsys.readouterr().out
        generated = lab / "inventories" / "lab-winrm.yml"
        assert str(generated) in out and "winrm http" in out
        pid = _json.loads((lab / "servers.json").read_text())["pid"]
        assert pid != os.getpid()
        site = str(ROOT / "playbooks" / "site.yml")
        assert main(["apply", site, "-i", str(generated), "--lab-dir", str(tmp_path / "client"),
                     "--skip-tags", "network,vms", "--format", "json"]) == 0
        doc = _json.loads(capsys.readouterr().out)
        assert {n: h["status"] for n, h in doc["hosts"].items()} == {"hv-std01": "changed", "hvs-2008r2": "ok"}
        assert main(["lab", "status", "--lab-dir", str(lab)]) == 0
        assert f"running (pid {pid})" in capsys.readouterr().out
    finally:
        assert main(["lab", "down", "--lab-dir", str(lab)]) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("lab servers still running after lab down")
