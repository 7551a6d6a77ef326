"""ansible.windows.win_powershell by its own contract (arguments and result keys from the
collection's plugins/modules/win_powershell.py documentation): script, parameters, chdir,
creates, removes, depth, error_action; registered output, error, warning, verbose, debug,
information, result ($Ansible.Result), host_out / host_err (what the script wrote to the host:
Write-Host, Write-Output to [Console], $Host.UI, as the collection's PSHost collects them), changed
($Ansible.Changed, default true), failed ($Ansible.Failed, a terminating error, or an error with
error_action stop). Plans mark its effect unknown. Refused at load (REFUSED, with the reasons in
docs/ansible-windows.md): executable / arguments, path / remote_src, sensitive_parameters.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..errors import FailedResult
from ..facts import HostFacts
from ..model import Action, Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult
from .refusals import Refused

KEYS = ("output", "error", "warning", "verbose", "debug", "information")


_OTHER_PROCESS = ("(the script in another PowerShell process) is not supported by hvprov: it runs the script in a "
                  "runspace of its own PowerShell process, which also works on PowerShell 2.0")


class WinPowerShellArgs(Args):
    REFUSED: ClassVar[dict[str, Refused]] = {
        "executable": Refused("executable " + _OTHER_PROCESS),
        "arguments": Refused("arguments " + _OTHER_PROCESS),
        "path": Refused("path (a script file copied from the controller) is not supported by hvprov: put the script "
                        "in 'script' (e.g. script: \"{{ lookup('file', 'x.ps1') }}\")"),
        "remote_src": Refused("remote_src is only meaningful with path, which hvprov does not support", (False,)),
        "sensitive_parameters": Refused("sensitive_parameters (SecureString / PSCredential parameters) is not "
                                        "supported by hvprov: pass vaulted values in 'parameters' (masked in output)"),
    }
    script: str = Field(description="The PowerShell script to run.")
    parameters: dict[str, Any] | None = Field(None, description="Parameters bound to the script by name.")
    chdir: str | None = Field(None, description="Location set before the script starts.")
    creates: str | None = Field(None, description="Skip when this path (or pattern) exists on the host.")
    removes: str | None = Field(None, description="Skip unless this path (or pattern) exists on the host.")
    depth: int = Field(2, ge=0, le=20, description="How deep output and result objects are serialized.")
    error_action: Literal["silently_continue", "continue", "stop"] = Field(
        "continue", description="$ErrorActionPreference for the script.")


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
        change = Change(resource="win_powershell/script", action=Action.RUN, after={"script": args.script},
                        reason="raw PowerShell: its effect is unknown until it runs" + guard, unknown=True)
        return PlanResult(changes=(change,), msg="effect unknown" + guard)

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        data = session.run_template("powershell/structured.ps1.j2", script=args.script, parameters=dict(args.parameters or {}),
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
