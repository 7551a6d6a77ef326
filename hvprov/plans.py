"""Saved plans: `hvprov plan --out plan.json`, `hvprov apply plan.json`, `hvprov show plan.json`.

A saved plan records, per host, the ordered changes of each task with before/after, the
disruptive and unknown flags, the facts the plan was computed from (and their digest), and the
inputs' digests (playbook and vars files, inventory files with group_vars/host_vars, extra
variables, `powershell` file scripts, hvprov version). Applying it re-reads every host's facts: a
host whose facts changed, or whose tasks would now plan different changes (a `powershell`
change carries its script), is refused as stale and left untouched; so are all hosts when the
inputs changed. Paths are stored relative to the plan file, which applies from any directory.

Plans hold no secret values and no unkeyed digest of one: secret extra variables are kept by
name only. With a plan key (`HVPROV_PLAN_KEY` or `--plan-key-file`) the plan carries an
HMAC-SHA256 over its canonical JSON, and one over the secret extra variables; applying with a
key refuses an unsigned or altered plan and secret variables that differ (docs/secrets.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import InputError, Location, TaskError
from .model import RunResult
from .planfile import FORMAT, KEY_ENV, is_plan_file, plan_key, write_atomic  # noqa: F401 - re-exported
from .secrets import Secret, SecretRegistry, mask, reveal

VOLATILE = ("os.last_boot",)  # facts that change without anyone changing the host
_INT_FAST = 10**600  # ints below 600 digits are written and read back by json unchanged


class StalePlanError(TaskError):
    """The host (or the inputs) changed since the plan was made."""


class PlanAuthError(InputError):
    """With a plan key: the plan is unsigned, or not what was signed."""


def mac(key: bytes, obj: Any) -> str:
    return hmac.new(key, canonical(obj).encode(), hashlib.sha256).hexdigest()


def sign(doc: dict[str, Any], key: bytes) -> dict[str, Any]:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return {**body, "signature": {"alg": "hmac-sha256", "mac": mac(key, body)}}


def verify(doc: Mapping[str, Any], key: bytes, where: str) -> None:
    sig = doc.get("signature")
    if not isinstance(sig, Mapping) or sig.get("alg") != "hmac-sha256" or not isinstance(sig.get("mac"), str):
        raise PlanAuthError("the plan is not signed, and a plan key is set: refusing it", location=Location(where))
    body = {k: v for k, v in doc.items() if k != "signature"}
    if not hmac.compare_digest(sig["mac"], mac(key, body)):
        raise PlanAuthError("the plan's signature does not match (altered, or signed with another key): refusing it",
                            location=Location(where))


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalize_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Facts as compared for staleness: without volatile fields and plan-only markers. The
    facts as a saved plan reloads them (`json.loads(canonical(facts))`), built without the text
    in between (tests/test_plans_normalize.py keeps the round trip as the oracle)."""
    out = as_json(facts)
    out.pop("predicted", None)
    for dotted in VOLATILE:
        node = out
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.get(p, {})
        node.pop(last, None)
    return out


def as_json(v: Any) -> Any:
    """`json.loads(canonical(v))` without the round trip, for what facts hold: dicts with str
    keys (rebuilt in sorted key order), lists and tuples (as lists), str and its subclasses (as
    str), exact float, bool, None and int under 600 digits (a longer one may pass
    `sys.get_int_max_str_digits()`, at least 640, and json would refuse it). Anything else (another key type, a subclass of a
    container or a number, an object `default=str` would format) takes the round trip itself,
    so its result and its errors are json's. No cycles: facts are trees (json would refuse one)."""
    t = type(v)
    if t is dict:
        try:
            keys = sorted(v)
        except TypeError:
            return json.loads(canonical(v))  # mixed key types: json's own TypeError
        out = {}
        for k in keys:
            if type(k) is not str:
                return json.loads(canonical(v))
            x = v[k]
            tx = type(x)
            if tx is bool or tx is float or x is None or (tx is int and -_INT_FAST < x < _INT_FAST):
                out[k] = x
            elif isinstance(x, str):
                out[k] = str.__str__(x)  # the same characters as an exact str
            else:
                out[k] = as_json(x)
        return out
    if t is list or t is tuple:
        items = []
        for x in v:
            tx = type(x)
            if tx is bool or tx is float or x is None or (tx is int and -_INT_FAST < x < _INT_FAST):
                items.append(x)
            elif isinstance(x, str):
                items.append(str.__str__(x))
            else:
                items.append(as_json(x))
        return items
    if t is bool or t is float or v is None or (t is int and -_INT_FAST < v < _INT_FAST):
        return v
    if isinstance(v, str):
        return str.__str__(v)
    return json.loads(canonical(v))


