"""Shared helpers of the benchmark: paths, bounded subprocesses with their resource usage,
generated inventories and playbooks, formatting.

Nothing here is imported by hvprov; the benchmark only uses hvprov's public API and its
simulated lab (hvprov.sim).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable  # the project's venv python (run.py is started with it)
SITE = ROOT / "playbooks" / "site.yml"
LAB_INVENTORY = ROOT / "inventories" / "lab.yml"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- processes
@dataclass
class ProcResult:
    rc: int
    wall: float  # seconds
    user: float  # CPU seconds of the process and the children it waited for
    sys: float
    maxrss_kb: int  # peak RSS of the process (largest of it and its waited-for children)
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys


class BenchTimeout(RuntimeError):
    pass


def run_measured(cmd: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, capture: bool = True) -> ProcResult:
    """Run a command to its end (killed after `timeout` s): wall time and rusage via wait4."""
    out_f = open(os.devnull, "w") if not capture else None  # noqa: SIM115
    proc = subprocess.Popen(
        list(cmd), cwd=str(cwd or ROOT), env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE if capture else out_f, stderr=subprocess.PIPE if capture else out_f,
        text=True, start_new_session=True,
    )
    t0 = time.perf_counter()
    chunks_out: list[str] = []
    chunks_err: list[str] = []
    if capture:  # read in threads so a chatty child never blocks on a full pipe
        import threading

        def pump(stream: Any, sink: list[str]) -> None:
            for line in stream:
                sink.append(line)

        readers = [threading.Thread(target=pump, args=(proc.stdout, chunks_out), daemon=True),
                   threading.Thread(target=pump, args=(proc.stderr, chunks_err), daemon=True)]
        for r in readers:
            r.start()
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            wall = time.perf_counter() - t0
            break
        if time.perf_counter() > deadline:
            with _suppress():
                os.killpg(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            if out_f:
                out_f.close()
            if capture:  # killed: the pipes are at their end, the readers finish
                for r in readers:
                    r.join(timeout=5)
                for stream in (proc.stdout, proc.stderr):
                    if stream is not None:
                        stream.close()
            raise BenchTimeout(f"{' '.join(cmd)[:120]} did not finish within {timeout:.0f}s")
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if capture:
        for r in readers:
            r.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if out_f:
        out_f.close()
    return ProcResult(proc.returncode, wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss,
                      "".join(chunks_out), "".join(chunks_err))


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def callgrind(args: Sequence[str], *, timeout: float, extra: Sequence[str] = ()) -> int:
    """Instructions of `python ARGS` under valgrind's callgrind (the "Collected" count), with the
    bytecode as installed (PYTHONDONTWRITEBYTECODE dropped); `extra`: more valgrind options."""
    import re
    import tempfile

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(["valgrind", "--tool=callgrind", *extra, PY, *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=tempfile.gettempdir())
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"valgrind run failed ({proc.returncode}): {proc.stderr[-2500:]}")
    return int(found.group(1))


def emit(out: dict[str, Any], path: str | None, started: float) -> None:
    """A tool's figures: their seconds added, printed, and written to `path` if given."""
    out["seconds"] = round(time.time() - started, 1)
    text = json.dumps(out, indent=1)
    if path:
        Path(path).write_text(text + "\n")
    print(text)


