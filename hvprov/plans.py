"""Saved plans: `hvprov plan --out plan.json`, `hvprov apply plan.json`, `hvprov show plan.json`.

A saved plan records, per host, the ordered changes of each task with before/after, the
disruptive and unknown flags, the facts the plan was computed from (and their digest), and the
inputs' digests (playbook and vars files, inventory files with group_vars/host_vars, extra
variables, hvprov version). Applying it re-reads every host's facts: a host whose facts
changed, or whose tasks would now plan different changes, is refused as stale and left
untouched; so are all hosts when the inputs changed. Plans hold no secret values: changes are
masked, extra variables that are secrets are kept as digests only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import InputError, Location, TaskError
from .model import RunResult
from .secrets import MASK, Secret, mask

FORMAT = "hvprov-plan/1"
VOLATILE = ("os.last_boot",)  # facts that change without anyone changing the host


class StalePlanError(TaskError):
    """The host (or the inputs) changed since the plan was made."""


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalize_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Facts as compared for staleness: without volatile fields and plan-only markers."""
    out = json.loads(canonical(facts))
    out.pop("predicted", None)
    for dotted in VOLATILE:
        node = out
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.get(p, {})
        node.pop(last, None)
    return out


def diff_facts(old: Any, new: Any, path: str = "") -> list[str]:
    """Human-readable differences, e.g. 'vms[web01].state: running -> off'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{sub}: added")
            elif key not in new:
                out.append(f"{sub}: removed")
            else:
                out += diff_facts(old[key], new[key], sub)
        return out
    if isinstance(old, list) and isinstance(new, list):
        if all(isinstance(x, dict) and "name" in x for x in old + new):
            return diff_facts({x["name"]: x for x in old}, {x["name"]: x for x in new}, path)
        return [] if old == new else [f"{path}: {_short(old)} -> {_short(new)}"]
    return [] if old == new else [f"{path}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = canonical(value)
    return text if len(text) <= 60 else text[:57] + "..."


def input_files(playbook_path: str, vars_files: Sequence[str], inventory_paths: Sequence[str]) -> list[Path]:
    files = [Path(playbook_path), *(Path(v) for v in vars_files)]
    for inv in inventory_paths:
        p = Path(inv)
        files.append(p) if p.is_file() else files.extend(sorted(x for x in p.rglob("*") if x.is_file()))
        base = p.parent if p.is_file() else p
        for sub in ("group_vars", "host_vars"):
            d = base / sub
            if d.is_dir():
                files.extend(sorted(x for x in d.rglob("*") if x.is_file()))
    return files


def fingerprint(playbook_path: str, vars_files: Sequence[str], inventory_paths: Sequence[str],
                extra_vars: Mapping[str, Any], selection: Mapping[str, Any]) -> dict[str, Any]:
    files = input_files(playbook_path, vars_files, inventory_paths)
    return {
        "hvprov_version": __version__,
        "files": {str(f): file_digest(f) for f in files if f.is_file()},
        "extra_vars": digest({k: (v.reveal() if isinstance(v, Secret) else v) for k, v in extra_vars.items()}),
        "selection": dict(selection),
    }


@dataclass(frozen=True)
class SavedPlan:
    doc: dict[str, Any]
    path: str = "<memory>"

    @property
    def inputs(self) -> dict[str, Any]:
        return self.doc["inputs"]

    def host(self, name: str) -> dict[str, Any] | None:
        return self.doc["hosts"].get(name)

    def task_changes(self, host: str, task_path: str) -> list[dict[str, Any]] | None:
        h = self.host(host)
        if h is None:
            return None
        return h["task_changes"].get(task_path)

    def check_inputs(self, current: Mapping[str, Any]) -> list[str]:
        saved = self.inputs["fingerprint"]
        problems = []
        if saved["hvprov_version"] != current["hvprov_version"]:
            problems.append(f"hvprov {saved['hvprov_version']} made the plan, this is {current['hvprov_version']}")
        for f in sorted(set(saved["files"]) | set(current["files"])):
            if saved["files"].get(f) != current["files"].get(f):
                problems.append(f"{f} {'changed' if f in saved['files'] and f in current['files'] else 'added or removed'}")
        if saved["extra_vars"] != current["extra_vars"]:
            problems.append("extra variables differ")
        return problems


def build_plan(result: RunResult, *, playbook: str, inventory: Sequence[str], extra_vars: Mapping[str, Any],
               selection: Mapping[str, Any], fp: Mapping[str, Any]) -> dict[str, Any]:
    hosts: dict[str, Any] = {}
    for name in sorted(result.hosts):
        h = result.hosts[name]
        task_changes: dict[str, list[dict[str, Any]]] = {}
        for t in h.tasks:
            if t.path and t.changes:
                task_changes.setdefault(t.path, []).extend(mask(c.to_dict()) for c in t.changes)
        hosts[name] = {
            "status": h.status.value,
            "msg": h.msg,
            "facts_digest": digest(h.facts) if h.facts is not None else None,
            "facts": h.facts,
            "task_changes": task_changes,
            "tasks": [t.to_dict() for t in h.tasks],
            "state": h.state,
        }
    return {
        "format": FORMAT,
        "created_with": f"hvprov {__version__}",
        "inputs": {
            "playbook": playbook,
            "inventory": list(inventory),
            "extra_vars": {k: (MASK if isinstance(v, Secret) else v) for k, v in extra_vars.items()},
            "selection": dict(selection),
            "fingerprint": dict(fp),
        },
        "hosts": hosts,
        "summary": result.summary(),
        "mode": "plan",
    }


def write_atomic(path: str | Path, text: str) -> None:
    """Write a file so that readers never see a half-written one (temp file + rename)."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=str(p.parent or Path(".")))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_plan(path: str | Path) -> SavedPlan:
    from .limits import read_input_text
    from .validate import check_plan_document

    text = read_input_text(path, InputError)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        raise InputError(f"not a saved plan ({getattr(exc, 'msg', exc)})", location=Location(str(path), line, col)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"not a saved plan (expected format {FORMAT!r})", location=Location(str(path)))
    check_plan_document(doc, text, str(path))
    return SavedPlan(doc, str(path))


def is_plan_file(path: str) -> bool:
    if not path.endswith(".json") or not os.path.exists(path):
        return False
    if not os.path.isfile(path):  # a FIFO would block here: load_plan refuses it
        return True
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return FORMAT in head
