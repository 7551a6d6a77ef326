"""powershell: run a user's PowerShell (inline or from a file); its effect is unknown in plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from ..errors import TaskError
from ..facts import HostFacts
from ..model import Action, Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult


class PowerShellArgs(Args):
    script: str | None = Field(None, description="Inline PowerShell (2.0-compatible if it may run on 2008 R2).")
    file: str | None = Field(None, description="Path of a .ps1 file on the controller, relative to the playbook.")
    creates: str | None = Field(None, description="Skip on the host when this path exists.")
    removes: str | None = Field(None, description="Skip on the host when this path does not exist.")

    @model_validator(mode="after")
    def _one_source(self) -> PowerShellArgs:
        if (self.script is None) == (self.file is None):
            raise ValueError("give exactly one of 'script' or 'file'")
        return self


class PowerShell(Module):
    name = "powershell"
    summary = "Run a PowerShell script on the host (effect reported as unknown in plans)"
    description = (
        "The script travels as an inert base64 literal and runs in a ScriptBlock on the host. hvprov "
        "cannot predict what it does: plans list it as 'unknown', never skip it silently. Use creates/"
        "removes to make it idempotent and the task keyword changed_when to judge its output."
    )
    example = (
        "- name: Raise WinRM shell memory\n  powershell:\n"
        "    script: winrm set winrm/config/winrs '@{MaxMemoryPerShellMB=\"1024\"}'\n"
        "  changed_when: false\n"
    )
    ArgsModel = PowerShellArgs

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        guard = ""
        if args.creates:
            guard = f" (skipped on the host if {args.creates} exists)"
        elif args.removes:
            guard = f" (skipped on the host unless {args.removes} exists)"
        source = args.file or "inline script"
        return PlanResult(
            changes=(
                Change(
                    resource=f"script/{Path(args.file).name if args.file else 'inline'}",
                    action=Action.RUN,
                    after={"source": source},
                    reason="raw PowerShell: its effect is unknown until it runs" + guard,
                    unknown=True,
                ),
            ),
            msg="effect unknown" + guard,
        )

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        if args.file is not None:
            try:
                text = Path(args.file).read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise TaskError(f"cannot read script file {args.file}: {exc.strerror}") from None
        else:
            text = args.script
        data = session.run_template("powershell/script.ps1.j2", script=text, creates=args.creates, removes=args.removes)
        if data.get("skipped"):
            return ApplyResult(msg="skipped: guard path says it already ran", data=data, changed=False)
        changed = data.get("changed")
        return ApplyResult(msg="script ran", data=data, changed=True if changed is None else bool(changed))
