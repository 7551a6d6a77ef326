"""How a script travels to powershell.exe, shared by the WinRM, SSH and sim transports.

Small scripts go on the command line: ``powershell.exe ... -EncodedCommand <base64 UTF-16LE>``.
Through cmd.exe (pywinrm's default, and Windows OpenSSH's default shell) a command line is at
most 8,191 characters, so a script is sent that way only if the whole line fits (about 3,000
characters of PowerShell). Every rendered template is larger and travels one of two ways
(``hvprov_script_delivery``, docs/delivery.md):

``stdin`` (default)
    A short bootstrap given with -EncodedCommand reads the ASCII base64 of the UTF-8 script
    from stdin through the automatic ``$input`` variable, decodes it and invokes it; the
    script's own ``exit N`` sets the exit code. ``$input`` is what the console host feeds from
    a redirected stdin on PowerShell 2.0 and, from 3.0 on, only to commands whose text uses
    it (ConsoleHost.cs, ``AstSearcher.IsUsingDollarInput``); ``[Console]::In.ReadToEnd()``
    (hvprov's first bootstrap, kept as LEGACY_BOOTSTRAP for tests) reads nothing on 2.0.
``file``
    No stdin at all: commands that each fit the command line write the UTF-8 (BOM) script in
    chunks to ``%TEMP%\\hvprov-<id>.ps1``, ``powershell.exe -File`` runs it, one more command
    removes it. The first chunk's command also reports the host's SystemRoot and whether the
    shell is 32-bit, so that -File runs the 64-bit powershell.exe through ``sysnative``.

32-bit shells: the stdin bootstrap re-launches the script through
``%SystemRoot%\\sysnative\\...\\powershell.exe -File`` when ``$env:PROCESSOR_ARCHITEW6432``
is set, and fails with a result line naming the fix when sysnative is missing.
We never use ``-Command -`` (REPL semantics, lost exit codes; domain brief 7.3).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

from .base import ExecResult

POWERSHELL = "powershell.exe"
BASE_ARGS = "-NoProfile -NonInteractive -ExecutionPolicy Bypass"
CMD_LINE_LIMIT = 8191  # cmd.exe
DELIVERIES = ("stdin", "file")
SYSNATIVE_PS = "sysnative\\WindowsPowerShell\\v1.0\\powershell.exe"

_NO_SYSNATIVE = (
    '##hvprov-result## {"ok":false,"error":{"type":"Hvprov32BitShell","message":"32-bit shell on '
    "64-bit Windows and no sysnative: fix: make the endpoint start 64-bit processes (docs/delivery.md)"
    '","line":null,"category":"NotInstalled"}}'
)

# PowerShell 2.0-safe; one statement per line. The script text never reaches the command line.
BOOTSTRAP = "\n".join([
    "# hvprov-bootstrap v2",
    "$ProgressPreference = 'SilentlyContinue'",
    "$b = @($input) -join ''",
    "$t = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($b.Trim()))",
    "if ($env:PROCESSOR_ARCHITEW6432) {",
    f"$p = Join-Path $env:SystemRoot '{SYSNATIVE_PS}'",
    "if (-not (Test-Path $p)) {",
    "'" + _NO_SYSNATIVE.replace("'", "''") + "'",
    "exit 1",
    "}",
    "$f = Join-Path ([IO.Path]::GetTempPath()) ('hvprov-' + [Guid]::NewGuid().ToString('N') + '.ps1')",
    "[IO.File]::WriteAllText($f, $t, (New-Object Text.UTF8Encoding $true))",
    f"& $p {BASE_ARGS} -File $f | ForEach-Object {{ [Console]::Out.WriteLine($_) }}",
    "$r = $LASTEXITCODE",
    "Remove-Item -LiteralPath $f -Force",
    "exit $r",
    "}",
    "& ([ScriptBlock]::Create($t))",
    "exit $LASTEXITCODE",
    "",
])

# hvprov's first bootstrap: reads [Console]::In, which PowerShell 2.0's console host has already
# drained (docs/delivery.md). Kept only so tests can show the failure on the lab's 2.0 hosts.
LEGACY_BOOTSTRAP = """# hvprov-bootstrap v1
$ProgressPreference = 'SilentlyContinue'
$hvprovB64 = [Console]::In.ReadToEnd()
$hvprovText = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($hvprovB64.Trim()))
$hvprovBlock = [ScriptBlock]::Create($hvprovText)
& $hvprovBlock
exit $LASTEXITCODE
"""

# A command of the file delivery: runs a step and returns its result.
Step = Callable[[str, "bytes | None"], ExecResult]


def encode_command(script: str) -> str:
    """-EncodedCommand argument: base64 of the UTF-16LE script."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def command_line(script: str, powershell: str = POWERSHELL) -> str:
    return f"{powershell} {BASE_ARGS} -EncodedCommand {encode_command(script)}"


def bootstrap_command_line() -> str:
    return command_line(BOOTSTRAP)


