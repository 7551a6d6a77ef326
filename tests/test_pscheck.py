"""The static PowerShell checks: tree-sitter syntax errors and the PowerShell 2.0 lint."""

from __future__ import annotations

import re

import pytest

from hvprov.pscheck import lint_template_source, ps2_lint, syntax_errors

FINDING = re.compile(r"^\d+:\d+: ")

# (snippet, rule the lint must report) -- one row per construct of domain brief §6.1 and more.
BAD = [
    ("$json = $data | ConvertTo-Json", "json-cmdlet"),
    ("$data = ConvertFrom-Json $text", "json-cmdlet"),
    ("$o = [ordered]@{ a = 1 }", "ordered"),
    ("$o = [Ordered] @{}", "ordered"),
    ("$o = [pscustomobject]@{ a = 1 }", "pscustomobject"),
    ("$o = [PSCustomObject]@{}", "pscustomobject"),
    ("if ('a' -in $list) { }", "in-operator"),
    ("if ('a' -notin $list) { }", "in-operator"),
    ("if ('a' -cin $list) { }", "in-operator"),
    ("if ('a' -inotin $list) { }", "in-operator"),
    ("$x | ForEach-Object { $PSItem }", "psitem"),
    ("$x | ForEach-Object { ${PSItem} }", "psitem"),
    ('Write-Output "item: $PSItem"', "psitem"),
    ("$big = $list.Where({ $_ -gt 1 })", "where-foreach-method"),
    ("$list.ForEach({ $_ })", "where-foreach-method"),
    ("$list.Where{ $_ }", "where-foreach-method"),
    ("$os = Get-CimInstance Win32_OperatingSystem", "cim-cmdlet"),
    ("Invoke-CimMethod -ClassName Win32_Process -MethodName Create", "cim-cmdlet"),
    ("$s = New-CimSession", "cim-cmdlet"),
    ("$sb = [Text.StringBuilder]::new()", "new-method"),
    ("$l = [System.Collections.Generic.List[string]]::new()", "new-method"),
    ("Get-Item x -ErrorAction Ignore", "erroraction-ignore"),
    ("Get-Item x -ea Ignore", "erroraction-ignore"),
    ("Get-Item x -ErrorAction:Ignore", "erroraction-ignore"),
    ("Get-Item x -ErrorAction 'Ignore'", "erroraction-ignore"),
    ("$p = @{ ErrorAction = 'Ignore' }", "erroraction-ignore"),
    ("$x | Where-Object Name -eq 'vmms'", "simplified-syntax"),
    ("$x | ? Status -eq Running", "simplified-syntax"),
    ("$x | where Name -like 'v*'", "simplified-syntax"),
    ("$x | Where-Object -Property Name -EQ 'vmms'", "simplified-syntax"),
    ("$x | ForEach-Object Name", "simplified-syntax"),
    ("$x | % Name", "simplified-syntax"),
    ("$x | ForEach-Object -MemberName Name", "simplified-syntax"),
    ("if ([string]::IsNullOrWhiteSpace($s)) { }", "net4-api"),
    ("$flags.HasFlag([IO.FileAttributes]::Hidden)", "net4-api"),
    ("[Enum]::TryParse('A', [ref]$v)", "net4-api"),
    ("$g = [Guid]::Parse($s)", "net4-api"),
    ("[IO.Directory]::EnumerateFiles('C:\\')", "net4-api"),
    ("[Environment]::Is64BitOperatingSystem", "net4-api"),
    ("$sb = New-Object System.Text.StringBuilder; [void]$sb.Clear()", "net4-api"),
    ("$r = Invoke-WebRequest http://x", "web-cmdlet"),
    ("$r = Invoke-RestMethod http://x", "web-cmdlet"),
    ("$r = iwr http://x", "web-cmdlet"),
    ("Get-ChildItem C:\\VMs -File", "ps3-parameter"),
    ("$t = Get-Content x -Raw", "ps3-parameter"),
    ("$h = Get-FileHash x", "ps3-cmdlet"),
    ("$x = 1 -shl 2", "shift-operator"),
    ("$d = $PSScriptRoot", "psscriptroot"),
    ("Get-Item x && Get-Item y", "ps7-operator"),
    ("$v = $a ?? 'b'", "ps7-operator"),
    ("class Foo { }", "class-enum"),
    ("enum Color { Red }", "class-enum"),
    ("#Requires -Version 3.0", "requires-version"),
]

# Valid PowerShell 2.0 that mentions the same words harmlessly.
GOOD = [
    "$json = ConvertTo-HvJson $data",
    "$o = New-Object System.Collections.Specialized.OrderedDictionary",
    "$o = New-Object PSObject -Property @{ a = 1 }",
    "if ($o.PSObject.BaseObject.GetType().FullName -eq 'System.Management.Automation.PSCustomObject') { }",
    "if ($list -contains 'a') { }",
    "if ($list -notcontains 'a') { }",
    "$x | ForEach-Object { $_ }",
    "$big = $list | Where-Object { $_ -gt 1 }",
    "$x | Where-Object -FilterScript { $_.Name -eq 'vmms' }",
    "$x | ? { $_ }",
    "$x | % { $_.Name }",
    "$x | ForEach-Object -Process { $_ } -ErrorAction Stop",
    "$x | ForEach-Object -Begin { $n = 0 } -Process { $n++ } -End { $n }",
    "$x | Where-Object { $_ } -ErrorAction SilentlyContinue",
    "$os = Get-WmiObject -Class Win32_OperatingSystem",
    "$sb = New-Object System.Text.StringBuilder",
    "Get-Item x -ErrorAction SilentlyContinue",
    "Get-Item x -ea 0",
    "Get-Thing -InputObject $x",
    "Get-Thing -In $x",
    "$index = 1; $inside = $true",
    "# ConvertTo-Json, [ordered], -in, $PSItem, .Where(, Get-CimInstance, ::new( in a comment",
    "<# Invoke-WebRequest -ErrorAction Ignore #>",
    "$s = 'ConvertTo-Json [ordered] -notin $PSItem .Where( Get-CimInstance ::new('",
    '$s = "plain text about -in and Get-CimInstance"',
    "$s = @'\nConvertTo-Json\n'@",
    "if ([string]::IsNullOrEmpty($s)) { }",
    "$a = $b -band 4",
    "$w = New-Object System.Net.WebClient",
    "$x = $a -join ','",
    "$parts = $s -split ','",
    "$c = Get-ChildItem C:\\VMs -Filter *.vhd",
    "if ($a -and $b -or -not $c) { }",
    "$t = $h.Where",
    "function Get-Where { param($In) $In }",
]


