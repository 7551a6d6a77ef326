"""ansible.windows.win_reboot by its own contract, on hvprov's reboot: it reboots unconditionally.

Arguments (ansible.windows docs): msg, pre_reboot_delay, post_reboot_delay, reboot_timeout,
connect_timeout (and their *_sec aliases); test_command and boot_time_command are refused unless
left at their defaults (hvprov checks the boot time with its own script). Registered keys:
rebooted, elapsed (seconds, post_reboot_delay included).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator

from ..facts import HostFacts
from ..model import Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult
from .reboot import Reboot, RebootArgs

_INNER = Reboot()


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name, f"{name}_sec")


class WinRebootArgs(Args):
    msg: str = Field("Reboot initiated by Ansible", description="Message shown to logged-on users.")
    pre_reboot_delay: int = Field(2, ge=0, le=600, validation_alias=_alias("pre_reboot_delay"),
                                  description="Seconds before the reboot (shutdown.exe /t).")
    post_reboot_delay: int = Field(0, ge=0, validation_alias=_alias("post_reboot_delay"),
                                   description="Seconds to wait after the host is back.")
    reboot_timeout: int = Field(600, gt=0, validation_alias=_alias("reboot_timeout"),
                                description="Seconds to wait for the host to come back with a new boot time.")
    connect_timeout: int = Field(5, gt=0, validation_alias=_alias("connect_timeout"),
                                 description="Accepted; each reconnect attempt is bounded by the connection's own timeout.")
    test_command: str | None = Field(None, description="Only the default (whoami) is accepted.")
    boot_time_command: str | None = Field(None, description="Not accepted: hvprov reads the boot time itself.")

    @field_validator("test_command")
    @classmethod
    def _test_command(cls, v: str | None) -> str | None:
        if v is not None and v.strip().lower() != "whoami":
            raise ValueError("test_command is not supported by hvprov (it checks the new boot time itself)")
        return v

    @field_validator("boot_time_command")
    @classmethod
    def _boot_time(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError("boot_time_command is not supported by hvprov (it reads LastBootUpTime itself)")
        return v


def _inner(args: WinRebootArgs) -> RebootArgs:
    return RebootArgs.model_validate({"reason": args.msg, "force": True, "timeout": float(args.reboot_timeout),
                                      "delay": args.pre_reboot_delay, "verify_hypervisor": False})


class WinReboot(Module):
    name = "win_reboot"
    summary = "ansible.windows.win_reboot: reboot, wait for a new boot time"
    description = "ansible.windows.win_reboot's arguments and result keys, run by reboot (always reboots)."
    example = "- ansible.windows.win_reboot:\n    reboot_timeout: 1200\n  when: feat.reboot_required\n"
    ArgsModel = WinRebootArgs

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        res = _INNER.plan(_inner(args), facts, ctx)
        return PlanResult(changes=res.changes, msg=res.msg, data={"rebooted": True, "elapsed": 0})

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        return _INNER.predict(facts, changes)

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        applied = _INNER.apply(_inner(args), changes, session)
        if args.post_reboot_delay:
            session.sleep(args.post_reboot_delay)
        elapsed = float(applied.data.get("elapsed", 0)) + args.post_reboot_delay
        return ApplyResult(msg=applied.msg, data={"rebooted": True, "elapsed": round(elapsed, 2)}, changed=applied.changed)
