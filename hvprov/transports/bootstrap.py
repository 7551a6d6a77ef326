"""How a script travels to powershell.exe, shared by the WinRM and SSH transports and by the
lab servers that must undo it.

Small scripts go on the command line: ``powershell.exe ... -EncodedCommand <base64 UTF-16LE>``.
Through cmd.exe (pywinrm's default, and Windows OpenSSH's default shell) a command line is at
most 8,191 characters, so a script is sent that way only if the whole line fits
(about 3,000 characters of PowerShell). Larger scripts are streamed on stdin as ASCII base64
of UTF-8 and run by a short bootstrap given with -EncodedCommand: it reads stdin to the end,
decodes it, builds a ScriptBlock and invokes it; the script's own `exit N` sets the exit code.
We never use ``-Command -`` (REPL semantics, lost exit codes; domain brief 7.3).
"""

from __future__ import annotations

import base64
import re

POWERSHELL = "powershell.exe"
BASE_ARGS = "-NoProfile -NonInteractive -ExecutionPolicy Bypass"
CMD_LINE_LIMIT = 8191  # cmd.exe
BOOTSTRAP_MARKER = "# hvprov-bootstrap v1"

# PowerShell 2.0-safe. $input is not used: [Console]::In reads the raw redirected stdin.
BOOTSTRAP = BOOTSTRAP_MARKER + """
$ProgressPreference = 'SilentlyContinue'
$hvprovB64 = [Console]::In.ReadToEnd()
$hvprovText = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($hvprovB64.Trim()))
$hvprovBlock = [ScriptBlock]::Create($hvprovText)
& $hvprovBlock
exit $LASTEXITCODE
"""


def encode_command(script: str) -> str:
    """-EncodedCommand argument: base64 of the UTF-16LE script."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def command_line(script: str) -> str:
    return f"{POWERSHELL} {BASE_ARGS} -EncodedCommand {encode_command(script)}"


def bootstrap_command_line() -> str:
    return command_line(BOOTSTRAP)


def fits_command_line(script: str, limit: int = CMD_LINE_LIMIT) -> bool:
    return len(command_line(script)) <= limit


def stdin_payload(script: str) -> bytes:
    """What the bootstrap expects on stdin: ASCII base64 of the UTF-8 script."""
    return base64.b64encode(script.encode("utf-8"))


_ENC_RE = re.compile(r"-(?:EncodedCommand|enc|e|ec)\s+([A-Za-z0-9+/=]+)", re.IGNORECASE)


def decode_command_line(line: str) -> str | None:
    """The script given with -EncodedCommand in a powershell command line, or None."""
    m = _ENC_RE.search(line)
    if not m:
        return None
    try:
        return base64.b64decode(m.group(1), validate=True).decode("utf-16-le")
    except (ValueError, UnicodeDecodeError):
        return None


def extract_script(line: str, stdin: bytes) -> str | None:
    """Server side: the script a client meant to run, from the command line and stdin.

    Returns None if the command line is not a powershell -EncodedCommand invocation, or if
    it is the bootstrap and stdin is not valid base64 of UTF-8.
    """
    decoded = decode_command_line(line)
    if decoded is None:
        return None
    if not decoded.startswith(BOOTSTRAP_MARKER):
        return decoded
    try:
        return base64.b64decode(stdin.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
