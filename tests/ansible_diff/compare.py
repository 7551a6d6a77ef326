"""Normalising what ansible-core and hvprov did, per host and task, into comparable records."""

from __future__ import annotations

import json
from typing import Any

# Tasks that are structure, not results: neither side's record of them is compared.
STRUCTURAL = {"meta", "include_tasks", "import_tasks", "include_role", "import_role", "import_playbook",
              "include_vars_dir"}
_FQCN = "ansible.builtin."


def _short(action: str) -> str:
    return action[len(_FQCN):] if action.startswith(_FQCN) else action


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _record(action: str, status: str, ignored: bool, register: str | None, result: dict[str, Any],
            name: str) -> dict[str, Any]:
    result = dict(result)
    if result.get("skipped") is False:  # ansible-core's callbacks see results without a false `skipped`
        del result["skipped"]
    rec: dict[str, Any] = {"task": name, "action": action, "status": status}
    if ignored:
        rec["ignored"] = True
    if action == "debug" and status not in ("skipped", "failed"):
        printed = {k: v for k, v in result.items() if k not in ("changed", "failed")}
        if len(printed) > 1:  # hvprov's debug var=X also carries a 'msg' rendering of X
            printed.pop("msg", None)
        rec["printed"] = _plain(printed)
    if action in ("fail", "assert") and status == "failed":
        rec["msg"] = result.get("msg")
    if register:
        reg = {k: v for k, v in result.items() if k != "skip_reason"}
        reg.setdefault("failed", status == "failed")
        reg.setdefault("changed", status == "changed")
        if status == "skipped":
            reg = {"skipped": True, "changed": False}
        if status == "failed" and action not in ("fail", "assert"):
            reg.pop("msg", None)  # error texts are each tool's own words
        rec["registered"] = _plain(reg)
    return rec


def from_ansible(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    hosts: dict[str, list[dict[str, Any]]] = {}
    for ev in doc["events"]:
        action = _short(ev["action"])
        if action in STRUCTURAL or ev["task"] == "Gathering Facts":
            continue
        hosts.setdefault(ev["host"], []).append(
            _record(action, ev["status"], ev["ignored"], ev["register"], ev["result"], ev["task"]))
    return hosts


def from_hvprov(result: Any) -> dict[str, list[dict[str, Any]]]:
    """Every task's result as it would be registered; compared where ansible's task registers."""
    hosts: dict[str, list[dict[str, Any]]] = {}
    for name, host in result.hosts.items():
        recs = hosts.setdefault(name, [])
        for t in host.tasks:
            action = _short(t.module)
            if action in STRUCTURAL or action == "facts" or t.name == "Gathering Facts":
                continue
            recs.append(_record(action, t.status.value, t.ignored, "registered", dict(t.data), t.name))
    return hosts


def differences(ansible: dict[str, list[dict[str, Any]]], hvprov: dict[str, list[dict[str, Any]]]) -> list[str]:
    out: list[str] = []
    for host in sorted(set(ansible) | set(hvprov)):
        a, h = ansible.get(host, []), hvprov.get(host, [])
        for i in range(max(len(a), len(h))):
            ra = a[i] if i < len(a) else None
            rh = h[i] if i < len(h) else None
            if ra is None or rh is None:
                out.append(f"{host} task #{i}: ansible={_show(ra)} hvprov={_show(rh)}")
                continue
            for key in ("action", "status", "ignored", "printed", "msg", "registered"):
                if key == "registered" and key not in ra:
                    continue
                if ra.get(key) != rh.get(key):
                    out.append(f"{host} task #{i} {ra['task']!r} {key}: ansible={ra.get(key)!r} hvprov={rh.get(key)!r}")
    return out


def _show(rec: dict[str, Any] | None) -> str:
    return "(none)" if rec is None else f"{rec['task']!r} {rec['status']}"
