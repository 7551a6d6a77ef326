"""Static checks of PowerShell text: a syntax parse and a PowerShell 2.0 lint.

Nobody on the team can run Windows, so every rendered script is checked here instead (the
tests run both on every template):

* `syntax_errors(text)`: tree-sitter with the tree-sitter-powershell grammar; reports every
  ERROR and MISSING node as ``line:col: ...`` (1-based).
* `ps2_lint(text)`: constructs that do not exist in PowerShell 2.0 / CLR 2 (domain brief
  §6.1), found in the code only (comments and string text are masked out; variables and
  ``$(...)`` inside double-quoted strings count as code). Findings read
  ``line:col: <rule>: <what> (<use instead>)``.
* `lint_template_source(source)`: for Jinja2 template source (not yet valid PowerShell):
  ``{{ ... }}`` inside any PowerShell string or here-string (values must stay outside quotes,
  where finalize makes them literals), plus `ps2_lint` of the source with the Jinja2 markup
  blanked out.

Needs the optional test dependencies ``tree-sitter`` and ``tree-sitter-powershell``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# --------------------------------------------------------------------------- parsing


@lru_cache(maxsize=1)
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_powershell

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def _parse(text: str) -> Any:
    return _parser().parse(text.encode("utf-8"))


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _pos(node: Any) -> str:
    row, col = node.start_point
    return f"{row + 1}:{col + 1}"


def syntax_errors(text: str) -> list[str]:
    """Every syntax error tree-sitter finds, as ``line:col: message``; [] when clean."""
    tree = _parse(text)
    if not tree.root_node.has_error:
        return []
    out: list[str] = []
    for n in _walk(tree.root_node):
        if n.is_missing:
            out.append(f"{_pos(n)}: missing {n.type!r}")
        elif n.is_error:
            snippet = n.text.decode("utf-8", "replace").strip().splitlines()
            if snippet:
                out.append(f"{_pos(n)}: syntax error near {snippet[0][:40]!r}")
            else:
                out.append(f"{_pos(n)}: syntax error (unexpected end of text)")
    return out or ["1:1: syntax error"]


# --------------------------------------------------------------------------- masking

_STRING_KINDS = {"expandable_string_literal", "expandable_here_string_literal"}
_CODE_IN_STRING = {"variable", "sub_expression"}


def _code_mask(tree: Any, size: int) -> bytearray:
    """1 for bytes of comments and string text, 0 for code."""
    masked = bytearray(size)

    def mark(node: Any, value: int) -> None:
        masked[node.start_byte : node.end_byte] = bytes([value]) * (node.end_byte - node.start_byte)

    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "comment":
            mark(n, 1)
        elif n.type in _STRING_KINDS:
            mark(n, 1)
            for c in n.children:  # "$x" and "$(...)" inside expandable strings are code
                if c.type in _CODE_IN_STRING:
                    mark(c, 0)
                    stack.append(c)
        elif n.type in (
            "verbatim_string_characters",
            "verbatim_here_string_characters",
            "string_literal",
        ) and not any(c.type in _STRING_KINDS for c in n.children):
            mark(n, 1)
        else:
            stack.extend(n.children)
    return masked


def _masked_text(text: str, tree: Any) -> str:
    """`text` with comment and string characters blanked; same characters, lines and columns."""
    mask = _code_mask(tree, len(text.encode("utf-8")))
    out = []
    offset = 0  # byte offset of the current character
    for ch in text:
        out.append(" " if mask[offset] and ch != "\n" else ch)
        offset += len(ch.encode("utf-8"))
    return "".join(out)


# --------------------------------------------------------------------------- lint rules


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    advice: str
    raw: bool = False  # match the whole text (comments included), not just the code


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.MULTILINE)


_IGNORE_ADVICE = "-ErrorAction Ignore is PowerShell 3.0; use SilentlyContinue"
_ACTION_PARAMS = {"erroraction", "ea", "warningaction", "wa", "informationaction", "infa"}

# Regex rules run on the code with comments and string text blanked out.
RULES: tuple[Rule, ...] = (
    Rule(
        "json-cmdlet",
        _rx(r"(?<![\w-])Convert(?:To|From)-Json\b"),
        "use ConvertTo-HvJson from the prelude",
    ),
    Rule(
        "ordered",
        _rx(r"\[\s*ordered\s*\]"),
        "use New-Object System.Collections.Specialized.OrderedDictionary",
    ),
    Rule(
        "pscustomobject",
        _rx(r"\[\s*pscustomobject\s*\]"),
        "use New-Object PSObject -Property @{...} or a hashtable",
    ),
    Rule(
        "in-operator",
        _rx(r"(?<![\w$-])-[ci]?(?:not)?in(?![\w-])"),
        "use -contains / -notcontains with the operands swapped",
    ),
    Rule("psitem", _rx(r"\$(?:\{\s*)?PSItem\b"), "use $_"),
    Rule(
        "where-foreach-method",
        _rx(r"\.\s*(?:Where|ForEach)\s*[({]"),
        "use Where-Object { } / ForEach-Object { }",
    ),
    Rule(
        "cim-cmdlet", _rx(r"(?<![\w-])[a-z]+-Cim[a-z]*\b"), "use Get-WmiObject, [wmi] or [wmiclass]"
    ),
    Rule("new-method", _rx(r"::\s*new\s*\("), "use New-Object"),
    Rule("erroraction-ignore", _rx(r"ActionPreference\]\s*::\s*Ignore\b"), _IGNORE_ADVICE),
    Rule(
        "net4-api",
        _rx(
            r"\bIsNullOrWhiteSpace\b|\.\s*HasFlag\s*\(|\[(?:System\.)?(?:Enum|Guid|TimeSpan|Version)\]\s*::\s*TryParse\b"
            r"|\[(?:System\.)?Guid\]\s*::\s*Parse\b|\bEnumerate(?:Files|Directories|FileSystemEntries)\b"
            r"|\bReadLines\s*\(|\bIs64Bit(?:OperatingSystem|Process)\b|\bOpenBaseKey\b"
            r"|\[(?:System\.)?(?:Tuple|Lazy)\b|\bTls1[12]\b|\bStringBuilder\b[^\n]*\.Clear\s*\(\s*\)"
        ),
        "CLR 2 (PowerShell 2.0) has no .NET 4 APIs",
    ),
    Rule(
        "web-cmdlet",
        _rx(r"(?<![\w-])(?:Invoke-WebRequest|Invoke-RestMethod|iwr|irm)(?![\w-])"),
        "use System.Net.WebClient",
    ),
    Rule(
        "ps3-cmdlet",
        _rx(
            r"(?<![\w-])(?:Get-FileHash|New-TemporaryFile|Compress-Archive|Expand-Archive|Get-NetAdapter|"
            r"Test-NetConnection|Get-NetIPAddress|Write-Information|Get-Clipboard|Set-Clipboard|"
            r"ConvertFrom-String|Format-Hex|Get-Runspace|New-Guid)(?![\w-])"
        ),
        "not in PowerShell 2.0 (or only on 2012+)",
    ),
    Rule(
        "ps3-parameter",
        _rx(
            r"(?<![\w-])(?:Get-ChildItem|gci|dir|ls)\b[^\n|;]*\s-(?:File|Directory)\b"
            r"|(?<![\w-])(?:Get-Content|gc|cat)\b[^\n|;]*\s-Raw\b|\s-NoNewline\b"
        ),
        "parameter added after PowerShell 2.0",
    ),
    Rule(
        "shift-operator",
        _rx(r"(?<![\w-])-(?:shl|shr)(?![\w-])"),
        "multiply/divide by powers of two",
    ),
    Rule(
        "psscriptroot",
        _rx(r"\$PSScriptRoot\b|\$PSCommandPath\b|\$using:"),
        "not in PowerShell 2.0 scripts",
    ),
    Rule("ps7-operator", _rx(r"&&|\|\||\?\?=?|\?\.|\?\["), "not in PowerShell 2.0"),
    Rule(
        "class-enum",
        _rx(r"^\s*(?:class|enum)\s+\w+\s*(?::\s*[\w.]+\s*)?\{|^\s*using\s+(?:namespace|module)\b"),
        "classes, enums and using statements need PowerShell 5",
    ),
    Rule(
        "requires-version",
        _rx(r"^\s*#requires\s+-version\s+(?:[3-9]|\d\d)"),
        "scripts must run on PowerShell 2.0",
        raw=True,
    ),
)

_WHERE = {"where-object", "where", "?"}
_FOREACH = {"foreach-object", "foreach", "%"}
_COMMON = (
    "erroraction",
    "ea",
    "warningaction",
    "wa",
    "errorvariable",
    "ev",
    "warningvariable",
    "wv",
    "outvariable",
    "ov",
    "outbuffer",
    "ob",
    "verbose",
    "vb",
    "debug",
    "db",
)
_ALLOWED_PARAMS = {
    "where": ("filterscript", "inputobject", *_COMMON),
    "foreach": ("process", "begin", "end", "inputobject", *_COMMON),
}


def _simplified_syntax(tree: Any) -> Iterator[tuple[Any, str]]:
    """Where-Object / ForEach-Object called without a script block (PowerShell 3.0 syntax)."""
    for n in _walk(tree.root_node):
        if n.type != "command":
            continue
        name_node = n.child_by_field_name("command_name")
        if name_node is None:
            continue
        name = name_node.text.decode("utf-8", "replace").lower()
        kind = "where" if name in _WHERE else "foreach" if name in _FOREACH else None
        if kind is None:
            continue
        elements = n.child_by_field_name("command_elements")
        args = [
            c
            for c in (elements.children if elements is not None else [])
            if c.type != "command_argument_sep"
        ]
        first_positional = True
        expect_value = False
        for a in args:
            if a.type == "command_parameter":
                pname = a.text.decode("utf-8", "replace").lstrip("-").rstrip(":").lower()
                if not pname or not any(p.startswith(pname) for p in _ALLOWED_PARAMS[kind]):
                    yield a, f"{name} -{pname}"
                    break
                expect_value = not pname.startswith(("verbose", "vb", "debug", "db"))
                continue
            if expect_value:
                expect_value = False
                continue
            if (
                first_positional
                and a.type != "script_block_expression"
                and "{" not in a.text.decode("utf-8", "replace")[:1]
            ):
                yield a, f"{name} {a.text.decode('utf-8', 'replace')[:30]}"
                break
            first_positional = False


def _unquote(node: Any) -> str:
    return node.text.decode("utf-8", "replace").strip().strip("'\"").strip().lower()


def _ignore_action(tree: Any) -> Iterator[tuple[Any, str]]:
    """``-ErrorAction Ignore`` (also -ea:'Ignore', WarningAction) and splatted ``ErrorAction = 'Ignore'``."""
    for n in _walk(tree.root_node):
        if n.type == "command_parameter":
            pname = n.text.decode("utf-8", "replace").lstrip("-").rstrip(":").lower()
            if pname not in _ACTION_PARAMS:
                continue
            sib = n.next_sibling
            while sib is not None and sib.type == "command_argument_sep":
                sib = sib.next_sibling
            if sib is not None and _unquote(sib) == "ignore":
                yield n, f"-{pname} {sib.text.decode('utf-8', 'replace')}"
        elif n.type == "hash_entry" and len(n.children) >= 3:
            key, value = n.children[0], n.children[-1]
            if (
                _unquote(key) in ("erroraction", "warningaction", "informationaction")
                and _unquote(value) == "ignore"
            ):
                yield n, n.text.decode("utf-8", "replace").strip()


def ps2_lint(text: str) -> list[str]:
    """Constructs PowerShell 2.0 lacks, as ``line:col: rule: found (advice)``; [] when clean."""
    tree = _parse(text)
    code = _masked_text(text, tree)
    raw = text.encode("utf-8")
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(line_starts, offset) - 1
        return i + 1, offset - line_starts[i] + 1

    def char_offset(node: Any) -> int:
        return len(raw[: node.start_byte].decode("utf-8", "replace"))

    params = {char_offset(n) for n in _walk(tree.root_node) if n.type == "command_parameter"}
    found: list[tuple[int, int, str]] = []
    for rule in RULES:
        for m in rule.pattern.finditer(text if rule.raw else code):
            if rule.name == "in-operator" and m.start() in params:
                continue  # a command parameter such as -In(putObject), not the operator
            found.append(
                (*where(m.start()), f"{rule.name}: {m.group(0).strip()!r} ({rule.advice})")
            )
    for node, what in _ignore_action(tree):
        found.append(
            (*where(char_offset(node)), f"erroraction-ignore: {what!r} ({_IGNORE_ADVICE})")
        )
    for node, what in _simplified_syntax(tree):
        found.append(
            (
                *where(char_offset(node)),
                f"simplified-syntax: {what!r} (PowerShell 3.0 syntax; pass a script block: {{ $_.Name -eq 'x' }})",
            )
        )
    return [f"{line}:{col}: {msg}" for line, col, msg in sorted(set(found))]


# --------------------------------------------------------------------------- template source

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_DOUBLE_QUOTES = '"\u201c\u201d\u201e'


def _neutralize(source: str) -> str:
    """Jinja2 markup replaced by PowerShell-neutral text of the same length and lines."""

    def fill(s: str) -> str:
        blank = "".join("\n" if ch == "\n" else " " for ch in s)
        return "$j" + blank[2:] if s.startswith("{{") else blank

    return _JINJA.sub(lambda m: fill(m.group(0)), source)


def _string_regions(source: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of PowerShell strings and comments in template source (approximate
    tokenizer: Jinja2 markup is opaque and may sit anywhere)."""
    i, n = 0, len(source)
    while i < n:
        if source.startswith(("{{", "{%", "{#"), i):
            close = {"{{": "}}", "{%": "%}", "{#": "#}"}[source[i : i + 2]]
            j = source.find(close, i + 2)
            i = n if j < 0 else j + 2
            continue
        ch = source[i]
        if source.startswith(("@'", '@"'), i) and source[i + 2 : i + 3] in ("\n", "\r"):
            quote = source[i + 1]
            m = re.compile(r"^" + re.escape(quote) + "@", re.MULTILINE).search(source, i + 3)
            end = n if m is None else m.end()
            yield i, end, "here-string"
            i = end
        elif ch in _SINGLE_QUOTES:
            j = i + 1
            while j < n:
                if source[j] in _SINGLE_QUOTES:
                    if j + 1 < n and source[j + 1] in _SINGLE_QUOTES:
                        j += 2
                        continue
                    break
                j += 1
            yield i, j + 1, "single-quoted string"
            i = j + 1
        elif ch in _DOUBLE_QUOTES:
            j = i + 1
            while j < n:
                if source[j] == "`":
                    j += 2
                    continue
                if source[j] in _DOUBLE_QUOTES:
                    if j + 1 < n and source[j + 1] in _DOUBLE_QUOTES:
                        j += 2
                        continue
                    break
                j += 1
            yield i, j + 1, "double-quoted string"
            i = j + 1
        elif source.startswith("<#", i):
            j = source.find("#>", i + 2)
            i = n if j < 0 else j + 2
        elif ch == "#" and (i == 0 or source[i - 1] in " \t\r\n;{}()"):
            j = source.find("\n", i)
            i = n if j < 0 else j
        else:
            i += 1


def lint_template_source(source: str) -> list[str]:
    """Problems in a Jinja2 PowerShell template's source, as ``line:col: message``."""
    found: list[str] = []
    for start, end, kind in _string_regions(source):
        for m in re.finditer(r"\{\{", source[start:end]):
            offset = start + m.start()
            line = source.count("\n", 0, offset) + 1
            col = offset - (source.rfind("\n", 0, offset) + 1) + 1
            found.append(
                f"{line}:{col}: template-value-in-string: {{{{ }}}} inside a {kind} "
                "(put the value outside the quotes; finalize makes it a literal)"
            )
    return found + ps2_lint(_neutralize(source))
