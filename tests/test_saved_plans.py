"""Saved plans (issue 5): plan --out, apply the file, staleness per host and for inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import hvprov
from hvprov.api import apply_plan
from hvprov.cli import main
from hvprov.plans import StalePlanError, load_plan
from hvprov.sim.store import LabStore

ROOT = Path(__file__).resolve().parent.parent
FAST = {"sim": {"reboot_seconds": 0.2}}
HOSTS = "hv-std01,hv-2019,hv-web01"


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A copy of the playbooks and inventory, so input changes can be tested."""
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    return tmp_path


def _plan(ws: Path, out: Path, **kw: object) -> hvprov.RunResult:
    return hvprov.plan(str(ws / "playbooks" / "site.yml"), str(ws / "inventories" / "lab.yml"), lab_dir=ws / "lab",
                       limit=HOSTS, extra_vars=FAST, skip_tags=["network", "vms"], out=out, **kw)


def test_plan_out_then_apply_converges_and_reapply_is_stale(workspace: Path) -> None:
    out = workspace / "plan.json"
    planned = _plan(workspace, out)
    doc = json.loads(out.read_text())
    assert doc["format"] == "hvprov-plan/1"
    assert set(doc["hosts"]) == {"hv-std01", "hv-2019", "hv-web01"}
    saved_changes = {n: sum(len(v) for v in h["task_changes"].values()) for n, h in doc["hosts"].items()}
    assert saved_changes == {n: h.change_count + sum(1 for t in h.tasks for c in t.changes if not c.mutating)
                             for n, h in planned.hosts.items()}
    assert all(h["facts_digest"] for h in doc["hosts"].values())

    applied = apply_plan(out, lab_dir=workspace / "lab")
    assert applied.hosts["hv-std01"].status.value == "changed"
    assert applied.hosts["hv-2019"].status.value == "changed"
    assert applied.hosts["hv-web01"].status.value == "failed"
    assert applied.total_changes == planned.total_changes

    again = apply_plan(out, lab_dir=workspace / "lab")
    for name in ("hv-std01", "hv-2019"):
        assert again.hosts[name].status.value == "failed"
        assert "plan is stale" in again.hosts[name].msg and "features.installed" in again.hosts[name].msg
    assert again.total_changes == 0


def test_manual_change_refuses_only_that_host_and_names_it(workspace: Path) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    store = LabStore(workspace / "lab")
    store.alter("hv-2019", memory_mb=4096)  # someone swapped DIMMs after the plan was reviewed
    res = apply_plan(out, lab_dir=workspace / "lab")
    assert res.hosts["hv-2019"].status.value == "failed"
    assert "plan is stale for hv-2019" in res.hosts["hv-2019"].msg and "memory_mb: 65536 -> 4096" in res.hosts["hv-2019"].msg
    assert [t.name for t in res.hosts["hv-2019"].tasks] == ["Gathering Facts"]  # nothing else ran there
    assert res.hosts["hv-std01"].status.value == "changed"  # the others proceed


def test_stale_abort_touches_no_host(workspace: Path) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    LabStore(workspace / "lab").alter("hv-2019", memory_mb=4096)
    res = apply_plan(out, lab_dir=workspace / "lab", on_stale="abort")
    assert {h.status.value for h in res.hosts.values()} == {"failed"}
    assert res.total_changes == 0
    assert "--stale abort" in res.hosts["hv-std01"].msg


def test_changed_inputs_refuse_the_whole_plan(workspace: Path) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    gv = workspace / "inventories" / "group_vars" / "vm_hosts.yml"
    gv.write_text(gv.read_text().replace("memory: 1024", "memory: 2048"))
    with pytest.raises(StalePlanError, match="vm_hosts.yml changed"):
        apply_plan(out, lab_dir=workspace / "lab")


