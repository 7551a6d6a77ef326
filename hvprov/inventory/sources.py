"""TOML inventories and inventory scripts, turned into the YAML inventory shape the builder reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import InventoryError, Location

SCRIPT_TIMEOUT = 120.0


def toml_data(text: str, file: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported when a TOML inventory is read, not by every run
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"TOML file is invalid: {exc}", location=Location(file)) from None
    if not data:
        raise InventoryError("Parsed empty TOML file", location=Location(file))
    if data.get("plugin"):
        raise InventoryError("Plugin configuration TOML file, not TOML inventory", location=Location(file))
    out: dict[str, Any] = {}
    for group, gdata in data.items():
        if isinstance(gdata, dict) and isinstance(gdata.get("children"), list):
            gdata = {**gdata, "children": {c: None for c in gdata["children"]}}
        elif isinstance(gdata, dict) and "children" in gdata:
            raise InventoryError(f'Invalid "children" entry for "{group}" group, requires a list, found '
                                 f'"{type(gdata["children"]).__name__}" instead.', location=Location(file))
        out[group] = gdata
    return out


def _run(path: Path, args: list[str]) -> str:
    try:
        proc = subprocess.run([str(path), *args], capture_output=True, timeout=SCRIPT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise InventoryError(f"inventory script {' '.join(args)} did not finish in {SCRIPT_TIMEOUT:g}s",
                             location=Location(str(path))) from None
    except OSError as exc:
        raise InventoryError(f"cannot run the inventory script: {exc.strerror}", location=Location(str(path))) from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise InventoryError(f"inventory script {' '.join(args)} exited with {proc.returncode}: {err[0]}",
                             location=Location(str(path)))
    return proc.stdout.decode("utf-8", "surrogateescape")


def _json(text: str, path: Path, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{what} could not be parsed as JSON: {exc}", location=Location(str(path))) from None


def script_data(path: Path) -> dict[str, Any]:
    doc = _json(_run(path, ["--list"]), path, "inventory script result")
    if not isinstance(doc, dict):
        raise InventoryError(f"inventory script result is {type(doc).__name__} instead of dict", location=Location(str(path)))
    meta = doc.get("_meta")
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    if meta is not None and not isinstance(hostvars, dict):
        raise InventoryError("inventory script result: '_meta.hostvars' must be a dict", location=Location(str(path)))
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for group, gdata in doc.items():
        if group == "_meta":
            continue
        if not isinstance(gdata, dict):
            gdata = {"hosts": gdata}
        elif not any(k in gdata for k in ("hosts", "vars", "children")):
            gdata = {"hosts": [group], "vars": gdata}
        hosts = gdata.get("hosts", [])
        if not isinstance(hosts, list):
            raise InventoryError(f"inventory script result: '{group}.hosts' must be a list", location=Location(str(path)))
        entry: dict[str, Any] = {"hosts": {}}
        for h in hosts:
            if h not in seen:
                seen.add(h)
                got = hostvars.get(h, {}) if hostvars is not None else _host_vars(path, h)
                entry["hosts"][h] = got or None
            else:
                entry["hosts"][h] = None
        if "vars" in gdata:
            entry["vars"] = gdata["vars"]
        if gdata.get("children"):
            entry["children"] = {c: None for c in gdata["children"]}
        out[group] = entry
    return out


def _host_vars(path: Path, host: str) -> dict[str, Any]:
    text = _run(path, ["--host", host])
    return _json(text, path, f"inventory script result for host {host!r}") if text.strip() else {}
