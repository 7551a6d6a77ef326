"""A task's variables are composed with the levels that stay the same for a play made (and
tagged for secret-looking names) once per host and role (hvprov/hostvars.py). The oracle is the
definition they replace: every level merged in Ansible's order on each call, then
`secrets.tag_by_name` over the whole. Every call a run makes is checked, over every
differential-test case (roles, include_role parameters, set_fact, include_vars, loops, vault)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import hvprov.hostvars as hv
from hvprov.secrets import Secret, secret_name, tag_by_name

CASES = Path(__file__).parent / "ansible_diff" / "cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "playbook.yml").exists()
                   and "refused:" not in ((p / "case.yml").read_text() if (p / "case.yml").exists() else ""))


def _merged(pctx: hv.PlayContext, host: Any, task: Any, include_vars: Any) -> dict[str, Any]:
    """The previous compose(): every level merged on each call, in Ansible's order."""
    ctx, play = pctx.ctx, pctx.play
    st = pctx.states.get(host.name)
    role = task.role if task is not None else None
    v: dict[str, Any] = {}
    for r in play.roles:
        v.update(r.defaults)
    if role is not None:
        v.update(role.defaults)
    v.update(host.vars)
    v.update(play.vars)
    for r in play.roles:
        v.update(r.vars)
    if role is not None:
        v.update(role.vars)
    if st is not None and st.session.has_facts:
        v["hvprov_facts"] = st.session.facts_dict()
    if task is not None:
        v.update(task.vars)
    if st is not None:
        v.update(st.included_vars)
        v.update(st.facts_vars)
    if role is not None:
        v.update(role.params)
    v.update(include_vars)
    v.update(ctx.opts.extra_vars)
    v.update(hv.magic(pctx, host, role))
    return v


def _typed(v: dict[str, Any]) -> dict[str, Any]:
    """Values with their kinds: a Secret and the same plain string must not compare equal."""
    return {k: (type(x).__name__, x.reveal() if isinstance(x, Secret) else x) for k, x in v.items()
            if k != "hostvars"}  # a fresh lazy view on each call


def test_no_magic_variable_name_looks_secret() -> None:
    # compose() tags every level but the magic variables: that is only the same as tagging the
    # whole if no magic name is secret-looking
    assert not [n for n in hv.MAGIC | hv.ROLE_MAGIC if secret_name(n)]


@pytest.mark.parametrize("path", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_compose_matches_merging_every_level(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    import hvprov.api as api
    from hvprov.errors import HvprovError
    from hvprov.vault import VaultSecrets

    case = yaml.safe_load((path / "case.yml").read_text()) if (path / "case.yml").exists() else {}
    case = case or {}
    real = hv.compose
    calls = []

    def checked(pctx: hv.PlayContext, host: Any, task: Any, include_vars: Any, tagged: bool = False) -> dict[str, Any]:
        got = real(pctx, host, task, include_vars, tagged)
        want = _merged(pctx, host, task, include_vars)
        want = tag_by_name(want) if tagged else want
        assert _typed(got) == _typed(want), f"{path.name}: {host.name} {getattr(task, 'path', None)}"
        calls.append(tagged)
        return got

    monkeypatch.setattr(hv, "compose", checked)
    monkeypatch.setattr("hvprov.taskexec.compose", checked)
    play_dir = tmp_path / "case"
    shutil.copytree(path, play_dir)
    sim = tmp_path / "zz-sim.yml"
    sim.write_text("all:\n  vars:\n    ansible_connection: sim\n")
    vault = VaultSecrets([(None, str(case["vault_password"]))]) if "vault_password" in case else None
    try:
        api.apply(play_dir / "playbook.yml", [play_dir / "inventory.yml", sim], extra_vars=case.get("extra_vars") or None,
                  limit=case.get("limit"), lab_dir=tmp_path / "lab", forks=3, vault=vault)
    except HvprovError:
        pass  # a case may fail by design; every compose() call before it was checked
    assert calls or not (play_dir / "playbook.yml").read_text().count("tasks:"), f"{path.name}: no task composed"


def test_secret_looking_names_at_every_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret-looking name set at each level (role defaults and vars, inventory, play, task,
    set_fact, include_vars, role parameters, extra vars) and overridden at a higher one: the
    composed variables hold the same Secrets as tagging the merged whole."""
    import hvprov.api as api

    role = tmp_path / "roles" / "r1"
    (role / "defaults").mkdir(parents=True)
    (role / "vars").mkdir()
    (role / "tasks").mkdir()
    (role / "defaults" / "main.yml").write_text("def_password: d3f4ult\nshared_token: from-defaults\n")
    (role / "vars" / "main.yml").write_text("role_api_key: r0l3k3y\n")
    (role / "tasks" / "main.yml").write_text(
        "- debug: {msg: '{{ def_password | length }} {{ shared_token | length }} {{ param_pass | default(0) }}'}\n")
    (tmp_path / "inc.yml").write_text("inc_private_key: 1nc1ud3d\nshared_token: from-include\n")
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    h1: {host_secret: h0st5ecret, shared_token: from-host}\n    h2: {}\n"
        "  vars: {ansible_connection: sim}\n")
    (tmp_path / "playbook.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  vars: {play_api_key: pl4yk3y}\n  roles: [r1]\n  tasks:\n"
        "    - debug: {msg: '{{ task_password }}'}\n      vars: {task_password: t4sk, shared_token: from-task}\n"
        "    - set_fact: {fact_token: f4ct, shared_token: from-fact}\n"
        "    - include_vars: inc.yml\n"
        "    - include_role: {name: r1}\n      vars: {param_pass: p4r4m}\n"
        "    - debug: {msg: '{{ shared_token }} {{ extra_secret }}'}\n")
    real = hv.compose
    seen: set[str] = set()

    def checked(pctx: hv.PlayContext, host: Any, task: Any, include_vars: Any, tagged: bool = False) -> dict[str, Any]:
        got = real(pctx, host, task, include_vars, tagged)
        want = _merged(pctx, host, task, include_vars)
        want = tag_by_name(want) if tagged else want
        assert _typed(got) == _typed(want)
        if tagged:
            seen.update(k for k, x in got.items() if isinstance(x, Secret))
        return got

    monkeypatch.setattr(hv, "compose", checked)
    monkeypatch.setattr("hvprov.taskexec.compose", checked)
    result = api.apply(tmp_path / "playbook.yml", [tmp_path / "inventory.yml"], lab_dir=tmp_path / "lab",
                       extra_vars={"extra_secret": "3xtr4"})
    assert not result.failed
    assert {"def_password", "shared_token", "role_api_key", "host_secret", "play_api_key", "task_password",
            "fact_token", "inc_private_key", "param_pass", "extra_secret"} <= seen