def test_show_renders_a_saved_plan(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = workspace / "plan.json"
    _plan(workspace, out)
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "hv-std01: changed" in text and "feature/Hyper-V (install)" in text and "[disruptive]" in text
    assert load_plan(out).doc["summary"]["changes"] > 0


def test_secret_not_saved(workspace: Path) -> None:
    out = workspace / "plan.json"
    hvprov.plan(str(workspace / "playbooks" / "site.yml"), str(workspace / "inventories" / "lab.yml"),
                lab_dir=workspace / "lab", limit="hv-std01", extra_vars=FAST, secrets={"admin_pw": "Top-Secret-123"},
                skip_tags=["network", "vms"], out=out)
    assert "Top-Secret-123" not in out.read_text()
    with pytest.raises(hvprov.OptionsError, match="secret variables"):
        apply_plan(out, lab_dir=workspace / "lab")


# --------------------------------------------------------------------------- issue 11 item 2

import hashlib  # noqa: E402
import os  # noqa: E402

import yaml  # noqa: E402

from hvprov.plans import PlanAuthError, digest  # noqa: E402

SMALL_PLAY = """
- hosts: all
  gather_facts: true
  tasks:
    - name: Run what the extra vars say
      powershell:
        script: "{{ cmd }}"
    - name: Run a reviewed file
      powershell:
        file: scripts/setup.ps1
    - name: A secret-bearing no_log task
      powershell:
        script: "Set-Secret -Value '{{ admin_password }}'"
      no_log: true
"""


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "scripts").mkdir(parents=True)
    (ws / "scripts" / "setup.ps1").write_text("Write-Output 'reviewed setup'\n")
    (ws / "site.yml").write_text(SMALL_PLAY)
    (ws / "inv").mkdir()
    (ws / "inv" / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "sim"},
        "hosts": {"hv-a": {"sim_profile": "2019-standard"}, "hv-b": {"sim_profile": "2012r2-datacenter"}}}}))
    return ws


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import base64
    import re

    import hvprov.transports.sim as simtransport

    sent: list[str] = []
    real_execute = simtransport.execute

    def spy(host, script, now):  # noqa: ANN001 - the transport seam
        sent.append(script + "".join(base64.b64decode(b).decode("utf-8", "replace")
                                     for b in re.findall(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", script)))
        return real_execute(host, script, now)

    monkeypatch.setattr(simtransport, "execute", spy)
    return sent


def _small_plan(ws: Path, out: Path, key: bytes | None = None, **kw: object) -> hvprov.RunResult:
    return hvprov.plan(str(ws / "site.yml"), str(ws / "inv" / "hosts.yml"), lab_dir=ws / "lab", out=out,
                       extra_vars={"cmd": "Write-Output 'reviewed'", "admin_password": "S3cret-Adm!n"},
                       plan_key=key, **kw)


def test_edited_extra_vars_with_recomputed_digest_are_refused(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = small / "plan.json"
    _small_plan(small, out)
    doc = json.loads(out.read_text())
    doc["inputs"]["extra_vars"]["cmd"] = "Invoke-Evil-Payload-42"
    plain = {k: v for k, v in doc["inputs"]["extra_vars"].items() if k not in doc["inputs"]["fingerprint"]["secret_extra_vars"]}
    doc["inputs"]["fingerprint"]["extra_vars"] = digest(plain)  # the attacker recomputes the plain digest
    out.write_text(json.dumps(doc))
    sent = _spy(monkeypatch)
    res = apply_plan(out, lab_dir=small / "lab", extra_vars={"admin_password": "S3cret-Adm!n"})
    assert {h.status.value for h in res.hosts.values()} == {"failed"}
    assert all("plan is stale" in h.msg and "run script/inline" in h.msg for h in res.hosts.values())
    assert sent and not any("Evil-Payload-42" in s for s in sent)  # facts were read; the edit never ran


def test_script_file_changed_after_the_plan_is_refused(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = small / "plan.json"
    _small_plan(small, out)
    (small / "scripts" / "setup.ps1").write_text("Invoke-Evil-Payload-42\n")
    sent = _spy(monkeypatch)
    with pytest.raises(StalePlanError, match="setup.ps1 changed"):
        apply_plan(out, lab_dir=small / "lab", extra_vars={"admin_password": "S3cret-Adm!n"})
    assert sent == []


def test_show_displays_extra_vars_masked_and_scripts(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = small / "plan.json"
    _small_plan(small, out)
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cmd: \"Write-Output 'reviewed'\"" in text and 'admin_password: "********"' in text
    assert "| Write-Output 'reviewed setup'" in text and "| Write-Output 'reviewed'" in text
    assert "S3cret-Adm!n" not in text and "Set-Secret" not in text  # no_log: censored even in show
    assert "not signed" in text


def test_no_log_and_secret_plan_applies_from_another_directory(small: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(small)
    (small / "plans").mkdir()
    hvprov.plan("site.yml", "inv/hosts.yml", lab_dir=small / "lab", out="plans/plan.json",
                extra_vars={"cmd": "Write-Output 'reviewed'", "admin_password": "S3cret-Adm!n"})
    doc = json.loads((small / "plans" / "plan.json").read_text())
    assert doc["inputs"]["playbook"] == "../site.yml" and doc["inputs"]["inventory"] == ["../inv/hosts.yml"]
    moved = tmp_path / "elsewhere" / "ws"
    shutil.move(str(small), str(moved))  # the whole tree moves; the plan still finds its inputs
    other = tmp_path / "cwd"
    other.mkdir()
    monkeypatch.chdir(other)
    sent = _spy(monkeypatch)
    res = apply_plan(moved / "plans" / "plan.json", lab_dir=moved / "lab", extra_vars={"admin_password": "S3cret-Adm!n"})
    assert {h.status.value for h in res.hosts.values()} == {"changed"}, {n: h.msg for n, h in res.hosts.items()}
    assert any("Set-Secret -Value 'S3cret-Adm!n'" in s for s in sent)  # the no_log task ran, real value
    assert any("reviewed setup" in s for s in sent)


def test_plan_key_signs_and_refuses_unsigned_or_altered(small: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    key = b"k3y-for-plans"
    signed, unsigned = small / "signed.json", small / "unsigned.json"
    _small_plan(small, signed, key=key)
    _small_plan(small, unsigned)
    assert json.loads(signed.read_text())["signature"]["alg"] == "hmac-sha256"
    secret = {"admin_password": "S3cret-Adm!n"}
    with pytest.raises(PlanAuthError, match="not signed"):
        apply_plan(unsigned, lab_dir=small / "lab", extra_vars=secret, plan_key=key)
    doc = json.loads(signed.read_text())
    doc["inputs"]["selection"]["limit"] = "hv-a"
    altered = small / "altered.json"
    altered.write_text(json.dumps(doc))
    with pytest.raises(PlanAuthError, match="does not match"):
        apply_plan(altered, lab_dir=small / "lab", extra_vars=secret, plan_key=key)
    with pytest.raises(PlanAuthError, match="does not match"):
        apply_plan(signed, lab_dir=small / "lab", extra_vars=secret, plan_key=b"another key")
    with pytest.raises(StalePlanError, match="secret extra variables differ"):
        apply_plan(signed, lab_dir=small / "lab", extra_vars={"admin_password": "guess"}, plan_key=key)
    # the command line: $HVPROV_PLAN_KEY or --plan-key-file; an unsigned plan is an input error (exit 4)
    monkeypatch.setenv("HVPROV_PLAN_KEY", key.decode())
    assert main(["apply", str(unsigned), "--lab-dir", str(small / "lab"), "-e", json.dumps(secret)]) == 4
    assert "not signed" in capsys.readouterr().err
    monkeypatch.delenv("HVPROV_PLAN_KEY")
    (small / "key").write_bytes(key + b"\n")
    assert main(["show", str(signed), "--plan-key-file", str(small / "key")]) == 0
    assert "signature verified" in capsys.readouterr().out
    res = apply_plan(signed, lab_dir=small / "lab", extra_vars=secret, plan_key=key)
    assert {h.status.value for h in res.hosts.values()} == {"changed"}


def test_apply_plan_with_inventory_is_refused(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = small / "plan.json"
    _small_plan(small, out)
    assert main(["apply", str(out), "-i", str(small / "inv" / "hosts.yml"), "--lab-dir", str(small / "lab")]) == 5
    assert "carries its own inventory" in capsys.readouterr().err


def test_no_unkeyed_digest_of_a_secret_is_stored(small: Path) -> None:
    out = small / "plan.json"
    _small_plan(small, out)
    text = out.read_text()
    secret_only = {"admin_password": "S3cret-Adm!n"}
    for candidate in (secret_only, {"cmd": "Write-Output 'reviewed'", **secret_only}):
        for enc in (json.dumps(candidate, sort_keys=True, separators=(",", ":")), json.dumps(candidate)):
            assert hashlib.sha256(enc.encode()).hexdigest() not in text
    assert hashlib.sha256(b"S3cret-Adm!n").hexdigest() not in text
    doc = json.loads(text)
    assert doc["inputs"]["fingerprint"]["secret_extra_vars"] == ["admin_password"]
    assert "secret_extra_vars_mac" not in doc["inputs"]  # without a key: names only
    assert os.environ.get("HVPROV_PLAN_KEY") is None


def test_templated_script_file_changed_after_the_plan_is_refused(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `file:` named by a template is not in the input digest, but its text is in the change."""
    (small / "site.yml").write_text(SMALL_PLAY.replace("file: scripts/setup.ps1", "file: \"scripts/{{ 'setup' }}.ps1\""))
    out = small / "plan.json"
    _small_plan(small, out)
    (small / "scripts" / "setup.ps1").write_text("Invoke-Evil-Payload-42\n")
    sent = _spy(monkeypatch)
    res = apply_plan(out, lab_dir=small / "lab", extra_vars={"admin_password": "S3cret-Adm!n"})
    assert {h.status.value for h in res.hosts.values()} == {"failed"}
    assert all("plan is stale" in h.msg for h in res.hosts.values())
    assert not any("Evil-Payload-42" in s for s in sent)


def test_keyed_plan_binds_no_log_arguments(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A no_log task's arguments are not in the plan; with a key, a MAC of them is: a plain extra
    variable feeding a no_log task cannot change after the plan (signature stripped: refused;
    even a plan re-signed after the edit is stale for that task), and an intact plan applies."""
    from hvprov.plans import sign

    (small / "site.yml").write_text(SMALL_PLAY.replace("Set-Secret -Value '{{ admin_password }}'",
                                                       "Set-Secret -Value '{{ admin_password }}' {{ flag }}"))
    key = b"k3y-for-plans"
    out = small / "plan.json"
    hvprov.plan(str(small / "site.yml"), str(small / "inv" / "hosts.yml"), lab_dir=small / "lab", out=out,
                extra_vars={"cmd": "Write-Output 'reviewed'", "admin_password": "S3cret-Adm!n", "flag": "-Safe"},
                plan_key=key)
    doc = json.loads(out.read_text())
    hidden = doc["hosts"]["hv-a"]["task_changes"]["plays[0].tasks[2]"][0]
    assert list(hidden["after"]) == ["censored"] and hidden["reason"].startswith("hmac-sha256:")
    secret = {"admin_password": "S3cret-Adm!n"}
    doc["inputs"]["extra_vars"]["flag"] = "-Evil-Payload-42"
    plain = {k: v for k, v in doc["inputs"]["extra_vars"].items() if k != "admin_password"}
    doc["inputs"]["fingerprint"]["extra_vars"] = digest(plain)
    del doc["signature"]
    tampered = small / "tampered.json"
    tampered.write_text(json.dumps(doc))
    with pytest.raises(PlanAuthError, match="not signed"):
        apply_plan(tampered, lab_dir=small / "lab", extra_vars=secret, plan_key=key)
    resigned = small / "resigned.json"
    resigned.write_text(json.dumps(sign(doc, key)))
    sent = _spy(monkeypatch)
    res = apply_plan(resigned, lab_dir=small / "lab", extra_vars=secret, plan_key=key)
    assert {h.status.value for h in res.hosts.values()} == {"failed"}
    assert all([t.status.value for t in h.tasks if t.path == "plays[0].tasks[2]"] == ["failed"]
               for h in res.hosts.values())  # the no_log task is refused (its message stays censored)
    assert not any("Evil-Payload-42" in s for s in sent)
    res = apply_plan(out, lab_dir=small / "lab", extra_vars=secret, plan_key=key)
    assert {h.status.value for h in res.hosts.values()} == {"changed"}, {n: h.msg for n, h in res.hosts.items()}


def test_cli_plan_key_file_signs_and_apply_verifies(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (small / "key").write_text("cli-k3y\n")
    out = small / "plan.json"
    common = ["--lab-dir", str(small / "lab"), "-e", json.dumps({"cmd": "Write-Output 'hi'", "admin_password": "S3cret-Adm!n"})]
    assert main(["plan", str(small / "site.yml"), "-i", str(small / "inv" / "hosts.yml"), *common, "--out", str(out),
                 "--plan-key-file", str(small / "key")]) == 0
    assert json.loads(out.read_text())["signature"]["alg"] == "hmac-sha256"
    (small / "wrong").write_text("not-the-key\n")
    assert main(["apply", str(out), *common, "--plan-key-file", str(small / "wrong")]) == 4
    assert "signature does not match" in capsys.readouterr().err
    assert main(["apply", str(out), *common, "--plan-key-file", str(small / "key")]) == 0
