"""Secrets never appear in any output (issues 7 and 11): run playbooks with known secrets
(an Ansible Vault-encrypted group_vars file, inline !vault values, a vaulted extra-vars file,
plain `*_password` variables in the inventory, play vars and -e) and scan every output hvprov
writes: console -vvv, JSON, Markdown, JUnit, events, audit log, saved plan, review scripts,
results file, inventory listing, `show`, error messages -- for every form a value takes
(raw, repr/JSON escapes, XML escapes, PowerShell quoting, base64 of UTF-8 and UTF-16LE) and
for values derived from a secret (`| upper`, `| b64encode`, `~`). The forms are computed here
with the standard library, not with hvprov's own code."""

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
            for form in _forms(value):  # raw, escapes, base64 (defined below)
                if form in text:
                    leaks.append(f"{name} as {form!r} in {where}")
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


# --------------------------------------------------------------------------- issue 11: shapes

import base64  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402

import yaml  # noqa: E402

# (id, secret value, extra host name, ansible_user)
SHAPES = [
    ("single-quote", "it's-Secr3t'", None, "Administrator"),
    ("double-quote", 'say "Secr3t" now', None, "Administrator"),
    ("newline", "line1\nline2-Secr3t", None, "Administrator"),
    ("crlf-tab", "a\r\n\tb-Secr3t", None, "Administrator"),
    ("non-ascii", "pässwörd-Ünï-€", None, "Administrator"),
    ("astral", "🔑-Secr3t-𝄞", None, "Administrator"),
    ("host-substring", "box1z", "hv-box1z9", "Administrator"),
    ("equals-user", "vagrant", "vagrant-box1", "vagrant"),
    ("very-short", "~q!", None, "Administrator"),
    ("base64-looking", "QWRtaW4xMjM=", None, "Administrator"),
    ("powershell-meta", "$(whoami);`n|&@{x}'\"", None, "Administrator"),
    ("backslashes", "C:\\temp\\n0t-a-newline\\", None, "Administrator"),
    ("json-looking", '{"k": "v\\u0041"}', None, "Administrator"),
    ("xml-markdown", "<b>&amp;</b>*_|#`x`", None, "Administrator"),
    ("spaces", "  leading and trailing  ", None, "Administrator"),
    ("percent-format", "%s%d{0}%(x)s", None, "Administrator"),
    ("long", "L0ng-" + "abcdefghij" * 12 + "-end", None, "Administrator"),
]
NO_LOG_ARG = "nolog-arg-7Qx2"  # not a secret: only hidden by no_log


def _forms(value: str) -> set[str]:
    """Every encoding a value could take in an output, computed with the standard library."""
    out = {value, repr(value)[1:-1], repr(value + "'\"")[1:-4], json.dumps(value)[1:-1],
           json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(json.dumps(value)[1:-1])[1:-1],
           repr(json.dumps(value)[1:-1])[1:-1], repr(json.dumps(value)[1:-1] + "'\"")[1:-4],
           html.escape(value), html.escape(value, quote=False), value.replace("'", "''"),
           base64.b64encode(value.encode("utf-8")).decode(),
           base64.b64encode(value.encode("utf-16-le", "surrogatepass")).decode()}
    return {f for f in out if f}


def _derived(value: str) -> dict[str, str]:
    return {"value": value, "upper": value.upper(), "b64encode": base64.b64encode(value.encode()).decode()}


PLAY = """
- hosts: all
  gather_facts: true
  vars:
    db_password: {db}
  tasks:
    - name: A careless debug of secrets and values derived from them
      debug:
        msg: "token={{{{ api_token }}}} up={{{{ ansible_password | upper }}}} b64={{{{ admin_password | b64encode }}}}"
    - name: Join a play-vars password
      set_fact:
        combo: "{{{{ 'pre-' ~ db_password ~ '-post' }}}}"
    - debug:
        var: combo
    - name: Use the secrets on the host
      powershell:
        script: "Invoke-Register -Token '{{{{ api_token }}}}' -Combo '{{{{ combo }}}}' -Up '{{{{ ansible_password | upper }}}}'"
    - name: A no_log task
      powershell:
        script: "Set-Thing -Value '{nolog}'"
      no_log: true
    - name: An assertion quoting a secret
      assert:
        that: ["api_token == 'nope'"]
        fail_msg: "token {{{{ api_token }}}} is wrong"
      ignore_errors: true
    - name: A loop over a secret
      debug:
        msg: x
      loop: "{{{{ api_token }}}}"
      ignore_errors: true
"""


