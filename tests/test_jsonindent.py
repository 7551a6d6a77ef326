"""hvprov.report.jsonindent.dumps_indent against its oracle, json.dumps(indent=2, default=str):
the same bytes for random nested data (hypothesis), for the awkward leaves (non-str keys, NaN and
infinities, big ints, unicode and lone surrogates, tuples, subclasses, objects only default=str
can write, Secrets), for lists of dicts of leaves (encoded in one call), for cycles (the same
ValueError), and for real run documents
(run_document against json.dumps(mask(result.to_dict()), indent=2, default=str))."""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hvprov
from hvprov.report.jsondoc import run_document
from hvprov.report.jsonindent import dumps_indent
from hvprov.secrets import Secret, SecretRegistry, mask


def oracle(obj: Any, indent: int = 2) -> str:
    return json.dumps(obj, indent=indent, default=str)


class Shown:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class Colour(str, Enum):
    RED = "red"


class Num(int):
    pass


class Real(float):
    pass


class Text(str):
    pass


class Dict(dict):  # type: ignore[type-arg]
    pass


class List(list):  # type: ignore[type-arg]
    pass


TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # surrogates too
KEYS = st.one_of(TEXT, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none())
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 80), max_value=2 ** 80), st.floats(), TEXT,
    TEXT.map(Shown), TEXT.map(Text), st.integers().map(Num), st.floats().map(Real), st.just(Colour.RED),
    TEXT.map(lambda s: Secret(s + "xyz", shown="***" + s)), st.just(()), st.just({}), st.just([]))


def _nest(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5), st.lists(children, max_size=4).map(tuple),
        st.lists(children, max_size=3).map(List),
        st.dictionaries(KEYS, children, max_size=5), st.dictionaries(TEXT, children, max_size=3).map(Dict))


DATA = st.recursive(LEAVES, _nest, max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(DATA)
def test_random_nested_data_gives_the_oracles_bytes(obj: Any) -> None:
    assert dumps_indent(obj) == oracle(obj)


# lists of dicts of leaves (a host's tasks: one C call for the whole list), with the strings that
# could fool the boundary search: brackets, quotes, commas and escaped newlines next to each other
ROW_TEXT = st.one_of(TEXT, st.sampled_from(["}", "{", "},\n  {", '"}, {"', "}\n{", "]", "[", ",", "\\", "}}{{"]))
class Untruthy:
    """A leaf whose truth cannot be told (as numpy's arrays): json writes str() of it."""

    def __bool__(self) -> bool:
        raise ValueError("truth value is ambiguous")

    def __str__(self) -> str:
        return "untruthy}"


ROW_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ROW_TEXT, ROW_TEXT.map(Shown),
                       st.just(()), st.just({}), st.just([]), st.just(Untruthy()))
ROWS = st.lists(st.dictionaries(st.one_of(ROW_TEXT, st.integers()), ROW_LEAVES, min_size=1, max_size=6), max_size=6)


@settings(max_examples=400, deadline=None)
@given(ROWS, st.integers(min_value=0, max_value=4), st.integers(min_value=0, max_value=3))
def test_lists_of_leaf_dicts_give_the_oracles_bytes(rows: list[Any], indent: int, depth: int) -> None:
    obj: Any = rows
    for _ in range(depth):
        obj = {"tasks": obj, "n": 1}
    assert dumps_indent(obj, indent) == oracle(obj, indent)
    assert dumps_indent([*rows, {}], indent) == oracle([*rows, {}], indent)  # an empty dict: the item by item path


@settings(max_examples=50, deadline=None)
@given(DATA, st.integers(min_value=0, max_value=5))
def test_other_indents_too(obj: Any, indent: int) -> None:
    assert dumps_indent(obj, indent) == oracle(obj, indent)


