"""Injection (issue "Injection"): no value that reaches a template can change the script.

Every template in ``ScriptRenderer().templates()`` is rendered with realistic parameters
(``CASES``). Every value in those parameters -- names, paths, notes, adapter names, reasons,
user script text, probe paths, NIC names, feature names, and also the enums, ids, numbers,
booleans, nulls and lists, which then receive a string -- is a *slot*. Hypothesis puts
arbitrary Unicode into each slot (every category but lone surrogates, control characters, NUL,
the smart quotes U+2018-U+201E and dashes U+2013-U+2015 of domain brief 6.2, ``$(``,
backticks, ``'@``/``"@`` at line starts, ``#>``, CRLF, RTL marks, emoji ...), either as the
whole value or inserted into the realistic value (so paths keep their ``.vhd``), and checks:

(a) the rendered script has no tree-sitter syntax error (`pscheck.syntax_errors`);
(b) *alignment*: the script is byte for byte the script rendered with a harmless marker value
    (the "skeleton"), except at the places ("sites") where the template puts the value; at
    each site there is exactly ONE literal token (one node of the parse tree: ``'...'`` or the
    base64 expression) and it decodes to exactly what the skeleton's literal decodes to with
    the marker replaced by the value (``| ps_wql`` sites: by its WQL escape). So a value can
    neither add, remove nor change code, and it arrives intact;
(c) the value never appears raw in the body; the header params line stays one printable
    ASCII line that parses back to the parameters;
(d) with a `Secret` in the slot, ``.text`` is exactly the script of the plain value (the host
    gets the real value) and ``.shown`` does not depend on the secret at all (it equals the
    shown copy of the marker's Secret).

A template may refuse a value (control characters in names, a string where a number belongs):
that is safe, but it must be a ValueError or TypeError with a message -- never anything else.
Lone surrogates must be refused that way. When the marker itself is refused (GUIDs, MACs,
enums, numbers), accepted values get the checks that do not need a skeleton: (a), (c), the
value's literal is in the script, and an enum/GUID/MAC is accepted only in its valid shape.

WQL: `wql_escape` / ``| ps_wql`` bodies, put in a WQL string literal (either quote) and read
back by a small tokenizer of the WMI WHERE-clause rules (backslash escapes), round-trip and
cannot end the literal early; and every WQL filter in the template sources takes values only
through ``| ps_wql`` and never with ``LIKE``.

Budget: ``HVPROV_HYPOTHESIS_EXAMPLES`` is the number of hypothesis examples for this module
(default 10,000, shared out below); the fixed table of classic attacks runs on top. The last
test prints the totals and checks the budget was met when the whole module ran.
``bench/injection.py`` runs the same checks for 100,000 examples.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvprov.pscheck import syntax_errors
from hvprov.render import (
    HEADER_PARAMS,
    HEADER_TEMPLATE,
    RenderedScript,
    ScriptRenderer,
    ps_literal,
    wql_escape,
)
from hvprov.secrets import MASK, Secret, mask, reveal

RENDERER = ScriptRenderer()
MARKER = "hvprovMk7Qz"  # plain-safe, found nowhere in any template
SAFE = re.compile(r"[A-Za-z0-9 _.,:\\/@+=-]*")
B64_LIT = r"\(\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\)"
LITERAL_AT = re.compile(B64_LIT + r"|'([A-Za-z0-9 _.,:\\/@+=-]*)'|'(\*{8})'")
B64_FULL = re.compile(B64_LIT)
PLAIN_FULL = re.compile(r"'([A-Za-z0-9 _.,:\\/@+=-]*)'")
SITE_NODE_TYPES = {"string_literal", "verbatim_string_characters", "parenthesized_expression"}
ENUM_KEYS = {"state", "type"}
ENUMS = {
    "present",
    "absent",
    "running",
    "off",
    "dynamic",
    "fixed",
    "differencing",
    "external",
    "internal",
    "private",
}
GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAC_RE = re.compile(r"[0-9a-fA-F]{12}")

# --------------------------------------------------------------------------- realistic params

GUID_VM = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
GUID_SW = "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"


def _hyperv_cases(backend: str) -> dict[str, list[dict[str, Any]]]:
    """docs/contracts.md section 6, as the modules pass the params."""
    v1 = backend == "v1"
    nic = {
        "name": "Network Adapter",
        "switch": "External LAN",
        "mac": "00-15-5D-0A-0B-0C",
        "legacy": False,
        "vlan": None if v1 else 42,
    }
    legacy = {
        "name": "Legacy Network Adapter",
        "switch": None,
        "mac": None,
        "legacy": True,
        "vlan": None,
    }
    dyn = {"min_mb": 2048 if v1 else 512, "max_mb": 8192, "buffer": 20}
    ops: dict[str, list[dict[str, Any]]] = {
        "vswitch_create": [
            {
                "name": "External LAN",
                "type": "external",
                "adapter": "Local Area Connection 2",
                "allow_management_os": False,
            },
            {
                "name": "Lab Internal",
                "type": "internal",
                "adapter": None,
                "allow_management_os": False,
            },
        ],
        "vswitch_delete": [{"id": GUID_SW, "name": "External LAN"}],
        "vhd_create": [
            {
                "path": "D:\\Hyper-V\\Disks\\web01-os.vhd",
                "size_bytes": 40 * 1024**3,
                "type": "dynamic",
                "parent": None,
            },
            {
                "path": "D:\\Hyper-V\\Disks\\web01-diff.vhd",
                "size_bytes": None,
                "type": "differencing",
                "parent": "E:\\Base\\w2k8r2-sysprep.vhd",
            },
        ],
        "vhd_resize": [{"path": "D:\\Hyper-V\\Disks\\web01-os.vhd", "size_bytes": 80 * 1024**3}],
        "vhd_delete": [{"path": "D:\\Hyper-V\\Disks\\web01-os.vhd"}],
        "vm_create": [
            {
                "name": "web01",
                "memory_mb": 2048,
                "dynamic_memory": dyn,
                "cpus": 2,
                "generation": 1,
                "notes": "managed by hvprov\r\nsecond line",
                "disks": [{"path": "D:\\Hyper-V\\Disks\\web01-os.vhd"}],
                "nics": [nic, legacy],
            },
        ],
        "vm_update": [
            {
                "id": GUID_VM,
                "name": "web01",
                "set": {"memory_mb": 4096, "cpus": 2, "notes": "resized by hvprov"},
                "add_disks": [{"path": "D:\\Hyper-V\\Disks\\web01-data.vhd"}],
                "remove_disks": ["D:\\Hyper-V\\Disks\\web01-old.vhd"],
                "add_nics": [nic],
                "remove_nics": ["Legacy Network Adapter"],
                "connect_nics": [
                    {"name": "Network Adapter 2", "switch": "Lab Internal"},
                    {"name": "Network Adapter 3", "switch": None},
                ],
            },
        ],
        "vm_state": [{"id": GUID_VM, "name": "web01", "state": "running", "graceful": True}],
        "vm_delete": [
            {"id": GUID_VM, "name": "web01", "delete_disks": ["D:\\Hyper-V\\Disks\\web01-os.vhd"]}
        ],
    }
    if not v1:
        ops["vswitch_update"] = [
            {
                "id": GUID_SW,
                "name": "External LAN",
                "type": "external",
                "adapter": "Local Area Connection 2",
                "allow_management_os": True,
            },
        ]
    return {f"hyperv_{backend}/{op}.ps1.j2": cases for op, cases in ops.items()}


CASES: dict[str, list[dict[str, Any]]] = {
    "facts/host.ps1.j2": [
        {"probe_paths": ["C:\\VMs\\web01.vhd", "D:\\Hyper-V\\Base\\w2k8r2-base.vhd"]},
    ],
    "feature/servermanager_v1.ps1.j2": [{"names": ["Hyper-V", "RSAT-Hyper-V"], "state": "present"}],
    "feature/dism_v1.ps1.j2": [
        {
            "names": ["Microsoft-Hyper-V", "Microsoft-Hyper-V-Management-Clients"],
            "state": "present",
        },
    ],
    "feature/servermanager_v2.ps1.j2": [
        {
            "names": ["Hyper-V", "RSAT-Hyper-V-Tools"],
            "state": "present",
            "include_management_tools": True,
        },
    ],
    "system/reboot.ps1.j2": [{"reason": "hvprov: Hyper-V role installed", "delay_seconds": 5}],
    "system/boot_time.ps1.j2": [{}],
    "system/lease.ps1.j2": [
        {
            "action": "acquire",
            "owner": "buildhost:4242:1a2b3c4d",
            "ttl_seconds": 900,
            "steal_from": None,
        },
        {
            "action": "acquire",
            "owner": "buildhost:4242:1a2b3c4d",
            "ttl_seconds": 900,
            "steal_from": "deadhost:77:9f8e7d6c",
        },
    ],
    "powershell/script.ps1.j2": [
        {
            "script": "Get-Service vmms | Select-Object -ExpandProperty Status\n",
            "creates": "C:\\hvprov\\done.flag",
            "removes": "C:\\hvprov\\todo.flag",
        },
        {"script": "$hvprov.changed = $true\n", "creates": None, "removes": None},
    ],
    "powershell/process.ps1.j2": [  # win_command / win_shell
        {"file": "C:\\Program Files\\Tool\\tool.exe", "arguments": "--name \"web 01\" /q", "chdir": "C:\\VMs",
         "stdin": "yes\n", "encoding": "utf-8", "creates": "C:\\hvprov\\done.flag", "removes": "C:\\hvprov\\todo.flag",
         "expand_file": False},
    ],
    "powershell/structured.ps1.j2": [  # win_powershell
        {"script": "param($Name)\nGet-Service -Name $Name\n", "parameters": {"Name": "vmms", "Force": True},
         "chdir": "C:\\VMs", "creates": "C:\\hvprov\\done.flag", "removes": "C:\\hvprov\\todo.flag", "depth": 2,
         "error_action": "stop"},
    ],
    **_hyperv_cases("v1"),
    **_hyperv_cases("v2"),
}

# --------------------------------------------------------------------------- slots


@dataclass(frozen=True)
class Slot:
    """One value inside one template's params: where it is and what kind of value it is."""

    template: str
    case: int
    path: tuple[str | int, ...]
    kind: str  # text | enum | guid | mac | typed (a non-string leaf, or a list/mapping)
    real: Any

    @property
    def id(self) -> str:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)[1:]
        return f"{self.template}#{self.case}:{where}"

    def params(self, value: Any) -> dict[str, Any]:
        params = copy.deepcopy(CASES[self.template][self.case])
        target: Any = params
        for p in self.path[:-1]:
            target = target[p]
        target[self.path[-1]] = value
        return params


