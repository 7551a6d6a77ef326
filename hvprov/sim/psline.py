"""powershell.exe as the lab's servers answer it: a thin adapter from cmd.exe (`cmdshell`) to
the lab's model of powershell.exe (`psexe`: arguments, stdin per PowerShell version, bitness,
temp files), with stderr sent as CLIXML as powershell.exe writes it when redirected (optionally
after a "Preparing modules for first use." progress record). Nothing here uses hvprov's
transport code.

The handler ``handler(host_name, script) -> ExecResult | None`` (or a handler object with a
``.powershell(name, argv, stdin)`` method: the lab's host models) answers; None is PowerShell's
CommandNotFoundException, or with `on_missing` a host without powershell.exe.
"""

from __future__ import annotations

from collections.abc import Callable

from ..transports.base import ExecResult
from ..transports.clixml import encode_clixml
from . import psexe, psinterp

Handler = Callable[[str, str], "ExecResult | None"]


def run(handler: Handler | None, host: str, argv: list[str], read_stdin: Callable[[], bytes] | None,
        *, files: dict[str, str], progress_noise: bool = False,
        on_missing: tuple[str, str, int] | None = None) -> tuple[str, str, int]:
    """(stdout, CLIXML stderr, exit code) of `argv` (powershell.exe as cmd.exe found it, then its
    arguments) on `host`; `read_stdin` None
    is console-mode stdin (nothing piped); `on_missing` is the answer when the host has no
    powershell.exe (default: PowerShell's CommandNotFoundException for the script)."""
    stdin = None if read_stdin is None else read_stdin()
    result = None
    if handler is not None:
        result = psexe.answer(host, argv, stdin, handler, files,
                              none_is_missing_program=on_missing is not None)
    if result is None and on_missing is not None:
        return on_missing
    if result is None:
        return "", encode_clixml(not_recognized(" ".join(argv[1:])), progress=progress_noise), 1
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
    return psinterp.not_recognized(word)
