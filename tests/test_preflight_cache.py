"""preflight() answers once per play and set of variable names (a group's hosts share it): every
host gets what the uncached check (`_preflight`, the code before the cache) gives it, the same
facts or the same error, with the host's own name in the message."""

from __future__ import annotations

from typing import Any

import pytest

from hvprov.api import load_inventory, load_playbook_input
from hvprov.errors import VariableError
from hvprov.preflight import _preflight, preflight
from hvprov.templating import Templar

BOOK = [
    {"hosts": "all", "gather_facts": False, "tasks": [
        {"debug": {"msg": "{{ x }} {{ inventory_hostname }}"}},
        {"set_fact": {"made": "{{ y | default(1) }}"}},
        {"debug": {"msg": "{{ made }} {{ carried_in | default('') }}"}, "register": "shown"},
        {"debug": {"var": "shown"}, "when": "z is defined"},
    ]},
    {"hosts": "all", "gather_facts": False, "tasks": [{"debug": {"msg": "{{ made }} {{ shown }} {{ x }}"}}]},
]
INVENTORY = {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {
    "a1": {"x": 1}, "a2": {"x": 2}, "b1": {}, "a3": {"x": 3}, "c1": {"x": 1, "z": 2}, "b2": {}, "c2": {"x": 5, "z": 0}}}}


def _answer(fn: Any, *args: Any) -> Any:
    try:
        return sorted(fn(*args))
    except VariableError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("extra", [{}, {"x": 0}])
def test_every_host_gets_the_uncached_answer(extra: dict[str, Any]) -> None:
    book = load_playbook_input(BOOK)
    inv = load_inventory(INVENTORY)
    templar = Templar()
    hosts = inv.select("all")
    carried: dict[str, Any] = {}
    answers = []
    for n, play in enumerate(book.plays):
        for h in hosts if n else [h for h in hosts if h.name != "a3"]:  # a3 reaches play 2 without play 1's facts
            want = _answer(_preflight, Templar(), play, h, extra, carried.get(h.name))
            got = _answer(preflight, templar, play, h, extra, carried.get(h.name))
            assert got == want, h.name
            answers.append(got)
            if not isinstance(got, tuple):
                carried[h.name] = set(got)
    errors = [a for a in answers if isinstance(a, tuple)]
    if extra:
        assert [e for e in errors if "a3" in e[1]] and len(errors) == 1
    else:  # b1 and b2 share their names: both fail, each with its own name
        assert any("b1" in e[1] for e in errors) and any("b2" in e[1] for e in errors)
    assert len(templar.__dict__["_preflight_cache"]) < len(answers)  # the cache was used