def _kind(path: tuple[str | int, ...], value: Any) -> str:
    if not isinstance(value, str):
        return "typed"
    if len(path) == 1 and path[0] in ENUM_KEYS:
        return "enum"
    if path[-1] == "id":
        return "guid"
    if path[-1] == "mac":
        return "mac"
    return "text"


def _walk(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if path:
        yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))


def _slots() -> list[Slot]:
    out: list[Slot] = []
    for template in RENDERER.templates():
        seen: set[tuple[Any, ...]] = set()
        for i, params in enumerate(CASES.get(template, [])):
            for path, value in _walk(params, ()):
                key = (path, type(value).__name__)
                if key not in seen:
                    seen.add(key)
                    out.append(Slot(template, i, path, _kind(path, value), value))
    return out


SLOTS = _slots()
TEXT_SLOTS = [s for s in SLOTS if s.kind == "text"]
OTHER_SLOTS = [s for s in SLOTS if s.kind != "text"]

# --------------------------------------------------------------------------- value strategies

# fmt: off
SPECIAL = [
    "'", "''", "\u2018", "\u2019", "\u201a", "\u201b", '"', "\u201c", "\u201d", "\u201e", "-",
    "\u2013", "\u2014", "\u2015", "$(", "$(Remove-Item C:\\ -Recurse)", "${env:PATH}", "$null",
    "$true", "`", "`n", "`'", "\n'@", '\n"@', "'@", '"@', "@'\n", '@"\n', "#>", "<#", "#", "\r\n",
    "\r", "\n", "\x00", "\x1a", "\x1b", "\x7f", "\x85", "\u00a0", "\u200e", "\u200f", "\u202a",
    "\u202e", "\u2066", "\u2069", "\u2028", "\u2029", "\ufeff", "\ufffd", "\U0001f600",
    "\U0001f469\u200d\U0001f4bb", "\\", "\\'", '\\"', "\\\\", ";", "|", "&", "&&", "||", "{", "}",
    "(", ")", "@(", "@{", "[", "]", ",", "--%", "-Name", "{{", "}}", "{%", "%}", "{#", "%", "_",
    "[_]", "*", "?", "<", ">", " ", "\t", "=", "+", "/", MASK, "C:\\VMs\\", "\\\\?\\C:\\",
    "Hyper-V", "'; exit 0; '", '"; exit 0; "', "\n}\ncatch {}\n", "\u0130", "\u0131", "\u00df",
    "\u212a",  # case-folding oddities (Turkish I, sharp s, Kelvin)
]
# fmt: on

