"""ansible.windows.win_reboot by its own contract, on hvprov's reboot: it reboots unconditionally.

Arguments (ansible.windows docs; values read as its action plugin reads them): msg,
pre_reboot_delay (a value under 2 s means the default 2 s; whole seconds reach shutdown.exe),
post_reboot_delay, reboot_timeout, connect_timeout (floats; a negative delay counts as 0; each
also under its *_sec alias). Refused at load (REFUSED): test_command (hvprov checks the new boot
time and re-reads facts itself), boot_time_command other than its documented default.
Registered keys: rebooted, elapsed (whole seconds as the collection's timedelta.seconds,
post_reboot_delay included); in check mode (a plan) rebooted true and elapsed 0, as the action
plugin returns.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AliasChoices, Field, field_validator

from ..facts import HostFacts
from ..model import Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult
from .reboot import Reboot, RebootArgs
from .refusals import Refused

_INNER = Reboot()


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name, f"{name}_sec")


BOOT_TIME_COMMAND = ("(Get-CimInstance -ClassName Win32_OperatingSystem -Property LastBootUpTime)"
                     ".LastBootUpTime.ToFileTime()")


class WinRebootArgs(Args):
    REFUSED: ClassVar[dict[str, Refused]] = {
        "test_command": Refused("test_command is not supported by hvprov: after the reboot it waits for a new boot "
                                "time, reconnects and re-reads the host's facts itself"),
        "boot_time_command": Refused("boot_time_command is not supported by hvprov (only its default): hvprov reads "
                                     "LastBootUpTime itself", (BOOT_TIME_COMMAND,)),
    }
    msg: str = Field("Reboot initiated by Ansible", description="Message shown to logged-on users.")
    pre_reboot_delay: float = Field(2, le=600, validation_alias=_alias("pre_reboot_delay"),
                                    description="Seconds before the reboot (shutdown.exe /t); under 2 means 2.")
    post_reboot_delay: float = Field(0, validation_alias=_alias("post_reboot_delay"),
                                     description="Seconds to wait after the host is back.")
    reboot_timeout: float = Field(600, gt=0, validation_alias=_alias("reboot_timeout"),
                                  description="Seconds to wait for the host to come back with a new boot time.")
    connect_timeout: float = Field(5, validation_alias=_alias("connect_timeout"),
                                   description="Accepted; each reconnect attempt is bounded by the connection's own timeout.")
    boot_time_command: str = Field(BOOT_TIME_COMMAND, description="Only the default: hvprov reads the boot time itself.")

    @field_validator("boot_time_command")
    @classmethod
    def _default_only(cls, v: str) -> str:  # arguments templated as a whole reach here only at run time
        if v != BOOT_TIME_COMMAND:
            raise ValueError(cls.REFUSED["boot_time_command"].reason)
        return v


def _pre_delay(value: float) -> int:
    """ansible.windows' action plugin: negative is 0, and under 2 the default 2 is used."""
    return 2 if value < 2 else int(value)


def _inner(args: WinRebootArgs) -> RebootArgs:
    return RebootArgs.model_validate({"reason": args.msg, "force": True, "timeout": float(args.reboot_timeout),
                                      "delay": _pre_delay(args.pre_reboot_delay), "verify_hypervisor": False})


class WinReboot(Module):
    name = "win_reboot"
    summary = "ansible.windows.win_reboot: reboot, wait for a new boot time"
    description = "ansible.windows.win_reboot's arguments and result keys, run by reboot (always reboots)."
    example = "- ansible.windows.win_reboot:\n    reboot_timeout: 1200\n  when: feat.reboot_required\n"
    ArgsModel = WinRebootArgs
    registers_msg = False

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        res = _INNER.plan(_inner(args), facts, ctx)
        return PlanResult(changes=res.changes, msg=res.msg, data={"rebooted": True, "elapsed": 0})

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        return _INNER.predict(facts, changes)

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        applied = _INNER.apply(_inner(args), changes, session)
        post = max(args.post_reboot_delay, 0.0)
        if post:
            session.sleep(post)
        elapsed = int(float(applied.data.get("elapsed", 0)) + post)  # timedelta.seconds, as the collection
        return ApplyResult(msg=applied.msg, data={"rebooted": True, "elapsed": elapsed}, changed=applied.changed)
