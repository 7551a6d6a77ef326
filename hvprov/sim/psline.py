"""powershell.exe as the lab answers it today: the script a command line means, run by the lab's
handler. One function (`run`) so the lead can point cmd.exe at helper A's
``hvprov.sim.psexe.run_powershell`` instead; nothing here uses hvprov's transport code.

* ``-EncodedCommand``/``-enc``/``-e``/``-ec`` X: X is base64 of the UTF-16LE script.
* ``-Command`` rest, or bare words: the words joined by spaces are the script.
* A script that reads ``[Console]::In`` to the end, decodes it from base64 to UTF-8 and runs it
  as a ScriptBlock (hvprov's stdin bootstrap, recognised by what it does, not by its marker)
  gets the process's stdin as its script; stdin that is not base64 fails as PowerShell's
  ``[Convert]::FromBase64String`` does.

The handler ``handler(host_name, script) -> ExecResult | None`` answers; None is PowerShell's
CommandNotFoundException. stderr goes out as CLIXML, as powershell.exe writes it when its
output is redirected (optionally after a "Preparing modules for first use." progress record).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from ..transports.base import ExecResult
from ..transports.clixml import encode_clixml

Handler = Callable[[str, str], "ExecResult | None"]

_ENC_ARG = re.compile(r"^[-/](?:EncodedCommand|enc|e|ec)$", re.IGNORECASE)
_VALUED = ("-executionpolicy", "-ep", "-inputformat", "-outputformat", "-windowstyle", "-version")
READS_STDIN = re.compile(
    r"^(?=.*\[Console\]::In\.ReadToEnd\(\))(?=.*FromBase64String)(?=.*UTF8)(?=.*ScriptBlock\]::Create)",
    re.DOTALL | re.IGNORECASE,
)
BAD_BASE64 = (
    'Exception calling "FromBase64String" with "1" argument(s): "Invalid character in a Base-64 string."'
)


def script_of(args: list[str]) -> str | None:
    """The script powershell.exe runs for `args` (None: an -EncodedCommand that is not base64)."""
    for i, arg in enumerate(args):
        if _ENC_ARG.match(arg) and i + 1 < len(args):
            try:
                return base64.b64decode(args[i + 1], validate=True).decode("utf-16-le")
            except (ValueError, UnicodeDecodeError):
                return None
        if arg.lower() in ("-command", "-c", "/command"):
            return " ".join(args[i + 1 :])
    words, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg.lower() in _VALUED
        else:
            words.append(arg)
    return " ".join(words)


def reads_stdin(args: list[str]) -> bool:
    script = script_of(args)
    return script is not None and READS_STDIN.search(script) is not None


def run(handler: Handler | None, host: str, args: list[str], read_stdin: Callable[[], bytes],
        *, progress_noise: bool = False, on_missing: tuple[str, str, int] | None = None) -> tuple[str, str, int]:
    """(stdout, CLIXML stderr, exit code) of ``powershell.exe args`` on `host`; `on_missing` is
    the answer when the handler returns None (default: PowerShell's CommandNotFoundException)."""
    script = script_of(args)
    if script is not None and READS_STDIN.search(script):
        try:
            script = base64.b64decode(read_stdin().strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "", encode_clixml(BAD_BASE64, progress=progress_noise), 1
    result = handler(host, script) if handler is not None and script is not None else None
    if result is None and on_missing is not None and script is not None:
        return on_missing
    if result is None:
        return "", encode_clixml(not_recognized(script or ""), progress=progress_noise), 1
    err = result.stderr
    if not err.startswith("#< CLIXML") and (err or progress_noise):
        err = encode_clixml(err, progress=progress_noise)
    return result.stdout, err, result.rc


def not_recognized(script: str) -> str:
    word = "?"
    for line in script.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word = line.split()[0]
            break
    return (
        f"The term '{word}' is not recognized as the name of a cmdlet, function, script file, or "
        "operable program. Check the spelling of the name, or if a path was included, verify that "
        "the path is correct and try again.\n"
        f"At line:1 char:{len(word) + 1}\n+ {word} <<<< \n"
        f"    + CategoryInfo          : ObjectNotFound: ({word}:String) [], CommandNotFoundException\n"
        "    + FullyQualifiedErrorId : CommandNotFoundException"
    )
