"""The simulated lab over real protocols: every sim host of an inventory served on 127.0.0.1 by
a WS-Management endpoint (HTTP with NTLM + message encryption, and HTTPS with a lab CA) and an
SSH endpoint, answering from the same host models as the in-process ``sim`` connection.

`LabServers` runs in-process (tests); `hvprov lab up` runs it in a background process
(``python -m hvprov.sim.lab serve``) that writes ``<lab_dir>/servers.json`` and the generated
inventories ``<lab_dir>/inventories/lab-winrm.yml``, ``lab-winrm-https.yml`` and ``lab-ssh.yml``.

A reboot script schedules the host's downtime: at the reboot moment the servers drop the
host's sessions and refuse connections until it is back, as a real reboot does.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as pysecrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import paramiko
import yaml

from ..errors import LabError
from ..transports.base import ExecResult
from .executor import execute
from .faults import split_overrides
from .model import HostModel
from .psexe import run_powershell
from .sshd import SSHLab
from .store import HostSeed, LabStore
from .wsman import HostConfig, WSManLab, winrm_config

ADMIN = "Administrator"


def load_source(inventory_paths: list[str]) -> tuple[Any, dict[str, HostSeed]]:
    """The inventory and, for each of its sim hosts, what the host is created from."""
    from ..connection import ConnectionSpec
    from ..inventory import Inventory

    inv = Inventory.load(inventory_paths)
    seeds = {}
    for name, host in inv.hosts.items():
        spec = ConnectionSpec.from_vars(name, dict(host.vars))
        if spec.kind == "sim":
            overrides, _faults = split_overrides(spec.sim_overrides)  # faults act in-process only
            seeds[name] = HostSeed(spec.sim_profile, overrides)
    if not seeds:
        raise LabError(f"no simulated hosts (ansible_connection: sim) in {', '.join(inventory_paths)}")
    return inv, seeds


_SIM_ONLY = ("ansible_connection", "hvprov_connection", "sim", "sim_profile", "ansible_host", "ansible_port",
             "ansible_user", "ansible_password")


class _LabHandler:
    """The servers' handler: scripts (`__call__`) and powershell.exe processes (`powershell`)."""

    def __init__(self, lab: LabServers) -> None:
        self.lab = lab

    def __call__(self, name: str, script: str) -> ExecResult | None:
        return self.lab._handle(name, script)

    def powershell(self, name: str, argv: list[str], stdin: bytes | None) -> ExecResult | None:
        return self.lab._powershell(name, argv, stdin)


