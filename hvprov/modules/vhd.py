"""hyperv_vhd: virtual hard disk files (VHD on 2008 R2; VHD or VHDX on 2012+)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import TaskError
from ..facts import HostFacts, Vhd
from ..model import Action, Change
from ..units import human, parse_size
from .base import ApplyResult, Args, HostSession, Module, PlanContext, PlanResult, replace
from .hyperv_common import (
    V1_MAX_VHD_BYTES,
    VHDX_MAX_BYTES,
    find_vhd,
    os_name,
    require_hypervisor,
    template,
    unverified_aware,
    vms_using_disk,
)

_BAD_PATH_CHARS = set('<>"|?*') | {chr(i) for i in range(32)}


def vhd_size(value: int | str | None) -> int | None:
    """Bytes from 40GB etc.: a positive multiple of 512 (VHD sectors), or None."""
    if value is None:
        return None
    size = parse_size(value)
    if size <= 0 or size % 512:
        raise ValueError(f"size must be a positive multiple of 512 bytes, got {size}")
    return size


def validate_windows_path(path: str) -> str:
    if len(path) < 4 or path[1:3] not in (":\\", ":/") or not path[0].isalpha():
        if not path.startswith("\\\\"):
            raise ValueError(f"expected an absolute Windows path like C:\\VMs\\disk.vhd, got {path!r}")
    bad = sorted({ch for ch in path[2:] if ch in _BAD_PATH_CHARS})
    if bad:
        raise ValueError(f"path contains characters Windows refuses: {' '.join(repr(c) for c in bad)}")
    if len(path) > 259:
        raise ValueError(f"path is {len(path)} characters; Windows allows 259")
    return path


class VhdArgs(Args):
    path: str = Field(description="Absolute path of the file on the host, e.g. C:\\VMs\\web01.vhd.")
    size: int | str | None = Field(None, description="Virtual size, e.g. 40GB (binary units); required to create.")
    type: Literal["dynamic", "fixed", "differencing"] = "dynamic"
    parent: str | None = Field(None, description="Parent disk for type differencing.")
    format: Literal["vhd", "vhdx"] | None = Field(None, description="Default: from the file extension.")
    state: Literal["present", "absent"] = "present"

    @field_validator("path", "parent")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return None if v is None else validate_windows_path(v)

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str | None) -> int | None:
        return vhd_size(v)

    @model_validator(mode="after")
    def _consistent(self) -> VhdArgs:
        ext = self.path.rsplit(".", 1)[-1].lower()
        if ext not in ("vhd", "vhdx"):
            raise ValueError(f"a virtual disk file ends in .vhd or .vhdx, got {self.path!r}")
        if self.format is not None and self.format != ext:
            raise ValueError(f"format {self.format} does not match the extension .{ext}")
        if self.type == "differencing" and not self.parent:
            raise ValueError("a differencing disk needs 'parent'")
        return self

    @property
    def fmt(self) -> str:
        return self.format or self.path.rsplit(".", 1)[-1].lower()


def check_limits(facts: HostFacts, fmt: str, size: int | None, what: str) -> None:
    if fmt == "vhdx" and facts.backend == "v1":
        raise TaskError(f"{what}: VHDX needs Windows Server 2012 or later; {os_name(facts)} supports VHD only (use a .vhd path)")
    limit = V1_MAX_VHD_BYTES if fmt == "vhd" else VHDX_MAX_BYTES
    if size is not None and size > limit:
        raise TaskError(f"{what}: {human(size)} exceeds the {fmt.upper()} limit of {human(limit)}")


class HypervVhd(Module):
    name = "hyperv_vhd"
    summary = "Create, grow or delete a virtual hard disk file"
    description = (
        "2008 R2: Msvm_ImageManagementService CreateDynamicVirtualHardDisk / CreateFixedVirtualHardDisk / "
        "CreateDifferencingVirtualHardDisk / ExpandVirtualHardDisk; 2012+: New-VHD / Resize-VHD. Growing is an "
        "update; shrinking and changing the type are refused. VHD files are at most 2040 GB."
    )
    example = "- hyperv_vhd:\n    path: C:\\VMs\\web01.vhd\n    size: 40GB\n    type: dynamic\n"
    ArgsModel = VhdArgs

    @unverified_aware
    def plan(self, args: Any, facts: HostFacts | None, ctx: PlanContext) -> PlanResult:
        assert facts is not None
        if args.state != "absent":
            require_hypervisor(facts, f"virtual disk {args.path}")
        res = f"vhd/{args.path}"
        current = find_vhd(facts, args.path)
        check_limits(facts, args.fmt, args.size, f"vhd {args.path}")
        if current is not None and current.error and (args.state == "absent" or args.size is not None):
            raise TaskError(f"{args.path} exists but could not be read ({current.error}); a running VM may hold it: "
                            "hvprov will not resize or delete a disk it cannot read")
        if args.state == "absent":
            if current is None:
                return PlanResult(msg=f"{args.path} already absent")
            users = vms_using_disk(facts, args.path)
            if users:
                raise TaskError(f"{args.path} is attached to VM(s) {', '.join(v.name for v in users)}: detach it first")
            return PlanResult(changes=(Change(res, Action.DELETE, before=_props(current), reason="state absent"),))
        if current is None:
            if args.size is None and args.type != "differencing":
                raise TaskError(f"{args.path} does not exist and no size was given to create it")
            after = {"size": human(args.size) if args.size else "(parent's)", "type": args.type, "format": args.fmt}
            if args.parent:
                after["parent"] = args.parent
            return PlanResult(changes=(Change(res, Action.CREATE, after=after, reason="does not exist",
                                              data={"size_bytes": args.size}),), msg=f"create {args.path}")
        if current.type != args.type:
            raise TaskError(f"{args.path} is a {current.type} disk, not {args.type}: converting is not supported; use a new path")
        if args.size is None or args.size == current.size:
            return PlanResult(msg=f"{args.path} already {current.type} {human(current.size)}")
        if args.size < current.size:
            raise TaskError(f"{args.path} is {human(current.size)}; shrinking to {human(args.size)} is refused (data loss)")
        running = [v.name for v in vms_using_disk(facts, args.path) if v.state != "off"]
        if running:
            raise TaskError(f"{args.path} is in use by running VM(s) {', '.join(running)}: stop them to grow the disk")
        return PlanResult(changes=(Change(res, Action.UPDATE, before={"size": human(current.size)}, after={"size": human(args.size)},
                                          reason="grow", data={"size_bytes": args.size}),), msg=f"grow {args.path}")

    def predict(self, facts: HostFacts, changes: tuple[Change, ...]) -> HostFacts:
        vhds = list(facts.vhds)
        for c in changes:
            path = c.resource.split("/", 1)[1]
            vhds = [v for v in vhds if v.path.lower() != path.lower()]
            if c.action is not Action.DELETE:
                size = c.data.get("size_bytes") or 0
                vhds.append(Vhd(path=path, size=size, type=c.after.get("type", "dynamic"),
                                format=c.after.get("format", path.rsplit(".", 1)[-1].lower()), parent=c.after.get("parent")))
        return replace(facts, vhds=tuple(vhds), predicted=facts.predicted | {"vhds"})

    def apply(self, args: Any, changes: tuple[Change, ...], session: HostSession) -> ApplyResult:
        facts = session.facts
        for c in changes:
            if c.action is Action.CREATE:
                session.run_template(template(facts, "vhd_create"), path=args.path, size_bytes=args.size,
                                     type=args.type, parent=args.parent)
            elif c.action is Action.UPDATE:
                session.run_template(template(facts, "vhd_resize"), path=args.path, size_bytes=args.size)
            else:
                session.run_template(template(facts, "vhd_delete"), path=args.path)
        return ApplyResult()


def _props(v: Vhd) -> dict[str, Any]:
    return {"size": human(v.size), "type": v.type, "format": v.format}