# A fixed table of classic attacks: every slot gets every one of them (test_attack_table).
# fmt: off
ATTACKS = [
    "", " ", "it's", "\u2018smart\u2019 \u201alow\u201b", "\u201cdouble\u201d \u201e", '"',
    "$(Remove-Item C:\\ -Recurse)", "${env:PATH}", "`n`t`0 backtick", "line1\nline2", "crlf\r\n",
    '"@\nWrite-Host pwned\n@"', "'@\nWrite-Host pwned\n@'", "nul\x00byte",
    "bell\x07 esc\x1b del\x7f", "emoji \U0001f600", "\u202eRTL override\u202c", "#> <# comment",
    "; Remove-Item C:\\ -Recurse", "a | Out-File x", "\u2013dash \u2014 \u2015", "{{ jinja }}",
    "\\'\\\" wql", "\u2028\u2029", "x" * 3000,
]
# fmt: on

_piece = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
    st.text(st.characters(max_codepoint=0x7F), max_size=8),
    st.from_regex(r"[A-Za-z0-9 _.,:\\/@+=-]{1,10}", fullmatch=True),
)
# Without C0 controls: names and paths refuse them, so half the values go past that check.
_PRINTABLE_SPECIAL = [p for p in SPECIAL if not any(ord(c) < 0x20 for c in p)]
_printable_piece = st.one_of(
    st.sampled_from(_PRINTABLE_SPECIAL),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=8),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8),
)
NASTY = st.one_of(
    st.lists(_piece, max_size=6).map("".join),
    st.lists(_printable_piece, max_size=6).map("".join),
)
SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)


def value_parts(slot: Slot, text: st.SearchStrategy[str] = NASTY) -> st.SearchStrategy[Any]:
    """(pre, x, post): x alone, or x inserted into the slot's realistic string value."""
    whole = text.map(lambda x: ("", x, ""))
    if not isinstance(slot.real, str):
        return whole
    real = slot.real
    inserted = st.tuples(st.integers(0, len(real)), text).map(
        lambda t: (real[: t[0]], t[1], real[t[0] :])
    )
    return st.one_of(whole, inserted)


# --------------------------------------------------------------------------- checking machinery

COUNTS: Counter[str] = Counter()  # examples run per test
OUTCOMES: Counter[tuple[str, str]] = Counter()  # (slot id, rejected|aligned|unaligned)
# Every script is parsed; most incrementally from the skeleton's tree (tree-sitter guarantees
# the same tree as a fresh parse, ~30x faster on the 40 kB Hyper-V scripts). Every Nth one is
# also parsed from scratch with `pscheck.syntax_errors` and compared (1 = always from scratch).
FULL_PARSE_EVERY = max(1, int(os.environ.get("HVPROV_INJECTION_FULL_PARSE_EVERY", "8")))
PARSES: Counter[str] = Counter()
SECRET_OUTCOMES: Counter[str] = Counter()


