"""The saved plan document's schema (pydantic), checked by `validate.check_plan_document`.

Its own module so that a run that reads no saved plan does not build these models at start-up.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Change(_Open):
    resource: str
    action: Literal["create", "update", "delete", "install", "remove", "reboot", "start", "stop", "run", "verify"]
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    reason: str = ""
    disruptive: bool = False
    unknown: bool = False


class _Task(_Open):
    name: str
    module: str
    status: Literal["ok", "changed", "failed", "unreachable", "skipped"]
    changes: list[_Change] = []
    msg: str = ""
    ignored: bool = False
    path: str = ""


class _Host(_Open):
    status: Literal["ok", "changed", "failed", "unreachable", "skipped"]
    msg: str = ""
    tasks: list[_Task] = []
    task_changes: dict[str, list[_Change]] = {}
    state: dict[str, Any] = {}


class _Selection(_Open):
    limit: str | list[str] | None = None
    tags: list[str] = []
    skip_tags: list[str] = []
    shard: list[int] | None = None


class _Inputs(_Open):
    playbook: str
    inventory: list[str]
    extra_vars: dict[str, Any] = {}
    selection: _Selection
    fingerprint: dict[str, Any]  # its inside belongs to hvprov.plans (digests, keyed MACs)


class _Plan(_Open):
    format: str
    inputs: _Inputs
    hosts: dict[str, _Host]
