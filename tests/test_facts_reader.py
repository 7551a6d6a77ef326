"""facts._Reader.get answers a present value of exactly the asked type without its checks; the
previous get (kept here as the oracle, swapped in with monkeypatch) gives the same HostFacts or
the same error text for every facts file of the test data and for every scalar field of them
replaced by each kind of JSON value (null, booleans, integers, integral and fractional floats,
strings, lists, objects) or removed."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from hvprov import facts as facts_mod
from hvprov.errors import ResultParseError
from hvprov.facts import parse_facts
from tests.factsdata import DATA


def _old_get(self: Any, key: str, typ: Any, optional: bool = False, default: Any = None) -> Any:
    if not isinstance(self.raw, dict):
        raise self.fail(key, "an object", self.raw)
    if key not in self.raw or self.raw[key] is None:
        if optional:
            return default
        raise self.fail(key, facts_mod._tname(typ), None)
    value = self.raw[key]
    if typ is int and isinstance(value, bool):
        raise self.fail(key, "an integer", value)
    if typ is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, typ):
        raise self.fail(key, facts_mod._tname(typ), value)
    return value


KINDS: list[Any] = [None, True, False, 0, 7, -3, 2.0, 2.5, "", "text", [], ["a"], {}, {"k": 1}]
_MISSING = object()


def _scalar_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _scalar_paths(v, (*path, k))
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for i, v in enumerate(node):
            yield from _scalar_paths(v, (*path, i))
    else:
        yield path


def _variants(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield raw
    for path in _scalar_paths(raw):
        for value in [*KINDS, _MISSING]:
            doc = copy.deepcopy(raw)
            node = doc
            for p in path[:-1]:
                node = node[p]
            if value is _MISSING:
                node.pop(path[-1])
            else:
                node[path[-1]] = value
            yield doc


def _outcome(raw: dict[str, Any]) -> Any:
    try:
        return ("ok", repr(parse_facts(raw)))  # repr: 2 and 2.0, 1 and True differ
    except ResultParseError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.json")))
def test_parse_facts_equals_the_previous_reader(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = list(_variants(json.loads((DATA / f"{name}.json").read_text())))
    new = [_outcome(d) for d in docs]
    monkeypatch.setattr(facts_mod._Reader, "get", _old_get)
    old = [_outcome(d) for d in docs]
    assert len(docs) > 300
    assert sum(o[0] == "error" for o in old) > 50 and sum(o[0] == "ok" for o in old) > 50
    for doc, a, b in zip(docs, new, old):
        assert a == b, doc
