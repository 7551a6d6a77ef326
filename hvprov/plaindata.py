"""Facts (frozen dataclasses) as plain data, fast: HostFacts.to_dict() and to_vars() run once
per host per gather, where `dataclasses.asdict`'s deep copy of every leaf was most of the cost."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from dataclasses import fields
from functools import lru_cache
from typing import Any

_ATOMS = (str, int, float, bool, type(None), frozenset)


def plain(v: Any) -> Any:
    """`dataclasses.asdict` for facts (frozen dataclasses, tuples and lists of them, scalars,
    frozensets), without asdict's deep copy of every leaf: the same dict, tuples kept tuples.
    It runs once per host per gather (tests/test_facts_dict.py compares it with asdict)."""
    if isinstance(v, _ATOMS):
        return v
    if type(v) in (tuple, list):
        return type(v)(plain(x) for x in v)
    if type(v) is dict:
        return {plain(k): plain(x) for k, x in v.items()}
    if hasattr(type(v), "__dataclass_fields__") and not isinstance(v, type):
        return {f.name: plain(getattr(v, f.name)) for f in fields(v)}
    return deepcopy(v)  # anything else: copied, as asdict does


@lru_cache(maxsize=256)
def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names in order (`dataclasses.fields`), None for any other class: asked
    once per class (facts are a few classes), where `fields()` was a third of as_vars' cost."""
    if hasattr(cls, "__dataclass_fields__") and not issubclass(cls, type):
        return tuple(f.name for f in fields(cls))
    return None


def as_vars(v: Any, text: Callable[[str], str]) -> Any:
    """`templating.unsafe(plain(v))` in one pass: strings through `text`, tuples as lists
    (tests/test_facts_dict.py compares the two). A field or item that is a str, an int, a bool
    or None is converted in the loop, without a call per leaf (most of a host's ~70 values:
    tests/test_plaindata_vars.py keeps the one-call-per-value form as the oracle)."""
    t = type(v)
    if t is str:
        return text(v)
    if t is tuple or t is list:
        out_list = []
        for x in v:
            tx = type(x)
            out_list.append(text(x) if tx is str else x if tx is int or tx is bool or x is None else as_vars(x, text))
        return out_list
    if t is dict:
        return {k: as_vars(x, text) for k, x in v.items()}
    if isinstance(v, str):
        return text(v)
    names = _field_names(t)
    if names is not None:
        out = {}
        for n in names:
            x = getattr(v, n)
            tx = type(x)
            out[n] = text(x) if tx is str else x if tx is int or tx is bool or x is None else as_vars(x, text)
        return out
    return v if isinstance(v, _ATOMS) else deepcopy(v)