def diff_facts(old: Any, new: Any, path: str = "", scrub: Callable[[str], str] = str) -> list[str]:
    """Human-readable differences, e.g. 'vms[web01].state: running -> off' (values scrubbed
    before they are shortened, so a cut cannot keep part of a secret)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{sub}: added")
            elif key not in new:
                out.append(f"{sub}: removed")
            else:
                out += diff_facts(old[key], new[key], sub, scrub)
        return out
    if isinstance(old, list) and isinstance(new, list):
        if all(isinstance(x, dict) and "name" in x for x in old + new):
            return diff_facts({x["name"]: x for x in old}, {x["name"]: x for x in new}, path, scrub)
    return [] if old == new else [f"{path}: {_short(old, scrub)} -> {_short(new, scrub)}"]


def _short(value: Any, scrub: Callable[[str], str] = str) -> str:
    text = scrub(canonical(value))
    return text if len(text) <= 60 else text[:57] + "..."


def input_files(playbook_path: str, vars_files: Sequence[str], inventory_paths: Sequence[str],
                extra: Sequence[str] = ()) -> list[Path]:
    files = [Path(playbook_path), *(Path(v) for v in vars_files), *(Path(e) for e in extra)]
    for inv in inventory_paths:
        p = Path(inv)
        if not p.exists():
            continue
        files.append(p) if p.is_file() else files.extend(sorted(x for x in p.rglob("*") if x.is_file()))
        base = p.parent if p.is_file() else p
        for sub in ("group_vars", "host_vars"):
            d = base / sub
            if d.is_dir():
                files.extend(sorted(x for x in d.rglob("*") if x.is_file()))
    return files


def relative(path: str | Path, base: Path | None) -> str:
    """`path` as stored in a plan: relative to the plan's directory when it is a file path."""
    if base is None or str(path).startswith("<"):
        return str(path)
    return os.path.relpath(Path(path).resolve(), base)


def resolve(path: str, base: Path) -> str:
    """A path stored in a plan, as a path usable from the current directory."""
    return path if path.startswith("<") or Path(path).is_absolute() else str(base / path)


def split_extra_vars(extra_vars: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain extra variables, secret ones)."""
    plain = {k: v for k, v in extra_vars.items() if not isinstance(v, Secret)}
    return plain, {k: v for k, v in extra_vars.items() if isinstance(v, Secret)}


def fingerprint(playbook_path: str, vars_files: Sequence[str], inventory_paths: Sequence[str],
                extra_vars: Mapping[str, Any], selection: Mapping[str, Any], *, base: Path | None = None,
                scripts: Sequence[str] = ()) -> dict[str, Any]:
    """What the plan was made from. Secret extra variables appear by name only (no digest)."""
    files = input_files(playbook_path, vars_files, inventory_paths, scripts)
    plain, secret = split_extra_vars(extra_vars)
    return {
        "hvprov_version": __version__,
        "files": {relative(f, base): file_digest(f) for f in files if f.is_file()},
        "extra_vars": digest(plain),
        "secret_extra_vars": sorted(secret),
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
        if saved["extra_vars"] != current["extra_vars"] or saved.get("secret_extra_vars", []) != current["secret_extra_vars"]:
            problems.append("extra variables differ")
        return problems

    def check_secret_vars(self, key: bytes, secret: Mapping[str, Any]) -> list[str]:
        saved = self.inputs.get("secret_extra_vars_mac")
        if saved is None:
            return [] if not secret else ["the plan holds no MAC of its secret extra variables"]
        return [] if hmac.compare_digest(saved, mac(key, reveal(dict(secret)))) else ["secret extra variables differ"]


def build_plan(result: RunResult, *, playbook: str, inventory: Sequence[str], extra_vars: Mapping[str, Any],
               selection: Mapping[str, Any], fp: Mapping[str, Any], registry: SecretRegistry | None = None,
               base: Path | None = None, key: bytes | None = None) -> dict[str, Any]:
    """The plan document: every string scrubbed (JSON-native), signed when there is a key."""
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
    plain, secret = split_extra_vars(extra_vars)
    inputs: dict[str, Any] = {
        "playbook": relative(playbook, base),
        "inventory": [relative(i, base) if Path(i).exists() else i for i in inventory],
        "extra_vars": {**plain, **{k: mask(v) for k, v in secret.items()}},
        "selection": dict(selection),
        "fingerprint": dict(fp),
    }
    if key is not None and secret:
        inputs["secret_extra_vars_mac"] = mac(key, reveal(secret))
    doc: dict[str, Any] = {
        "format": FORMAT,
        "created_with": f"hvprov {__version__}",
        "inputs": inputs,
        "hosts": hosts,
        "summary": result.summary(),
        "mode": "plan",
    }
    doc = json.loads(json.dumps(registry.scrub_data(doc) if registry else mask(doc), default=str))
    return sign(doc, key) if key is not None else doc


def review_lines(doc: Mapping[str, Any], verified: bool) -> list[str]:
    """What `hvprov show` adds to the plan's changes: its inputs and every script it will run."""
    inputs = doc.get("inputs", {})
    sig = "signed, signature verified" if verified else ("signed (no key given: not verified)"
                                                          if doc.get("signature") else "not signed")
    lines = ["", f"plan inputs ({sig}):", f"  playbook: {inputs.get('playbook')}",
             f"  inventory: {', '.join(map(str, inputs.get('inventory', [])))}",
             f"  selection: {canonical(inputs.get('selection', {}))}", "  extra vars:"]
    lines += [f"    {k}: {canonical(v)}" for k, v in sorted(inputs.get("extra_vars", {}).items())] or ["    (none)"]
    seen: dict[str, list[str]] = {}
    for host, h in sorted(doc.get("hosts", {}).items()):
        for path, changes in h.get("task_changes", {}).items():
            for c in changes:
                script = (c.get("after") or {}).get("script") if isinstance(c.get("after"), dict) else None
                if isinstance(script, str):
                    seen.setdefault(f"{path} {c.get('resource')}\n{script}", []).append(host)
    for key, hosts in seen.items():
        head, _, script = key.partition("\n")
        lines += ["", f"powershell {head} on {', '.join(hosts)}:"]
        lines += ["  | " + line for line in script.splitlines()] or ["  | (empty)"]
    return lines


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