@pytest.mark.parametrize("obj", [
    {1: 2, 1.5: [1, {}], None: {"a": [Shown("x\u00e9"), math.nan, -math.inf, math.inf, 1e300, 5e-324, True]},
     True: (), False: ({"k": ()},), -0.0: [[[]]], math.nan: [[1]], -math.inf: {"i": [2]}},
    [], {}, (), "s", 1, 2 ** 200, -0.0, Shown("only default"), [[[]]], [[[1]]],
    {"\u00e9\u2028\u2029\ud800\U0001f600": ["\x00\x1f\x7f\"\\/", {"\t": "\n"}]},
    {"tasks": [{"name": "a", "changes": [], "state": {}}, {"name": "b", "changes": [{"before": {"x": [1]}}]}]},
    [Dict(a=List([1, Dict()])), (1, (2, (3,)))],
])
def test_awkward_values(obj: Any) -> None:
    assert dumps_indent(obj) == oracle(obj)


@pytest.mark.parametrize("obj", [{(1, 2): [1, [2]]}, {"a": [1, [2]], (1,): 3}, {(1,): 3}, [{object(): 1}]])
def test_bad_keys_raise_the_oracles_error(obj: Any) -> None:
    with pytest.raises(TypeError) as want:
        oracle(obj)
    with pytest.raises(TypeError) as got:
        dumps_indent(obj)
    assert str(got.value) == str(want.value)


def test_a_cycle_raises_the_oracles_error() -> None:
    loop: list[Any] = [1, [2]]
    loop.append(loop)
    ring: dict[str, Any] = {"a": {"b": [1]}}
    ring["a"]["self"] = ring
    for obj in (loop, ring, [{"x": loop}]):
        with pytest.raises(ValueError) as want:
            oracle(obj)
        with pytest.raises(ValueError) as got:
            dumps_indent(obj)
        assert str(got.value) == str(want.value)
    shared = [1, [2]]
    assert dumps_indent([shared, shared, {"s": shared}]) == oracle([shared, shared, {"s": shared}])  # not a cycle


@settings(max_examples=100, deadline=None)
@given(DATA)
def test_secrets_need_no_mask_pass(obj: Any) -> None:
    """run_document writes to_dict() without mask(): default=str gives a Secret's shown form."""
    assert dumps_indent(obj) == oracle(mask(obj))


ROOT = Path(__file__).resolve().parent.parent


def _book(tmp_path: Path) -> tuple[Path, Path]:
    book = tmp_path / "book.yml"
    book.write_text("""
- hosts: all
  gather_facts: true
  tasks:
    - name: "show {{ inventory_hostname }} \u00e9\u2028"
      debug:
        msg: "secret {{ admin_pw }} and {{ inventory_hostname }}"
    - set_fact:
        counter: 1
        nested: {a: [1, 2.5, null, true]}
    - name: VM web01
      hyperv_vm:
        name: web01
        memory: 512
        cpus: 1
        notes: "managed by hvprov {{ admin_pw }}"
    - name: fail
      assert:
        that: counter | int > 5
        fail_msg: "small {{ counter }}"
      ignore_errors: true
""")
    inv = tmp_path / "inv.yml"
    inv.write_text("""
all:
  vars:
    ansible_connection: sim
    admin_pw: Sup3rSecretValue
  hosts:
    hvs-a: {sim_profile: hyperv-server-2008r2}
    hvs-b: {sim_profile: 2019-standard}
""")
    return book, inv


@pytest.mark.parametrize("mode", ["plan", "apply"])
def test_run_documents_give_the_oracles_bytes(tmp_path: Path, mode: str) -> None:
    book, inv = _book(tmp_path)
    registry = SecretRegistry(["Sup3rSecretValue"])
    result = hvprov.run(str(book), str(inv), mode=mode, lab_dir=tmp_path / "lab", secret_registry=registry,
                        secrets={"admin_pw": "Sup3rSecretValue"})
    doc = result.to_dict()
    assert any(t["changes"] for h in doc["hosts"].values() for t in h["tasks"])  # nested containers present
    text = run_document(result, registry)
    assert text == registry.scrub(json.dumps(mask(doc), indent=2, default=str))
    assert "Sup3rSecretValue" not in text
    assert run_document(result) == json.dumps(mask(doc), indent=2, default=str)
