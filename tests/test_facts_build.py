"""facts._build (a facts object's attributes set at once, without the frozen dataclass's
`__init__`) against the constructor itself, swapped in as the oracle: for the facts of every
simulated lab profile, every facts file of the test data, and each of those with every scalar
field replaced by each kind of JSON value or removed (tests/test_facts_reader.py's variants),
parse_facts gives equal facts with the same repr, the same attributes in the same order at every
level and the same pickle, or the same error text."""

from __future__ import annotations

import dataclasses
import json
import pickle
from typing import Any

import pytest

from hvprov import facts as facts_mod
from hvprov.errors import ResultParseError
from hvprov.facts import parse_facts
from tests.factsdata import DATA
from tests.test_facts_reader import _variants


def _constructor(cls: Any, /, **values: Any) -> Any:
    return cls(**values)


def _shape(v: Any) -> Any:
    """Every object's class and its attributes in order, all the way down."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return (type(v).__qualname__, [(k, _shape(x)) for k, x in vars(v).items()])
    if isinstance(v, (tuple, list, frozenset)):
        return (type(v).__name__, [_shape(x) for x in (sorted(v) if isinstance(v, frozenset) else v)])
    return (type(v).__name__, repr(v))


def _outcome(raw: Any) -> Any:
    try:
        f = parse_facts(raw)
    except ResultParseError as exc:
        return ("error", str(exc))
    return ("ok", repr(f), _shape(f), pickle.dumps(f, protocol=5), f)


def _lab_raw() -> list[dict[str, Any]]:
    from tests.test_plans_normalize import _lab_facts

    return _lab_facts(raw=True)


def _compare(docs: list[Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    new = [_outcome(d) for d in docs]
    with monkeypatch.context() as m:
        m.setattr(facts_mod, "_build", _constructor)
        old = [_outcome(d) for d in docs]
    for doc, a, b in zip(docs, new, old):
        assert a == b, doc
    return old


def test_every_lab_profile_builds_as_the_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _lab_raw()
    old = _compare(docs, monkeypatch)
    assert len(docs) >= 5 and all(o[0] == "ok" for o in old)
    for o in old:  # attributes in field order: what the constructor sets
        f = o[-1]
        assert list(vars(f)) == [x.name for x in dataclasses.fields(f)]
        assert list(vars(f.os)) == [x.name for x in dataclasses.fields(f.os)]


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.json")))
def test_parse_facts_builds_as_the_constructor(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = list(_variants(json.loads((DATA / f"{name}.json").read_text())))
    old = _compare(docs, monkeypatch)
    assert sum(o[0] == "error" for o in old) > 50 and sum(o[0] == "ok" for o in old) > 50


def test_a_missing_field_is_not_silently_left_out() -> None:
    with pytest.raises(KeyError):
        facts_mod._build(facts_mod.DepFacts, available=True)
    d = facts_mod._build(facts_mod.DepFacts, policy=2, available=True)  # any call order: field order kept
    assert list(vars(d)) == ["available", "policy"] and d == facts_mod.DepFacts(True, 2)


def test_the_facts_classes_have_nothing_the_constructor_would_run() -> None:
    classes = [c for c in vars(facts_mod).values() if isinstance(c, type) and dataclasses.is_dataclass(c)]
    assert len(classes) >= 13
    for c in classes:
        assert not hasattr(c, "__post_init__"), c
        assert all(f.init for f in dataclasses.fields(c)), c
