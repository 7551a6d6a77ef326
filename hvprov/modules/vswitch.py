"""hyperv_vswitch: external, internal and private virtual switches."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import AuthenticationError, TaskError, TransportError, TrustError, UnreachableError
from ..facts import HostFacts, Switch
from ..model import Action, Change
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult, replace
from .hyperv_common import (
    find_adapter,
    find_switch,
    require_hypervisor,
    template,
    unverified_aware,
    vms_on_switch,
    windows_name,
)


class VSwitchArgs(Args):
    name: str = Field(min_length=1, max_length=100, description="Switch name (Hyper-V does not enforce uniqueness; hvprov does).")
    type: Literal["external", "internal", "private"] = Field("external", description="Switch type.")
    adapter: str | None = Field(None, description="External switches: the physical adapter, by name or MAC address.")
    allow_management_os: bool = Field(True, description="External switches: share the adapter with the host (a host vNIC).")
    state: Literal["present", "absent"] = "present"
    force: bool = Field(False, description="Allow binding the management adapter without host access, or deleting a switch VMs use.")
    reconnect_timeout: float = Field(
        120, gt=0, description="External switches: seconds to wait for the host to answer again when setting up the "
                               "switch drops the connection (the management adapter's addresses move to the host vNIC).")

    @model_validator(mode="after")
    def _adapter_for_external(self) -> VSwitchArgs:
        if self.state == "present" and self.type == "external" and not self.adapter:
            raise ValueError("an external switch needs 'adapter'")
        if self.type != "external" and self.adapter:
            raise ValueError(f"'adapter' applies to external switches only, not {self.type}")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return windows_name(v, "switch name")


def _props(s: Switch) -> dict[str, Any]:
    out: dict[str, Any] = {"type": s.type}
    if s.type == "external":
        out["adapter"] = s.adapter
        out["allow_management_os"] = s.allow_management_os
    return out


class VSwitch(Module):
    name = "hyperv_vswitch"
    summary = "Manage a Hyper-V virtual switch (external, internal, private)"
    description = (
        "2008 R2: WMI root\\virtualization (CreateSwitch, CreateSwitchPort, SetupSwitch or "
        "BindExternalEthernetPort, CreateInternalEthernetPortDynamicMac); 2012+: New-/Set-/Remove-VMSwitch. "
        "Refuses to bind the adapter that carries the management connection without management OS "
        "access (it would cut the host off) and to delete a switch VMs are connected to, unless forced."
    )
    example = (
        "- name: External switch on the second NIC\n  hyperv_vswitch:\n    name: External\n"
        "    type: external\n    adapter: Local Area Connection 2\n    allow_management_os: false\n"
    )
    ArgsModel = VSwitchArgs

    @unverified_aware
    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        assert facts is not None
        if args.state != "absent":
            require_hypervisor(facts, f"virtual switch {args.name}")
        current = find_switch(facts, args.name)
        res = f"vswitch/{args.name}"
        if args.state == "absent":
            if current is None:
                return PlanResult(msg=f"vswitch {args.name} already absent")
            users = vms_on_switch(facts, args.name)
            if users and not args.force:
                raise TaskError(f"vswitch {args.name} is used by VM(s) {', '.join(users)}: disconnect them first or set force: true")
            return PlanResult(changes=(Change(res, Action.DELETE, before=_props(current), reason="state absent",
                                              disruptive=bool(users), data={"id": current.id}),), msg=f"delete vswitch {args.name}")
        want: dict[str, Any] = {"type": args.type}
        if args.type == "external":
            adapter = find_adapter(facts, args.adapter)
            if adapter is None:
                names = ", ".join(a.name for a in facts.adapters) or "none"
                raise TaskError(f"adapter {args.adapter!r} not found on this host (adapters: {names})")
            if adapter.bound_switch and adapter.bound_switch != args.name:
                raise TaskError(f"adapter {adapter.name!r} is already bound to vswitch {adapter.bound_switch!r}")
            if adapter.management and not args.allow_management_os and not args.force:
                ips = ", ".join(adapter.ips) or "the management address"
                raise TaskError(
                    f"refusing to bind {adapter.name!r} to external vswitch {args.name} without management OS access: "
                    f"it carries this host's management connection ({ips}) and the host would be cut off; "
                    "set allow_management_os: true, use another adapter, or force: true"
                )
            want["adapter"] = adapter.name
            want["allow_management_os"] = args.allow_management_os
        if current is None:
            return PlanResult(changes=(Change(res, Action.CREATE, after=want, reason="does not exist"),),
                              msg=f"create {args.type} vswitch {args.name}")
        have = _props(current)
        diff_before = {k: have.get(k) for k in want if have.get(k) != want[k]}
        if not diff_before:
            where = f" on {current.adapter}" if current.type == "external" else ""
            return PlanResult(msg=f"vswitch {args.name} already {current.type}{where}")
        users = vms_on_switch(facts, args.name)
        replace_needed = facts.backend == "v1" and ("type" in diff_before or "adapter" in diff_before)
        reason = "replace (2008 R2 cannot change a switch's type or adapter in place)" if replace_needed else "settings differ"
        return PlanResult(
            changes=(Change(res, Action.UPDATE, before=diff_before, after={k: want[k] for k in diff_before},
                            reason=reason, disruptive=bool(users) and replace_needed or "adapter" in diff_before,
                            data={"id": current.id, "replace": replace_needed}),),
            msg=f"update vswitch {args.name}",
        )

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        switches = list(facts.switches)
        adapters = list(facts.adapters)
        for c in changes:
            name = c.resource.split("/", 1)[1]
            old = next((s for s in switches if s.name == name), None)
            switches = [s for s in switches if s.name != name]
            adapters = [replace(a, bound_switch=None) if a.bound_switch == name else a for a in adapters]
            if c.action is Action.DELETE:
                continue
            props = {**(_props(old) if old else {}), **c.after}
            new = Switch(id=old.id if old else f"(new {name})", name=name, type=props["type"],
                         adapter=props.get("adapter") if props["type"] == "external" else None,
                         allow_management_os=bool(props.get("allow_management_os", False)))
            switches.append(new)
            if new.adapter:
                adapters = [replace(a, bound_switch=name) if a.name == new.adapter else a for a in adapters]
        return replace(facts, switches=tuple(switches), adapters=tuple(adapters), predicted=facts.predicted | {"switches"})

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        facts = session.facts
        msg = ""
        for c in changes:
            if c.action is Action.DELETE:
                session.run_template(template(facts, "vswitch_delete"), id=c.data["id"], name=args.name)
                continue
            params = {"name": args.name, "type": args.type, "adapter": c.after.get("adapter", args.adapter if args.type == "external" else None),
                      "allow_management_os": bool(args.allow_management_os) if args.type == "external" else False}
            if args.type == "external":
                adapter = find_adapter(facts, args.adapter)
                params["adapter"] = adapter.name if adapter else args.adapter
            if c.action is Action.CREATE:
                msg = _create(session, facts, args, params) or msg
            elif c.data.get("replace"):
                session.run_template(template(facts, "vswitch_delete"), id=c.data["id"], name=args.name)
                msg = _create(session, facts, args, params) or msg
            else:
                session.run_template(template(facts, "vswitch_update"), id=c.data["id"], **params)
        return ApplyResult(msg=msg)


def _create(session: HostSession, facts: HostFacts, args: Any, params: dict[str, Any]) -> str:
    """Create the switch. Setting up an external switch can drop the connection (SetupSwitch /
    New-VMSwitch move the adapter's addresses to a host vNIC): that is "in progress", not a
    failure. Reconnect, re-read the facts, and decide from them whether the switch is there."""
    try:
        session.run_template(template(facts, "vswitch_create"), **params)
        return ""
    except (AuthenticationError, TrustError):
        raise
    except TransportError as exc:
        if args.type != "external" or not exc.transient:
            raise
        dropped = exc.message
    started = session.now()
    after = _reconnect(session, args.reconnect_timeout, dropped)
    found = find_switch(after, args.name)
    want = {"type": args.type, "adapter": params["adapter"], "allow_management_os": params["allow_management_os"]}
    if found is None:
        raise TaskError(f"the connection dropped while creating external vswitch {args.name} ({dropped}) and the host "
                        "answered again without it: nothing was created; run again")
    if _props(found) != want:
        raise TaskError(f"the connection dropped while creating external vswitch {args.name} ({dropped}); the host now "
                        f"has it with {_props(found)}, not {want}: check the host")
    return (f"connection dropped while setting up external vswitch {args.name} ({dropped}); reconnected after "
            f"{session.now() - started:.1f} s and the switch is there")


def _reconnect(session: HostSession, timeout: float, why: str) -> HostFacts:
    deadline = session.now() + timeout
    pause = 0.5
    while True:
        session.progress(f"connection dropped ({why}): waiting for the host")
        session.sleep(pause)
        try:
            session.reconnect()
            return session.regather()
        except (AuthenticationError, TrustError):
            raise
        except TransportError as exc:
            if session.now() >= deadline:
                raise UnreachableError(f"{session.name} did not answer again within {timeout:.0f} s after the connection "
                                       f"dropped while setting up a switch ({exc.message})", host=session.name) from None
        pause = min(pause * 2, 5.0)
