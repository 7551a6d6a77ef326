"""Host patterns: Ansible's syntax and evaluation order (table-driven)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from hvprov.errors import OptionsError
from hvprov.inventory import Inventory
from hvprov.patterns import HostMatcher, parse_address, parse_pattern, split_pattern

DATA = Path(__file__).parent / "data" / "inventory" / "patterns"
TABLE = yaml.safe_load((DATA / "patterns.yml").read_text())
BAD = yaml.safe_load((DATA / "bad_patterns.yml").read_text())


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return Inventory.load([DATA / "inventory.yml"])


@pytest.mark.parametrize(("pattern", "expected"), list(TABLE.items()), ids=list(TABLE))
def test_pattern_table(inv: Inventory, pattern: str, expected: list[str]) -> None:
    assert [h.name for h in inv.select(pattern)] == expected


@pytest.mark.parametrize(("pattern", "message"), list(BAD.items()), ids=[repr(p) for p in BAD])
def test_bad_patterns_raise_options_error(inv: Inventory, pattern: str, message: str) -> None:
    with pytest.raises(OptionsError) as info:
        inv.select(pattern)
    assert message in str(info.value)


def test_table_is_meaningful(inv: Inventory) -> None:
    everyone = [h.name for h in inv.select(None)]
    assert everyone == list(inv.hosts)
    assert len(everyone) == 9
    assert any(not v for v in TABLE.values()) and any(v != everyone for v in TABLE.values())


def test_select_returns_host_objects_and_fresh_lists(inv: Inventory) -> None:
    first = inv.select("web")
    assert first[0] is inv.hosts["hv02"]
    first.clear()
    assert [h.name for h in inv.select("web")] == ["hv02", "web01", "web02"]


def test_select_accepts_a_list_of_patterns(inv: Inventory) -> None:
    assert [h.name for h in inv.select(["w2019", "!hv05", "db"])] == ["hv04", "db01"]
    with pytest.raises(OptionsError):
        inv.select(["web", 3])  # type: ignore[list-item]


def test_non_string_pattern_is_an_options_error(inv: Inventory) -> None:
    with pytest.raises(OptionsError, match="must be a string"):
        inv.select(42)  # type: ignore[arg-type]


def test_no_match_warns_but_is_not_an_error(
    inv: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hvprov.patterns"):
        assert inv.select("nosuch:web") == inv.select("web")
    assert "'nosuch' matches no group or host" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hvprov.patterns"):
        assert inv.select("empty") == []
    assert caplog.text == ""  # a group that exists but is empty is not a typo


@pytest.mark.parametrize(
    ("pattern", "terms"),
    [
        ("a,b[1], c[2:3] , d", ["a", "b[1]", "c[2:3]", "d"]),
        ("web:db", ["web", "db"]),
        ("web:&db:!hv01", ["web", "&db", "!hv01"]),
        ("web db", ["web", "db"]),
        ("hv[01:03]", ["hv[01:03]"]),
        ("w2008[0:1]:db", ["w2008[0:1]", "db"]),
        ("fe80::1", ["fe80::1"]),
        ("hv01.lab:5986", ["hv01.lab:5986"]),
        ("~hv0[12]", ["~hv0[12]"]),
        (["web", "db,x"], ["web", "db", "x"]),
    ],
)
def test_split_pattern(pattern: str | list[str], terms: list[str]) -> None:
    assert split_pattern(pattern) == terms


def test_evaluation_order_is_unions_then_intersections_then_exclusions() -> None:
    terms = parse_pattern("!a:&b:c:!d:&e:f")
    assert [(t.op, t.expr) for t in terms] == [
        ("", "c"),
        ("", "f"),
        ("&", "b"),
        ("&", "e"),
        ("!", "a"),
        ("!", "d"),
    ]
    only_filters = parse_pattern("&b:!a")
    assert [(t.op, t.expr) for t in only_filters] == [("", "all"), ("&", "b"), ("!", "a")]


@pytest.mark.parametrize(
    ("text", "index", "span", "expr"),
    [
        ("web[0]", 0, None, "web"),
        ("web[-1]", -1, None, "web"),
        ("web[1:3]", None, (1, 3), "web"),
        ("web[2:]", None, (2, None), "web"),
        ("~web[0]", None, None, "~web[0]"),
        ("web[ab]", None, None, "web[ab]"),
    ],
)
def test_subscripts(
    text: str, index: int | None, span: tuple[int, int | None] | None, expr: str
) -> None:
    (term,) = parse_pattern(text)
    assert (term.index, term.span, term.expr) == (index, span, expr)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("hv01", ("hv01", None)),
        ("hv01.lab:5986", ("hv01.lab", 5986)),
        ("192.0.2.1:22", ("192.0.2.1", 22)),
        ("[2001:db8::1]:5986", ("2001:db8::1", 5986)),
        ("2001:db8::1", ("2001:db8::1", None)),
        ("hv[01:10].lab", ("hv[01:10].lab", None)),
        ("hv-*", None),
        ("web:db", None),
        ("-bad", None),
        ("bad-", None),
    ],
)
def test_parse_address(text: str, parsed: tuple[str, int | None] | None) -> None:
    assert parse_address(text) == parsed


def test_exact_host_name_wins_over_group_of_same_name() -> None:
    inv = Inventory.from_dict({"all": {"children": {"x": {"hosts": {"x": None, "y": None}}}}})
    assert [h.name for h in inv.select("x")] == ["x"]  # Ansible: a plain host name is that host
    assert [h.name for h in inv.select("all:!x")] == []  # but '!x' matches the group x
    assert [h.name for h in inv.select("x*")] == ["x", "y"]


def test_matcher_on_plain_data() -> None:
    m = HostMatcher(
        ["a1", "a2", "b1"], {"all": ["a1", "a2", "b1"], "as": ["a2", "a1"], "bs": ["b1"]}
    )
    assert m.select("as[0]") == ["a2"]  # subscripts count in the group's own order
    assert m.select("bs,as") == ["a1", "a2", "b1"]  # results in inventory order
    assert m.select("~a") == ["a1", "a2", "b1"]  # the regex also matches the group 'all'
    assert m.select("~a[0-9]") == ["a1", "a2"]
    assert m.select("*1") == ["a1", "b1"]