@lru_cache(maxsize=1)
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_powershell

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def parse_checked(text: str) -> Any:
    """A fresh parse tree; fails with `syntax_errors`' report when the script does not parse."""
    PARSES["full"] += 1
    tree = _parser().parse(text.encode("utf-8"))
    errors = syntax_errors(text)
    assert errors == [], f"syntax errors: {errors[:5]}"
    assert not tree.root_node.has_error
    return tree


def decode_literal(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return base64.b64decode(m.group(1), validate=True).decode("utf-8")
    return m.group(2) if m.group(2) is not None else m.group(3)


def render(slot: Slot, value: Any) -> RenderedScript | BaseException:
    """The rendered script, or the exception a template raised (checked to be a clean refusal)."""
    try:
        return RENDERER.render(slot.template, **slot.params(value))
    except (ValueError, TypeError) as exc:
        if "wrong parameters" in str(exc):  # CASES is out of date, not a refusal
            raise AssertionError(f"update CASES in tests/test_injection.py: {exc}") from exc
        if isinstance(exc, UnicodeError):
            raise AssertionError(
                f"{slot.id}: refused with a raw {type(exc).__name__}: {exc}"
            ) from exc
        assert str(exc).strip(), f"{slot.id}: {type(exc).__name__} without a message"
        return exc


def split_header(text: str) -> tuple[str, str, str]:
    line0, line1, body = text.split("\n", 2)
    return line0, line1, body


def check_header(text: str, slot: Slot, expected_params: Any) -> None:
    line0, line1, body = split_header(text)
    assert line0 == HEADER_TEMPLATE + slot.template
    assert line1.startswith(HEADER_PARAMS), line1[:80]
    assert all(0x20 <= ord(c) < 0x7F for c in line1), (
        "the params header is not one printable ASCII line"
    )
    assert json.loads(line1[len(HEADER_PARAMS) :]) == expected_params
    assert "\n" + HEADER_PARAMS not in body and "\n" + HEADER_TEMPLATE not in body


@dataclass(frozen=True)
class Skeleton:
    text: str  # the whole script rendered with the marker (ASCII)
    base: int  # offset of the body (after the two header lines)
    tree: Any
    sites: tuple[tuple[int, int, str], ...]  # (start, end, decoded) in the body, in order

    @property
    def body(self) -> str:
        return self.text[self.base :]


def _find_sites(tree: Any, text: str, base: int) -> tuple[tuple[int, int, str], ...]:
    """Literal tokens of the skeleton whose value contains the marker (text is ASCII): the
    base64 literals that decode to it and the plain literals around its raw occurrences, each
    checked to be exactly one node of the parse tree."""
    spans: dict[int, tuple[int, str]] = {}
    for m in B64_FULL.finditer(text, base):
        decoded = decode_literal(m)
        if MARKER in decoded:
            spans[m.start()] = (m.end(), decoded)
    for m in re.finditer(re.escape(MARKER), text[base:]):
        at = base + m.start()
        if any(s <= at < e for s, (e, _) in spans.items()):
            continue
        start = text.rfind("'", base, at)
        end = text.find("'", at) + 1
        lit = PLAIN_FULL.fullmatch(text, start, end)
        assert lit, f"the marker is not inside a literal: {text[start:end][:80]!r}"
        spans[start] = (end, lit.group(1))
    sites = []
    for start, (end, decoded) in sorted(spans.items()):
        node = tree.root_node.descendant_for_byte_range(start, end)
        assert node is not None and (node.start_byte, node.end_byte) == (start, end), (
            f"the literal {text[start:end][:60]!r} is not one token of the skeleton's parse tree"
        )
        sites.append((start - base, end - base, decoded))
    return tuple(sites)


_SKELETONS: dict[tuple[Any, ...], Skeleton | None] = {}


def skeleton(slot: Slot, pre: str, post: str, secret: bool = False) -> Skeleton | None:
    """The script rendered with the marker in place of the generated part (None if refused);
    with `secret`, the shown copy of it as a Secret."""
    key = (slot, pre, post, secret)
    if key not in _SKELETONS:
        value: Any = pre + MARKER + post
        out = render(slot, Secret(value) if secret else value)
        if isinstance(out, BaseException):
            _SKELETONS[key] = None
        else:
            text = out.shown if secret else out.text
            assert text.isascii(), f"{slot.id}: the rendered script is not ASCII"
            base = len(text) - len(split_header(text)[2])
            tree = parse_checked(text)
            sites = () if secret else _find_sites(tree, text, base)
            _SKELETONS[key] = Skeleton(text, base, tree, sites)
    return _SKELETONS[key]


TRANSFORMS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("as is", lambda s: s),
    ("ps_wql", wql_escape),
)


def _candidates(decoded_skeleton: str, skel_value: str, value: str) -> list[str]:
    out = []
    for _name, f in TRANSFORMS:
        try:
            fs, fv = f(skel_value), f(value)
        except ValueError:
            continue
        if fs in decoded_skeleton:
            out.append(decoded_skeleton.replace(fs, fv))
    return out


def _line_of(body: str, offset: int) -> str:
    start = body.rfind("\n", 0, offset) + 1
    end = body.find("\n", offset)
    return body[start : end if end >= 0 else len(body)].strip()[:160]