def run_worker(task: str, params: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (clean RSS/CPU counters): bench/worker.py."""
    res = run_measured([PY, str(BENCH / "worker.py"), task, json.dumps(params)], timeout=timeout)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.rc != 0 or not lines:
        raise RuntimeError(f"worker {task} failed (rc {res.rc}):\n{res.stderr[-3000:]}\n{res.stdout[-1000:]}")
    return json.loads(lines[-1])


def proc_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_counts(pid: int) -> dict[str, int]:
    return {"threads": len(os.listdir(f"/proc/{pid}/task")), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    try:
        import hvprov

        version = getattr(hvprov, "__version__", "?")
    except Exception:  # noqa: BLE001
        version = "?"
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "hvprov": version, "loadavg_1m_at_start": round(load[0], 2), "speed_index_ms": speed_index(),
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def speed_index(repeats: int = 5) -> float:
    """CPU ms of a fixed pure-Python loop (5 million additions), best of `repeats`: this machine
    ran it in 107 to 480 ms on 2026-12-01 between 21:50 and 23:30 UTC (its host's load), and
    time figures taken at different times compare only through it (lower is faster)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.process_time() - t0)
    return round(1000 * best, 1)


def cpu_times() -> tuple[int, int]:
    """(total jiffies, steal jiffies) of the machine, from the first line of /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def busy_pct(a: tuple[int, int], b: tuple[int, int], idle: tuple[int, int]) -> float:
    """Share of all CPU time that was not idle between two readings (idle: the idle jiffies at each)."""
    total = b[0] - a[0]
    return round(100 * (total - (idle[1] - idle[0])) / total, 1) if total else 0.0


def idle_jiffies() -> int:
    """Idle + iowait jiffies of the machine (first line of /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4]


def settle(limit_s: float = 10.0, quiet_pct: float = 15.0, window_s: float = 0.5) -> dict[str, float]:
    """Wait until the machine is quiet (under `quiet_pct` % busy over a `window_s` window), at most
    `limit_s`: what an earlier command left running (ansible-core's forks exiting, a lab server
    shutting down) should not be measured as the next command's cost. Returns the seconds waited
    and the last window's busy %, recorded with the figure (a figure taken on a busy machine says
    so in its `under_load`)."""
    start = time.monotonic()
    while True:
        a, ia = cpu_times(), idle_jiffies()
        time.sleep(window_s)
        b, ib = cpu_times(), idle_jiffies()
        busy = busy_pct(a, b, (ia, ib))
        waited = time.monotonic() - start
        if busy <= quiet_pct or waited >= limit_s:
            return {"settle_s": round(waited, 1), "busy_pct_before": busy}


def steal_pct(a: tuple[int, int], b: tuple[int, int]) -> float:
    """CPU steal (hypervisor took the CPU) between two cpu_times() readings, in % of all CPU time."""
    total = b[0] - a[0]
    return round(100 * (b[1] - a[1]) / total, 2) if total else 0.0


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------- workloads
def engine_playbook(tasks: int) -> list[dict[str, Any]]:
    """M trivial tasks cycling debug (templated msg) / set_fact / assert: valid for both tools."""
    out: list[dict[str, Any]] = []
    for i in range(1, tasks + 1):
        kind = ("debug", "set_fact", "assert")[(i - 1) % 3]
        if kind == "debug":
            task = {"name": f"debug {i}", "debug": {"msg": "{{ inventory_hostname }} step " + str(i) + " of {{ total_steps }}, counter {{ counter | default(0) }}"}}
        elif kind == "set_fact":
            task = {"name": f"set_fact {i}", "set_fact": {"counter": "{{ (counter | default(0) | int) + 1 }}",
                                                           "last_step": i}}
        else:
            task = {"name": f"assert {i}", "assert": {"that": ["counter | int >= 1", "last_step | int <= total_steps | int"],
                                                       "quiet": True}}
        out.append(task)
    return [{"name": "engine overhead", "hosts": "bench", "gather_facts": False, "tasks": out}]


def engine_inventory(hosts: int, tasks: int, *, tool: str, ansible_python: str | None = None) -> dict[str, Any]:
    names = {f"bench{i:04d}": None for i in range(hosts)}
    if tool == "hvprov":  # in-process sim connection: never contacted (no facts, control modules only)
        conn = {"ansible_connection": "sim", "sim_profile": "2019-standard"}
    else:
        conn = {"ansible_connection": "local", "ansible_python_interpreter": ansible_python}
    return {"all": {"children": {"bench": {"hosts": names, "vars": {**conn, "total_steps": tasks}}}}}


FLEET_PROFILES = ("2008r2-standard", "2008r2-enterprise", "2008r2-datacenter", "2012r2-datacenter",
                  "2019-standard", "hyperv-server-2008r2")


def fleet_inventory(hosts: int, *, reboot_seconds: float = 0.2) -> dict[str, Any]:
    """N simulated Hyper-V-capable hosts (mixed 2008 R2 / 2012 R2 / 2019) in hyperv_hosts."""
    names = {f"fleet{i:04d}": {"sim_profile": FLEET_PROFILES[i % len(FLEET_PROFILES)]} for i in range(hosts)}
    return {"all": {"vars": {"ansible_connection": "sim", "ansible_user": "Administrator",
                             "sim": {"reboot_seconds": reboot_seconds}},
                    "children": {"hyperv_hosts": {"hosts": names}, "vm_hosts": {"hosts": {}}}}}


BIGPLAN_PROFILE = "2019-standard"
BIGPLAN_SIM = {"reboot_seconds": 0.2}  # the hosts' seed: the same in every run (a changed seed resets a sim host)


def bigplan_vms(count: int) -> list[dict[str, Any]]:
    return [{"name": f"vm{i:03d}", "memory": 256, "cpus": 1, "disk_size": "1GB", "switch": "Internal"}
            for i in range(count)]


def bigplan_playbook(vm_count: int) -> list[dict[str, Any]]:
    """Facts, one switch and a 50-item hyperv_vm loop (the site playbook's VM task)."""
    return [{
        "name": "big plan", "hosts": "hyperv_hosts", "gather_facts": True,
        "vars": {"vm_dir": "C:\\Hyper-V", "vms": bigplan_vms(vm_count)},
        "tasks": [
            {"name": "Internal switch", "hyperv_vswitch": {"name": "Internal", "type": "internal"}},
            {"name": "VM {{ item.name }}", "hyperv_vm": {
                "name": "{{ item.name }}", "memory": "{{ item.memory }}", "cpus": "{{ item.cpus }}",
                "disks": [{"path": "{{ vm_dir }}\\{{ item.name }}.vhdx", "size": "{{ item.disk_size }}"}],
                "nics": [{"switch": "{{ item.switch }}"}], "notes": "managed by hvprov", "state": "running"},
             "loop": "{{ vms }}", "loop_control": {"label": "{{ item.name }}"}},
        ],
    }]


def bigplan_inventory(hosts: int) -> dict[str, Any]:
    names = {f"big{i:04d}": None for i in range(hosts)}
    return {"all": {"vars": {"ansible_connection": "sim", "sim_profile": BIGPLAN_PROFILE, "sim": BIGPLAN_SIM},
                    "children": {"hyperv_hosts": {"hosts": names}}}}


def converged_fleet(work: Path, hosts: int) -> tuple[Path, Path]:
    """N sim hosts converged by the site playbook (--skip-tags network,vms) through the in-process
    sim connection: (inventory, lab dir), ready for a no-change run over the lab's WinRM."""
    lab = work / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    inv = write_yaml(work / "fleet-sim.yml", fleet_inventory(hosts))
    conv = run_measured([PY, "-m", "hvprov", "apply", str(SITE), "-i", str(inv), "--lab-dir", str(lab),
                         "--skip-tags", "network,vms", "-f", "50", "--format", "json"], timeout=900)
    if conv.rc != 0:
        raise RuntimeError(f"converging failed: {conv.stderr[-2000:]}")
    return inv, lab


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=1000))
    return path


