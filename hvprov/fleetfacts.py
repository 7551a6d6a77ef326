"""A lab twin of a real fleet: `hvprov facts -i INV --out DIR` and `hvprov lab import DIR`.

`export` reads each host's facts (facts/host.ps1.j2, read-only) and writes ``DIR/<host>.json``:
``{"hvprov_facts": 1, "host": NAME, "facts": {...}}`` with every secret value the inventory
knows replaced by the mask, and with ``--hash-names`` the inventory name, hostname, VM and
switch names (and those names inside paths) replaced by salted hashes, consistently.
`twin_overrides` turns saved facts back into lab host settings (``sim_profile`` + ``sim``), so
that the twin's facts script answers exactly the saved facts; `lab_import` writes a sim
inventory of them. What facts cannot tell (which adapter is a switch's host vNIC, files other
than VHDs, pending feature changes) is not modelled in the twin; docs/delivery.md lists it.
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import secrets as pysecrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .cliargs import add_fleetfacts_parsers as add_parsers  # noqa: F401 - moved; re-exported
from .connection import ConnectionSpec
from .errors import HvprovError, InventoryError, OptionsError
from .facts import parse_facts
from .render import ScriptRenderer
from .scriptresult import parse_result
from .secrets import SecretRegistry

FACTS_TEMPLATE = "facts/host.ps1.j2"
FORMAT = 1


# ---------------------------------------------------------------------------- export
def read_facts(spec: ConnectionSpec, lab_dir: Path) -> dict[str, Any]:
    """The raw facts of one host (validated by `parse_facts`)."""
    from .transports import open_transport

    script = ScriptRenderer().render(FACTS_TEMPLATE, probe_paths=[]).text
    transport = open_transport(spec, lab_dir)
    try:
        transport.open()
        data = parse_result(transport.run(script), FACTS_TEMPLATE)
    finally:
        transport.close()
    parse_facts(data, FACTS_TEMPLATE)
    return data


class Hasher:
    """Salted, consistent name hashing (same name -> same token within one export)."""

    def __init__(self, salt: str) -> None:
        self.salt = salt
        self.seen: dict[str, str] = {}

    def token(self, name: str, prefix: str, upper: bool = False) -> str:
        digest = hashlib.sha256((self.salt + "\0" + name.casefold()).encode()).hexdigest()[:10]
        value = prefix + (digest.upper() if upper else digest)
        self.seen[name] = value
        return value

    def in_text(self, text: str) -> str:
        for name in sorted(self.seen, key=len, reverse=True):
            if len(name) >= 3:
                text = _replace_ci(text, name, self.seen[name])
        return text


def _replace_ci(text: str, old: str, new: str) -> str:
    low, key, out, i = text.casefold(), old.casefold(), [], 0
    while (j := low.find(key, i)) >= 0:
        out += [text[i:j], new]
        i = j + len(old)
    return "".join(out) + text[i:]


def hash_names(name: str, facts: dict[str, Any], hasher: Hasher) -> tuple[str, dict[str, Any]]:
    f = json.loads(json.dumps(facts))
    new_name = hasher.token(name, "h-")
    f["hostname"] = hasher.token(f["hostname"], "H", upper=True)
    for sw in f["switches"]:
        sw["name"] = hasher.token(sw["name"], "sw-")
    for vm in f["vms"]:
        vm["name"] = hasher.token(vm["name"], "vm-")
        vm["notes"] = ""
    for vm in f["vms"]:
        for nic in vm["nics"]:
            if nic["switch"] is not None:
                nic["switch"] = hasher.seen.get(nic["switch"], nic["switch"])
        for d in vm["disks"]:
            d["path"] = hasher.in_text(d["path"])
    for a in f["adapters"]:
        if a["bound_switch"] is not None:
            a["bound_switch"] = hasher.seen.get(a["bound_switch"], a["bound_switch"])
        a["name"] = hasher.in_text(a["name"])  # "vEthernet (<switch>)"
    for v in f["vhds"]:
        v["path"] = hasher.in_text(v["path"])
        v["parent"] = None if v["parent"] is None else hasher.in_text(v["parent"])
    return new_name, f


def export(hosts: list[tuple[str, ConnectionSpec]], out_dir: Path, lab_dir: Path, registry: SecretRegistry,
           *, hash_salt: str | None = None, log: Callable[[str], None] = print) -> int:
    """Write one facts file per host; a failing host is reported and the others go on."""
    out_dir.mkdir(parents=True, exist_ok=True)
    hasher = Hasher(hash_salt) if hash_salt is not None else None
    failed = 0
    for name, spec in hosts:
        try:
            facts = read_facts(spec, lab_dir)
        except HvprovError as exc:
            failed += 1
            log(registry.scrub(f"{name}: FAILED {exc}"))
            continue
        shown = name
        if hasher is not None:
            shown, facts = hash_names(name, facts, hasher)
        text = registry.scrub(json.dumps({"hvprov_facts": FORMAT, "host": shown, "facts": facts}, indent=1,
                                         sort_keys=True))
        (out_dir / f"{shown}.json").write_text(text + "\n", encoding="utf-8")
        log(f"{name}: facts saved to {out_dir / (shown + '.json')}")
    return 3 if failed else 0


# ---------------------------------------------------------------------------- import
def _epoch(iso: str) -> float:
    return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))


def _profile_for(version: str) -> str:
    from .sim.profiles import PROFILES

    for name, prof in PROFILES.items():
        if prof.fields.get("version", "6.1.7601") == version:
            return name
    raise InventoryError(f"no lab profile for Windows {version}", field="facts.os.version")


def twin_overrides(facts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(sim_profile, sim overrides) of a lab host whose facts script answers `facts`."""
    from .sim.model import CPU_ARCHITECTURE

    os_, cpu, hv = facts["os"], facts["cpu"], facts["hypervisor"]
    v1 = os_["installation_type"] is None
    running = bool(hv["hvboot"] == "Running") if v1 else bool(hv["present"])
    arch = {v: k for k, v in CPU_ARCHITECTURE.items()}[cpu["architecture"]]
    hidden = running and not v1 and cpu["vmx"] is False
    model_cpu: dict[str, Any] = {"vendor": cpu["manufacturer"], "name": cpu["name"], "cores": cpu["cores"],
                                 "logical": cpu["logical"]}
    if not v1:
        model_cpu.update(vt_supported=bool(cpu["vmx"]) or hidden, vt_enabled=bool(cpu["vt_firmware"]) or hidden,
                         slat=bool(cpu["slat"]) or hidden)
    elif running:
        model_cpu.update(vt_supported=True, vt_enabled=True)
    over: dict[str, Any] = {
        "hostname": facts["hostname"], "version": os_["version"], "sku": os_["sku"], "arch": arch,
        "server_core": bool(facts["server_core"]), "caption": os_["caption"],
        "os_architecture": os_["os_architecture"], "ps_version": os_["ps_version"],
        "role_offered": facts["features"]["hyperv_available"], "cpu": model_cpu,
        "dep_available": facts["dep"]["available"], "dep_policy": facts["dep"]["policy"],
        "memory_mb": facts["memory_mb"], "features": list(facts["features"]["installed"]),
        "pending_reboot": dict(facts["pending_reboot"]), "launch_type": hv["launch_type"],
        "hypervisor_running": running, "launch_error": hv["launch_error"],
        "hypervisor_hides_cpu_features": hidden or not running,
        "last_boot": _epoch(os_["last_boot"]),
        "adapters": [{"name": a["name"], "description": a["description"], "mac": a["mac"], "ips": list(a["ips"]),
                      "gateway": "0.0.0.0" if a["management"] else None, "bound_switch": a["bound_switch"]}
                     for a in facts["adapters"]],
        "switches": [dict(s) for s in facts["switches"]],
        "vms": [dict(vm, disks=[dict(d) for d in vm["disks"]], nics=[dict(n) for n in vm["nics"]])
                for vm in facts["vms"]],
        "vhds": [dict(v) for v in facts["vhds"]],
    }
    return _profile_for(os_["version"]), over


