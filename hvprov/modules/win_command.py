"""ansible.windows.win_command and win_shell by their own contract (arguments and result keys
checked against the collection's module documentation, plugins/modules/win_command.py and
win_shell.py): a process on the host whose effect hvprov cannot know, so plans mark it unknown.

win_command: `_raw_params` (free form) / `cmd` / `argv` (quoted by the Win32 C rules, as
subprocess.list2cmdline), chdir, creates, removes, stdin, output_encoding_override.
win_shell: the free form (`_raw_params`) runs in `powershell.exe -NonInteractive -EncodedCommand`
(without -NonInteractive when stdin is given, with `-NoProfile` when no_profile), or with an
`executable` other than powershell in `<executable>.exe /c <command>`; chdir, creates, removes,
stdin, no_profile, output_encoding_override. chdir, creates, removes (and win_shell's
executable) are the collection's `path` type: %VARIABLES% are expanded on the host. Refused at
load: `free_form` as a key (the documentation's name for the free form; the collection fails on
it) and win_shell's `cmd` (not an option of win_shell). Registered: cmd, rc, stdout,
stdout_lines, stderr, stderr_lines, start, end, delta (UTC times, as the collection), changed; a
non-zero rc fails the task ("non-zero return code").
creates/removes that say the command already ran: msg "skipped, since X exists" (or "does not
exist"), changed false, rc 0.
"""

from __future__ import annotations

import base64
import subprocess
from datetime import datetime
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, model_validator

from ..errors import FailedResult
from ..facts import HostFacts
from ..model import Action, Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult
from .refusals import Refused

RAW_KEYS = ("creates", "removes", "chdir", "executable", "warn", "stdin")  # ansible's parse_kv(check_raw=True)
_FMT = "%Y-%m-%d %H:%M:%S.%f"


def free_form(raw: str, split: Any) -> dict[str, Any]:
    """`win_command: whoami /all chdir=C:\\x`: the known k=v pairs out, the rest is the command."""
    out: dict[str, Any] = {}
    rest = []
    for part in split(raw):
        key, sep, value = part.partition("=")
        if sep and key in RAW_KEYS:
            out[key] = value.strip("'\"") if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"" else value
        else:
            rest.append(part)
    out["_raw_params"] = " ".join(rest)
    return out


class _ProcessArgs(Args):
    REFUSED: ClassVar[dict[str, Refused]] = {
        "free_form": Refused("free_form is the documentation's name for the command written after the module name; "
                             "as a key ansible.windows fails on it: write the command after the module (or as _raw_params)"),
    }
    PATHS: ClassVar[tuple[str, ...]] = ("chdir", "creates", "removes")  # the collection's `path` type
    raw_params: str | None = Field(None, validation_alias=AliasChoices("_raw_params"),
                                   description="The command (free form).")
    chdir: str | None = Field(None, description="Working directory of the process.")
    creates: str | None = Field(None, description="Skip when this path (or pattern) exists on the host.")
    removes: str | None = Field(None, description="Skip unless this path (or pattern) exists on the host.")
    stdin: str | None = Field(None, description="Text written to the process's standard input.")
    output_encoding_override: str | None = Field(None, description="Encoding name of stdout/stderr.")