# ---------------------------------------------------------------------------- stats
def summarize(values: Sequence[float]) -> dict[str, float]:
    vals = sorted(values)
    n = len(vals)
    return {"min": vals[0], "median": vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2,
            "max": vals[-1], "n": n}


def dist(values: Sequence[int | float]) -> dict[str, float]:
    vals = sorted(values)
    if not vals:
        return {}
    return {"min": vals[0], "mean": round(sum(vals) / len(vals), 3), "max": vals[-1]}


# ---------------------------------------------------------------------------- machine load
class Conditions:
    """The machine's 1-minute load and CPU steal before and during one measurement.

    ``with Conditions() as c: ...`` then ``c.figures()``: ``loadavg_1m`` [before, at the end]
    (the 1-minute average at the end covers the run), ``steal_pct`` during it, and
    ``under_load`` when either load exceeded the cores (the figure was taken on a busy machine).
    """

    def __enter__(self) -> Conditions:
        self.load0, self.t0 = loadavg(), cpu_times()
        return self

    def __exit__(self, *exc: object) -> None:
        self.load1, self.t1 = loadavg(), cpu_times()

    def figures(self) -> dict[str, Any]:
        cores = os.cpu_count() or 1
        return {"loadavg_1m": [self.load0, self.load1], "steal_pct": steal_pct(self.t0, self.t1),
                "under_load": max(self.load0, self.load1) > cores}


def measured(cmd: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
             quiet: bool = False) -> dict[str, Any]:
    """One CLI run (wall, CPU of it and its children, peak RSS) with the load it ran under; raises on rc != 0.
    `quiet`: first wait (bounded) for the machine to be quiet (settle), and record how long."""
    calm = settle() if quiet else {}
    with Conditions() as c:
        r = run_measured(cmd, timeout=timeout, env=env)
    if r.rc != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} {' '.join(cmd[1:4])} exited {r.rc}: {r.stderr[-2000:]} {r.stdout[-800:]}")
    return {"wall_s": round(r.wall, 3), "cpu_s": round(r.cpu, 3), "maxrss_kb": r.maxrss_kb, **c.figures(), **calm}


def compile_bytecode() -> str:
    """Byte-compile hvprov as `pip install` does (this shell may set PYTHONDONTWRITEBYTECODE, and a
    checkout has no .pyc): start-up figures must not include compiling hvprov's sources."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    r = subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "hvprov")], env=env, capture_output=True,
                       text=True, timeout=300)
    return "compiled (as pip install does)" if r.returncode == 0 else f"compileall failed: {r.stderr[-300:]}"
