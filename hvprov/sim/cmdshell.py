"""cmd.exe as the lab's WinRS and OpenSSH hosts run it: ``cmd /c <line>`` semantics.

What is modelled (docs/wsman-conformance.md has the sources):

* A line longer than 8,191 characters: "The command line is too long." on stderr, exit 1.
* ``&``, ``&&`` and ``||`` outside double quotes chain commands; ``%NAME%`` expands from the
  environment (unknown names stay as written, as in cmd /c).
* Builtins: ``echo`` (``echo.`` prints an empty line, a bare ``echo`` prints "ECHO is on."),
  ``hostname``, ``cd`` without arguments (prints the working directory), ``exit [/b] N``, ``cmd [/c|/k] ...`` (a nested cmd.exe).
* ``powershell[.exe]`` (bare or under ``%SystemRoot%\\System32\\WindowsPowerShell\\v1.0``) goes to
  `Context.powershell` (one function, so the lead can point it at
  ``hvprov.sim.psexe.run_powershell`` once helper A's module exists).
* Any other program goes to ``hvprov.sim.cmdtools.run_tool`` when that module exists (helper
  B); a program no one knows is cmd's "'x' is not recognized as an internal or external
  command, operable program or batch file." with exit code 9009.

Output is written through `Context.write(stream, text)` as each command produces it, so a
WinRS Receive can return part of it while the line still runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CMD_LINE_LIMIT = 8191
NOT_RECOGNIZED_RC = 9009
TOO_LONG = "The command line is too long.\r\n"
_POWERSHELL = re.compile(
    r'^(?:"?(?:[a-z]:\\windows|%systemroot%)\\(?:system32|sysnative|syswow64)\\windowspowershell\\v1\.0\\)?powershell(?:\.exe)?"?$',
    re.IGNORECASE,
)

Writer = Callable[[str, str], None]


@dataclass
class Context:
    """What one cmd.exe process sees."""

    hostname: str
    write: Writer  # write("stdout" | "stderr", text)
    powershell: Callable[[list[str], bytes], tuple[str, str, int]]  # (argv with the program, stdin)
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)
    host_model: Any = None  # the sim HostModel, for cmdtools.run_tool
    now: float = 0.0
    write_delay_s: float = 0.0  # > 0: a program's stdout appears line by line, this far apart
    cwd: str = "C:\\Windows\\system32"  # the working directory
    flush: Callable[[], None] = lambda: None  # what was written so far may be read now


def not_recognized(word: str) -> str:
    return (
        f"'{word}' is not recognized as an internal or external command,\r\n"
        "operable program or batch file.\r\n"
    )


def split_args(line: str) -> list[str]:
    """Split a command line the way the C runtime does for the common cases (quotes, spaces)."""
    args: list[str] = []
    cur: list[str] = []
    quoted = has = False
    for ch in line:
        if ch == '"':
            quoted, has = not quoted, True
        elif ch in " \t" and not quoted:
            if cur or has:
                args.append("".join(cur))
            cur, has = [], False
        else:
            cur.append(ch)
    if cur or has:
        args.append("".join(cur))
    return args


def _chain(line: str) -> list[tuple[str, str]]:
    """[(operator before, command)] split on &, && and || outside quotes."""
    parts: list[tuple[str, str]] = []
    cur: list[str] = []
    op, quoted, i = "", False, 0
    while i < len(line):
        ch = line[i]
        if ch == '"':
            quoted = not quoted
        if not quoted and ch in "&|" and not (ch == "|" and line[i : i + 2] != "||"):
            parts.append((op, "".join(cur).strip()))
            op = line[i : i + 2] if line[i : i + 2] in ("&&", "||") else "&"
            i += len(op)
            cur = []
            continue
        cur.append(ch)
        i += 1
    parts.append((op, "".join(cur).strip()))
    return [(o, c) for o, c in parts if c]


def _expand(line: str, env: dict[str, str]) -> str:
    lower = {k.lower(): v for k, v in env.items()}
    return re.sub(r"%([^%\s]+)%", lambda m: lower.get(m.group(1).lower(), m.group(0)), line)


def run_line(ctx: Context, line: str) -> int:
    """Run `line` as ``cmd.exe /c line``; returns the exit code (output went to ctx.write)."""
    if len(line) > CMD_LINE_LIMIT:
        ctx.write("stderr", TOO_LONG)
        return 1
    rc = 0
    commands = _chain(_expand(line, ctx.env))
    for i, (op, command) in enumerate(commands):
        if (op == "&&" and rc != 0) or (op == "||" and rc == 0):
            continue
        rc, leave = _one(ctx, command)
        if leave:
            break
        if i < len(commands) - 1:  # the last command's output goes out with cmd.exe's exit
            ctx.flush()
    return rc


def _one(ctx: Context, command: str) -> tuple[int, bool]:
    """(exit code, whether `exit` ended cmd.exe) of one simple command."""
    word, _, rest = command.partition(" ")
    low = word.lower()
    if low == "echo" or low.startswith("echo.") or low.startswith("echo,"):
        text = rest if low == "echo" else word[5:] + (" " + rest if rest else "")
        if low == "echo" and not rest.strip():
            text = "ECHO is on."
        ctx.write("stdout", text + "\r\n")
        return 0, False
    if low == "hostname":
        ctx.write("stdout", ctx.hostname + "\r\n")
        return 0, False
    if low in ("cd", "chdir") and not rest.strip():
        ctx.write("stdout", ctx.cwd + "\r\n")
        return 0, False
    if low == "exit":
        args = [a for a in rest.split() if a.lower() != "/b"]
        try:
            return (int(args[0]) if args else 0), True
        except ValueError:
            return 0, True
    args = split_args(command)
    if not args:
        return 0, False
    program = args[0]
    if program.lower() in ("cmd", "cmd.exe"):
        if len(args) > 1 and args[1].lower() in ("/c", "/k"):
            inner = command.split(None, 2)[2] if len(command.split(None, 2)) > 2 else ""
            if inner.startswith('"') and inner.endswith('"') and inner.count('"') == 2:
                inner = inner[1:-1]
            return run_line(ctx, inner), False
        return 0, False
    return run_program(ctx, program, args[1:]), False


def run_program(ctx: Context, program: str, args: list[str]) -> int:
    """A program started by cmd.exe or directly by WinRS (WINRS_SKIP_CMD_SHELL)."""
    if _POWERSHELL.match(program):
        out, err, rc = ctx.powershell([program, *args], ctx.stdin)
        pieces = out.splitlines(keepends=True) if ctx.write_delay_s else [out]
        for piece in filter(None, pieces):
            ctx.write("stdout", piece)
            if ctx.write_delay_s:
                ctx.flush()
                time.sleep(ctx.write_delay_s)
        if err:
            ctx.write("stderr", err)
        return rc
    tool = _run_tool(ctx, program, args)
    if tool is None:
        ctx.write("stderr", not_recognized(program))
        return NOT_RECOGNIZED_RC
    if tool.stdout:
        ctx.write("stdout", tool.stdout.replace("\r\n", "\n").replace("\n", "\r\n"))
    if tool.stderr:
        ctx.write("stderr", tool.stderr)
    return int(tool.rc)


def _run_tool(ctx: Context, program: str, args: list[str]) -> Any:
    """The host's programs (`cmdtools.run_tool`: wmic, dism, reg, sc, bcdedit); None: not known."""
    from . import cmdtools  # cmdtools uses this module's splitter and messages

    if ctx.host_model is None:
        return None
    return cmdtools.run_tool(ctx.host_model, program, args, ctx.now)
