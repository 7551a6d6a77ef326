"""What start-up defers still works when it is needed (docs/cli-startup.md, 2026-12-02: start-up):
a host's password source resolved through the run's resolver made on first use, compared with
hvprov.secretsources' own `resolve_secret`, and the prompt of a source asked once per run."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hvprov.inventory import Inventory
from hvprov.playbook import playbook_from_data
from hvprov.runner import Runner, RunOptions
from hvprov.secretsources import resolve_secret


def _runner(hosts: dict[str, Any]) -> tuple[Runner, Inventory]:
    inv = Inventory.from_dict({"all": {"hosts": hosts}})
    book = playbook_from_data([{"hosts": "all", "gather_facts": False, "tasks": [{"debug": {"msg": "x"}}]}])
    return Runner(inv, book, RunOptions()), inv


@pytest.mark.parametrize("kind", ["winrm", "ssh"])
def test_a_password_source_resolves_through_the_runner_as_secretsources_does(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HVPROV_LAZY_PW", " p@ss word ")
    runner, inv = _runner({"h1": {"ansible_connection": kind, "ansible_user": "u",
                                  "hvprov_password_source": "env:HVPROV_LAZY_PW"}})
    got = runner._spec(inv.hosts["h1"]).password
    want = resolve_secret("env:HVPROV_LAZY_PW", lambda text: pytest.fail("no prompt"))
    assert type(got) is type(want)
    assert (got.reveal(), got.source) == (want.reveal(), want.source)


def test_a_prompt_source_is_asked_once_for_every_host_of_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fake_prompt(text: str) -> str:
        asked.append(text)
        return "typed-pw"

    import hvprov.secretsources as ss

    class Resolver(ss.SecretResolver):
        def __init__(self) -> None:
            super().__init__(fake_prompt, is_tty=lambda: True)

    monkeypatch.setattr(ss, "SecretResolver", Resolver)
    hosts = {f"h{i}": {"ansible_connection": "winrm", "ansible_user": "u", "hvprov_password_source": "prompt:PW? "}
             for i in range(6)}
    runner, inv = _runner(hosts)
    got: list[str] = []
    threads = [threading.Thread(target=lambda h=h: got.append(runner._spec(h).password.reveal()))
               for h in inv.hosts.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["typed-pw"] * 6
    assert asked == ["PW? "]
