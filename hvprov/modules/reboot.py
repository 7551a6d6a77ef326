"""reboot: restart a host when a reboot is pending (or forced), wait for it, verify Hyper-V."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..errors import (
    AuthenticationError,
    RemoteError,
    TaskError,
    TransportError,
    TrustError,
    UnreachableError,
)
from ..facts import UNVERIFIED, HostFacts
from ..model import Action, Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult, replace
from .prereqs import hyperv_installed

BIOS_HINT = (
    "enable Intel VT-x/AMD-V and hardware DEP (XD/NX) in the BIOS, power the server off and on "
    "(a warm reboot does not apply BIOS changes), and check 'bcdedit /enum {current}' shows hypervisorlaunchtype Auto"
)


class RebootArgs(Args):
    reason: str = Field("hvprov: reboot", description="Shown in the Windows shutdown event log.")
    force: bool = Field(False, description="Reboot even when no reboot is pending.")
    timeout: float = Field(900, gt=0, description="Seconds to wait for the host to answer with a new boot time.")
    delay: int = Field(2, ge=0, le=600, description="Seconds shutdown.exe waits before restarting.")
    poll_interval: float = Field(5.0, gt=0, description="Longest pause between reachability checks (starts at 0.5 s).")
    verify_hypervisor: bool = Field(True, description="If the Hyper-V role is installed, fail unless the hypervisor runs afterwards.")


def vt_unknown(facts: HostFacts) -> bool:
    """Windows cannot tell whether the hypervisor will start: VT in the BIOS is not reported
    before 2012 (cpu.vt_firmware is null) and nothing has proved it yet (hypervisor not running,
    no launch error since boot)."""
    hv = facts.hypervisor
    return facts.cpu.vt_firmware is None and not hv.running and not hv.launch_error


def hypervisor_failure(facts: HostFacts) -> str:
    detail = facts.hypervisor.launch_error or (
        f"vmms {facts.hypervisor.vmms or 'not installed'}, hvboot {facts.hypervisor.hvboot or 'n/a'}, "
        f"launch type {facts.hypervisor.launch_type or 'unknown'}"
    )
    return f"Hyper-V role is installed but the hypervisor is not running ({detail}): {BIOS_HINT}"


class Reboot(Module):
    name = "reboot"
    summary = "Reboot when needed, wait for a new boot time, verify the hypervisor runs"
    description = (
        "Plans a reboot only when Windows reports one pending (CBS, Windows Update, file renames, "
        "computer rename) or when forced. Sends shutdown.exe /r, waits for the connection to drop and "
        "for the host to answer with a new boot time, reconnects and re-reads facts. After the Hyper-V "
        "role it fails with a BIOS hint when the hypervisor did not start."
    )
    example = "- name: Reboot if the role needs it\n  reboot:\n    reason: Hyper-V role\n    timeout: 1200\n"
    ArgsModel = RebootArgs

    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        assert facts is not None
        needed = args.force or facts.pending_reboot.any
        changes: list[Change] = []
        role = args.verify_hypervisor and hyperv_installed(facts)
        if needed:
            reasons = facts.pending_reboot.reasons() or ["forced"]
            changes.append(
                Change(
                    resource="host",
                    action=Action.REBOOT,
                    before={"last_boot": facts.os.last_boot, "pending_reboot": ", ".join(reasons)},
                    after={"last_boot": "(known after apply)", "pending_reboot": "none"},
                    reason="pending reboot: " + ", ".join(reasons),
                    disruptive=True,
                )
            )
            if role:
                unknown = vt_unknown(facts)
                reason = "after the reboot the hypervisor must be running (VT and DEP enabled in the BIOS)"
                changes.append(
                    Change(
                        resource="hypervisor",
                        action=Action.VERIFY,
                        before={"running": facts.hypervisor.running},
                        after={"running": True},
                        reason=reason + (f"; {UNVERIFIED['hypervisor']}" if unknown else ""),
                        unknown=unknown,
                    )
                )
            return PlanResult(changes=tuple(changes), msg="reboot: " + ", ".join(reasons))
        if role and not facts.hypervisor.running:
            raise TaskError(hypervisor_failure(facts))
        return PlanResult(msg="no reboot pending" + ("; hypervisor running" if role else ""))

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        if not any(c.action is Action.REBOOT for c in changes):
            return facts
        out = replace(facts, pending_reboot=replace(facts.pending_reboot, cbs=False, windows_update=False,
                                                   file_rename=False, computer_rename=False),
                      predicted=facts.predicted | {"pending_reboot", "os.last_boot"})
        if hyperv_installed(facts):
            if vt_unknown(facts):
                out = replace(out, unverified=out.unverified | {"hypervisor"})
            hv = replace(facts.hypervisor, vmms="Running", hvboot="Running" if facts.backend == "v1" else facts.hypervisor.hvboot,
                         present=True if facts.backend == "v2" else None, launch_error=None)
            out = replace(out, hypervisor=hv, predicted=out.predicted | {"hypervisor"})
        return out

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        if not any(c.action is Action.REBOOT for c in changes):
            return ApplyResult(changed=False)
        old_boot = session.facts.os.last_boot
        session.run_template("system/reboot.ps1.j2", reason=args.reason, delay_seconds=args.delay)
        started = session.now()
        deadline = started + args.timeout
        session.progress(f"rebooting (waiting up to {args.timeout:.0f} s)")
        session.sleep(args.delay)
        pause = 0.5
        last_error = "no answer"
        answered = False  # the host answered the last poll (it is reachable, just not rebooted right)
        while True:
            try:
                session.reconnect()
                data = session.run_template("system/boot_time.ps1.j2")
                if data.get("last_boot") and data["last_boot"] != old_boot:
                    break
                last_error, answered = "it still runs the boot from before the restart", True
            except (AuthenticationError, TrustError):
                raise
            except RemoteError as exc:  # answering oddly (e.g. while shutting down)
                last_error, answered = exc.message, True
            except TransportError as exc:  # down: the usual state during a reboot
                last_error, answered = exc.message, False
            if session.now() >= deadline:
                what = f"{session.name} did not come back with a new boot within {args.timeout:.0f} s after the reboot ({last_error})"
                if answered:
                    raise TaskError(what)
                raise UnreachableError(what, host=session.name)
            session.progress(f"waiting for reboot: {last_error}")
            session.sleep(pause)
            pause = min(pause * 2, args.poll_interval)
        waited = session.now() - started
        facts = session.regather()
        if args.verify_hypervisor and hyperv_installed(facts) and not facts.hypervisor.running:
            raise TaskError(hypervisor_failure(facts),
                            applied=tuple(c for c in changes if c.action is Action.REBOOT))  # it did reboot
        extra = "; hypervisor running" if hyperv_installed(facts) else ""
        return ApplyResult(msg=f"rebooted in {waited:.1f} s (boot {facts.os.last_boot}){extra}",
                           data={"elapsed": round(waited, 2), "last_boot": facts.os.last_boot})
