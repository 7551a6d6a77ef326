"""hyperv_vm: virtual machines (memory, CPUs, disks, NICs, power state)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from ..errors import BlockedChangeError, TaskError
from ..facts import HostFacts, Vm, VmDisk, VmNic
from ..model import Action, Change
from ..units import human, parse_memory_mb
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult, replace
from .hyperv_common import (
    V1_MAX_CPUS,
    V1_MAX_LEGACY_NICS,
    V1_MAX_MEMORY_MB,
    V1_MAX_SYNTHETIC_NICS,
    _control,
    find_switch,
    find_vhd,
    find_vm,
    os_name,
    require_hypervisor,
    template,
    unverified_aware,
    windows_name,
)
from .vhd import check_limits, validate_windows_path, vhd_size

_MAC = re.compile(r"^[0-9A-Fa-f]{12}$")


class DiskSpec(Args):
    path: str
    size: int | str | None = Field(None, description="Create the VHD with this size if it does not exist.")
    type: Literal["dynamic", "fixed"] = "dynamic"

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return validate_windows_path(v)

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str | None) -> int | None:
        return vhd_size(v)


class NicSpec(Args):
    switch: str | None = Field(None, description="Virtual switch to connect to (none: not connected).")
    name: str | None = Field(None, description="Adapter name (default 'Network Adapter', numbered).")
    mac: str | None = Field(None, description="Static MAC, 12 hex digits (separators allowed).")
    legacy: bool = Field(False, description="Emulated (legacy) adapter, for PXE or guests without integration services.")
    vlan: int | None = Field(None, ge=1, le=4094, description="VLAN id (2012+).")

    @field_validator("name")
    @classmethod
    def _nic_name(cls, v: str | None) -> str | None:
        return None if v is None else windows_name(v, "NIC name")

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        if v is None:
            return None
        norm = v.replace("-", "").replace(":", "").upper()
        if not _MAC.match(norm):
            raise ValueError(f"expected a MAC address of 12 hex digits, got {v!r}")
        return norm


class DynamicMemory(Args):
    min: int | str | None = Field(None, description="Minimum (2012+; 2008 R2 SP1 has none).")
    max: int | str = Field(description="Maximum memory.")
    buffer: int = Field(20, ge=5, le=2000, description="Memory buffer, percent.")

    @field_validator("min", "max")
    @classmethod
    def _mb(cls, v: int | str | None) -> int | None:
        return None if v is None else parse_memory_mb(v)


class VmArgs(Args):
    name: str = Field(min_length=1, max_length=100, description="VM name (its identity; must be unique on the host).")
    memory: int | str = Field(1024, description="Startup memory: MB, or with a unit (2GB).")
    dynamic_memory: DynamicMemory | None = Field(None, description="Dynamic Memory (2008 R2 SP1+).")
    cpus: int = Field(1, ge=1, le=240, description="Virtual processors.")
    disks: list[DiskSpec] = Field(default_factory=list, description="VHDs; the first is the boot disk (IDE 0:0 on 2008 R2).")
    nics: list[NicSpec] = Field(default_factory=list, description="Network adapters.")
    generation: Literal[1, 2] = Field(1, description="2 needs Windows Server 2012 R2 or later.")
    state: Literal["running", "off", "absent"] = "running"
    notes: str = ""
    allow_restart: bool = Field(False, description="Allow turning a running VM off and on for changes that need it off.")
    delete_disks: bool = Field(False, description="With state absent: also delete the VM's VHD files.")

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: int | str) -> int:
        mb = parse_memory_mb(v)
        if mb < 8:
            raise ValueError(f"memory must be at least 8 MB, got {mb} MB")
        return mb

    @field_validator("disks", mode="before")
    @classmethod
    def _disk_strings(cls, v: Any) -> Any:
        return [{"path": d} if isinstance(d, str) else d for d in v] if isinstance(v, list) else v

    @field_validator("nics", mode="before")
    @classmethod
    def _nic_strings(cls, v: Any) -> Any:
        return [{"switch": n} if isinstance(n, str) else n for n in v] if isinstance(v, list) else v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return windows_name(v, "VM name")

    @field_validator("notes")
    @classmethod
    def _notes(cls, v: str) -> str:
        if any(_control(ch) for ch in v.replace("\n", "").replace("\r", "").replace("\t", "")):
            raise ValueError("notes cannot contain control characters (other than line breaks and tabs)")
        return v

    @property
    def memory_mb(self) -> int:
        return int(self.memory)  # normalised by the validator


def nic_names(args: VmArgs) -> list[str]:
    names, count = [], 0
    for n in args.nics:
        if n.name:
            names.append(n.name)
        else:
            count += 1
            names.append("Network Adapter" if count == 1 else f"Network Adapter {count}")
    return names


def check_vm_limits(args: VmArgs, facts: HostFacts) -> None:
    what = f"VM {args.name}"
    v1 = facts.backend == "v1"
    if v1 and args.cpus > V1_MAX_CPUS:
        raise TaskError(f"{what}: {os_name(facts)} allows at most {V1_MAX_CPUS} virtual processors per VM (asked {args.cpus})")
    if args.cpus > facts.cpu.logical:
        raise TaskError(f"{what}: {args.cpus} virtual processors exceed the host's {facts.cpu.logical} logical processors")
    mem = max(args.memory_mb, args.dynamic_memory.max if args.dynamic_memory else 0)
    if v1 and mem > V1_MAX_MEMORY_MB:
        raise TaskError(f"{what}: {os_name(facts)} allows at most 64 GB of memory per VM (asked {human(mem * 1024**2)})")
    if args.memory_mb > facts.memory_mb:
        raise TaskError(f"{what}: {args.memory_mb} MB of startup memory exceed the host's {facts.memory_mb} MB")
    if args.generation == 2 and facts.os.major_minor < (6, 3):
        raise TaskError(f"{what}: generation 2 VMs need Windows Server 2012 R2 or later ({os_name(facts)} has generation 1 only)")
    if args.dynamic_memory is not None:
        if v1 and facts.os.build < 7601:
            raise TaskError(f"{what}: Dynamic Memory needs Windows Server 2008 R2 SP1 (build 7601); this host is build {facts.os.build}")
        if args.dynamic_memory.max < args.memory_mb:
            raise TaskError(f"{what}: dynamic_memory.max ({args.dynamic_memory.max} MB) is below the startup memory ({args.memory_mb} MB)")
        if v1 and args.dynamic_memory.min is not None:
            raise TaskError(f"{what}: {os_name(facts)} SP1 Dynamic Memory has no minimum (startup is the minimum); remove dynamic_memory.min")
    legacy = sum(1 for n in args.nics if n.legacy)
    synthetic = len(args.nics) - legacy
    if v1 and synthetic > V1_MAX_SYNTHETIC_NICS:
        raise TaskError(f"{what}: {os_name(facts)} allows at most {V1_MAX_SYNTHETIC_NICS} synthetic NICs per VM (asked {synthetic})")
    if v1 and legacy > V1_MAX_LEGACY_NICS:
        raise TaskError(f"{what}: {os_name(facts)} allows at most {V1_MAX_LEGACY_NICS} legacy NICs per VM (asked {legacy})")
    if args.generation == 2 and legacy:
        raise TaskError(f"{what}: generation 2 VMs have no legacy network adapters")
    if v1 and any(n.vlan for n in args.nics):
        raise TaskError(f"{what}: hvprov sets VLAN ids on VM NICs only on Windows Server 2012+")
    if v1 and len(args.disks) > 4:
        raise TaskError(f"{what}: {os_name(facts)} boots from IDE and hvprov attaches disks to IDE (4 at most); asked {len(args.disks)}")
    for d in args.disks:
        check_limits(facts, d.path.rsplit(".", 1)[-1].lower(), d.size, f"{what} disk {d.path}")


def _props(vm: Vm) -> dict[str, Any]:
    props: dict[str, Any] = {"memory": f"{vm.memory_mb} MB", "cpus": vm.cpus, "notes": vm.notes}
    props["dynamic_memory"] = f"max {vm.memory_max_mb} MB" if vm.dynamic_memory else "off"
    props["disks"] = [d.path for d in vm.disks]
    props["nics"] = [f"{n.name} -> {n.switch or '(not connected)'}" for n in vm.nics]
    return props


def _want(args: VmArgs) -> dict[str, Any]:
    dm = args.dynamic_memory
    return {
        "memory": f"{args.memory_mb} MB", "cpus": args.cpus, "notes": args.notes,
        "dynamic_memory": f"max {dm.max} MB" if dm else "off",
        "disks": [d.path for d in args.disks],
        "nics": [f"{name} -> {n.switch or '(not connected)'}" for name, n in zip(nic_names(args), args.nics)],
    }


def _nic_params(args: VmArgs) -> list[dict[str, Any]]:
    return [{"name": name, "switch": n.switch, "mac": n.mac, "legacy": n.legacy, "vlan": n.vlan}
            for name, n in zip(nic_names(args), args.nics)]


def _dm_params(args: VmArgs) -> dict[str, Any] | None:
    dm = args.dynamic_memory
    return None if dm is None else {"min_mb": dm.min, "max_mb": dm.max, "buffer": dm.buffer}


class HypervVm(Module):
    name = "hyperv_vm"
    summary = "Manage a virtual machine: memory, CPUs, disks, NICs, notes, power state"
    description = (
        "2008 R2: WMI root\\virtualization (DefineVirtualSystem, ModifyVirtualSystemResources, "
        "AddVirtualSystemResources, RequestStateChange, DestroyVirtualSystem); 2012+: Hyper-V cmdlets. "
        "Enforces each version's limits in the plan (2008 R2: 4 vCPUs, 64 GB, IDE boot disk, 8 synthetic + "
        "4 legacy NICs, no generation 2). Changes that need the VM off are flagged disruptive and applied "
        "only with allow_restart: true."
    )
    example = (
        "- hyperv_vm:\n    name: web01\n    memory: 2GB\n    cpus: 2\n    disks:\n      - {path: C:\\VMs\\web01.vhd, size: 40GB}\n"
        "    nics:\n      - {switch: External}\n    state: running\n"
    )
    ArgsModel = VmArgs

    @unverified_aware
    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        assert facts is not None
        if args.state != "absent":
            require_hypervisor(facts, f"VM {args.name}")
        res = f"vm/{args.name}"
        current = find_vm(facts, args.name)
        if current is not None and current.error:
            raise TaskError(f"VM {args.name} ({current.id}) could not be read on this host ({current.error}): hvprov "
                            "plans nothing on what it cannot see; check the VM in Hyper-V Manager, then run again")
        if args.state == "absent":
            if current is None:
                return PlanResult(msg=f"VM {args.name} already absent")
            disks = [d.path for d in current.disks] if args.delete_disks else []
            return PlanResult(changes=(Change(res, Action.DELETE, before={"state": current.state, **_props(current)},
                                              reason="state absent" + (f"; deletes {len(disks)} VHD(s)" if disks else ""),
                                              disruptive=current.state != "off", data={"id": current.id, "delete_disks": disks}),))
        check_vm_limits(args, facts)
        for n in args.nics:
            if n.switch and find_switch(facts, n.switch) is None:
                raise TaskError(f"VM {args.name}: virtual switch {n.switch!r} does not exist on this host")
        changes: list[Change] = []
        for d in args.disks:
            if find_vhd(facts, d.path) is None:
                if d.size is None:
                    raise TaskError(f"VM {args.name}: disk {d.path} does not exist; create it with hyperv_vhd or give 'size'")
                changes.append(Change(f"vhd/{d.path}", Action.CREATE, after={"size": human(d.size), "type": d.type, "format": d.path.rsplit('.', 1)[-1].lower()},
                                      reason=f"disk of VM {args.name}", data={"size_bytes": d.size}))
        if current is None:
            changes.append(Change(res, Action.CREATE, after=_want(args) | {"generation": args.generation}, reason="does not exist"))
            if args.state == "running":
                changes.append(Change(res, Action.START, before={"state": "off"}, after={"state": "running"}, reason="state running"))
            return PlanResult(changes=tuple(changes), msg=f"create VM {args.name}")
        if current.generation != args.generation:
            raise TaskError(f"VM {args.name} is generation {current.generation}; the generation cannot change (recreate the VM)")
        have, want = _props(current), _want(args)
        diff = [k for k in want if have.get(k) != want[k]]
        needs_off = [k for k in diff if k in ("memory", "cpus", "dynamic_memory", "disks")] + (
            ["nics"] if "nics" in diff and self._nics_need_off(current, args) else [])
        running = current.state == "running"
        if diff:
            if needs_off and running and args.state == "running" and not args.allow_restart:
                what = ", ".join(f"{k} ({have[k]} → {want[k]})" for k in needs_off)
                blocked = Change(res, Action.UPDATE, before={k: have[k] for k in diff}, after={k: want[k] for k in diff},
                                 reason="blocked: needs the VM off and allow_restart is false", disruptive=True)
                raise BlockedChangeError(f"VM {args.name} is running and changing {what} needs it off: set allow_restart: "
                                         "true to let hvprov turn it off and on again (disruptive)", change=blocked)
            if needs_off and running and args.state == "off":
                changes.append(Change(res, Action.STOP, before={"state": "running"}, after={"state": "off"},
                                      reason="state off", disruptive=True, data={"id": current.id}))
                running = False
            changes.append(Change(res, Action.UPDATE, before={k: have[k] for k in diff}, after={k: want[k] for k in diff},
                                  reason=("needs the VM off: it will be turned off and on" if needs_off and running else "settings differ"),
                                  disruptive=bool(needs_off and running),
                                  data={"id": current.id, "restart": bool(needs_off and running), "diff": diff}))
        if args.state != current.state and not any(c.action is Action.STOP for c in changes):
            action = Action.START if args.state == "running" else Action.STOP
            changes.append(Change(res, action, before={"state": current.state}, after={"state": args.state},
                                  reason=f"state {args.state}", disruptive=action is Action.STOP, data={"id": current.id}))
        if not changes:
            return PlanResult(msg=f"VM {args.name} already {current.state} with {current.memory_mb} MB, {current.cpus} CPU(s)")
        return PlanResult(changes=tuple(changes), msg=f"update VM {args.name}")

    @staticmethod
    def _nics_need_off(current: Vm, args: VmArgs) -> bool:
        want = _nic_params(args)
        if len(want) != len(current.nics):
            return True
        return any(bool(w["legacy"]) != n.legacy or (w["mac"] and w["mac"] != (n.mac or "").upper()) for w, n in zip(want, current.nics))

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        vms = list(facts.vms)
        vhds = list(facts.vhds)
        from .vhd import HypervVhd

        vhd_changes = tuple(c for c in changes if c.resource.startswith("vhd/"))
        if vhd_changes:
            vhds = list(HypervVhd().predict(facts, vhd_changes).vhds)
        for c in changes:
            if not c.resource.startswith("vm/"):
                continue
            name = c.resource.split("/", 1)[1]
            old = next((v for v in vms if v.name == name), None)
            if c.action is Action.DELETE:
                vms = [v for v in vms if v.name != name]
                gone = {p.lower() for p in c.data.get("delete_disks", [])}
                vhds = [v for v in vhds if v.path.lower() not in gone]
                continue
            state = c.after.get("state", old.state if old else "off")
            after = c.after
            if c.action in (Action.CREATE, Action.UPDATE):
                base = old or Vm(id=f"(new {name})", name=name, state="off", memory_mb=0, dynamic_memory=False,
                                 memory_min_mb=None, memory_max_mb=None, cpus=1, generation=after.get("generation", 1), notes="")
                new = replace(base,
                              memory_mb=int(str(after.get("memory", f"{base.memory_mb} MB")).split()[0]),
                              cpus=int(after.get("cpus", base.cpus)),
                              notes=after.get("notes", base.notes),
                              disks=tuple(VmDisk(p, "ide", i // 2, i % 2) for i, p in enumerate(after["disks"])) if "disks" in after else base.disks,
                              nics=tuple(_nic_from_text(t) for t in after["nics"]) if "nics" in after else base.nics)
            else:
                new = replace(old, state=state) if old else None
            if new is not None:
                vms = [v for v in vms if v.name != name] + [replace(new, state=state if c.action in (Action.START, Action.STOP) else new.state)]
        return replace(facts, vms=tuple(vms), vhds=tuple(vhds), predicted=facts.predicted | {"vms"})

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        facts = session.facts
        vm_id: str | None = None
        for c in changes:
            if c.resource.startswith("vhd/"):
                d = next(d for d in args.disks if f"vhd/{d.path}" == c.resource)
                session.run_template(template(facts, "vhd_create"), path=d.path, size_bytes=d.size, type=d.type, parent=None)
                continue
            vm_id = c.data.get("id", vm_id)
            if c.action is Action.CREATE:
                data = session.run_template(
                    template(facts, "vm_create"), name=args.name, memory_mb=args.memory_mb, dynamic_memory=_dm_params(args),
                    cpus=args.cpus, generation=args.generation, notes=args.notes,
                    disks=[{"path": d.path} for d in args.disks], nics=_nic_params(args))
                vm_id = str(data.get("id"))
            elif c.action is Action.UPDATE:
                if c.data.get("restart"):
                    session.run_template(template(facts, "vm_state"), id=vm_id, name=args.name, state="off", graceful=True)
                session.run_template(template(facts, "vm_update"), id=vm_id, name=args.name, **self._update_params(args, facts, c))
                if c.data.get("restart"):
                    session.run_template(template(facts, "vm_state"), id=vm_id, name=args.name, state="running", graceful=False)
            elif c.action in (Action.START, Action.STOP):
                session.run_template(template(facts, "vm_state"), id=vm_id, name=args.name,
                                     state="running" if c.action is Action.START else "off", graceful=True)
            elif c.action is Action.DELETE:
                session.run_template(template(facts, "vm_delete"), id=vm_id, name=args.name, delete_disks=c.data["delete_disks"])
        return ApplyResult()

    @staticmethod
    def _update_params(args: VmArgs, facts: HostFacts, c: Change) -> dict[str, Any]:
        current = find_vm(facts, args.name)
        assert current is not None
        diff = c.data["diff"]
        set_: dict[str, Any] = {}
        if "memory" in diff or "dynamic_memory" in diff:
            set_["memory_mb"] = args.memory_mb
            set_["dynamic_memory"] = _dm_params(args)
        if "cpus" in diff:
            set_["cpus"] = args.cpus
        if "notes" in diff:
            set_["notes"] = args.notes
        have_disks = {d.path.lower() for d in current.disks}
        want_disks = {d.path.lower() for d in args.disks}
        params: dict[str, Any] = {
            "set": set_,
            "add_disks": [{"path": d.path} for d in args.disks if d.path.lower() not in have_disks],
            "remove_disks": [d.path for d in current.disks if d.path.lower() not in want_disks],
            "add_nics": [], "remove_nics": [], "connect_nics": [],
        }
        want = _nic_params(args)
        if HypervVm._nics_need_off(current, args):
            params["remove_nics"] = [n.name for n in current.nics]
            params["add_nics"] = want
        else:
            params["connect_nics"] = [{"name": n.name, "switch": w["switch"]} for w, n in zip(want, current.nics) if w["switch"] != n.switch]
        return params


def _nic_from_text(text: str) -> VmNic:
    name, _, switch = text.partition(" -> ")
    return VmNic(name=name, switch=None if switch == "(not connected)" else switch, mac=None, static_mac=False, legacy=False, vlan=None)