class LabServers:
    def __init__(self, lab_dir: str | Path, seeds: Mapping[str, HostSeed], *, password: str | None = None,
                 latency: float = 0.0, source: Any = None, tls12_on_2008r2: bool = True) -> None:
        self.tls12_on_2008r2 = tls12_on_2008r2
        self.source = source  # the sim inventory: its groups and variables carry over to the generated ones
        self.lab_dir = Path(lab_dir)
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        self.seeds = dict(seeds)
        self.store = LabStore(self.lab_dir)
        self.password = password or ("Lab-" + pysecrets.token_urlsafe(12))
        self.latency = latency
        handler = _LabHandler(self)
        self.wsman = WSManLab(handler, workdir=self.lab_dir / "wsman")
        self.ssh = SSHLab(self.lab_dir / "ssh", handler=handler, latency=latency)
        self.ports: dict[str, dict[str, int]] = {}
        self._timers: list[threading.Timer] = []
        self.client_key = self.lab_dir / "ssh" / "client_ed25519"

    # -- serving -------------------------------------------------------------------
    def _handle(self, name: str, script: str) -> ExecResult | None:
        return self._on_host(name, lambda host, now: execute(host, script, now))

    def _powershell(self, name: str, argv: list[str], stdin: bytes | None) -> ExecResult | None:
        """powershell.exe started on the host (sim/psexe.py models its arguments and stdin)."""
        return self._on_host(name, lambda host, now: run_powershell(host, argv, stdin, now))

    def _on_host(self, name: str, run: Callable[[HostModel, float], ExecResult]) -> ExecResult | None:
        seed = self.seeds.get(name)
        if seed is None:
            return None
        with self.store.session(name, seed) as host:
            now = time.time()
            down_until = host.up_at if host.is_down(now) else None
            if down_until is None:
                result = run(host, now)
            reboot_at, up_at, lost = host.reboot_at, host.up_at, host.management_lost
        if down_until is not None:  # the reboot timer has not fired yet: go down now, mid-request
            self._down(name, down_until)
            return None
        if lost:
            self._down(name, None)
        elif reboot_at is not None and up_at is not None and up_at > now:
            timer = threading.Timer(max(0.0, reboot_at - now), self._down, (name, up_at))
            timer.daemon = True
            timer.start()
            self._timers.append(timer)
        return result

    def _down(self, name: str, up_at: float | None) -> None:
        """The host goes down (reboot) until `up_at` (wall clock), or for good (None)."""
        mono_until = None if up_at is None else time.monotonic() + max(0.0, up_at - time.time())
        self.wsman.set_down(name, until=mono_until)
        self.ssh.set_down(name, until=up_at)

    def start(self) -> LabServers:
        self.wsman.start()
        self.ssh.start()
        self.client_key.parent.mkdir(parents=True, exist_ok=True)
        if not self.client_key.exists():
            key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
            if key is None:
                from cryptography.hazmat.primitives import serialization
                from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

                pem = Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
                self.client_key.write_bytes(pem)
                os.chmod(self.client_key, 0o600)
            else:
                key.write_private_key_file(str(self.client_key))
        client = paramiko.Ed25519Key(filename=str(self.client_key))
        for name in self.seeds:
            cfg = self._winrm_config(name)
            http = self.wsman.add_host(name, scheme="http", config=cfg, users={ADMIN: self.password},
                                       latency_s=self.latency)
            https = self.wsman.add_listener(name, scheme="https")
            ssh = self.ssh.add_host(name, users={ADMIN: self.password}, authorized_keys=[client])
            self.ports[name] = {"http": http, "https": https, "ssh": ssh}
        known = self.lab_dir / "ssh" / "known_hosts"
        known.write_text("".join(self.ssh.host_key_line(n) + "\n" for n in self.seeds))
        return self

    def _winrm_config(self, name: str) -> HostConfig:
        """Windows' WinRM defaults for the host's release (docs/wsman-conformance.md): WinRM
        2.0 on 2008 R2 with its in-box PowerShell 2.0 (3.0 with WMF 3.0+), SChannel TLS 1.0
        there unless ``tls12_on_2008r2`` (the lab's default: the KB3080079 registry keys set),
        TLS 1.2 on 2012 R2-2019, 1.2 and 1.3 on 2022."""
        with self.store.session(name, self.seeds[name]) as host:
            version, ps = host.version, host.powershell
        major = tuple(int(x) for x in version.split(".")[:2])
        wmf3 = int(ps.split(".")[0]) >= 3
        tls: tuple[str, ...]
        if major <= (6, 1):
            tls = ("1.0", "1.1", "1.2") if self.tls12_on_2008r2 else ("1.0",)
        elif int(version.split(".")[2]) >= 20348:
            tls = ("1.2", "1.3")
        else:
            tls = ("1.2",)
        return winrm_config("3.0" if wmf3 else "2.0", os_version=version, tls_versions=tls)

    def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        self.ssh.stop()
        self.wsman.stop()

    def __enter__(self) -> LabServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- generated inventories -------------------------------------------------------
    def inventories(self) -> dict[str, Path]:
        out_dir = self.lab_dir / "inventories"
        out_dir.mkdir(parents=True, exist_ok=True)
        base = {"ansible_host": "127.0.0.1", "ansible_user": ADMIN, "ansible_password": self.password}
        kinds = {
            "lab-winrm.yml": lambda p: {"ansible_connection": "winrm", "ansible_port": p["http"],
                                        "ansible_winrm_scheme": "http", "ansible_winrm_transport": "ntlm",
                                        "hvprov_winrm_max_envelope_kb": "auto"},
            "lab-winrm-https.yml": lambda p: {"ansible_connection": "winrm", "ansible_port": p["https"],
                                              "ansible_winrm_scheme": "https", "ansible_winrm_transport": "ntlm",
                                              "hvprov_winrm_max_envelope_kb": "auto",
                                              "ansible_winrm_ca_trust_path": str(Path(self.wsman.ca_cert).resolve())},
            "lab-ssh.yml": lambda p: {"ansible_connection": "ssh", "ansible_port": p["ssh"],
                                      "ansible_ssh_private_key_file": str(Path(self.client_key).resolve()),
                                      "hvprov_ssh_known_hosts": str((self.lab_dir / "ssh" / "known_hosts").resolve())},
        }
        groups = self._groups()
        written = {}
        for filename, conn in kinds.items():
            hosts = {name: {**self._host_vars(name), **base, **conn(self.ports[name])} for name in self.seeds}
            doc: dict[str, Any] = {"all": {"hosts": hosts}}
            if groups:
                doc["all"]["children"] = groups
            path = out_dir / filename
            tmp = path.with_suffix(".tmp")
            tmp.write_text("# generated by `hvprov lab up`: the lab's hosts over real protocols\n"
                           + yaml.safe_dump(doc, sort_keys=False))
            os.chmod(tmp, 0o600)  # holds the lab's administrator password
            os.replace(tmp, path)
            written[filename] = path
        return written

    def _host_vars(self, name: str) -> dict[str, Any]:
        """The source host's variables (group_vars included) without its sim connection."""
        if self.source is None or name not in self.source.hosts:
            return {}
        return {k: v for k, v in self.source.hosts[name].vars.items() if k not in _SIM_ONLY}

    def _groups(self) -> dict[str, Any]:
        if self.source is None:
            return {}

        def tree(group: str) -> dict[str, Any]:
            g = self.source.groups[group]
            node: dict[str, Any] = {}
            hosts = [h for h in g.hosts if h in self.seeds]
            if hosts:
                node["hosts"] = {h: None for h in hosts}
            if g.children:
                node["children"] = {c: tree(c) for c in g.children}
            return node

        top = self.source.groups["all"].children
        return {c: tree(c) for c in top if c != "ungrouped"}


def lab_state(lab_dir: Path) -> dict[str, Any] | None:
    path = lab_dir / "servers.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _serve(args: argparse.Namespace) -> int:
    lab_dir = Path(args.lab_dir)
    inv, seeds = load_source(args.inventory)
    servers = LabServers(lab_dir, seeds, latency=args.latency, source=inv).start()
    written = servers.inventories()
    state = {"pid": os.getpid(), "started": time.time(), "ports": servers.ports,
             "inventories": {k: str(v) for k, v in written.items()}, "ca_cert": str(servers.wsman.ca_cert)}
    tmp = lab_dir / "servers.json.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, lab_dir / "servers.json")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    servers.stop()
    (lab_dir / "servers.json").unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hvprov.sim.lab")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("-i", "--inventory", action="append", required=True)
    s.add_argument("--lab-dir", required=True)
    s.add_argument("--latency", type=float, default=0.0)
    s.add_argument("--detach", action="store_true", help="fork into the background (a new session) and return")
    args = p.parse_args(argv)
    if args.detach and os.fork() > 0:  # before any thread starts: the parent returns at once,
        os._exit(0)  # the server is re-parented to init (no zombie, no waiting caller)
    if args.detach:
        os.setsid()
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())