def align(
    slot: Slot, skel: Skeleton, body: str, skel_value: str, value: str
) -> list[tuple[int, int]]:
    """Check (b): the body is the skeleton's with one decodable literal per site."""
    assert skel.sites, f"{slot.id}: the value reaches no literal in the script"
    sbody = skel.body
    pos = prev = 0
    spans = []
    for start, end, decoded_skel in skel.sites:
        chunk = sbody[prev:start]
        if not body.startswith(chunk, pos):
            raise AssertionError(
                f"{slot.id}: script differs from the skeleton before the site at "
                f"{_line_of(sbody, start)!r}: {value!r}"
            )
        pos += len(chunk)
        m = LITERAL_AT.match(body, pos)
        if m is None:
            raise AssertionError(
                f"{slot.id}: no single literal where the skeleton has one "
                f"({_line_of(sbody, start)!r}): got {body[pos : pos + 80]!r} for {value!r}"
            )
        got = decode_literal(m)
        wanted = _candidates(decoded_skel, skel_value, value)
        assert got in wanted, (
            f"{slot.id}: the literal at {_line_of(sbody, start)!r} decodes to {got!r}, "
            f"expected one of {wanted!r}"
        )
        spans.append((pos, m.end()))
        pos, prev = m.end(), end
    if body[pos:] != sbody[prev:]:
        raise AssertionError(
            f"{slot.id}: script differs from the skeleton after the last site: {value!r}"
        )
    return spans


def reparse(skel: Skeleton, text: str, spans: list[tuple[int, int]]) -> Any:
    """The parse tree of `text` (an aligned variant of the skeleton) by incremental parsing."""
    PARSES["incremental"] += 1
    old = skel.text
    line1_end = old.index("\n", old.index("\n") + 1)
    new_line1_end = text.index("\n", old.index("\n") + 1)
    base = new_line1_end + 1
    edits = [(old.index("\n") + 1, line1_end, new_line1_end - line1_end)]
    edits += [
        (skel.base + s, skel.base + e, (ne - ns) - (e - s))
        for (ns, ne), (s, e, _) in zip(spans, skel.sites)
    ]
    tree = skel.tree.copy()
    for start, end, delta in reversed(edits):  # last first: earlier offsets stay valid
        row = old.count("\n", 0, start)
        col = start - (old.rfind("\n", 0, start) + 1)
        tree.edit(
            start_byte=start,
            old_end_byte=end,
            new_end_byte=end + delta,
            start_point=(row, col),
            old_end_point=(row, col + end - start),
            new_end_point=(row, col + end + delta - start),
        )
    new = _parser().parse(text.encode("ascii"), tree)
    assert not new.root_node.has_error, f"syntax errors: {syntax_errors(text)[:5]}"
    assert base == len(text) - len(split_header(text)[2])
    return new


def check_single_tokens(tree: Any, base: int, body: str, spans: list[tuple[int, int]]) -> None:
    for start, end in spans:
        node = tree.root_node.descendant_for_byte_range(base + start, base + end)
        assert (
            node is not None and node.start_byte == base + start and node.end_byte == base + end
        ), f"the literal {body[start:end][:60]!r} is not one token of the parse tree"
        assert node.type in SITE_NODE_TYPES, f"literal parsed as {node.type}"


def strip_spans(body: str, spans: list[tuple[int, int]]) -> str:
    """The body with the given literal tokens cut out (each leaves a NUL behind)."""
    out, pos = [], 0
    for start, end in spans:
        out += [body[pos:start], "\x00"]
        pos = end
    return "".join(out) + body[pos:]


def check_not_raw(
    body: str, spans: list[tuple[int, int]], allowed: str | None, *values: str
) -> None:
    """(c): outside its own literals, a value that is not plain-safe text is nowhere in the body
    (unless the template's own text, `allowed`, contains it)."""
    rest = strip_spans(body, spans)
    for v in values:
        if v and not SAFE.fullmatch(v) and (allowed is None or v not in allowed):
            assert v not in rest, f"the value {v[:40]!r} appears raw in the script"


_EXAMPLES = Counter[str]()


def check_value(slot: Slot, pre: str, x: str, post: str, full: bool = False) -> str:
    """All checks for one value in one slot; returns the outcome."""
    value = pre + x + post
    out = render(slot, value)
    if isinstance(out, BaseException):
        OUTCOMES[(slot.id, "rejected")] += 1
        return "rejected"
    check_header(out.text, slot, slot.params(value))
    assert out.shown == out.text
    text = out.text
    body = split_header(text)[2]
    base = len(text) - len(body)
    skel = skeleton(slot, pre, post)
    if skel is not None:
        assert text.isascii(), "a value brought non-ASCII text into the script"
        spans = align(slot, skel, body, pre + MARKER + post, value)
        tree = reparse(skel, text, spans)
        check_single_tokens(tree, base, body, spans)
        _EXAMPLES["parsed"] += 1
        if full or _EXAMPLES["parsed"] % FULL_PARSE_EVERY == 0:
            fresh = parse_checked(text)
            check_single_tokens(fresh, base, body, spans)
            assert str(fresh.root_node) == str(tree.root_node), "incremental parse differs"
        allowed = strip_spans(skel.body, [(s, e) for s, e, _ in skel.sites])
        check_not_raw(body, spans, allowed, value, x)
        OUTCOMES[(slot.id, "aligned")] += 1
        return "aligned"
    # The marker is refused (GUID, MAC, enum, number ...): accepted values must have the shape.
    if slot.kind == "enum":
        assert value in ENUMS, f"{slot.id}: accepted the invalid enum value {value!r}"
    elif slot.kind == "guid":
        assert GUID_RE.fullmatch(value), f"{slot.id}: accepted {value!r} as a GUID"
    elif slot.kind == "mac":
        assert MAC_RE.fullmatch(value.replace("-", "").replace(":", "")), (
            f"{slot.id}: accepted MAC {value!r}"
        )
    parse_checked(text)
    if slot.kind != "enum":  # (an enum may be consumed by the template's logic)
        assert ps_literal(value) in body, (
            f"{slot.id}: {value!r} accepted but its literal is not in the script"
        )
    literal = ps_literal(value)
    spans = [(m.start(), m.end()) for m in re.finditer(re.escape(literal), body)]
    real = render(slot, slot.real)
    allowed = None if isinstance(real, BaseException) else split_header(real.text)[2]
    check_not_raw(body, spans, allowed, value, x)
    OUTCOMES[(slot.id, "unaligned")] += 1
    return "unaligned"