def load_saved(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InventoryError(f"not a facts file: {exc}", field=str(path)) from None
    if not isinstance(doc, dict) or doc.get("hvprov_facts") != FORMAT or not isinstance(doc.get("host"), str):
        raise InventoryError("not an hvprov facts file (expected hvprov_facts: 1, host, facts)", field=str(path))
    parse_facts(doc.get("facts"), str(path))
    return doc["host"], doc["facts"]


def saved_files(facts_dir: Path) -> Iterator[Path]:
    if not facts_dir.is_dir():
        raise OptionsError(f"{facts_dir}: not a directory of facts files")
    yield from sorted(p for p in facts_dir.glob("*.json") if p.is_file())


def lab_inventory(facts_dir: Path) -> dict[str, Any]:
    """A sim inventory whose hosts are twins of the saved facts."""
    hosts: dict[str, Any] = {}
    for path in saved_files(facts_dir):
        name, facts = load_saved(path)
        profile, over = twin_overrides(facts)
        hosts[name] = {"sim_profile": profile, "sim": over}
    if not hosts:
        raise OptionsError(f"{facts_dir}: no facts files (*.json)")
    return {"all": {"vars": {"ansible_connection": "sim"}, "hosts": hosts}}


# ---------------------------------------------------------------------------- CLI
def selected_specs(inv: Any, limit: str | None) -> tuple[list[tuple[str, ConnectionSpec]], SecretRegistry]:
    from .runner import secret_values

    registry = SecretRegistry()
    hosts = inv.select(limit) if limit else list(inv.hosts.values())
    out = []
    for h in hosts:
        registry.collect(dict(h.vars))
        for value in secret_values(h.vars):
            registry.add(value)
        out.append((h.name, ConnectionSpec.from_vars(h.name, dict(h.vars))))
    return out, registry


def facts_cli(args: argparse.Namespace, inv: Any, lab_dir: Path) -> int:
    specs, registry = selected_specs(inv, args.limit)
    salt = None
    if args.hash_names:
        salt = args.hash_salt if args.hash_salt is not None else pysecrets.token_hex(8)
    return export(specs, Path(args.out), lab_dir, registry, hash_salt=salt)


def lab_import_cli(args: argparse.Namespace) -> int:
    facts_dir = Path(args.facts_dir)
    doc = lab_inventory(facts_dir)
    out = Path(args.out) if args.out else facts_dir / "lab.yml"
    out.write_text("# written by `hvprov lab import`: lab twins of the saved facts\n"
                   + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    print(f"lab import: {len(doc['all']['hosts'])} twin host(s) in {out} (use it with -i)")
    return 0
