"""windows_feature: roles and features through ServerManager (2008 R2, 2012+) or DISM (2008 R2 core)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..errors import TaskError
from ..facts import HostFacts
from ..model import Action, Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult, replace

# ServerManager name -> DISM name (2008 R2 Server Core); names are case-sensitive in DISM 6.1.
DISM_NAMES = {"hyper-v": "Microsoft-Hyper-V"}
# Features whose installation always needs a restart.
RESTART_ALWAYS = {"hyper-v", "microsoft-hyper-v"}
TOOLS_V1 = {"hyper-v": "RSAT-Hyper-V"}
TOOLS_V2 = {"hyper-v": "Hyper-V-PowerShell"}


class FeatureArgs(Args):
    name: list[str] = Field(description="Feature name(s) as Get-WindowsFeature shows them, e.g. Hyper-V.")
    state: Literal["present", "absent"] = Field("present", description="present installs, absent removes.")
    include_management_tools: bool = Field(
        False, description="Also install the feature's management tools (RSAT-Hyper-V on 2008 R2 full installations)."
    )

    @field_validator("name", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("name")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if not v or any(not n.strip() for n in v):
            raise ValueError("feature names must be non-empty")
        return v


def _tool(facts: HostFacts) -> tuple[str, bool]:
    """(template, uses DISM names)."""
    if facts.backend == "v2":
        return "feature/servermanager_v2.ps1.j2", False
    if facts.features.tool == "servermanager":
        return "feature/servermanager_v1.ps1.j2", False
    if facts.features.tool == "dism":
        return "feature/dism_v1.ps1.j2", True
    raise TaskError("neither ServerManager nor DISM is usable on this host (features.tool = none)")


def _host_name(name: str, dism: bool) -> str:
    return DISM_NAMES.get(name.lower(), name) if dism else name


def is_installed(facts: HostFacts, name: str) -> bool:
    have = {n.lower() for n in facts.features.installed}
    return name.lower() in have or DISM_NAMES.get(name.lower(), "").lower() in have


class WindowsFeature(Module):
    name = "windows_feature"
    summary = "Install or remove Windows roles and features (Hyper-V role included)"
    description = (
        "Uses Add-/Remove-WindowsFeature (PowerShell 2.0, Windows Server 2008 R2), DISM on 2008 R2 "
        "Server Core without the ServerManager cmdlets, and Install-/Uninstall-WindowsFeature on 2012+. "
        "Never reboots by itself: follow it with the reboot module."
    )
    example = "- name: Enable the Hyper-V role\n  windows_feature:\n    name: Hyper-V\n    include_management_tools: true\n"
    ArgsModel = FeatureArgs

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        assert facts is not None
        template, dism = _tool(facts)
        names = list(args.name)
        if args.include_management_tools and args.state == "present" and facts.backend == "v1" and not facts.server_core:
            names += [TOOLS_V1[n.lower()] for n in args.name if n.lower() in TOOLS_V1]
        elif args.include_management_tools and args.state == "present" and facts.backend == "v2":
            # the module hvprov's 2012+ scripts need; missing when the role came without its tools
            names += [TOOLS_V2[n.lower()] for n in args.name if n.lower() in TOOLS_V2 and TOOLS_V2[n.lower()] not in names]
        want = args.state == "present"
        todo = [n for n in names if is_installed(facts, n) != want]
        if not todo:
            verb = "installed" if want else "absent"
            return PlanResult(msg=f"{', '.join(names)} already {verb}")
        host_names = [_host_name(n, dism) for n in todo]
        changes = tuple(
            Change(
                resource=f"feature/{n}",
                action=Action.INSTALL if want else Action.REMOVE,
                before={"installed": not want},
                after={"installed": want, **({"restart_needed": True} if n.lower() in RESTART_ALWAYS else {})},
                reason=f"{n} is {'not installed' if want else 'installed'}",
                data={"template": template, "names": host_names, "state": args.state,
                      "include_management_tools": bool(args.include_management_tools)},
            )
            for n in todo
        )
        return PlanResult(changes=changes, msg=f"{'install' if want else 'remove'} {', '.join(todo)}")

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        installed = list(facts.features.installed)
        restart = False
        for c in changes:
            n = c.resource.split("/", 1)[1]
            if c.action is Action.INSTALL:
                installed.append(n)
            else:
                installed = [i for i in installed if i.lower() not in (n.lower(), DISM_NAMES.get(n.lower(), "").lower())]
            restart = restart or c.after.get("restart_needed", False) or c.action is Action.REMOVE and n.lower() in RESTART_ALWAYS
        out = replace(facts, features=replace(facts.features, installed=tuple(installed)),
                      predicted=facts.predicted | {"features.installed"})
        if facts.backend == "v2" and any(i.lower() == "hyper-v-powershell" for i in installed):
            out = replace(out, hypervisor=replace(out.hypervisor, module=True))
        if restart:
            out = replace(out, pending_reboot=replace(out.pending_reboot, cbs=True),
                          predicted=out.predicted | {"pending_reboot"})
        return out

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        first = changes[0].data
        names = list(first["names"])  # every change of the task carries the whole list
        params: dict[str, Any] = {"names": names, "state": first["state"]}
        if first["template"].endswith("_v2.ps1.j2"):
            params["include_management_tools"] = first["include_management_tools"]
        data = session.run_template(first["template"], **params)
        code = str(data.get("exit_code", ""))
        if not data.get("success"):
            if code == "FailedRestartRequired":
                raise TaskError(f"{', '.join(names)}: blocked by a pending reboot (FailedRestartRequired); reboot the host first")
            raise TaskError(f"{', '.join(names)}: {first['state']} failed ({code or 'no exit code'})")
        restart = str(data.get("restart_needed", "No"))
        msg = f"{', '.join(names)}: {code}" + (f", restart needed: {restart}" if restart != "No" else "")
        return ApplyResult(msg=msg, data=data, changed=code != "NoChangeNeeded")
