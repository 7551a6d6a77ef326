"""plaindata.as_vars against its previous form (one call per value, kept here as the oracle):
the same values with the same types all the way down, for every facts file of the test data and
for dataclasses holding every kind of value (str and a str subclass, int, bool, float, None,
frozenset, tuples and lists of dataclasses and of scalars, dicts, an object that is deep-copied)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import pytest

from hvprov.plaindata import _ATOMS, _field_names, as_vars
from hvprov.templating import UnsafeText
from tests.factsdata import DATA, facts


def _old_as_vars(v: Any, text: Callable[[str], str]) -> Any:
    t = type(v)
    if t is str:
        return text(v)
    if t is tuple or t is list:
        return [_old_as_vars(x, text) for x in v]
    if t is dict:
        return {k: _old_as_vars(x, text) for k, x in v.items()}
    if isinstance(v, str):
        return text(v)
    names = _field_names(t)
    if names is not None:
        return {n: _old_as_vars(getattr(v, n), text) for n in names}
    return v if isinstance(v, _ATOMS) else deepcopy(v)


def _typed(v: Any) -> Any:
    if isinstance(v, dict):
        return ("dict", [(_typed(k), _typed(x)) for k, x in v.items()])
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [_typed(x) for x in v])
    if type(v).__module__ == __name__ and not dataclasses.is_dataclass(v):
        return (type(v).__name__, vars(v))
    return (type(v).__name__, v)


class _Other:  # neither a scalar nor a dataclass: deep-copied
    def __init__(self) -> None:
        self.items = [1, "a"]


class _Sub(str):
    pass


@dataclasses.dataclass(frozen=True)
class _Leaf:
    s: str = "x"
    i: int = 3
    b: bool = False
    f: float = 1.5
    n: None = None
    sub: str = _Sub("sub")


@dataclasses.dataclass
class _Node:
    leaves: tuple[_Leaf, ...] = (_Leaf(), _Leaf(s="y", i=-1, b=True))
    mixed: list[Any] = dataclasses.field(default_factory=lambda: ["a", 1, True, None, 2.5, _Sub("q"), (1, "b"), {"k": "v"},
                                                                  _Leaf(), frozenset({"z"}), [None, False]])
    table: dict[Any, Any] = dataclasses.field(default_factory=lambda: {"a": ["b", 1], 2: (_Leaf(),), "n": None})
    fs: frozenset[str] = frozenset({"p", "q"})
    other: _Other = dataclasses.field(default_factory=_Other)
    empty: tuple[Any, ...] = ()


@pytest.mark.parametrize("text", [UnsafeText, str, lambda s: f"<{s}>"])
def test_as_vars_is_the_previous_form_on_every_kind_of_value(text: Callable[[str], str]) -> None:
    for value in (_Node(), _Leaf(), [_Node(), "s", 1], ("t", None), {"k": _Node()}, "s", _Sub("s"), 4, None, 2.0,
                  frozenset({"a"}), _Other()):
        assert _typed(as_vars(value, text)) == _typed(_old_as_vars(value, text)), value
    other = _Node().other
    assert as_vars(other, text) is not other  # still a copy


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.json")))
def test_as_vars_of_every_facts_file_is_the_previous_form(name: str) -> None:
    f = facts(name)
    assert _typed(as_vars(f, UnsafeText)) == _typed(_old_as_vars(f, UnsafeText))
