"""powershell.exe as the lab models it: arguments, stdin, bitness, temp files (docs/delivery.md).

An independent model of Windows: it never uses hvprov's transports/bootstrap.py. It parses a
powershell.exe argument list the way the console host does (case-insensitive parameter
prefixes, -EncodedCommand as base64 of UTF-16LE, -File reading a file of the host), decides
what a redirected stdin feeds, and "runs" the command text:

* stdin (``stdin`` is None when it is a console, not redirected): PowerShell 2.0's console host
  reads a redirected stdin itself and feeds it to ``$input``; ``[Console]::In.ReadToEnd()``
  then returns "" (``HostModel.ps_swallows_stdin``, default: PowerShell 2.0). 3.0+ reads it
  only when the command text uses ``$input`` (ConsoleHost.cs ``AstSearcher.IsUsingDollarInput``);
  otherwise ``[Console]::In`` gets it.
* bitness: a 32-bit shell on 64-bit Windows (``HostModel.shell_32bit``) starts the 32-bit
  powershell.exe unless the path goes through ``%SystemRoot%\\sysnative``; in it
  ``$env:PROCESSOR_ARCHITEW6432`` is ``AMD64`` and dism.exe refuses to service the 64-bit OS.
* command text: a rendered template (``# hvprov-template:`` header) is answered by the host
  (`executor.execute`); other text is run statement by statement by a small interpreter that
  knows the handful of PowerShell statement forms loaders use (see `_Interp`). Anything else
  fails like an unknown command, so a loader the model does not understand cannot pass.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..transports.base import ExecResult
from .model import HostModel

RunScript = Callable[[str, bool], "ExecResult | None"]  # (text, process is 32-bit)
TEMP = "C:\\Users\\Administrator\\AppData\\Local\\Temp\\"
SYSTEM_ROOT = "C:\\Windows"
NOT_RECOGNIZED = ("'powershell.exe' is not recognized as an internal or external command,\r\n"
                  "operable program or batch file.\r\n")
_PARAMS = ("command", "encodedcommand", "executionpolicy", "file", "inputformat", "noexit", "nologo",
           "noninteractive", "noprofile", "outputformat", "psconsolefile", "sta", "mta", "version",
           "windowstyle", "help")
_WITH_VALUE = {"executionpolicy", "inputformat", "outputformat", "psconsolefile", "version", "windowstyle"}


@dataclass
class Invocation:
    text: str | None = None  # the command text, or None with `file`
    file: str | None = None
    error: str | None = None


def split_command_line(line: str) -> list[str]:
    """CommandLineToArgvW's rules for the common cases: blanks separate, double quotes group,
    backslashes before a quote escape it."""
    args: list[str] = []
    cur, quoted, has, i = "", False, False, 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            if i + n < len(line) and line[i + n] == '"':
                cur += "\\" * (n // 2)
                if n % 2:
                    cur += '"'
                    i += n + 1
                    has = True
                    continue
                i += n
                continue
            cur += "\\" * n
            i += n
            has = True
            continue
        if c == '"':
            quoted, has = not quoted, True
        elif c in " \t" and not quoted:
            if has:
                args.append(cur)
            cur, has = "", False
        else:
            cur, has = cur + c, True
        i += 1
    if has:
        args.append(cur)
    return args


def is_powershell(program: str) -> bool:
    base = program.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    return base in ("powershell", "powershell.exe")


def parse_args(args: list[str]) -> Invocation:
    """What powershell.exe makes of its arguments (argv[0] excluded)."""
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith(("-", "/")):
            return Invocation(text=" ".join(args[i:]))  # a bare command is -Command
        name = a[1:].lower()
        full = [p for p in _PARAMS if p.startswith(name)] if name else []
        if name in ("e", "ec", "enc"):
            full = ["encodedcommand"]
        if len(full) != 1 and name not in _PARAMS:
            return Invocation(error=f"Invalid argument '{a}'")  # [U] the 2.0 wording
        p = name if name in _PARAMS else full[0]
        if p == "encodedcommand":
            if i + 1 >= len(args):
                return Invocation(error="Missing argument for parameter -EncodedCommand")
            try:
                return Invocation(text=base64.b64decode(args[i + 1], validate=True).decode("utf-16-le"))
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return Invocation(error="Cannot process the command because the value specified with "
                                        "-EncodedCommand is not properly encoded.")
        if p == "command":
            return Invocation(text=" ".join(args[i + 1:]))
        if p == "file":
            if i + 1 >= len(args):
                return Invocation(error="Missing argument for parameter -File")
            return Invocation(file=args[i + 1])
        i += 2 if p in _WITH_VALUE else 1
    return Invocation(text="")


def uses_dollar_input(text: str) -> bool:
    """IsUsingDollarInput, approximated on the text: a $input variable outside strings/comments."""
    plain = re.sub(r"'(?:[^']|'')*'", "''", text)
    plain = re.sub(r"#[^\n]*", "", plain)
    return re.search(r"\$input\b", plain, re.IGNORECASE) is not None


@dataclass
class Process:
    """One powershell.exe process: its environment and the host's temp files it sees."""

    version: str
    swallows_stdin: bool
    wow64: bool  # 32-bit process on 64-bit Windows
    files: dict[str, str]  # full path (lower case) -> base64 of the bytes
    run_script: RunScript
    x64: bool = True
    interpret_plain: bool = True  # expressions-only texts run here (False: the handler's)
    winrm: dict[str, int] = field(default_factory=dict)  # winrm/config: lower-case item path -> value
    policy_gpo: str | None = None  # execution policy set by Group Policy
    out: list[str] = field(default_factory=list)  # raw stdout pieces
    err: list[str] = field(default_factory=list)

    def start(self, args: list[str], stdin: bytes | None) -> ExecResult:
        inv = parse_args(args)
        if inv.error is not None:
            return ExecResult("", inv.error + "\r\n", 64 if self.version >= "3" else 1)
        if inv.file is not None:
            if (self.policy_gpo or "").lower() in ("restricted", "allsigned"):
                return ExecResult("", f"File {inv.file} cannot be loaded because the execution of scripts is "
                                      "disabled on this system. Please see \"get-help about_signing\" for more "
                                      "details.\r\n", 1)  # [U] exact 2.0 text; AllSigned says "not digitally signed"
            data = self.read_file(inv.file)
            if data is None:
                return ExecResult("", f"The argument '{inv.file}' to the -File parameter does not exist. "
                                      "Provide the path to an existing '.ps1' file as an argument to the "
                                      "-File parameter.\r\n", 1)  # [U] 2.0 wording and code
            text = data.decode("utf-8-sig", "replace")
        else:
            text = inv.text or ""
        lines_in: list[str] = []
        console_in = ""
        if stdin is not None:
            decoded = stdin.decode("utf-8", "replace")
            if self.swallows_stdin or uses_dollar_input(text):
                lines_in = decoded.splitlines()
            else:
                console_in = decoded
        from .psinterp import Interp  # the statement interpreter

        rc = Interp(self, lines_in, console_in).run(text)
        return ExecResult("".join(self.out), "".join(self.err), rc)

    def read_file(self, path: str) -> bytes | None:
        b64 = self.files.get(path.lower())
        return None if b64 is None else base64.b64decode(b64)

    def write_file(self, path: str, data: bytes) -> None:
        self.files[path.lower()] = base64.b64encode(data).decode("ascii")


