"""The lab servers for the fleet benchmark, in their own process (their CPU is not the controller's).

    python bench/labserve.py -i SIM_INVENTORY --lab-dir D --latency 0.02 [--listeners http|all] [--accept selector|threads]
                             [--part I/N]

``--listeners all`` is exactly ``python -m hvprov.sim.lab serve`` (LabServers.start(): WinRM
http + https and SSH listeners per host, one polling thread each). ``--listeners http`` (the
default) serves only what the benchmark uses, each host's WinRM http+NTLM listener, from the
same WSManLab / LabServers handler / lab store; ``--accept selector`` (default with http) has
one epoll thread accept for every listener instead of one serve_forever thread per listener
polling every 50 ms, which at 1,000 hosts is what makes the lab usable on 2 cores (see
bench/README.md, "Fleet lab feasibility").

Writes ``D/bench-lab.json`` (pid, ports, startup seconds, threads, fds, the generated
``lab-winrm.yml``) once serving; stops on SIGTERM/SIGINT, when its parent dies, or after
``--max-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from hvprov.sim.lab import ADMIN, LabServers, load_source


def _raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _winrm_inventory(servers: LabServers, suffix: str = "") -> Path:
    """lab-winrm.yml as LabServers.inventories() writes it (http + NTLM), for the served hosts."""
    out = servers.lab_dir / "inventories" / f"lab-winrm{suffix}.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    base = {"ansible_host": "127.0.0.1", "ansible_user": ADMIN, "ansible_password": servers.password,
            "ansible_connection": "winrm", "ansible_winrm_scheme": "http", "ansible_winrm_transport": "ntlm"}
    hosts = {n: {**servers._host_vars(n), **base, "ansible_port": servers.ports[n]["http"]} for n in servers.seeds}
    doc: dict[str, Any] = {"all": {"hosts": hosts}}
    groups = servers._groups()
    if groups:
        doc["all"]["children"] = groups
    tmp = out.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.chmod(tmp, 0o600)
    os.replace(tmp, out)
    return out


def _selector_loop(servers: LabServers, stop: threading.Event) -> None:
    """Accept on every listener from one thread; each connection is then served by its own thread
    (ThreadingHTTPServer.process_request), exactly as under serve_forever."""
    sel = selectors.DefaultSelector()
    for host in servers.wsman.hosts.values():
        for listener in host.listeners.values():
            sel.register(listener.server, selectors.EVENT_READ)
    while not stop.is_set():
        for key, _ in sel.select(0.5):
            key.fileobj._handle_request_noblock()  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/labserve.py")
    ap.add_argument("-i", "--inventory", action="append", required=True)
    ap.add_argument("--lab-dir", required=True)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--listeners", choices=("http", "all"), default="http")
    ap.add_argument("--accept", choices=("selector", "threads"), default="selector")
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    ap.add_argument("--part", default="", help="I/N: serve only every N-th host from the I-th (one of N lab processes "
                    "sharing the lab directory, so the lab's CPU is not one GIL); files get a -I suffix")
    args = ap.parse_args(argv)
    suffix, part, parts = "", 0, 1
    if args.part:
        part, parts = (int(x) for x in args.part.split("/", 1))
        suffix = f"-{part}"

    t0 = time.perf_counter()
    parent = os.getppid()
    lab_dir = Path(args.lab_dir)
    inv, seeds = load_source(args.inventory)
    if parts > 1:
        seeds = {n: s for i, (n, s) in enumerate(sorted(seeds.items())) if i % parts == part - 1}
    nofile = _raise_nofile(4 * len(seeds) + 1024)
    servers = LabServers(lab_dir, seeds, latency=args.latency, source=inv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.listeners == "all":
        servers.start()  # hvprov.sim.lab serve: http + https + ssh per host
        written = servers.inventories()["lab-winrm.yml"]
    else:
        for name in seeds:
            port = servers.wsman.add_host(name, scheme="http", users={ADMIN: servers.password}, latency_s=args.latency)
            servers.ports[name] = {"http": port}
        if args.accept == "threads":
            servers.wsman.start()
        else:
            threading.Thread(target=_selector_loop, args=(servers, stop), daemon=True, name="bench-accept").start()
        written = _winrm_inventory(servers, suffix)
    started = time.perf_counter() - t0
    state = {"pid": os.getpid(), "hosts": len(seeds), "listeners": args.listeners, "accept": args.accept,
             "latency_s": args.latency, "startup_s": round(started, 2), "nofile_limit": nofile,
             "threads": len(os.listdir("/proc/self/task")), "fds": len(os.listdir("/proc/self/fd")),
             "inventory": str(written)}
    tmp = lab_dir / f"bench-lab{suffix}.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, lab_dir / f"bench-lab{suffix}.json")
    deadline = time.monotonic() + args.max_seconds
    while not stop.wait(0.5):
        if os.getppid() != parent or time.monotonic() > deadline:
            break
    servers.stop()
    (lab_dir / f"bench-lab{suffix}.json").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
