"""HostFacts.to_dict() against its oracle, dataclasses.asdict: the same data and the same
container types for every facts file of the test data (hosts with VMs, switches, VHDs,
predicted and unverified areas), and a result that shares no mutable container with the facts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from hvprov.facts import HostFacts
from tests.factsdata import DATA, facts


def _typed(v: Any) -> Any:
    if isinstance(v, dict):
        return ("dict", [(_typed(k), _typed(x)) for k, x in v.items()])
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [_typed(x) for x in v])
    return (type(v).__name__, v)


def _reference(f: HostFacts) -> dict[str, Any]:
    d = dataclasses.asdict(f)
    d["predicted"] = sorted(f.predicted)
    d["unverified"] = sorted(f.unverified)
    d["backend"] = f.backend
    return d


NAMES = sorted(p.stem for p in DATA.glob("*.json"))


@pytest.mark.parametrize("name", NAMES)
def test_to_dict_is_asdict(name: str) -> None:
    f = facts(name)
    f = dataclasses.replace(f, predicted=frozenset({"vms", "switches"}), unverified=frozenset({"hypervisor"}))
    assert _typed(f.to_dict()) == _typed(_reference(f))


def test_the_facts_files_cover_nested_objects() -> None:
    assert len(NAMES) >= 3
    assert any(facts(n).vms and facts(n).switches for n in NAMES)


def test_to_dict_shares_no_mutable_container() -> None:
    f = next(facts(n) for n in NAMES if facts(n).vms)
    d = f.to_dict()
    d["vms"][0]["name"] = "changed"
    d["os"]["version"] = "changed"
    assert f.to_dict() == _reference(f) and f.vms[0].name != "changed"


@pytest.mark.parametrize("name", NAMES)
def test_to_vars_is_unsafe_of_to_dict(name: str) -> None:
    from hvprov.templating import UnsafeText, unsafe

    f = dataclasses.replace(facts(name), predicted=frozenset({"vms"}), unverified=frozenset({"inventory"}))
    assert _typed(f.to_vars(UnsafeText)) == _typed(unsafe(f.to_dict()))
