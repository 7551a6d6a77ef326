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
        text = args.script if args.file is None else _read(args.file, ctx.variables.get("playbook_dir"))
        # The script is part of the change: a saved plan shows it and refuses to run another one.
        return PlanResult(
            changes=(
                Change(
                    resource=f"script/{Path(args.file).name if args.file else 'inline'}",
                    action=Action.RUN,
                    after={"source": source, "script": text},
                    reason="raw PowerShell: its effect is unknown until it runs" + guard,
                    unknown=True,
                    data={"script": text},
                ),
            ),
            msg="effect unknown" + guard,
        )

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        text = changes[0].data.get("script") if changes else None
        if text is None:  # the text read when planning runs, not a file edited since
            text = args.script if args.file is None else _read(args.file, None)
        data = session.run_template("powershell/script.ps1.j2", script=text, creates=args.creates, removes=args.removes)
        if data.get("skipped"):
            return ApplyResult(msg="skipped: guard path says it already ran", data=data, changed=False)
        changed = data.get("changed")
        return ApplyResult(msg="script ran", data=data, changed=True if changed is None else bool(changed))


def _read(file: str, playbook_dir: Any) -> str:
    """A `file:` script, relative to the playbook's directory."""
    path = Path(file)
    if not path.is_absolute() and playbook_dir:
        path = Path(str(playbook_dir)) / path
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TaskError(f"cannot read script file {file}: {exc.strerror}") from None
