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
    stdin = read_stdin() if read_stdin is not None and _reads_stdin(argv) else None
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


def _reads_stdin(argv: list[str]) -> bool:
    """Whether this powershell.exe waits for its stdin to end: a command read from stdin
    (``-Command -``) or text that reads it (``$input``, ``[Console]::In``; PowerShell 2.0's
    console host reads it whatever the text). Otherwise a process that is given no stdin (pypsrp
    sends none without console mode) runs at once instead of waiting for an EOF that never
    comes (it did: a 3-minute wait until the shell's idle timeout)."""
    inv = psexe.parse_args(argv[1:])
    if inv.text is None:
        return False  # -File: the script comes from the file
    text = inv.text.strip()
    return text == "-" or psexe.uses_dollar_input(text) or "[console]::in" in text.lower()


def not_recognized(script: str) -> str:
    word = "?"
    for line in script.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word = line.split()[0]
            break
    return psinterp.not_recognized(word)
