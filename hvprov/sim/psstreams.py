"""What the lab returns for a win_powershell script made only of literal writes (powershell/
structured.ps1.j2): the simulator runs no user code, but these few statements have outputs
known without running anything, so host_out / host_err and the streams can be shown on the lab.

    Write-Host 'text'            -> host_out "text\r\n"; on PowerShell 5+ also an information
                                    record (source Write-Host, tags PSHOST), as on Windows
    Write-Output 'text'          -> output (a bare number: an integer)
    Write-Warning 'text'         -> warning
    $Host.UI.WriteErrorLine('text') -> host_err "text\r\n"

A literal is single-quoted ('' for a quote) or one bare word. Any other script: None (the lab
answers "(simulated) script not executed", as before).
"""

from __future__ import annotations

import re
from typing import Any

_LIT = r"(?:'((?:[^']|'')*)'|([^\s'\"$`;()]+))"
_FORMS = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in [
    ("host", r"Write-Host\s+" + _LIT),
    ("output", r"Write-Output\s+" + _LIT),
    ("warning", r"Write-Warning\s+" + _LIT),
    ("host_err", r"\$Host\.UI\.WriteErrorLine\(\s*" + _LIT + r"\s*\)"),
]]


def _statement(line: str) -> tuple[str, str, bool] | None:
    for kind, pattern in _FORMS:
        m = pattern.fullmatch(line)
        if m is not None:
            if m.group(1) is not None:
                return kind, m.group(1).replace("''", "'"), True
            return kind, m.group(2), False
    return None


def literal_writes(script: str, ps_version: str, now_iso: str) -> dict[str, Any] | None:
    """The structured result of a script of literal writes, or None for any other script."""
    statements = [s.strip() for s in re.split(r"[;\r\n]+", script) if s.strip() and not s.strip().startswith("#")]
    parsed = [_statement(s) for s in statements]
    if not parsed or any(p is None for p in parsed):
        return None
    out: dict[str, Any] = {"output": [], "warning": [], "information": [], "host_out": "", "host_err": ""}
    ps5 = int(ps_version.split(".")[0]) >= 5
    for kind, text, quoted in (p for p in parsed if p is not None):
        if kind == "host":
            out["host_out"] += text + "\r\n"
            if ps5:
                out["information"].append({
                    "message_data": {"Message": text, "ForegroundColor": None, "BackgroundColor": None,
                                     "NoNewLine": False},
                    "source": "Write-Host", "time_generated": now_iso, "tags": ["PSHOST"]})
        elif kind == "host_err":
            out["host_err"] += text + "\r\n"
        elif kind == "output" and not quoted and re.fullmatch(r"-?\d{1,9}", text):
            out[kind].append(int(text))  # a bare number is an Int32 in argument mode
        else:
            out[kind].append(text)
    return out