class WinCommandArgs(_ProcessArgs):
    cmd: str | None = Field(None, description="The command (option form).")
    argv: list[str] | None = Field(None, description="Executable and arguments, quoted by hvprov.")

    @model_validator(mode="after")
    def _one_command(self) -> WinCommandArgs:
        given = [n for n, v in (("_raw_params", self.raw_params), ("cmd", self.cmd), ("argv", self.argv)) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of the free-form command, 'cmd' or 'argv'")
        return self


class WinShellArgs(_ProcessArgs):
    REFUSED: ClassVar[dict[str, Refused]] = {
        **_ProcessArgs.REFUSED,
        "cmd": Refused("win_shell has no cmd option (ansible.windows ignores it and fails: missing required argument "
                       "_raw_params): write the command after the module name"),
    }
    PATHS: ClassVar[tuple[str, ...]] = ("chdir", "creates", "removes", "executable")
    executable: str | None = Field(None, description="Shell run as `executable /c <command>` (default PowerShell).")
    no_profile: bool = Field(False, description="PowerShell without the user profile (-NoProfile).")

    @model_validator(mode="after")
    def _one_command(self) -> WinShellArgs:
        if not self.raw_params:
            raise ValueError("give the command after the module name (the free form)")
        return self


def split_command(line: str) -> tuple[str, str]:
    """The executable and the rest of a Windows command line (CreateProcess's first token)."""
    line = line.strip()
    if line.startswith('"'):
        end = line.find('"', 1)
        end = len(line) if end < 0 else end
        return line[1:end], line[end + 1:].lstrip()
    exe, _, rest = line.partition(" ")
    return exe, rest.lstrip()


class _Process(Module):
    needs_facts = True
    registers_msg = False
    ABSENT_RETURNS: ClassVar[dict[str, str]] = {
        "msg": "documented as 'bool, always', but win_command.ps1 / win_shell.ps1 set msg only when skipped by "
               "creates/removes or failed, as text; hvprov registers it the same way",
    }

    def command(self, args: Any) -> tuple[str, str, str]:  # (cmd shown/registered, file, arguments)
        raise NotImplementedError

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        cmd, _, _ = self.command(args)
        guard = f" (skipped on the host if {args.creates} exists)" if args.creates else (
            f" (skipped on the host unless {args.removes} exists)" if args.removes else "")
        change = Change(resource=f"{self.name}/{cmd[:60]}", action=Action.RUN, after={"cmd": cmd},
                        reason="a command: its effect is unknown until it runs" + guard, unknown=True)
        return PlanResult(changes=(change,), msg="effect unknown" + guard, data={"cmd": cmd})

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        cmd, file, arguments = self.command(args)
        data = session.run_template("powershell/process.ps1.j2", file=file, arguments=arguments, chdir=args.chdir,
                                    stdin=args.stdin, encoding=args.output_encoding_override,
                                    creates=args.creates, removes=args.removes,
                                    expand_file=bool(getattr(args, "executable", None)))
        if data.get("skipped"):
            what = f"{args.creates} exists" if data.get("why") == "creates" else f"{args.removes} does not exist"
            return ApplyResult(msg=f"skipped, since {what}", changed=False,
                               data={"msg": f"skipped, since {what}", "cmd": cmd, "changed": False, "skipped": True, "rc": 0})
        result = process_result(cmd, data)
        if result["rc"] != 0:
            raise FailedResult("non-zero return code", {**result, "msg": "non-zero return code", "failed": True})
        return ApplyResult(msg=f"rc {result['rc']}", data=result, changed=True)


def process_result(cmd: str, data: dict[str, Any]) -> dict[str, Any]:
    """The registered keys of win_command / win_shell from what the host answered."""
    stdout, stderr = str(data.get("stdout") or ""), str(data.get("stderr") or "")
    start, end = str(data.get("start", "")), str(data.get("end", ""))
    try:
        delta = str(datetime.strptime(end, _FMT) - datetime.strptime(start, _FMT))
    except ValueError:
        delta = ""
    return {"cmd": cmd, "rc": int(data.get("rc", 0)), "stdout": stdout, "stdout_lines": stdout.splitlines(),
            "stderr": stderr, "stderr_lines": stderr.splitlines(), "start": start, "end": end, "delta": delta,
            "changed": True}


class WinCommand(_Process):
    name = "win_command"
    summary = "ansible.windows.win_command: run an executable (effect unknown in plans)"
    example = "- win_command: whoami /all\n  register: who\n  changed_when: false\n"
    ArgsModel = WinCommandArgs

    def command(self, args: Any) -> tuple[str, str, str]:
        line = subprocess.list2cmdline(args.argv) if args.argv else (args.cmd or args.raw_params or "")
        file, rest = split_command(line)
        return line, file, rest


class WinShell(_Process):
    name = "win_shell"
    summary = "ansible.windows.win_shell: run a command in PowerShell or another shell (effect unknown in plans)"
    example = "- win_shell: Get-Service | Where-Object Status -eq Running\n  register: svc\n  changed_when: false\n"
    ArgsModel = WinShellArgs

    def command(self, args: Any) -> tuple[str, str, str]:
        line = (args.raw_params or "").strip()
        if args.executable and args.executable != "powershell":  # win_shell.ps1: other shells get '.exe' and '/c'
            exe = args.executable if args.executable.endswith(".exe") else f"{args.executable}.exe"
            return line, exe, f"/c {line}"
        encoded = base64.b64encode(line.encode("utf-16-le")).decode("ascii")
        flags = ("-NoProfile " if args.no_profile else "") + ("" if args.stdin else "-NonInteractive ")
        return line, "powershell.exe", f"{flags}-ExecutionPolicy Unrestricted -EncodedCommand {encoded}"