def check_secret(slot: Slot, pre: str, x: str, post: str) -> str:
    """(d): a Secret reaches the host intact and leaves no trace in the shown copy."""
    value = pre + x + post
    secret = Secret(value)
    out = render(slot, secret)
    if isinstance(out, BaseException):
        return "rejected"
    check_header(out.text, slot, reveal(slot.params(secret)))
    check_header(out.shown, slot, mask(slot.params(secret)))
    if check_value(slot, pre, x, post) != "rejected":
        plain = RENDERER.render(slot.template, **slot.params(value))
        assert out.text == plain.text, (
            f"{slot.id}: with a Secret the host gets a different script than with the plain value "
            "(was str() of the Secret -- the mask -- used?)"
        )
    masked_skel = skeleton(slot, pre, post, secret=True)
    if masked_skel is not None:
        assert out.shown == masked_skel.text, (
            f"{slot.id}: the shown copy depends on the secret's value"
        )
        return "masked"
    shown_body = split_header(out.shown)[2]
    parse_checked(out.shown)
    check_not_raw(shown_body, [], None, value)
    if len(value.encode("utf-8")) >= 3:
        assert base64.b64encode(value.encode("utf-8")).decode() not in shown_body
    return "masked-unaligned"


# --------------------------------------------------------------------------- budget

BUDGET = int(os.environ.get("HVPROV_HYPOTHESIS_EXAMPLES", "10000"))
_SHARE = {
    "text": 0.56,
    "other": 0.08,
    "secret": 0.12,
    "surrogate": 0.06,
    "wql": 0.12,
    "ps_wql": 0.06,
}


def _per(share: str, n: int) -> int:
    return max(5, math.ceil(BUDGET * _SHARE[share] / max(n, 1)))


N_TEXT = _per("text", len(TEXT_SLOTS))
N_OTHER = _per("other", len(OTHER_SLOTS))
N_SECRET = _per("secret", 1)
N_SURROGATE = _per("surrogate", 1)
N_WQL = _per("wql", 1)
N_PS_WQL = _per("ps_wql", 1)
EXPECTED = {
    "text": N_TEXT * len(TEXT_SLOTS),
    "other": N_OTHER * len(OTHER_SLOTS),
    "secret": N_SECRET,
    "surrogate": N_SURROGATE,
    "wql": N_WQL,
    "ps_wql": N_PS_WQL,
}


def _settings(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --------------------------------------------------------------------------- the cases themselves


def test_every_template_has_realistic_params() -> None:
    missing = [t for t in RENDERER.templates() if t not in CASES]
    assert not missing, f"add realistic params for {missing} to CASES in tests/test_injection.py"
    for template in RENDERER.templates():
        for params in CASES[template]:
            assert RENDERER.template_params(template) == set(params), template
            out = RENDERER.render(template, **params)
            parse_checked(out.text)
    assert MARKER not in "".join(
        RENDERER._env.loader.get_source(RENDERER._env, t)[0]  # type: ignore[union-attr]
        for t in RENDERER._env.list_templates()
    )


@pytest.mark.parametrize("slot", TEXT_SLOTS, ids=[s.id for s in TEXT_SLOTS])
def test_marker_reaches_the_script_as_literals(slot: Slot) -> None:
    skel = skeleton(slot, "", "")
    assert skel is not None, f"{slot.id}: the template refuses a plain marker string"
    assert skel.sites, f"{slot.id}: the value reaches no literal in the script"


@pytest.mark.parametrize("slot", SLOTS, ids=[s.id for s in SLOTS])
def test_attack_table(slot: Slot) -> None:
    values = [("", a, "") for a in ATTACKS]
    if isinstance(slot.real, str):  # also inside the realistic value, e.g. before ".vhd"
        half = len(slot.real) // 2
        values += [(slot.real[:half], a, slot.real[half:]) for a in ATTACKS]
    for pre, x, post in values:
        COUNTS["table"] += 1
        try:
            check_value(slot, pre, x, post)
        except AssertionError as exc:
            raise AssertionError(f"attack {(pre + x + post)[:80]!r}: {exc}") from exc


@pytest.mark.parametrize("slot", TEXT_SLOTS, ids=[s.id for s in TEXT_SLOTS])
@given(data=st.data())
@_settings(N_TEXT)
def test_text_value_is_one_inert_literal(slot: Slot, data: st.DataObject) -> None:
    COUNTS["text"] += 1
    pre, x, post = data.draw(value_parts(slot), label="pre, x, post")
    check_value(slot, pre, x, post)


@pytest.mark.parametrize("slot", OTHER_SLOTS, ids=[s.id for s in OTHER_SLOTS])
@given(data=st.data())
@_settings(N_OTHER)
def test_other_value_is_inert_or_refused(slot: Slot, data: st.DataObject) -> None:
    COUNTS["other"] += 1
    pre, x, post = data.draw(value_parts(slot), label="pre, x, post")
    check_value(slot, pre, x, post)


@given(slot=st.sampled_from(TEXT_SLOTS), data=st.data())
@_settings(N_SECRET)
def test_secret_value_is_masked_in_the_shown_copy(slot: Slot, data: st.DataObject) -> None:
    COUNTS["secret"] += 1
    pre, x, post = data.draw(value_parts(slot), label="pre, x, post")
    SECRET_OUTCOMES[check_secret(slot, pre, x, post)] += 1


def check_surrogate(slot: Slot, value: str) -> str:
    """A value with a lone surrogate (not UTF-8 encodable) is refused cleanly."""
    out = render(slot, value)
    if isinstance(out, BaseException):
        return "rejected"
    # accepted: only possible if the value never reaches a literal; the script must stay UTF-8
    out.text.encode("utf-8")
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out.text)
    return "accepted"


