"""ansible.windows.win_powershell by its own contract (arguments and result keys from the
collection's plugins/modules/win_powershell.py documentation): script, parameters, chdir,
creates, removes, depth, error_action; registered output, error, warning, verbose, debug,
information, result ($Ansible.Result), host_out / host_err (what the script wrote to the host:
Write-Host, Write-Output to [Console], $Host.UI, as the collection's PSHost collects them), changed
($Ansible.Changed, default true), failed ($Ansible.Failed, a terminating error, or an error with
error_action stop). Plans mark its effect unknown. Refused at load (REFUSED, with the reasons in
docs/ansible-windows.md): executable / arguments, remote_src: true, sensitive_parameters. `path`
is read on the controller when the task is planned, as the collection's action plugin does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..errors import FailedResult, TaskError
from ..facts import HostFacts
from ..jinja.lookups import find_file
from ..model import Action, Change
from ..vault import is_vault
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult
from .refusals import Refused

KEYS = ("output", "error", "warning", "verbose", "debug", "information")


_OTHER_PROCESS = ("(the script in another PowerShell process) is not supported by hvprov: it runs the script in a "
                  "runspace of its own PowerShell process, which also works on PowerShell 2.0")


class WinPowerShellArgs(Args):
    REFUSED: ClassVar[dict[str, Refused]] = {
        "executable": Refused("executable " + _OTHER_PROCESS),
        "arguments": Refused("arguments " + _OTHER_PROCESS),
        "remote_src": Refused("remote_src: true (a script file already on the host) is not supported by hvprov: "
                              "give the controller's file in path, or the text in script", (False,)),
        "sensitive_parameters": Refused("sensitive_parameters (SecureString / PSCredential parameters) is not "
                                        "supported by hvprov: pass vaulted values in 'parameters' (masked in output)"),
    }
    script: str | None = Field(None, description="The PowerShell script to run (or path).")
    path: str | None = Field(None, description="A script file on the controller (files/ of the role or playbook, "
                                               "then the playbook directory), read when the task runs.")
    parameters: dict[str, Any] | None = Field(None, description="Parameters bound to the script by name.")
    chdir: str | None = Field(None, description="Location set before the script starts.")
    creates: str | None = Field(None, description="Skip when this path (or pattern) exists on the host.")
    removes: str | None = Field(None, description="Skip unless this path (or pattern) exists on the host.")
    depth: int = Field(2, ge=0, le=20, description="How deep output and result objects are serialized.")
    error_action: Literal["silently_continue", "continue", "stop"] = Field(
        "continue", description="$ErrorActionPreference for the script.")


    @model_validator(mode="after")
    def _one_source(self) -> WinPowerShellArgs:
        if (self.script is None) == (self.path is None):
            raise ValueError("give exactly one of 'script' or 'path' (parameters are mutually exclusive: path, script)")
        return self


def _script(args: WinPowerShellArgs, variables: Any) -> str:
    """The script text: `script`, or `path` found as the collection's action plugin finds it
    (_find_needle('files', path): files/ then the directory itself, role first)."""
    if args.path is None:
        return str(args.script)
    found = find_file(variables, "files", args.path)
    if found is None or not os.path.isfile(found):
        raise TaskError(f"could not find or access '{args.path}' (looked in files/ and the playbook or role directory)")
    raw = Path(found).read_bytes()
    if is_vault(raw):
        raise TaskError(f"{args.path} is vault-encrypted: hvprov does not decrypt win_powershell script files "
                        "(use script: \"{{ lookup('unvault', ...) }}\")")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaskError(f"{args.path} is not UTF-8 text ({exc.reason})") from None


class WinPowerShell(Module):
    name = "win_powershell"
    summary = "ansible.windows.win_powershell: run a script with structured results (effect unknown in plans)"
    example = ("- win_powershell:\n    script: |\n      param($Name)\n      $Ansible.Changed = $false\n"
               "      Get-Service -Name $Name\n    parameters:\n      Name: WinRM\n  register: svc\n")
    ArgsModel = WinPowerShellArgs
    registers_msg = False

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        guard = f" (skipped on the host if {args.creates} exists)" if args.creates else (
            f" (skipped on the host unless {args.removes} exists)" if args.removes else "")
        text = _script(args, ctx.variables)
        after = {"script": text} if args.path is None else {"path": args.path, "script": text}
        change = Change(resource="win_powershell/script", action=Action.RUN, after=after,
                        reason="raw PowerShell: its effect is unknown until it runs" + guard, unknown=True,
                        data={"script": text})
        return PlanResult(changes=(change,), msg="effect unknown" + guard)

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        text = changes[0].data.get("script") if changes else None  # the text read when planning runs
        data = session.run_template("powershell/structured.ps1.j2", script=text if text is not None else _script(args, {}),
                                    parameters=dict(args.parameters or {}),
                                    chdir=args.chdir, creates=args.creates, removes=args.removes, depth=args.depth,
                                    error_action=args.error_action)
        if data.get("skipped"):
            what = f"{args.creates} exists" if data.get("why") == "creates" else f"{args.removes} does not exist"
            return ApplyResult(msg=f"skipped, since {what}", changed=False,
                               data={"msg": f"skipped, since {what}", "changed": False, "skipped": True})
        result = {"result": data.get("result", {}), "host_out": str(data.get("host_out") or ""),
                  "host_err": str(data.get("host_err") or ""),
                  **{k: list(data.get(k) or []) for k in KEYS}, "changed": bool(data.get("changed", True))}
        if data.get("failed"):
            raise FailedResult("the script failed", {**result, "failed": True})
        return ApplyResult(msg=f"{len(result['output'])} output object(s)", data=result, changed=result["changed"])
