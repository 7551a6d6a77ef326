"""plans.normalize_facts / as_json against the JSON round trip it replaced (kept here as the
oracle): the same values, with the same types and the same key order all the way down (a saved
plan reloads a host's facts through exactly that round trip, and the run result's facts are
compared with it), or the same error. Over the facts of every simulated lab profile (as a
session holds them: `HostFacts.to_vars(UnsafeText)`), the test data's facts files, and
generated JSON-like data with str subclasses, tuples, big ints, int/float subclasses, non-str
keys and objects json formats with `default=str`."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvprov.facts import parse_facts
from hvprov.plans import VOLATILE, as_json, canonical, normalize_facts
from hvprov.templating import UnsafeText
from tests.factsdata import DATA, facts


def _old_normalize_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    out = json.loads(canonical(facts))
    out.pop("predicted", None)
    for dotted in VOLATILE:
        node = out
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.get(p, {})
        node.pop(last, None)
    return out  # type: ignore[no-any-return]


def _typed(v: Any) -> Any:
    """Types, order and values all the way down (NaN as a marker: it is not equal to itself)."""
    if isinstance(v, dict):
        return ("dict", [(_typed(k), _typed(x)) for k, x in v.items()])
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [_typed(x) for x in v])
    if isinstance(v, float) and math.isnan(v):
        return (type(v).__name__, "nan")
    return (type(v).__name__, v)


def _outcome(fn: Any, value: Any) -> Any:
    try:
        return ("ok", _typed(fn(value)))
    except Exception as exc:  # noqa: BLE001 - the error is what is compared
        return ("error", type(exc).__name__, str(exc))


def _lab_facts(raw: bool = False) -> list[dict[str, Any]]:
    """The facts of every simulated lab profile, as a session holds them (or raw: as parsed)."""
    from hvprov.cmdfacts import read_facts as read_cmd_facts
    from hvprov.errors import ResultParseError
    from hvprov.scriptresult import parse_result
    from hvprov.sim.executor import execute
    from hvprov.sim.profiles import PROFILES, build_host
    from hvprov.transports.sim import _command

    script = '# hvprov-template: facts/host.ps1.j2\n# hvprov-params: {"probe_paths":["C:\\\\x"]}\n'
    out = []
    for name in sorted(PROFILES):
        h = build_host(name, {}, name="hv01", now=1_790_000_000.0)
        try:
            data = parse_result(execute(h, script, 1_790_000_000.0), "facts")
        except ResultParseError:  # no powershell.exe: the session reads them with cmd tools
            data = read_cmd_facts(lambda line, h=h: _command(h, line, None, 1_790_000_000.0))
        out.append(data if raw else parse_facts(data).to_vars(UnsafeText))
    return out


def test_every_lab_profile_and_facts_file_normalizes_as_the_round_trip() -> None:
    cases = _lab_facts() + [facts(p.stem).to_vars(UnsafeText) for p in sorted(DATA.glob("*.json"))]
    cases += [facts(p.stem).to_dict() for p in sorted(DATA.glob("*.json"))]
    assert len(cases) >= 6
    for case in cases:
        new, old = _outcome(normalize_facts, case), _outcome(_old_normalize_facts, case)
        assert new == old and new[0] == "ok"
        out = normalize_facts(case)
        assert "predicted" not in out and "last_boot" not in out["os"]
        assert type(out["hostname"]) is str and type(case["hostname"]) is UnsafeText or "unverified" in case


class _Text(str):
    def __str__(self) -> str:  # json writes the characters, not str(): so must as_json
        return "other"


class _Num(enum.IntEnum):
    two = 2


class _Float(float):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _Obj:
    def __str__(self) -> str:
        return "an object"


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(), st.text().map(UnsafeText), st.text().map(_Text),
    st.sampled_from([_Num.two, _Float(1.5), _Obj(), 10**700, -(10**650), 10**599, frozenset({"a"}), b"x"]),
)
_keys = st.one_of(st.text(), st.text().map(UnsafeText), st.integers(-3, 3), st.sampled_from([1.5, True, None]))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=3).map(_Dict),
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_as_json_is_the_round_trip(value: Any) -> None:
    assert _outcome(as_json, value) == _outcome(lambda v: json.loads(canonical(v)), value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _values, max_size=5), _values)
def test_normalize_facts_is_the_round_trip(extra: dict[str, Any], os_value: Any) -> None:
    case = dict(facts().to_vars(UnsafeText))
    case.update(extra)
    case["os"] = os_value if not isinstance(os_value, (dict, list, tuple)) else case["os"]
    assert _outcome(normalize_facts, case) == _outcome(_old_normalize_facts, case)


def test_the_result_shares_no_container_with_the_facts() -> None:
    case = facts("2019-hyperv").to_vars(UnsafeText)
    out = normalize_facts(case)
    out["os"]["build"] = -1
    out["features"].append("x") if isinstance(out.get("features"), list) else None
    assert normalize_facts(case) == _old_normalize_facts(case) != out


def test_big_ints_and_nan_take_json_s_way() -> None:
    assert _outcome(as_json, {"a": 10**5000}) == _outcome(lambda v: json.loads(canonical(v)), {"a": 10**5000})
    assert _outcome(as_json, {"a": 10**5000})[0] == "error"
    assert _typed(as_json([float("nan"), _Float(2.0), _Num.two])) == _typed([float("nan"), 2.0, 2])


@pytest.mark.parametrize("value", [{1: "a", "1": "b"}, {"b": 1, 2: 3}, {(1, 2): 3}, {None: 1}])
def test_keys_json_rewrites_or_refuses(value: dict[Any, Any]) -> None:
    assert _outcome(as_json, value) == _outcome(lambda v: json.loads(canonical(v)), value)
