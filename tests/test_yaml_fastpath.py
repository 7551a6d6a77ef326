"""hvprov.yamlsrc's two construction shortcuts against their oracles.

A plain `!!str` scalar is taken as its `node.value` instead of going through PyYAML's
`construct_object`, and each document remembers the tag `resolve` gave each (kind, value,
implicit). The oracles: the loader with both shortcuts off (the code as it was, which also
gives every key's and item's line and column), and PyYAML's own `yaml.SafeLoader` for the data
and its types, over the edge-case corpus, every YAML file of the repository and a generated
inventory of the shape the bench loads (200 hosts).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml

from hvprov import yamlsrc
from hvprov.errors import InputError, PlaybookError
from hvprov.yamlsrc import load_yaml_text

from test_yaml_cloader import EDGE_CASES, _repo_yaml, _shape

_EXTRA = [
    "a: '1'\nb: 1\nc: \"1\"\nd: !!str 1\ne: '1'\nf: 1\n",  # the same value, quoted and plain, twice
    "- yes\n- 'yes'\n- yes\n- ~\n- '~'\n- null\n- 'null'\n- 1.5\n- '1.5'\n- 1.5\n",
    "a: &s x\nb: *s\nc: [*s, *s]\n",  # an alias to a plain string scalar
    "k: !!str\n", "? !!str\n: !!str\n", "a: !!str [1]\n", "a: !!str {b: c}\n",
    "=: v\n", "a: {=: v}\n", "a: !!binary aGk=\nb: !!binary aGk=\n",
]


def _inventory(n: int) -> str:
    return "all:\n  hosts:\n" + "".join(
        f"    h{i:04d}:\n      ansible_host: 127.0.0.1\n      ansible_user: Administrator\n"
        f"      ansible_password: 'p{i % 7}'\n      ansible_connection: winrm\n      ansible_port: {45000 + i}\n"
        f"      flag: {'yes' if i % 2 else 'no'}\n      note: '{i}'\n" for i in range(n))


def _outcome(text: str) -> Any:
    try:
        return ("ok", _shape(load_yaml_text(text, "f.yml", PlaybookError)))
    except InputError as exc:
        return ("error", type(exc).__name__, str(exc))


def _slow_outcome(text: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(yamlsrc._Constructor, "hv_fast_str", False)
        m.setattr(yamlsrc._Constructor, "resolve", yaml.resolver.Resolver.resolve)
        return _outcome(text)


def _plain(value: Any) -> Any:
    """Data with its exact types, as one comparable structure (dict order kept)."""
    if isinstance(value, dict):
        return ("map", [(_plain(k), _plain(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return ("seq", [_plain(v) for v in value])
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(repr(v) for v in value))
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value if not isinstance(value, datetime.datetime) else value.isoformat())


def _corpus() -> list[str]:
    files = [p.read_text(encoding="utf-8", errors="replace") for p in _repo_yaml()]
    return [*EDGE_CASES, *_EXTRA, _inventory(200), *files]


def test_the_shortcuts_change_nothing_the_loader_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _corpus()
    assert len(corpus) > 200
    differ = [i for i, text in enumerate(corpus) if _outcome(text) != _slow_outcome(text, monkeypatch)]
    assert differ == []


def test_the_data_and_types_are_pyyaml_safeloaders() -> None:
    compared = 0
    for text in _corpus():
        try:
            ours = load_yaml_text(text, "f.yml", PlaybookError)
        except InputError:
            continue  # refused (duplicate keys, alias bombs, tabs libyaml takes...): other tests
        try:
            theirs = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader is the oracle
        except yaml.YAMLError:  # pragma: no cover - a document only hvprov accepts would be a bug
            pytest.fail(f"hvprov accepted what SafeLoader refuses: {text[:80]!r}")
        assert _plain(ours) == _plain(theirs), text[:200]
        compared += 1
    assert compared > 150


def test_the_shortcuts_are_taken_on_an_inventory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"construct": 0, "resolve": 0}
    construct, resolve = yaml.constructor.BaseConstructor.construct_object, yaml.resolver.Resolver.resolve

    def counting_construct(self: Any, node: Any, deep: bool = False) -> Any:
        calls["construct"] += 1
        return construct(self, node, deep)

    def counting_resolve(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
        calls["resolve"] += 1
        return resolve(self, kind, value, implicit)

    monkeypatch.setattr(yaml.constructor.BaseConstructor, "construct_object", counting_construct)
    monkeypatch.setattr(yaml.resolver.Resolver, "resolve", counting_resolve)
    data = load_yaml_text(_inventory(50), "inv.yml")
    assert data["all"]["hosts"]["h0049"]["ansible_port"] == 45049
    assert data["all"]["hosts"]["h0049"]["note"] == "49" and data["all"]["hosts"]["h0049"]["flag"] is True
    # the generic way: 50 host mappings, 50 ports, 50 flags and the 3 outer mappings (153); without
    # the shortcut also 50 x 7 keys and 50 x 5 strings (753)
    assert calls["construct"] <= 153
    # once per distinct (kind, value, implicit): 50 host names, 50 ports, 50 notes, 7 passwords, the
    # keys and shared values (172); without the memo once per node (858)
    assert calls["resolve"] < 200