@given(slot=st.sampled_from(SLOTS), data=st.data())
@_settings(N_SURROGATE)
def test_lone_surrogates_are_refused(slot: Slot, data: st.DataObject) -> None:
    COUNTS["surrogate"] += 1
    a, s, b = data.draw(st.tuples(NASTY, SURROGATE, NASTY), label="a, surrogate, b")
    pre, _, post = data.draw(value_parts(slot, st.just("")), label="pre, post")
    check_surrogate(slot, pre + a + s + b + post)


# --------------------------------------------------------------------------- WQL


def wql_string_literal(text: str, start: int = 0) -> tuple[str, int]:
    """Read the WQL string literal at text[start]: quoted with ' or ", a backslash escapes the
    next character (WMI WHERE-clause rules); returns (value, index after the closing quote)."""
    quote = text[start]
    if quote not in "'\"":
        raise ValueError(f"not a string literal at {start}")
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise ValueError("backslash at the end of the text")
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ValueError("unterminated string literal")


@pytest.mark.parametrize(
    "text,value,end",
    [
        ("'abc' AND", "abc", 5),
        ("'it\\'s'", "it's", 7),
        ('"say \\"hi\\"" x', 'say "hi"', 12),
        ("'C:\\\\VMs\\\\' x", "C:\\VMs\\", 11),
        ("'a\"b'", 'a"b', 5),
        ('"a\'b"', "a'b", 5),
        ("'\\\\' OR 1=1 '", "\\", 4),
    ],
)
def test_wql_tokenizer_itself(text: str, value: str, end: int) -> None:
    assert wql_string_literal(text) == (value, end)


@pytest.mark.parametrize("text", ["'abc", "'ab\\'", "'\\"])
def test_wql_tokenizer_rejects_unterminated(text: str) -> None:
    with pytest.raises(ValueError):
        wql_string_literal(text)


WQL_TEXT = st.one_of(NASTY, st.text(st.sampled_from("\\'\"%_[]^ aZ\u2019\u201c\x00"), max_size=20))


def check_wql(value: str) -> None:
    if "\x00" in value:
        with pytest.raises(ValueError):
            wql_escape(value)
        return
    body = wql_escape(value)
    for quote in "'\"":
        query = f"SELECT * FROM Msvm_ComputerSystem WHERE ElementName = {quote}{body}{quote} AND Name = 'x'"
        start = query.index(quote)
        got, end = wql_string_literal(query, start)
        assert got == value
        assert end == start + len(body) + 2, "the escaped body ended the literal early"
        assert query[end:] == " AND Name = 'x'"


@given(value=WQL_TEXT)
@_settings(N_WQL)
def test_wql_escape_round_trips_and_cannot_end_the_literal(value: str) -> None:
    COUNTS["wql"] += 1
    check_wql(value)


WQL_SOURCE = (
    "$a = Get-WmiObject -Namespace 'root\\virtualization' -Class Msvm_ComputerSystem "
    "-Filter ('ElementName = ''' + {{ v | ps_wql }} + '''')\n"
    "$b = 'SELECT * FROM Msvm_VirtualSwitch WHERE ElementName = \"' + {{ v | ps_wql }} + '\"'\n"
)
_PS_WQL_LINE = re.compile(r"\('ElementName = ''' \+ (?P<lit>.*) \+ ''''\)$", re.MULTILINE)
_PS_WQL_LINE2 = re.compile(r"^\$b = '(?P<head>[^']*)' \+ (?P<lit>.*) \+ '\"'$", re.MULTILINE)


def check_ps_wql(value: str) -> None:
    try:
        out = RENDERER.render_source(WQL_SOURCE, v=value)
    except ValueError as exc:
        assert "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value), exc
        return
    parse_checked(out.text)
    for rx, head, quote in ((_PS_WQL_LINE, "ElementName = '", "'"), (_PS_WQL_LINE2, None, '"')):
        m = rx.search(out.text)
        assert m, out.text
        lit = LITERAL_AT.fullmatch(m.group("lit"))
        assert lit, m.group("lit")
        prefix = head if head is not None else m.group("head")
        query = prefix + decode_literal(lit) + quote + " AND Name = 'x'"
        start = len(prefix) - 1
        got, end = wql_string_literal(query, start)
        assert got == value and query[end:] == " AND Name = 'x'"


