"""ansible.windows.win_feature by its own contract, on hvprov's windows_feature.

Arguments (ansible.windows docs): name (list, or a comma-separated string), state,
include_management_tools (ignored on 2008 R2, as ansible.windows documents); refused at load
(REFUSED, docs/ansible-windows.md): include_sub_features other than false, source. Registered
keys: exitcode, success, reboot_required, feature_result (one entry per feature changed: name,
success, reboot_required, skip_reason, message; the collection's id and display_name are not
known to hvprov and are absent, as docs/ansible-windows.md says).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..facts import HostFacts
from ..model import Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult
from .feature import FeatureArgs, WindowsFeature
from .refusals import Refused

_INNER = WindowsFeature()


class WinFeatureArgs(Args):
    REFUSED: ClassVar[dict[str, Refused]] = {
        "include_sub_features": Refused("include_sub_features: true (every sub-feature of the named features) is not "
                                        "supported by hvprov: list the sub-features by name", (False,)),
        "source": Refused("source (a side-by-side store for Install-WindowsFeature -Source) is not supported by "
                          "hvprov: features install from the host's own component store"),
    }
    name: list[str] = Field(description="Feature name(s); a comma-separated string is split, as ansible.windows does.")
    state: Literal["absent", "present"] = Field("present", description="present installs, absent removes.")
    include_management_tools: bool = Field(False, description="Add the management tools (ignored on 2008 R2, as ansible.windows).")
    include_sub_features: bool = Field(False, description="Only false: true is refused at load.")

    @field_validator("name", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [n.strip() for n in v.split(",") if n.strip()]
        return v

    @field_validator("include_sub_features")
    @classmethod
    def _no_sub_features(cls, v: bool) -> bool:
        if v:
            raise ValueError(cls.REFUSED["include_sub_features"].reason)
        return v


def _inner(args: WinFeatureArgs, facts: HostFacts | None) -> FeatureArgs:
    tools = args.include_management_tools and (facts is None or facts.backend != "v1")
    return FeatureArgs.model_validate({"name": args.name, "state": args.state, "include_management_tools": tools})


class WinFeature(Module):
    name = "win_feature"
    summary = "ansible.windows.win_feature: install or remove Windows roles and features"
    description = "ansible.windows.win_feature's arguments and result keys, run by windows_feature."
    example = ("- ansible.windows.win_feature:\n    name: Hyper-V\n    include_management_tools: true\n"
               "  register: feat\n")
    ArgsModel = WinFeatureArgs
    registers_msg = False
    ABSENT_RETURNS: ClassVar[dict[str, str]] = {
        "feature_result.id": "hvprov's feature results carry the feature's name, not its numeric id",
        "feature_result.display_name": "hvprov's feature results carry the feature's name, not its display name",
    }

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        res = _INNER.plan(_inner(args, facts), facts, ctx)
        restart = any(c.after.get("restart_needed") for c in res.changes)
        data = {"exitcode": ("SuccessRestartRequired" if restart else "Success") if res.changes else "NoChangeNeeded",
                "success": True, "reboot_required": restart,
                "feature_result": [_entry(c.resource.split("/", 1)[1], True, restart) for c in res.changes]}
        return PlanResult(changes=res.changes, msg=res.msg, data=data)

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        return _INNER.predict(facts, changes)

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        applied = _INNER.apply(_inner(args, session.facts), changes, session)
        raw = applied.data
        restart = str(raw.get("restart_needed", "No")) == "Yes"
        data = {"exitcode": str(raw.get("exit_code", "")), "success": bool(raw.get("success")),
                "reboot_required": restart,
                "feature_result": [_entry(str(n), True, restart) for n in raw.get("changed") or []]}
        return ApplyResult(msg=applied.msg, data=data, changed=applied.changed)


def _entry(name: str, success: bool, restart: bool) -> dict[str, Any]:
    return {"name": name, "success": success, "reboot_required": restart, "skip_reason": "NotSkipped",
            "message": []}
