"""hvprov.report.jsonindent writes the text `json.dumps(value, indent=N, default=str)` writes
(the oracle is the standard library itself), errors included."""

from __future__ import annotations

import enum
import json
import math
from datetime import date
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvprov.report.jsonindent import dumps_indented


class Colour(str, enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from([Colour.RED, Level.HIGH, Text("t\u00e9\n"), date(2026, 1, 2), PurePosixPath("/a b"), b"x"]))
keys = (st.text(max_size=8) | st.integers(-5, 5) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans()
        | st.none())
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                         | st.dictionaries(keys, inner, max_size=4), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(documents, st.sampled_from([1, 2, 4]))
def test_same_text_as_json_dumps(doc: Any, indent: int) -> None:
    assert dumps_indented(doc, indent, str) == json.dumps(doc, indent=indent, default=str)


def test_edge_values() -> None:
    doc = {"nan": math.nan, "inf": [math.inf, -math.inf], 1.5: {}, True: [], None: (), 7: "\u2028\x00\"\\",
           "e": Colour.RED, "l": Level.HIGH, "o": Text("sub"), "d": date(2026, 1, 2), "big": 10**30, "f": 1e16}
    assert dumps_indented(doc, 2, str) == json.dumps(doc, indent=2, default=str)
    assert dumps_indented("top", 2) == json.dumps("top", indent=2) and dumps_indented(3.0) == json.dumps(3.0, indent=2)


def _error(fn: Any) -> tuple[type[BaseException], str]:
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    return info.type, str(info.value)


def test_same_errors_as_json_dumps() -> None:
    loop: list[Any] = [1]
    loop.append({"x": loop})
    cases = [loop, {(1, 2): "tuple key"}, {"k": [{frozenset(): 1}]}]
    for doc in cases:
        assert _error(lambda: dumps_indented(doc, 2, str)) == _error(lambda: json.dumps(doc, indent=2, default=str))

    def self_default(o: Any) -> Any:
        return o  # default returns the object itself: a circular reference for both

    odd = object()
    assert _error(lambda: dumps_indented([odd], 2, self_default)) == _error(
        lambda: json.dumps([odd], indent=2, default=self_default))


def test_the_run_document_is_unchanged(tmp_path: Any) -> None:
    """The CLI's --format json document: the same text as json.dumps writes (a real run)."""
    import hvprov
    from hvprov.report.jsondoc import run_document
    from hvprov.secrets import mask

    book = tmp_path / "pb.yml"
    book.write_text('- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: "caf\\u00e9 {{ inventory_hostname }}"}\n'
                    '    - set_fact: {n: 1.5, z: null}\n    - assert: {that: ["n | float > 1"]}\n')
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  hosts:\n    h1: {ansible_connection: sim}\n    h2: {ansible_connection: sim}\n")
    result = hvprov.apply(book, inv, lab_dir=tmp_path / "lab")
    expected = json.dumps(mask(result.to_dict()), indent=2, sort_keys=False, default=str)
    assert run_document(result) == expected and '"h2"' in expected