@given(value=WQL_TEXT)
@_settings(N_PS_WQL)
def test_ps_wql_in_a_rendered_filter_round_trips(value: str) -> None:
    COUNTS["ps_wql"] += 1
    check_ps_wql(value)


_WQL_LINE = re.compile(
    r"-Filter\b|-Query\b|\bSELECT\b[^\n]*\bFROM\b|\[wmisearcher\]|ManagementObjectSearcher|\bASSOCIATORS\s+OF\b",
    re.IGNORECASE,
)
# WQL text built from PowerShell variables, reviewed: the variable never holds a parameter.
REVIEWED_WQL_VARIABLES = {
    ("_lib/hyperv_wmi_v1.ps1.j2", "$subType"),  # a constant ResourceSubType of the templates
}


def _template_sources() -> Iterator[tuple[str, str]]:
    env = RENDERER._env
    for name in env.list_templates():
        yield name, env.loader.get_source(env, name)[0]  # type: ignore[union-attr]


def test_wql_filters_take_values_only_through_ps_wql() -> None:
    problems = []
    for name, source in _template_sources():
        for lineno, line in enumerate(source.splitlines(), 1):
            code = line.split("#", 1)[0] if not line.lstrip().startswith("{") else line
            if not _WQL_LINE.search(code):
                continue
            for expr in re.findall(r"\{\{(.*?)\}\}", line):
                if "ps_wql" not in expr:
                    problems.append(f"{name}:{lineno}: {{{{{expr}}}}} in WQL without | ps_wql")
                if re.search(r"\blike\b", line, re.IGNORECASE):
                    problems.append(
                        f"{name}:{lineno}: a value in a WQL LIKE (brief 6.2: compare with -eq)"
                    )
            for var in re.findall(r"\$[A-Za-z_][\w:]*", code):
                if var.lower() in ("$hvnamespace", "$null", "$true", "$false", "$_"):
                    continue
                if (
                    "+ " + var in code
                    or var + " +" in code
                    or f'"{var}' in code
                    or f"{var}'" in code
                ):
                    if (name, var) not in REVIEWED_WQL_VARIABLES:
                        problems.append(
                            f"{name}:{lineno}: WQL built from {var}: review and list it"
                        )
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- host data on the controller

HOST_INVENTORY = """\
all:
  hosts:
    hv1:
      ansible_connection: sim
      sim_profile: hyperv-server-2008r2
"""
CREATE_VM = """\
- name: create
  hosts: all
  tasks:
    - hyperv_vm: {name: web01, memory: 512, state: "off"}
"""
SHOW_NOTES = """\
- name: show
  hosts: all
  tasks:
    - debug:
        msg: "{{ hvprov_facts.vms | map(attribute='notes') | list }}"
"""


def test_host_data_is_never_evaluated_as_jinja_on_the_controller(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever can name a VM, write its notes or name an adapter on a managed host must not
    be able to run Jinja2 (and through it Python: ``cycler.__init__.__globals__.os``) on the
    controller. Facts are data, as Ansible marks them unsafe: a playbook that prints them gets
    the text, not its evaluation."""
    from hvprov.cli import main

    (tmp_path / "inv.yml").write_text(HOST_INVENTORY)
    (tmp_path / "create.yml").write_text(CREATE_VM)
    (tmp_path / "show.yml").write_text(SHOW_NOTES)
    lab = ["--lab-dir", str(tmp_path / "lab")]
    assert main(["apply", str(tmp_path / "create.yml"), "-i", str(tmp_path / "inv.yml"), *lab]) == 0
    payload = "{{ 7*7 }} {{ cycler.__init__.__globals__.os.name }}"
    assert main(["lab", "alter", "hv1", "--set-vm", f"web01:notes={payload}", *lab]) == 0
    capsys.readouterr()
    code = main(["plan", str(tmp_path / "show.yml"), "-i", str(tmp_path / "inv.yml"), *lab])
    out = capsys.readouterr().out
    assert code == 0, out
    shown = [line for line in out.splitlines() if "debug =>" in line]
    assert shown, out
    assert payload in shown[0], f"the VM notes from the host were evaluated as Jinja2: {shown[0]}"


# --------------------------------------------------------------------------- totals


def test_zz_examples_budget(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last: prints the counts; checks the budget when every property test ran."""
    total = sum(v for k, v in COUNTS.items() if k != "table")
    rejected = sum(v for (_, o), v in OUTCOMES.items() if o == "rejected")
    aligned = sum(v for (_, o), v in OUTCOMES.items() if o == "aligned")
    with capsys.disabled():
        print(
            f"\n[injection] hypothesis examples: {total} (budget {BUDGET}; "
            + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
            + f"); slots {len(SLOTS)} ({len(TEXT_SLOTS)} text) in {len(RENDERER.templates())} templates; "
            f"outcomes: aligned {aligned}, rejected {rejected}, "
            f"unaligned {sum(OUTCOMES.values()) - aligned - rejected}; secrets: "
            + ", ".join(f"{k} {v}" for k, v in sorted(SECRET_OUTCOMES.items()))
            + f"; parses: {PARSES['incremental']} incremental, {PARSES['full']} from scratch"
        )
    if set(EXPECTED) <= set(COUNTS):  # the whole module ran
        for name, n in EXPECTED.items():
            assert COUNTS[name] >= n, (name, COUNTS[name], n)
        assert total >= BUDGET