@pytest.mark.parametrize("snippet,rule", BAD, ids=[f"{r}:{s[:30]}" for s, r in BAD])
def test_lint_catches(snippet: str, rule: str) -> None:
    findings = ps2_lint(snippet + "\n")
    assert any(f": {rule}: " in f for f in findings), findings
    assert all(FINDING.match(f) for f in findings)


@pytest.mark.parametrize("snippet", GOOD, ids=[s[:40] for s in GOOD])
def test_lint_passes(snippet: str) -> None:
    assert ps2_lint(snippet + "\n") == []


def test_lint_reports_line_and_column() -> None:
    text = "$a = 1\n$b = 2\n    $c = [ordered]@{}\n"
    assert ps2_lint(text) == [
        "3:10: ordered: '[ordered]' (use New-Object System.Collections.Specialized.OrderedDictionary)"
    ]


def test_lint_finds_code_inside_double_quoted_strings() -> None:
    findings = ps2_lint('Write-Output "now: $(Get-CimInstance Win32_OperatingSystem)"\n')
    assert [f.split(": ")[1] for f in findings] == ["cim-cmdlet"]


# --------------------------------------------------------------------------- syntax

BROKEN = [
    "$value = 'it's'",
    "$a = 'unterminated",
    "$a = @(1, 2",
    "if ($a { }",
    "function f {",
    "$h = @{ a = }",
    "Write-Output ($a",
    '$x = "$("',
    "$a = ((1)",
    "foreach ($x $y) { }",
    "$s = @'\nnever closed",
]

VALID = [
    "$a = 1",
    "try { $x = 1 } catch { Write-HvError $_ }",
    "function Add-X([Text.StringBuilder]$sb, $value, [int]$depth) { [void]$sb.Append('x') }",
    "$h = @{ 'k' = @(1, (-2)); ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('YQ=='))) = $null }",
    "$r = Install-WindowsFeature @arguments",
    "$drive = [wmi][string]$rasd.Parent",
    "do { $items = @(& $block) } while ($false)",
    "Invoke-HvProcess $exe @('/enum', '{current}')",
    "$s = @'\nliteral $x\n'@\n$t = 1",
]


@pytest.mark.parametrize("snippet", BROKEN)
def test_syntax_errors_found(snippet: str) -> None:
    errors = syntax_errors(snippet + "\n")
    assert errors
    assert all(FINDING.match(e) for e in errors)


@pytest.mark.parametrize("snippet", VALID)
def test_syntax_clean(snippet: str) -> None:
    assert syntax_errors(snippet + "\n") == []


def test_syntax_error_position() -> None:
    errors = syntax_errors("$a = 1\n$b = @(1,\n")
    assert errors and errors[0].startswith("2:")


# --------------------------------------------------------------------------- template source

TEMPLATE_BAD = [
    ('$a = "Name={{ name }}"', "double-quoted string"),
    ("$a = 'Name={{ name }}'", "single-quoted string"),
    ("$a = \u2018{{ name }}\u2019", "single-quoted string"),
    ('$a = @"\n{{ name }}\n"@', "here-string"),
    ("$a = @'\nx {{ name }}\n'@", "here-string"),
    ('$f = "Name=\'" + $x + "\' and {{ y }}"', "double-quoted string"),
]

TEMPLATE_GOOD = [
    "$a = {{ name }}",
    "$f = 'Name=''' + {{ name | ps_wql }} + ''''",
    "Get-Thing -Name {{ name }} -Filter \"Name='vmms'\"",
    "{% if state == 'present' %}\n$a = 1\n{% endif %}",
    "{{ raise_error('it''s \"bad\"') }}\n$b = 'x'",
    '{#- it\'s a comment with "quotes" -#}\n$a = {{ x }}',
    "# {{ name }} in a comment is not a string\n$a = 1",
]


@pytest.mark.parametrize("source,kind", TEMPLATE_BAD)
def test_template_value_in_string_is_flagged(source: str, kind: str) -> None:
    findings = lint_template_source(source + "\n")
    assert any("template-value-in-string" in f and kind in f for f in findings), findings


@pytest.mark.parametrize("source", TEMPLATE_GOOD)
def test_template_source_clean(source: str) -> None:
    assert lint_template_source(source + "\n") == []


def test_template_source_also_gets_the_ps2_lint() -> None:
    findings = lint_template_source("{% if x %}\n$o = [ordered]@{ a = {{ x }} }\n{% endif %}\n")
    assert findings == [
        "2:6: ordered: '[ordered]' (use New-Object System.Collections.Specialized.OrderedDictionary)"
    ]
