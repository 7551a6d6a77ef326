"""Issue 13 item 2: lookup('unvault', f) decrypts with the run's vault secrets (given to the
run's Templar, never module-level); the plaintext is a secret: no output shows it. The
comparison with ansible-core is in tests/ansible_diff/cases/h13_unvault_*."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import hvprov.api as api
from hvprov.templating import Templar
from hvprov.vault import VaultSecrets

CASE = Path(__file__).parent / "ansible_diff" / "cases" / "h13_unvault_lookup"
PLAIN = "s3cret-value"
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - set_fact:
        v: "{{ lookup('unvault', 'secret.vault') }}"
        upper: "{{ lookup('unvault', 'secret.vault') | upper }}"
    - debug: var=v
    - debug: msg="value {{ v }} / {{ upper }}"
    - assert:
        that: v == 's3cret-value\\n'
"""


def _run(tmp_path: Path, vault: VaultSecrets | None) -> tuple[Any, list[dict[str, Any]]]:
    for name in ("secret.vault", "inventory.yml"):
        shutil.copy(CASE / name, tmp_path / name)
    (tmp_path / "sim.yml").write_text("all:\n  vars:\n    ansible_connection: sim\n")
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    events: list[dict[str, Any]] = []
    res = api.apply(tmp_path / "playbook.yml", [tmp_path / "inventory.yml", tmp_path / "sim.yml"], vault=vault,
                    lab_dir=tmp_path / "lab", on_event=events.append)
    return res, events


def test_unvault_decrypts_and_no_output_shows_the_plaintext(tmp_path: Path) -> None:
    res, events = _run(tmp_path, VaultSecrets([(None, "hunter2pw")]))
    assert not res.failed, res.to_dict()
    for host in res.hosts.values():
        assert [t.status.value for t in host.tasks] == ["ok", "ok", "ok", "ok"]  # the assert saw the plaintext
    shown = json.dumps(res.to_dict(), default=str) + json.dumps(events, default=str)
    assert PLAIN not in shown and PLAIN.upper() not in shown
    assert "********" in shown


def test_without_a_vault_password_the_task_fails_and_the_run_goes_on(tmp_path: Path) -> None:
    res, _ = _run(tmp_path, None)
    for host in res.hosts.values():
        first = host.tasks[0]
        assert first.status.value == "failed" and "no vault password was given" in first.msg


def test_a_templar_keeps_its_vault_on_its_own_environments() -> None:
    vault = VaultSecrets([(None, "x" * 8)])
    a, b = Templar(vault=vault), Templar()
    assert a.native.hvprov_vault is vault and a.text.hvprov_vault is vault  # type: ignore[attr-defined]
    assert b.native.hvprov_vault is None  # type: ignore[attr-defined]


TWO_PLAYS = """\
- hosts: all
  gather_facts: false
  tasks:
    - set_fact:
        v: "{{ lookup('unvault', 'secret.vault') | trim }}"
- hosts: all
  gather_facts: false
  tasks:
    - win_shell: "echo {{ v }}"
      register: out
    - debug: var=out.stdout
"""


def test_plaintext_decrypted_in_a_worker_is_masked_in_the_next_play_too(tmp_path: Path) -> None:
    """With worker processes, play 1's worker decrypts the file; play 2 runs in another job whose
    host echoes the value back: the plaintext a worker registered must come back to the run's
    registry, or the host's own output in the next job would show it."""
    for name in ("secret.vault",):
        shutil.copy(CASE / name, tmp_path / name)
    (tmp_path / "inventory.yml").write_text(
        "all:\n  vars:\n    ansible_connection: sim\n    sim_profile: 2019-standard\n  hosts:\n    w1:\n    w2:\n")
    (tmp_path / "playbook.yml").write_text(TWO_PLAYS)
    events: list[dict[str, Any]] = []
    res = api.apply(tmp_path / "playbook.yml", tmp_path / "inventory.yml", vault=VaultSecrets([(None, "hunter2pw")]),
                    lab_dir=tmp_path / "lab", on_event=events.append, workers=2)
    assert not res.failed, res.to_dict()
    shown = json.dumps(res.to_dict(), default=str) + json.dumps(events, default=str)
    assert "stdout" in shown and "win_shell/echo" in shown and PLAIN not in shown


def test_secrets_a_job_learnt_join_the_run_registry_before_the_next_job() -> None:
    """Parity with threads: a value a worker's job registered (the unvault plaintext) reaches the
    run's registry when the job's result is folded, so the next job's registry (built from the
    run's) scrubs it from whatever its hosts print."""
    from types import SimpleNamespace

    from hvprov.jobs import _fold
    from hvprov.secrets import Secret, SecretRegistry
    from hvprov.workers import BatchOut

    runner = SimpleNamespace(secrets=SecretRegistry(), states={})
    _fold(runner, BatchOut({}, [], None, (Secret(PLAIN),)))
    assert runner.secrets.scrub(f"the host says {PLAIN}") == "the host says ********"
