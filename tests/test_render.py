"""The PowerShell renderer: every value becomes an inert literal, secrets are masked in the
copy people see, and the header follows docs/contracts.md section 1."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvprov.pscheck import ps2_lint, syntax_errors
from hvprov.render import RenderedScript, ScriptRenderer, ps_literal, wql_escape
from hvprov.secrets import MASK, Secret

SAFE = re.compile(r"'([A-Za-z0-9 _.,:\\/@+=-]*)'")
B64 = re.compile(
    r"\(\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\)"
)

# Strings that break naive quoting somewhere in PowerShell, WQL, cmd.exe or JSON.
NASTY = [
    "",
    " ",
    "plain",
    r"C:\VMs\web01.vhd",
    "it's",
    "''",
    "\u2018smart\u2019 \u201alow\u201b",
    "\u201cdouble\u201d \u201e",
    '"',
    '""',
    "$(Remove-Item C:\\ -Recurse)",
    "${env:PATH}",
    "$null",
    "`n`t`0 backtick",
    "line1\nline2",
    "crlf\r\n",
    '"@\nWrite-Host pwned\n@"',
    "'@\nWrite-Host pwned\n@'",
    "\n'@",
    "nul\x00byte",
    "bell\x07 esc\x1b del\x7f",
    "emoji \U0001f600 \U0001f4a9",
    "\u202eRTL override\u202c",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "#> <# comment",
    "<#",
    "#",
    "; Remove-Item C:\\ -Recurse",
    "a | Out-File x",
    "a & b && c || d",
    "-Name",
    "--%",
    "@{a=1}",
    "@(1,2)",
    "{{ jinja }}",
    "{% raw %}",
    "%s %d {0}",
    "\u2028\u2029",
    "\u00e9t\u00e9",
    "\\",
    "'" * 5,
    "\u00a0nbsp \ufeffbom",
    "\u2013dash \u2014 \u2015",
    "a,b;c",
    "(1)",
    "[char]39",
    "x" * 5000,
]


@pytest.fixture(scope="module")
def renderer() -> ScriptRenderer:
    return ScriptRenderer()


def _value_line(rendered: RenderedScript, name: str = "value") -> str:
    m = re.search(rf"^\${name} = (.*)$", rendered.text, re.MULTILINE)
    assert m, rendered.text
    return m.group(1)


def _decode(literal: str) -> str:
    """The string a PowerShell string literal made by the renderer evaluates to."""
    m = SAFE.fullmatch(literal)
    if m:
        return m.group(1)
    m = B64.fullmatch(literal)
    assert m, f"neither a plain-safe nor a base64 literal: {literal!r}"
    return base64.b64decode(m.group(1), validate=True).decode("utf-8")


# --------------------------------------------------------------------------- quoting table


@pytest.mark.parametrize("value", NASTY, ids=[f"{i}:{v[:12]!r}" for i, v in enumerate(NASTY)])
def test_nasty_string_becomes_an_inert_literal(renderer: ScriptRenderer, value: str) -> None:
    source = (
        "$value = {{ v }}\n"
        "Write-Output {{ v }} -InputObject {{ v }}\n"
        "$h = @{ {{ v }} = @({{ v }}, {{ v }}) }\n"
        "if ({{ v }} -eq 'x') { $n = 1 }\n"
    )
    out = renderer.render_source(source, v=value)
    literal = _value_line(out)
    assert _decode(literal) == value
    # plain-safe only when every character is in the safe set, base64 otherwise
    assert (SAFE.fullmatch(literal) is not None) == bool(
        re.fullmatch(r"[A-Za-z0-9 _.,:\\/@+=-]*", value)
    )
    assert out.text.isascii()
    body = out.text.split("\n", 2)[2]
    if literal != "''":  # (the empty literal also occurs inside longer ones)
        assert body.count(literal) == source.count("{{ v }}")
    assert body.count("\n") == source.count("\n"), "a value must never add a line"
    assert syntax_errors(out.text) == []
    assert ps2_lint(out.text) == []


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_string_round_trips(value: str) -> None:
    literal = ps_literal(value)
    assert literal.isascii() and "\n" not in literal
    assert _decode(literal) == value


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        ps_literal("bad \ud800")


# --------------------------------------------------------------------------- other types

LITERALS = [
    (True, "$true"),
    (False, "$false"),
    (None, "$null"),
    (0, "0"),
    (42, "42"),
    (-7, "(-7)"),
    (2**63 - 1, "9223372036854775807"),
    (-(2**63), "(-9223372036854775808)"),
    (1.5, "1.5"),
    (-0.25, "(-0.25)"),
    (1e-300, "1e-300"),
    (2.0, "2.0"),
    ([], "@()"),
    (["a"], "@('a')"),
    (["a", 1, None], "@('a', 1, $null)"),
    ((True, False), "@($true, $false)"),
    ([[1, 2]], "@(,@(1, 2))"),
    ([[1], [2]], "@(@(1), @(2))"),
    ({}, "@{}"),
    ({"k": "v", "n": -1}, "@{'k' = 'v'; 'n' = (-1)}"),
    ({"a b": [1]}, "@{'a b' = @(1)}"),
    ({3: True}, "@{3 = $true}"),
]


@pytest.mark.parametrize("value,expected", LITERALS, ids=[repr(v)[:30] for v, _ in LITERALS])
def test_literal_table(renderer: ScriptRenderer, value: object, expected: str) -> None:
    assert ps_literal(value) == expected
    out = renderer.render_source("$value = {{ v }}\n", v=value)
    assert _value_line(out) == expected
    assert syntax_errors(out.text) == []


def test_non_ascii_hashtable_key_is_base64() -> None:
    literal = ps_literal({"cl\u00e9": 1})
    key = literal[2:].split(" = ")[0]
    assert _decode(key) == "cl\u00e9"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1])
def test_unrepresentable_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        ps_literal(value)


@pytest.mark.parametrize(
    "value", [object(), b"bytes", {1, 2}, Path("C:/x"), 1j, {None: 1}, {True: 1}]
)
def test_other_types_are_refused(renderer: ScriptRenderer, value: object) -> None:
    with pytest.raises(TypeError):
        renderer.render_source("$value = {{ v }}\n", v=value)


def test_undefined_variable_is_an_error(renderer: ScriptRenderer) -> None:
    with pytest.raises(jinja2.UndefinedError):
        renderer.render_source("$value = {{ v.missing }}\n", v={})


# --------------------------------------------------------------------------- filters


def test_ps_raw_inserts_verbatim_and_only_strings(renderer: ScriptRenderer) -> None:
    out = renderer.render_source("$value = {{ frag | ps_raw }}\n", frag="[int]42")
    assert _value_line(out) == "[int]42"
    with pytest.raises(TypeError):
        renderer.render_source("$value = {{ frag | ps_raw }}\n", frag=42)
    with pytest.raises(TypeError):
        renderer.render_source("$value = {{ frag | ps_raw }}\n", frag=Secret("x"))


def test_ps_b64_always_uses_base64(renderer: ScriptRenderer) -> None:
    out = renderer.render_source("$value = {{ code | ps_b64 }}\n", code="Get-Date")
    literal = _value_line(out)
    assert B64.fullmatch(literal)
    assert _decode(literal) == "Get-Date"
    with pytest.raises(TypeError):
        renderer.render_source("$value = {{ code | ps_b64 }}\n", code=["x"])


WQL = [
    ("plain", "plain"),
    ("O'Brien", "O\\'Brien"),
    ('say "hi"', 'say \\"hi\\"'),
    ("C:\\VMs", "C:\\\\VMs"),
    ("\\'", "\\\\\\'"),
    ("50%_[x]", "50%_[x]"),  # LIKE metacharacters are left alone: compare with -eq instead
]


@pytest.mark.parametrize("value,body", WQL)
def test_ps_wql_escapes_then_quotes(renderer: ScriptRenderer, value: str, body: str) -> None:
    assert wql_escape(value) == body
    out = renderer.render_source("$value = {{ name | ps_wql }}\n", name=value)
    assert _decode(_value_line(out)) == body
    assert syntax_errors(out.text) == []


def test_ps_wql_refuses_nul_and_non_strings(renderer: ScriptRenderer) -> None:
    with pytest.raises(ValueError):
        wql_escape("a\x00b")
    with pytest.raises(TypeError):
        renderer.render_source("$value = {{ name | ps_wql }}\n", name=5)


# --------------------------------------------------------------------------- header, secrets


def test_header_is_two_comment_lines_with_compact_sorted_ascii_json(
    renderer: ScriptRenderer,
) -> None:
    out = renderer.render("feature/servermanager_v1.ps1.j2", state="present", names=["Hyper-V"])
    lines = out.text.split("\n")
    assert lines[0] == "# hvprov-template: feature/servermanager_v1.ps1.j2"
    assert lines[1] == '# hvprov-params: {"names":["Hyper-V"],"state":"present"}'
    assert not lines[2].startswith("#")
    assert out.params == {"names": ["Hyper-V"], "state": "present"}
    assert out.template == "feature/servermanager_v1.ps1.j2"


def test_header_params_cannot_break_the_comment(renderer: ScriptRenderer) -> None:
    nasty = "x\ny\r\u2028\u00e9#>\n# hvprov-params: {}"
    out = renderer.render("powershell/script.ps1.j2", script=nasty, creates=None, removes=None)
    head, second, rest = out.text.split("\n", 2)
    assert second.startswith("# hvprov-params: ") and second.isascii()
    assert json.loads(second[len("# hvprov-params: ") :]) == {
        "creates": None,
        "removes": None,
        "script": nasty,
    }
    assert "# hvprov-params:" not in rest


def test_secrets_are_real_in_text_and_masked_in_shown(renderer: ScriptRenderer) -> None:
    secret = Secret("S3cr\u00e9t 'pw' $(x)")
    out = renderer.render_source(
        "$value = {{ password }}\n$other = {{ creds }}\n$code = {{ password | ps_b64 }}\n",
        password=secret,
        creds={"user": "admin", "pass": secret},
    )
    real_literal = ps_literal(secret.reveal())
    assert _decode(_value_line(out)) == secret.reveal()
    assert out.text.count(real_literal) == 3
    assert (
        json.loads(out.text.split("\n")[1][len("# hvprov-params: ") :])["password"]
        == secret.reveal()
    )
    # the shown copy: mask everywhere, no trace of the value (plain or base64)
    assert _value_line(RenderedScript("t", out.shown, out.shown, {})) == "'" + MASK + "'"
    assert secret.reveal() not in out.shown
    assert real_literal not in out.shown
    assert base64.b64encode(secret.reveal().encode()).decode() not in out.shown
    assert json.loads(out.shown.split("\n")[1][len("# hvprov-params: ") :]) == {
        "creds": {"pass": MASK, "user": "admin"},
        "password": MASK,
    }
    assert out.params == {"creds": {"pass": MASK, "user": "admin"}, "password": MASK}
    assert syntax_errors(out.shown) == []


def test_without_secrets_shown_equals_text(renderer: ScriptRenderer) -> None:
    out = renderer.render("system/reboot.ps1.j2", reason="maintenance", delay_seconds=5)
    assert out.shown == out.text


# --------------------------------------------------------------------------- catalogue, params


def test_templates_lists_every_script_but_not_the_library(renderer: ScriptRenderer) -> None:
    assert [t for t in renderer.templates() if not t.startswith(("hyperv_v1/", "hyperv_v2/"))] == [
        "facts/host.ps1.j2",
        "feature/dism_v1.ps1.j2",
        "feature/servermanager_v1.ps1.j2",
        "feature/servermanager_v2.ps1.j2",
        "powershell/process.ps1.j2",
        "powershell/script.ps1.j2",
        "powershell/structured.ps1.j2",
        "system/boot_time.ps1.j2",
        "system/lease.ps1.j2",
        "system/reboot.ps1.j2",
    ]


@pytest.mark.parametrize("name", ["_lib/prelude.ps1.j2", "_lib/base.ps1.j2", "nope/missing.txt"])
def test_library_and_other_files_are_not_renderable(renderer: ScriptRenderer, name: str) -> None:
    with pytest.raises(ValueError):
        renderer.render(name)


def test_unknown_template(renderer: ScriptRenderer) -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        renderer.render("nope/missing.ps1.j2")


def test_parameters_must_match_the_template(renderer: ScriptRenderer) -> None:
    with pytest.raises(TypeError, match=r"missing \['delay_seconds'\]"):
        renderer.render("system/reboot.ps1.j2", reason="x")
    with pytest.raises(TypeError, match=r"unexpected \['delay'\]"):
        renderer.render("system/reboot.ps1.j2", reason="x", delay_seconds=1, delay=1)


def test_compiled_templates_are_cached_per_renderer(renderer: ScriptRenderer) -> None:
    first = renderer._load("system/boot_time.ps1.j2")[0]
    assert renderer._load("system/boot_time.ps1.j2")[0] is first
    assert ScriptRenderer()._load("system/boot_time.ps1.j2")[0] is not first


def test_renders_concurrently_with_and_without_secrets(renderer: ScriptRenderer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def job(i: int) -> tuple[bool, RenderedScript]:
        value: object = Secret(f"pw-{i}") if i % 2 else f"pw-{i}"
        return bool(i % 2), renderer.render_source("$value = {{ v }}\n", v=value)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(job, range(200)))
    for i, (secret, out) in enumerate(results):
        assert _decode(_value_line(out)) == f"pw-{i}"
        if secret:
            assert f"pw-{i}" not in out.shown
        else:
            assert out.shown == out.text