def fits_command_line(script: str, limit: int = CMD_LINE_LIMIT) -> bool:
    # Each character is at least two bytes of UTF-16LE: a script whose shortest possible
    # encoding is already too long is not encoded (the facts script was, on every host, only
    # to measure it: one base64 of twice its size).
    shortest = len(command_line("")) + 4 * -(-2 * len(script) // 3)  # the line's head + base64 of 2 bytes a char
    if shortest > limit:
        return False
    return len(command_line(script)) <= limit


def stdin_payload(script: str) -> bytes:
    """What the bootstrap expects on stdin: ASCII base64 of the UTF-8 script, one line."""
    return base64.b64encode(script.encode("utf-8")) + b"\r\n"


# ---------------------------------------------------------------------------- file delivery
def _chunk_script(name: str, chunk: bytes, offset: int) -> str:
    data = base64.b64encode(chunk).decode("ascii")
    return "\n".join([
        f"$p = Join-Path ([IO.Path]::GetTempPath()) '{name}'",
        f"$b = [Convert]::FromBase64String('{data}')",
        "$s = New-Object IO.FileStream($p, 'OpenOrCreate', 'Write')",
        f"[void]$s.Seek({offset}, 'Begin')",
        "$s.Write($b, 0, $b.Length)",
        f"$s.SetLength({offset + len(chunk)})",
        "$s.Close()",
        "'hvprov-file|' + $p + '|' + $env:SystemRoot + '|' + $env:PROCESSOR_ARCHITEW6432",
    ])


def chunk_capacity(limit: int) -> int:
    """Raw script bytes one chunk command carries so that its line fits `limit`."""
    base = len(command_line(_chunk_script("hvprov-" + "0" * 32 + ".ps1", b"", 10**9)))
    room = (limit - base) * 3 // 8  # encoded command: 8/3 characters per character of text
    return max(3, (room * 3 // 4) // 3 * 3)  # base64 in the text: 4/3 growth


def file_chunk_lines(script: str, limit: int = CMD_LINE_LIMIT, name: str | None = None) -> list[str]:
    """The command lines writing `script` (UTF-8 with BOM) to %TEMP%\\<name>, in order."""
    name = name or f"hvprov-{uuid.uuid4().hex}.ps1"
    data = b"\xef\xbb\xbf" + script.encode("utf-8")
    size = chunk_capacity(limit)
    return [command_line(_chunk_script(name, data[i : i + size], i)) for i in range(0, len(data), size)]


def file_run_line(path: str, system_root: str, wow64: bool) -> str:
    """`-File` of the written script: the 64-bit powershell.exe through sysnative from a 32-bit shell."""
    exe = f'"{system_root}\\{SYSNATIVE_PS}"' if wow64 else POWERSHELL
    return f'{exe} {BASE_ARGS} -File "{path}"'


def file_remove_line(path: str) -> str:
    quoted = path.replace("'", "''")
    return command_line(f"Remove-Item -LiteralPath '{quoted}' -Force -ErrorAction SilentlyContinue")


class DeliveryError(Exception):
    """A step of the file delivery did not answer as expected (the result is kept)."""

    def __init__(self, message: str, result: ExecResult) -> None:
        super().__init__(message)
        self.result = result


def deliver_file(script: str, step: Step, limit: int = CMD_LINE_LIMIT) -> tuple[ExecResult, int]:
    """Run `script` with the file delivery; returns (the -File run's result, commands used)."""
    where: tuple[str, str, bool] | None = None
    lines = file_chunk_lines(script, limit)
    for line in lines:
        res = step(line, None)
        marker = next((x for x in res.stdout.splitlines() if x.startswith("hvprov-file|")), None)
        if res.rc != 0 or marker is None:
            raise DeliveryError("writing the script file failed", res)
        _, path, root, arch = (marker.split("|") + ["", "", ""])[:4]
        where = (path, root, bool(arch.strip()))
        if any(c in path for c in '"%\r\n') or not path:
            raise DeliveryError(f"the temp path {path!r} cannot be quoted for -File", res)
    assert where is not None
    path, root, wow64 = where
    result = step(file_run_line(path, root, wow64), None)
    step(file_remove_line(path), None)  # best effort; its result does not change the script's
    return result, len(lines) + 2


def deliver(script: str, step: Step, *, mode: str = "stdin", limit: int = CMD_LINE_LIMIT,
            payload: Callable[[str], bytes] | None = None) -> ExecResult:
    """Run one script through `step(command_line, stdin or None)`: inline, stdin or file.
    `payload`: stdin_payload, or a memo of it (transports/stdinmemo.py)."""
    if fits_command_line(script, limit):
        return step(command_line(script), None)
    if mode == "file":
        try:
            return deliver_file(script, step, limit)[0]
        except DeliveryError as exc:
            r = exc.result
            return ExecResult(r.stdout, (r.stderr + f"\nhvprov: file delivery: {exc}").strip(), r.rc or 1)
    return step(bootstrap_command_line(), (payload or stdin_payload)(script))