def swallows_stdin(host: HostModel) -> bool:
    flag = getattr(host, "ps_swallows_stdin", None)
    return host.powershell.startswith("2.") if flag is None else bool(flag)


def run_powershell(host: HostModel, args: list[str], stdin: bytes | None, now: float, *,
                   execute: Callable[[HostModel, str, float], ExecResult] | None = None) -> ExecResult:
    """powershell.exe on `host`: `args` is argv, with or without the program as argv[0].
    `execute` answers the rendered templates it runs (default: `sim.executor.execute`)."""
    from . import rules
    from .executor import execute as default_execute

    answer_script = execute or default_execute

    program = "powershell.exe"
    if args and is_powershell(args[0]):
        program, args = args[0], args[1:]
    if not rules.powershell_available(host):
        return ExecResult("", NOT_RECOGNIZED, 9009)
    wow64 = bool(getattr(host, "shell_32bit", False)) and host.arch == "x64" \
        and "sysnative" not in program.lower()

    def run_script(text: str, is_wow64: bool) -> ExecResult:
        if is_wow64 and "# hvprov-template: feature/dism_v1" in text[:200]:
            return ExecResult("", "Error: 11\r\n\r\nYou cannot service a running 64-bit operating system with "
                                  "a 32-bit version of DISM.\r\nPlease use the version of DISM that corresponds "
                                  "to your computer's architecture.\r\n", 11)
        return answer_script(host, text, now)

    files = host.temp_files
    proc = Process(host.powershell, swallows_stdin(host), wow64, files, run_script, host.arch == "x64",
                   winrm=winrm_config(host), policy_gpo=host.execution_policy_gpo)
    return proc.start(args, stdin)


def winrm_config(host: HostModel) -> dict[str, int]:
    """winrm/config as WSMan:\\localhost shows it: WinRM 2.0 defaults on 6.1, 3.0 on 6.2+."""
    old = host.major_minor <= (6, 1)
    return {
        "maxenvelopesizekb": host.winrm_max_envelope_kb or (150 if old else 500),
        "shell\\maxmemorypershellmb": host.winrm_max_memory_per_shell_mb or (150 if old else 1024),
        "shell\\maxshellsperuser": host.winrm_max_shells_per_user or (5 if old else 30),
    }


def run_generic(args: list[str], stdin: bytes | None, run_script: Callable[[str], ExecResult | None],
                files: dict[str, str], version: str = "5.1") -> ExecResult:
    """powershell.exe for lab servers given a script handler instead of a host model."""
    if args and is_powershell(args[0]):
        args = args[1:]

    def run(text: str, _wow64: bool) -> ExecResult | None:
        return run_script(text)

    return Process(version, version.startswith("2."), False, files, run, interpret_plain=False).start(args, stdin)


class _NoProgram(Exception):
    pass


def answer(name: str, argv: list[str], stdin: bytes | None, handler: Any, files: dict[str, str],
           *, none_is_missing_program: bool = False) -> ExecResult | None:
    """A lab server's powershell.exe: the lab's host model when the handler has one
    (``handler.powershell``), else a generic 5.1 process handing scripts to ``handler(name, text)``.
    A handler answering None means an unknown command inside PowerShell, or with
    `none_is_missing_program` a host without powershell.exe (the answer is then None)."""
    on_host = getattr(handler, "powershell", None)
    if on_host is not None:
        return on_host(name, argv, stdin)  # type: ignore[no-any-return]

    def run(text: str) -> ExecResult | None:
        res = handler(name, text)
        if res is None and none_is_missing_program:
            raise _NoProgram()
        return res  # type: ignore[no-any-return]

    try:
        return run_generic(argv, stdin, run, files)
    except _NoProgram:
        return None
