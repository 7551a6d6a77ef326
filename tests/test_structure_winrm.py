"""Issue 12 end to end over real WinRM (NTLM, the lab's password check): a role-based repository
whose group_vars hold the vault pattern `ansible_password: "{{ vault_admin_password }}"`, and
connection variables given with -e."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import hvprov
from hvprov import vault
from hvprov.cli import main
from hvprov.sim.lab import LabServers, load_source
from hvprov.vault import VaultSecrets

ROOT = Path(__file__).resolve().parent.parent
REPO = Path(__file__).resolve().parent / "data" / "rolerepo"
HOSTS = ("hv-std01", "hv-2019")
VAULT_PASSWORD = "vault-pass-for-tests"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServers, dict[str, Path]]]:
    inv, seeds = load_source([str(ROOT / "inventories" / "lab.yml")])
    seeds = {n: s.__class__(s.profile, {**s.overrides, "reboot_seconds": 0.3}) for n, s in seeds.items() if n in HOSTS}
    servers = LabServers(tmp_path_factory.mktemp("lab"), seeds, source=inv)
    with servers:
        yield servers, servers.inventories()


def _repo(tmp: Path, generated: Path, password: str) -> Path:
    """The repository with an inventory whose password lives only in a vault-encrypted group_vars file."""
    repo = tmp / "repo"
    shutil.copytree(REPO, repo)
    doc = yaml.safe_load(generated.read_text())
    for h in doc["all"]["hosts"].values():
        h.pop("ansible_password")
    doc["all"].setdefault("children", {})["hyperv_hosts"] = {"hosts": {n: None for n in HOSTS}}
    inv_dir = repo / "inventory"
    (inv_dir / "group_vars" / "all").mkdir(parents=True)
    (inv_dir / "hosts.yml").write_text(yaml.safe_dump(doc))
    (inv_dir / "group_vars" / "all" / "vars.yml").write_text(
        'ansible_password: "{{ vault_admin_password }}"\nbaseline_level: from-group-vars\n')
    (inv_dir / "group_vars" / "all" / "vault.yml").write_text(
        vault.encrypt(f"vault_admin_password: {password}\n", VAULT_PASSWORD))
    return repo


def _tasks(result: hvprov.RunResult, host: str) -> dict[str, str]:
    return {t.name: t.status.value for t in result.hosts[host].tasks}


def test_role_repository_plans_and_applies_over_winrm(lab: tuple[LabServers, dict[str, Path]], tmp_path: Path) -> None:
    servers, files = lab
    repo = _repo(tmp_path, files["lab-winrm.yml"], servers.password)
    secrets = VaultSecrets([(None, VAULT_PASSWORD)])
    events: list[dict[str, object]] = []
    kw = {"lab_dir": tmp_path, "vault": secrets, "on_event": events.append}
    plan = hvprov.plan(repo / "main.yml", str(repo / "inventory"), **kw)
    assert {h.status.value for h in plan.hosts.values()} == {"changed"}, {n: h.msg for n, h in plan.hosts.items()}
    applied = hvprov.apply(repo / "main.yml", str(repo / "inventory"), **kw)
    for host in HOSTS:
        h = applied.hosts[host]
        assert h.status.value == "changed", (host, h.msg)
        tasks = _tasks(applied, host)
        names = [t.name for t in h.tasks]
        # the meta dependency runs first, with the inventory's value above the role default
        assert names.index("Baseline") < names.index("Prerequisites")
        baseline = next(t for t in h.tasks if t.name == "Baseline")
        assert baseline.data["msg"] == "baseline from-group-vars at baseline"
        assert tasks["Hyper-V role"] == "changed" and tasks["reboot for hyper-v"] == "changed"  # the role's handler
        # handlers flush after roles and tasks, before post_tasks
        assert names.index("Hyper-V role") < names.index("reboot for hyper-v") < names.index("Check something that is not there")
        assert tasks["Check something that is not there"] == "failed" and tasks["Rescued"] == "ok"
        summary = next(t for t in h.tasks if t.name == "Summary")  # the play after import_playbook
        assert summary.data["msg"] == f"{host}: rescued after Check something that is not there; role present"
        assert h.state["hypervisor_running"] is True
    # what was sent to the hosts authenticated with the decrypted password: the lab checks it
    assert all(e.get("event") != "host_done" or e.get("status") != "unreachable" for e in events)
    again = hvprov.apply(repo / "main.yml", str(repo / "inventory"), lab_dir=tmp_path, vault=secrets)
    assert again.total_changes == 0 and {h.status.value for h in again.hosts.values()} == {"ok"}


def test_password_given_with_extra_vars_wins(lab: tuple[LabServers, dict[str, Path]], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    servers, files = lab
    repo = _repo(tmp_path, files["lab-winrm.yml"], servers.password)
    vault_file = tmp_path / "vault-pass"
    vault_file.write_text(VAULT_PASSWORD + "\n")
    vault_file.chmod(0o600)
    base = ["apply", str(repo / "main.yml"), "-i", str(repo / "inventory"), "--vault-password-file", str(vault_file),
            "--lab-dir", str(tmp_path), "--limit", "hv-std01"]
    wrong = "Wr0ng-Extra-Passw0rd"
    code = main([*base, "-e", f"ansible_password={wrong}"])
    out = capsys.readouterr()
    assert code == 3, out
    assert "authentication failed for hv-std01" in out.out + out.err
    assert wrong not in out.out + out.err and servers.password not in out.out + out.err
    # the right one via -e connects, even with a wrong one in the inventory
    (repo / "inventory" / "group_vars" / "all" / "vars.yml").write_text("ansible_password: not-the-password\n")
    code = main([*base, "-e", f"ansible_password={servers.password}", "-e", "ansible_user=Administrator"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert servers.password not in out.out + out.err