def _shape_workspace(tmp: Path, value: str, extra_host: str | None, user: str) -> Path:
    hosts = {"hv-a": {"sim_profile": "2019-standard"}}
    if extra_host:
        hosts[extra_host] = {"sim_profile": "2019-standard"}
    inv = {"all": {"vars": {"ansible_connection": "sim", "ansible_user": user, "ansible_password": value,
                            "sim": {"reboot_seconds": 0.2}}, "hosts": hosts}}
    (tmp / "inv").mkdir()
    (tmp / "inv" / "hosts.yml").write_text(yaml.safe_dump(inv, allow_unicode=True))
    (tmp / "inv" / "group_vars").mkdir()
    (tmp / "inv" / "group_vars" / "all.yml").write_text(encrypt_string(value, VAULT_PASS, name="api_token") + "\n")
    (tmp / "site.yml").write_text(PLAY.format(db=json.dumps(value, ensure_ascii=False), nolog=NO_LOG_ARG))
    (tmp / "vault-pass").write_text(VAULT_PASS + "\n")
    (tmp / "vault-pass").chmod(0o600)
    return tmp


def _leaks(texts: dict[str, str], value: str, public: list[str]) -> list[str]:
    found = []
    for where, text in texts.items():
        for name in sorted(public, key=len, reverse=True):  # the rule: public names stay readable
            text = re.sub(re.escape(name), "<PUBLIC>", text, flags=re.IGNORECASE)  # (facts: HV-A)
        for kind, derived in [*_derived(value).items(), ("no_log argument", NO_LOG_ARG)]:
            for form in _forms(derived):
                if form in text:
                    i = text.index(form)
                    found.append(f"{kind} as {form!r} in {where}: ...{text[max(0, i - 40):i + len(form) + 20]!r}")
    return found


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_no_shape_leaks_in_any_output(shape: tuple[str, str, str | None, str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, value, extra_host, user = shape
    ws = _shape_workspace(tmp_path, value, extra_host, user)
    vault = ["--vault-password-file", str(ws / "vault-pass")]
    secret_e = ["-e", json.dumps({"admin_password": value})]
    common = [*vault, *secret_e, "--lab-dir", str(ws / "lab")]
    inv = ["-i", str(ws / "inv" / "hosts.yml")]
    texts: dict[str, str] = {}
    main(["plan", str(ws / "site.yml"), *inv, *common, "--out", str(ws / "plan.json"), "--scripts",
          str(ws / "review"), "--format", "markdown", "--junit", str(ws / "plan-junit.xml"), "-vvv"])
    texts["plan markdown"] = "".join(capsys.readouterr())
    assert main(["show", str(ws / "plan.json")]) == 0
    texts["show"] = "".join(capsys.readouterr())
    assert "Invoke-Register -Token '********'" in texts["show"]  # show displays the script, masked
    assert main(["show", str(ws / "plan.json"), "--format", "markdown"]) == 0
    texts["show markdown"] = "".join(capsys.readouterr())
    code = main(["apply", str(ws / "plan.json"), *common, "--diff", "-vvv", "--log", str(ws / "audit.jsonl"),
                 "--events", str(ws / "events.jsonl"), "--junit", str(ws / "junit.xml"),
                 "--results", str(ws / "results.json")])
    texts["apply plan console"] = "".join(capsys.readouterr())
    results = json.loads((ws / "results.json").read_text())
    assert code in (2, 4) and {h["status"] for h in results["hosts"].values()} == {"changed"}, texts["apply plan console"]
    main(["apply", str(ws / "site.yml"), *inv, *common, "--format", "json"])
    texts["apply json"] = "".join(capsys.readouterr())
    assert main(["inventory", *inv, *vault, "--list"]) == 0
    texts["inventory --list"] = "".join(capsys.readouterr())
    for f in sorted(ws.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".xml", ".ps1", ".txt") and "lab" not in f.parts:
            texts[str(f.relative_to(ws))] = f.read_text(errors="replace")
    assert any(k.startswith("review") for k in texts), sorted(texts)
    assert "token ******** is wrong" in texts["apply plan console"]  # the error message ran, masked
    public = ["hv-a", *([extra_host] if extra_host else [])]
    assert _leaks(texts, value, public) == []
    if extra_host:  # the rule: a host name holding the secret stays readable
        assert extra_host in texts["inventory --list"] and extra_host in texts["events.jsonl"]


def _sent_texts(script: str) -> str:
    """A script as the host sees it: with its base64 literals decoded."""
    parts = [script]
    for b64 in re.findall(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", script):
        parts.append(base64.b64decode(b64).decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_the_host_gets_real_derived_values(shape: tuple[str, str, str | None, str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """At the transport seam: a vault value joined with `~`, upper-cased and base64-encoded
    reaches the host with its real value, never the mask."""
    import hvprov
    import hvprov.transports.sim as simtransport
    from hvprov.secrets import Secret

    value = shape[1]
    sent: list[str] = []
    real_execute = simtransport.execute

    def spy(host, script, now):  # noqa: ANN001 - the transport seam
        sent.append(script)
        return real_execute(host, script, now)

    monkeypatch.setattr(simtransport, "execute", spy)
    pb = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "use", "powershell": {"script": "{{ 'Register -Token ' ~ token ~ ' -Up ' ~ (token | upper) "
                                                 "~ ' -B ' ~ (token | b64encode) ~ ' -P ' ~ admin_password }}"}}]}]
    inv = {"all": {"hosts": {"h1": {"ansible_connection": "sim", "sim_profile": "2019-standard"}}}}
    events: list[dict] = []
    res = hvprov.apply(pb, inv, lab_dir=tmp_path, on_event=events.append,
                       extra_vars={"token": Secret(value, source="vault"), "admin_password": value + "-pw"})
    assert res.hosts["h1"].status.value == "changed", res.hosts["h1"].msg
    expected = (f"Register -Token {value} -Up {value.upper()} -B {base64.b64encode(value.encode()).decode()}"
                f" -P {value}-pw")
    host_saw = "\n".join(_sent_texts(s) for s in sent)
    assert expected in host_saw
    shown = json.dumps(res.to_dict(), default=str) + json.dumps(events, default=str)
    assert "Register -Token ********" in shown
    assert not [f for f in _forms(value) if f in shown]


def test_public_names_stay_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """inventory --list with user and password both `vagrant`: host `vagrant-box1` keeps its
    name; the password and the user name equal to it are masked (docs/secrets.md)."""
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"hosts": {"vagrant-box1": {
        "ansible_user": "vagrant", "ansible_password": "vagrant", "ansible_connection": "sim"}}}}))
    assert main(["inventory", "-i", str(tmp_path / "inv.yml"), "--list"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ungrouped"]["hosts"] == ["vagrant-box1"]
    assert doc["_meta"]["hostvars"]["vagrant-box1"] == {
        "ansible_user": "********", "ansible_password": "********", "ansible_connection": "sim"}


def test_scrubber_matches_many_secrets_with_few_automata() -> None:
    """2,000 distinct passwords, added one by one as hosts are met: every one is scrubbed in
    every form, and the matcher stays a handful of automata (log2 n), not one scan per secret."""
    from hvprov.secrets import SecretRegistry

    registry = SecretRegistry(public=["hv-0001.example"])
    values = [f"pw-{i:04d}-{'xyz'[i % 3]}" for i in range(2000)]
    for v in values:
        registry.add(v)
    assert len(registry._levels) <= 12
    for v in values[::97]:
        b64 = base64.b64encode(v.encode()).decode()
        text = f"a {v} b {json.dumps(v)} c {b64} d hv-0001.example"
        out = registry.scrub(text)
        assert v not in out and b64 not in out and "hv-0001.example" in out, out


def test_scrub_is_idempotent_when_template_text_equals_a_secret() -> None:
    """A derived value's shown form keeps the template's literal text; when that text is itself
    a secret value it is masked too, and scrubbing twice changes nothing (saved plans compare
    scrubbed text)."""
    from hvprov.secrets import Secret, SecretRegistry

    registry = SecretRegistry(["Register"])
    registry.add(Secret("Register -Token tok-1", shown="Register -Token ********"))
    once = registry.scrub("ran: Register -Token tok-1")
    assert once == "ran: ******** -Token ********" and registry.scrub(once) == once


def test_secret_names_tag_values_but_not_boolean_words() -> None:
    from hvprov.secrets import Secret, tag_by_name

    tagged = tag_by_name({"db_password": "pw-1", "use_secret_store": "yes", "api_token": "{{ vault_tok }}",
                          "user": "admin", "ansible_ssh_pass": "x-2", "join_token": 42})
    assert isinstance(tagged["db_password"], Secret) and isinstance(tagged["ansible_ssh_pass"], Secret)
    assert tagged["use_secret_store"] == "yes" and tagged["user"] == "admin" and tagged["join_token"] == 42
    assert tagged["api_token"] == "{{ vault_tok }}"  # a template: its result is secret through what it reads


def test_a_templated_secret_name_is_secret_whatever_it_reads(tmp_path: Path) -> None:
    import hvprov

    pb = [{"hosts": "all", "gather_facts": False, "vars": {"base": "plain-Value-9", "db_password": "{{ base }}-x"},
           "tasks": [{"name": "show", "debug": {"msg": "pw={{ db_password }}"}}]}]
    inv = {"all": {"hosts": {"h1": {"ansible_connection": "sim", "sim_profile": "2019-standard"}}}}
    res = hvprov.apply(pb, inv, lab_dir=tmp_path)
    assert res.hosts["h1"].tasks[-1].msg == "pw=********"


def test_vvv_internal_error_traceback_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An unexpected error whose message quotes the script (and so the secret) is logged with a
    traceback at -vvv: the log is scrubbed like any output."""
    import logging

    import hvprov.transports.sim as simtransport

    value = "Tr4ce'back-Secr3t\n"
    real_execute = simtransport.execute

    def exploding(host, script, now):  # noqa: ANN001 - the transport seam
        if "powershell/script" in script:
            raise RuntimeError(f"transport exploded on {script!r}")
        return real_execute(host, script, now)

    monkeypatch.setattr(simtransport, "execute", exploding)
    (tmp_path / "inv.yml").write_text(yaml.safe_dump({"all": {"hosts": {"hv-a": {
        "ansible_connection": "sim", "sim_profile": "2019-standard"}}}}))
    (tmp_path / "site.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "use", "powershell": {"script": "Set-It '{{ admin_password }}'"}}]}]))
    main(["apply", str(tmp_path / "site.yml"), "-i", str(tmp_path / "inv.yml"), "--lab-dir", str(tmp_path / "lab"),
          "-e", json.dumps({"admin_password": value}), "-vvv"])
    assert not [h for h in logging.getLogger("hvprov").handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.NullHandler)]  # main() removed its -vvv handler
    out = "".join(capsys.readouterr())
    assert "Traceback" in out and "transport exploded" in out
    derived = f"Set-It '{value}'"
    leaks = [out[max(0, out.index(f) - 300):out.index(f) + len(f) + 20] for v in (value, derived) for f in _forms(v)
             if f in out]
    assert leaks == [], leaks
