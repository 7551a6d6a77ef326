"""A tiny deterministic "PowerShell" for transport tests, shared by the paramiko lab
(`hvprov.sim.sshd.SSHLab(handler=handle)`) and the real-sshd shim (`tests/shims/powershell`),
so both servers must give the transport byte-identical answers.

It does not interpret PowerShell. It reports what arrived and obeys a few comment directives:

    #hv-echo: TEXT     stdout line ``echo=TEXT`` (unicode round trips)
    #hv-out: N         N bytes of filler on stdout (lines of 99 'o' + LF)
    #hv-err: N         N bytes of filler on stderr (lines of 99 'e' + LF)
    #hv-sleep: S       sleep S seconds before answering
    #hv-clixml: TEXT   stderr as powershell.exe writes it when redirected: CLIXML with a
                       progress record and TEXT as an error record
    #hv-missing        answer None: the "command" does not exist
    exit N             as the script's last line: exit code N (else 0)

stdout: ``host=H length=L sha256=X`` (L characters and the SHA-256 of the UTF-8 script as
received), the echo lines, the filler, then a framed result line
``##hvprov-result## {"ok":true,"data":{"host":H,"length":L,"sha256":X}}``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time

from hvprov.transports.base import ExecResult

_EXIT_RE = re.compile(r"^\s*exit\s+(-?\d+)\s*;?\s*$", re.IGNORECASE)
_DIRECTIVE_RE = re.compile(r"^\s*#hv-(echo|out|err|sleep|clixml):\s?(.*)$")
_PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules '
    "for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR>"
    "<SD> </SD></PR></MS></Obj>"
)


def clixml(error: str) -> str:
    escaped = error.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f'{_PROGRESS}<S S="Error">{escaped}_x000D__x000A_</S></Objs>'
    )


def filler(n: int, ch: str) -> str:
    line = ch * 99 + "\n"
    return (line * (n // len(line) + 1))[:n]


def handle(host: str, script: str) -> ExecResult | None:
    if "#hv-missing" in script:
        return None
    digest = hashlib.sha256(script.encode("utf-8")).hexdigest()
    out = [f"host={host} length={len(script)} sha256={digest}\n"]
    err: list[str] = []
    rc = 0
    for line in script.splitlines():
        m = _DIRECTIVE_RE.match(line)
        if not m:
            continue
        kind, value = m.groups()
        if kind == "echo":
            out.append(f"echo={value}\n")
        elif kind == "out":
            out.append(filler(int(value), "o"))
        elif kind == "err":
            err.append(filler(int(value), "e"))
        elif kind == "sleep":
            time.sleep(float(value))
        elif kind == "clixml":
            err.append(clixml(value))
    lines = [x for x in script.splitlines() if x.strip()]
    if lines:
        m = _EXIT_RE.match(lines[-1])
        if m:
            rc = int(m.group(1))
    result = {"ok": True, "data": {"host": host, "length": len(script), "sha256": digest}}
    out.append("##hvprov-result## " + json.dumps(result, separators=(",", ":")) + "\n")
    return ExecResult(stdout="".join(out), stderr="".join(err), rc=rc)
