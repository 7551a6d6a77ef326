"""The libyaml path of hvprov.yamlsrc against its oracle, the pure-Python loader.

`load_yaml_text` parses with libyaml (yaml.cyaml.CParser) when PyYAML has it and with
PyYAML's pure-Python parser otherwise (and for every error). The pure loader is the
reference here: for every YAML file of the repository and a corpus of edge cases, both give
the same data, the same types, the same line/column of every key and item, and the same
errors (type, message, file:line:column).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hvprov import yamlsrc
from hvprov.errors import InputError, PlaybookError
from hvprov.yamlsrc import LocDict, LocList, load_yaml_text

ROOT = Path(__file__).resolve().parent.parent
needs_libyaml = pytest.mark.skipif(yamlsrc._CParser is None, reason="PyYAML built without libyaml")

EDGE_CASES = [
    "", "# only a comment\n", "---\n", "\ufeffa: 1\n", "é: ü\nb: [ä, {c: 😀, d: x}]\n", "x: 😀😀 y\nz: {w: 1}\n",
    "a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2\n", "? [1]\n: 2\n", "a: '\u2028'\n", "%YAML 1.2\n---\na: 1\n",
    "!!binary aGk=\n", "a: !!set {x, y}\n", "a: 0o17\nb: 017\nc: 1_000\nd: 0x1F\ne: .inf\nf: ~\ng: yes\nh: 2001-12-14\n",
    "- a\n- b: c\n  d: e\n-  - x\n   - y\n", "a: |\n  line\n  two\n", "a: >-\n  fold\n  ed\n", "'a\n\n b'\n",
    '"\\x41\\u00e9\\U0001F600"\n', "a\r\nb: 1\r\n", "a: 1\r\nb: 2\r\n", "{a: 1, b: [x, y], c: {d: e}}\n", "- - - -\n",
    "x: 1\n...\n", "a: \ue000\n", "a: 1\n#\u0085\n", "{a: 1,}\n", "[a, b,]\n", "? a\n", "a: 'b''c'\n", "key:value\n",
    "[a: b]\n", "{a}\n", "- !!str\n", "!<tag:yaml.org,2002:str> x\n", "- [a, b]: c\n", "{? a: b}\n", "a: b\n  c\n",
    "a: 'x\n y'\n", "a: |2-\n   x\n", "a: >\n\n  x\n\n", "--- |\n  x\n", "a: &x 1\nb: &x 2\nc: *x\n", "- &a\n- *a\n",
    "a: !!null ''\n", '"a\\\n  b"\n', "- -1\n- +1\n- .5\n- 1e3\n- 0b101\n- 12:30:00\n- 1:20\n", "- ? a\n  : b\n",
    "a: !!timestamp 2001-12-14t21:59:43.10-05:00\n", "play:\n  - hosts: all\n    tasks:\n      - name: x\n        win_ping:\n",
    # refused (by both, or by libyaml only: then the pure loader decides)
    "a: 1\na: 2\n", "a: [1, 2\n", "a: {\n", "a: b: c\n", "a: @x\n", "a: `x\n", "\t a: 1\n", "a:\n\t- 1\n", "a: b\t\n",
    "a: \x00\n", "a: \x85b\n", "\x7f: 1\n", "a: \ufffe\n", "%YAML 2.0\n---\na: 1\n", "!foo x\n", "a: !vault |\n  xx\n",
    "--- a\n--- b\n", "a: *nope\n", "a: *\n", ("k" * 1100) + ": v\n", "{a: [}\n", "a: {b: ]}\n", 'a: "\\q"\n',
    'a: "\\ud800"\n', "a: !!int x\n", "a: !!timestamp x\n", "x: {a: b}: c\n", "[" * 1001 + "]" * 1001, "a: [" * 400 + "]" * 400,
]


def _shape(value: Any) -> Any:
    """Data, types and every recorded location, as one comparable structure."""
    if isinstance(value, LocDict):
        return ("map", value.loc, [(_shape(k), value.key_locs.get(k), _shape(v)) for k, v in value.items()])
    if isinstance(value, LocList):
        return ("seq", value.loc, [(loc, _shape(v)) for loc, v in zip(value.item_locs, value)], len(value))
    return (type(value).__name__, repr(value))


def _outcome(text: str, pure: bool) -> Any:
    saved = yamlsrc._CParser
    if pure:
        yamlsrc._CParser = None
    try:
        return ("ok", _shape(load_yaml_text(text, "f.yml", PlaybookError)))
    except InputError as exc:
        return ("error", type(exc).__name__, str(exc))
    finally:
        yamlsrc._CParser = saved


def _repo_yaml() -> list[Path]:
    skip = {".venv", ".venv-ansible", ".git", ".hvprov-lab"}
    return sorted(p for p in ROOT.rglob("*.y*ml") if not skip & set(p.relative_to(ROOT).parts))


@needs_libyaml
@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_load_as_the_pure_loader_loads_them(text: str) -> None:
    assert _outcome(text, pure=False) == _outcome(text, pure=True)


@needs_libyaml
def test_every_yaml_file_of_the_repository_loads_the_same() -> None:
    files = _repo_yaml()
    assert len(files) > 100  # playbooks, inventories, test data, golden files
    differ = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if _outcome(text, pure=False) != _outcome(text, pure=True):
            differ.append(str(path.relative_to(ROOT)))
    assert differ == []


@needs_libyaml
def test_the_c_parser_is_what_parses_a_valid_document(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pure(*args: Any) -> Any:
        raise AssertionError("the pure loader ran")

    monkeypatch.setattr(yamlsrc, "_Loader", no_pure)
    data = load_yaml_text("a:\n  - b: 1\n    c: [x, y]\n", "f.yml")
    assert data == {"a": [{"b": 1, "c": ["x", "y"]}]}
    assert data["a"][0].loc_of("c").line == 3 and data["a"][0].loc_of("c").column == 5


def test_errors_keep_their_file_line_column_and_text() -> None:
    with pytest.raises(PlaybookError) as dup:
        load_yaml_text("a: 1\nb:\n  c: 1\n  c: 2\n", "site.yml", PlaybookError)
    assert str(dup.value).startswith("site.yml:4:3: duplicate key 'c' (first defined at line 3)")
    with pytest.raises(PlaybookError) as tab:
        load_yaml_text("a: 1\nb: x\t\n", "site.yml", PlaybookError)  # libyaml would accept this one
    assert str(tab.value).startswith("site.yml:2:5: YAML syntax error: found character '\\t' that cannot start any token")
    with pytest.raises(PlaybookError) as syn:
        load_yaml_text("a: [1, 2\nb: 3\n", "site.yml", PlaybookError)
    assert "site.yml:2:2: YAML syntax error: expected ',' or ']', but got ':'" in str(syn.value)


def test_a_control_character_is_an_input_error_with_its_position() -> None:
    with pytest.raises(PlaybookError) as nul:  # was a ReaderError traceback
        load_yaml_text("a: 1\nbb: x\x00\n", "site.yml", PlaybookError)
    assert str(nul.value).startswith(
        "site.yml:2:6: YAML syntax error: unacceptable character #x0000: special characters are not allowed")


@pytest.mark.parametrize("text", ["a: !!int x\n", "a: !!timestamp x\n", "a: !!float x\n"])
def test_a_bad_explicit_tag_is_an_input_error(text: str) -> None:
    with pytest.raises(PlaybookError) as bad:  # was a ValueError traceback
        load_yaml_text(text, "site.yml", PlaybookError)
    assert str(bad.value).startswith("site.yml: YAML error: cannot construct a value: ")


def test_the_alias_bomb_walk_is_skipped_only_where_no_bomb_can_be() -> None:
    assert yamlsrc._bounded("a: 1\nb: [x, y]\n")
    assert yamlsrc._bounded("a: &x 1\n")  # an anchor, no alias
    assert yamlsrc._bounded("a: 'p*ss'\n")  # an alias character, no anchor
    assert not yamlsrc._bounded("a: &x 1\nb: *x\n")
    assert not yamlsrc._bounded("[" + ":," * (yamlsrc.MAX_YAML_NODES // 3) + "]")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh"))
    with pytest.raises(InputError, match="refusing an alias bomb"):
        load_yaml_text(bomb, "bomb.yml")


@pytest.mark.parametrize("text", ["&a [*a]\n", "a: &x\n  b: *x\n", "- &l [1, [2, *l]]\n"])
def test_an_alias_to_its_own_ancestor_is_refused_not_a_hang(text: str) -> None:
    for pure in (False, True):  # it looped without end before, with either parser
        outcome = _outcome(text, pure)
        assert outcome[0] == "error" and "refusing an alias bomb" in outcome[2], outcome
