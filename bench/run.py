"""hvprov benchmarks: engine overhead against ansible-core, round trips, fleet scale, big plans, profiles.

    .venv/bin/python bench/run.py                 # full run (~10-15 min on 2 cores): bench/results.json
    .venv/bin/python bench/run.py --quick         # smaller sizes (< 2 min): bench/results-quick.json
    .venv/bin/python bench/run.py --only engine,roundtrips,fleet,bigplan,profile
    .venv/bin/python bench/run.py --no-ansible    # hvprov figures only (no ansible-core install)

Prints a table of figures, each against its goal, and writes them as JSON. Benchmarks print
figures; they are not timed unit tests (CI runs tests/test_bench_smoke.py only). Every
measurement runs in a fresh interpreter (bench/worker.py) with a time limit; network traffic
goes to 127.0.0.1 only. ansible-core is installed, when missing, into bench/.venv-ansible
(its own virtual environment, not a project dependency). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from benchlib import (  # noqa: E402
    BENCH,
    BIGPLAN_PROFILE,
    BIGPLAN_SIM,
    PY,
    SITE,
    BenchTimeout,
    Conditions,
    bigplan_inventory,
    bigplan_playbook,
    compile_bytecode,
    engine_inventory,
    engine_playbook,
    fleet_inventory,
    machine,
    measured,
    proc_counts,
    proc_cpu_seconds,
    run_measured,
    run_worker,
    settle,
    speed_index,
    summarize,
    write_yaml,
)

SECTIONS = ("engine", "roundtrips", "winrmcpu", "fleet", "scale", "secrets", "bigplan", "profile")
ANSIBLE_SPEC = "ansible-core>=2.19,<2.20"
ANSIBLE_12MS = 12.0  # ms per host-task, ansible-core 2.19, 200 hosts x 10 debug tasks, forks 50 (the issue)


@dataclass
class Config:
    quick: bool
    engine_hosts: int
    engine_tasks: int
    engine_forks: int
    hvprov_repeats: int
    ansible_repeats: int
    fleet_hosts: int
    fleet_forks: int
    latency: float
    fleet_probes: bool
    tracemalloc: bool
    bigplan_hosts: int
    bigplan_vms: int
    bigplan_forks: int
    profile_hosts: int
    ansible: bool
    ansible_venv: Path
    fleet_reps: int = 2
    fleet_variants: tuple[str, ...] = ("threads", "workers2", "dask2")
    lab_processes: int = 2
    scale_hosts: int = 10000
    secrets_hosts: int = 2000
    secrets_repeats: int = 3
    winrm_hosts: int = 200
    winrm_repeats: int = 5


def make_config(args: argparse.Namespace) -> Config:
    q = args.quick
    cfg = Config(
        quick=q,
        engine_hosts=50 if q else 200, engine_tasks=10, engine_forks=50,
        hvprov_repeats=3, ansible_repeats=3,  # interleaved: the same number of runs each
        fleet_hosts=100 if q else 1000, fleet_forks=20 if q else 100, latency=0.02,
        tracemalloc=not q,
        bigplan_hosts=50 if q else 1000, bigplan_vms=50, bigplan_forks=100,
        profile_hosts=20 if q else 100,
        ansible=not args.no_ansible, ansible_venv=Path(args.ansible_venv),
        fleet_reps=1 if q else 2, fleet_probes=args.fleet_probes,
        fleet_variants=tuple(v for v in args.fleet_variants.split(",") if v),
        scale_hosts=500 if q else 10000, secrets_hosts=200 if q else 2000, secrets_repeats=1 if q else 3,
        winrm_hosts=50 if q else 200, winrm_repeats=1 if q else 5,
    )
    if q:
        cfg.hvprov_repeats = cfg.ansible_repeats = 1
    if args.engine_repeats:  # both tools: interleaved runs, the same number each
        cfg.hvprov_repeats = cfg.ansible_repeats = args.engine_repeats
    for name in ("engine_hosts", "engine_tasks", "fleet_hosts", "fleet_forks", "bigplan_hosts", "scale_hosts",
                 "secrets_hosts", "lab_processes"):
        value = getattr(args, name)
        if value:
            setattr(cfg, name, value)
    return cfg


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- ansible-core
def ensure_ansible(venv: Path) -> tuple[Path | None, str]:
    """ansible-playbook of an ansible-core 2.19 venv (created with pip when missing)."""
    exe = venv / "bin" / "ansible-playbook"
    if not exe.exists():
        log(f"installing {ANSIBLE_SPEC} + pywinrm into {venv} (one time)")
        base = Path(sys.base_prefix) / "bin" / "python3"
        try:
            subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", ANSIBLE_SPEC, "pywinrm"], check=True,
                           timeout=900, capture_output=True)
        except (subprocess.SubprocessError, OSError) as exc:
            return None, f"cannot install ansible-core: {exc}"
    try:
        out = subprocess.run([str(venv / "bin" / "ansible"), "--version"], capture_output=True, text=True, timeout=60)
        version = out.stdout.splitlines()[0].strip()
    except (subprocess.SubprocessError, OSError, IndexError) as exc:
        return None, f"ansible does not run: {exc}"
    return exe, version


def ansible_env(work: Path) -> dict[str, str]:
    return {**os.environ, "ANSIBLE_HOME": str(work / "ansible-home"), "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_DEPRECATION_WARNINGS": "False", "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_CONFIG": str(work / "none.cfg")}


# ---------------------------------------------------------------------------- engine
def section_engine(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    n, m, forks = cfg.engine_hosts, cfg.engine_tasks, cfg.engine_forks
    d = work / "engine"
    book = write_yaml(d / "playbook.yml", engine_playbook(m))
    hv_inv = write_yaml(d / "hvprov.yml", engine_inventory(n, m, tool="hvprov"))
    hv_one = write_yaml(d / "hvprov-1.yml", engine_inventory(1, 1, tool="hvprov"))
    book_one = write_yaml(d / "playbook-1.yml", engine_playbook(1))
    out: dict[str, Any] = {"hosts": n, "tasks": m, "forks": forks, "host_tasks": n * m,
                           "workload": "gather_facts: false; tasks cycle debug (templated msg) / set_fact / assert"}

    def cli(inv: Path, pb: Path) -> list[str]:
        return [PY, "-m", "hvprov", "apply", str(pb), "-i", str(inv), "-f", str(forks), "--lab-dir", str(d / "lab"),
                "--format", "json"]

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"runs": runs, "wall_s": summarize([x["wall_s"] for x in runs]),
                "cpu_s": summarize([x["cpu_s"] for x in runs]), "under_load": any(x["under_load"] for x in runs)}

    exe = state.get("ansible_playbook")
    a_inv = a_one = env = None
    if exe:
        a_inv = write_yaml(d / "ansible.yml", engine_inventory(n, m, tool="ansible",
                                                              ansible_python=str(Path(exe).parent / "python")))
        a_one = write_yaml(d / "ansible-1.yml", engine_inventory(1, 1, tool="ansible",
                                                                ansible_python=str(Path(exe).parent / "python")))
        (d / "none.cfg").write_text("[defaults]\n")
        env = ansible_env(d)
    # interleaved: every repetition runs each command once, hvprov and ansible-core alike
    cmds: dict[str, tuple[list[str], dict[str, str] | None, float]] = {
        "hv_cli": (cli(hv_inv, book), None, 600), "hv_1x1": (cli(hv_one, book_one), None, 120),
        "hv_plan_1x1": ([*cli(hv_one, book_one)[:3], "plan", *cli(hv_one, book_one)[4:]], None, 120),
        "hv_help": ([PY, "-m", "hvprov", "--help"], None, 60),
        # the default console output (piped, as ansible-playbook's here): a line per host and task
        "hv_console": ([c for c in cli(hv_inv, book) if c not in ("--format", "json")], None, 600),
    }
    if exe:
        cmds["a_cli"] = ([exe, "-i", str(a_inv), str(book), "-f", str(forks)], env, 900)
        cmds["a_1x1"] = ([exe, "-i", str(a_one), str(book_one), "-f", str(forks)], env, 300)
    reps = max(cfg.hvprov_repeats, cfg.ansible_repeats if exe else 0)
    got: dict[str, list[dict[str, Any]]] = {k: [] for k in cmds}
    for rep in range(reps):
        order = list(cmds) if rep % 2 == 0 else list(reversed(cmds))
        log(f"engine: repetition {rep + 1}/{reps}: {', '.join(order)} ({n} hosts x {m} tasks, forks {forks})")
        for key in order:
            cmd, cenv, limit = cmds[key]
            got[key].append(measured(cmd, timeout=limit, env=cenv, quiet=True))
    hv_cli, hv_start = summary(got["hv_cli"]), summary(got["hv_1x1"])
    out["startup"] = {"help": summary(got["hv_help"]), "plan_1x1": summary(got["hv_plan_1x1"]),
                      "apply_1x1": hv_start, "bytecode": state.get("bytecode", "?")}
    hv_console = summary(got["hv_console"])
    out["repetitions"] = reps
    log("engine: hvprov in-process (hvprov.apply)")
    hv_api = run_worker("engine_api", {"playbook": str(book), "inventory": str(hv_inv), "forks": forks,
                                       "repeats": cfg.hvprov_repeats, "lab_dir": str(d / "lab"), "hosts": n}, timeout=600)
    hv_api_1 = run_worker("engine_api", {"playbook": str(book), "inventory": str(hv_inv), "forks": 1,
                                         "repeats": cfg.hvprov_repeats, "lab_dir": str(d / "lab"), "hosts": n}, timeout=600)
    ht = n * m
    out["hvprov"] = {
        "cli": hv_cli, "cli_startup_1x1": hv_start, "api": hv_api, "api_forks1": hv_api_1, "cli_console": hv_console,
        "ms_per_host_task_cli_console": round(1000 * hv_console["wall_s"]["min"] / ht, 3),
        "ms_per_host_task_cli": round(1000 * hv_cli["wall_s"]["min"] / ht, 3),
        "ms_per_host_task_cli_marginal": round(1000 * (hv_cli["wall_s"]["min"] - hv_start["wall_s"]["min"]) / ht, 3),
        "cpu_ms_per_host_task_cli": round(1000 * hv_cli["cpu_s"]["min"] / ht, 3),
        "ms_per_host_task_api": round(1000 * hv_api["wall_s"]["min"] / ht, 3),
        "cpu_ms_per_host_task_api": round(1000 * hv_api["cpu_s"]["min"] / ht, 3),
        "ms_per_host_task_api_forks1": round(1000 * hv_api_1["wall_s"]["min"] / ht, 3),
    }
    if exe:
        a_cli, a_start = summary(got["a_cli"]), summary(got["a_1x1"])
        out["ansible"] = {
            "version": state.get("ansible_version"), "cli": a_cli, "cli_startup_1x1": a_start,
            "ms_per_host_task_cli": round(1000 * a_cli["wall_s"]["min"] / ht, 3),
            "ms_per_host_task_cli_marginal": round(1000 * (a_cli["wall_s"]["min"] - a_start["wall_s"]["min"]) / ht, 3),
            "cpu_ms_per_host_task_cli": round(1000 * a_cli["cpu_s"]["min"] / ht, 3),
        }
        h, a = out["hvprov"], out["ansible"]
        out["ratio_cli"] = round(a["ms_per_host_task_cli"] / h["ms_per_host_task_cli"], 1)
        out["ratio_cli_marginal"] = round(a["ms_per_host_task_cli_marginal"] / max(h["ms_per_host_task_cli_marginal"], 1e-6), 1)
        out["ratio_cpu"] = round(a["cpu_ms_per_host_task_cli"] / h["cpu_ms_per_host_task_cli"], 1)
        out["ratio_api"] = round(a["ms_per_host_task_cli"] / h["ms_per_host_task_api"], 1)
        out["ratio_cli_console"] = round(a["ms_per_host_task_cli"] / h["ms_per_host_task_cli_console"], 1)
    else:
        out["ansible"] = {"skipped": state.get("ansible_error", "--no-ansible")}
        h = out["hvprov"]
        out["ratio_vs_issue_12ms"] = round(ANSIBLE_12MS / h["ms_per_host_task_cli"], 1)
    return out


# ---------------------------------------------------------------------------- round trips
def section_roundtrips(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    d = work / "roundtrips"
    log("roundtrips: site.yml over the lab's WinRM endpoint (in-process LabServers): fresh, converged, plan")
    params = {"lab_dir": str(d), "forks": 13, "reboot_seconds": 0.5}
    if state.get("ansible_playbook"):
        params.update(ansible_playbook=state["ansible_playbook"], ansible_host="hv-2019", ansible_tasks=3)
    res = run_worker("roundtrips", params, timeout=600)

    def agg(label: str, key: str, only: Callable[[dict[str, Any]], bool] = lambda h: True) -> dict[str, Any]:
        vals = [h[key] for h in res["runs"][label]["hosts"].values() if only(h)]
        return {"min": min(vals), "mean": round(sum(vals) / len(vals), 2), "max": max(vals)} if vals else {}

    ok = lambda h: h["status"] != "failed"  # noqa: E731 - supported editions (the refused ones stop early)
    res["per_host"] = {
        label: {"scripts_run": agg(label, "scripts_run"), "round_trips": agg(label, "round_trips"),
                "server_requests": agg(label, "server_requests"),
                "supported_scripts_run": agg(label, "scripts_run", ok),
                "supported_server_requests": agg(label, "server_requests", ok)}
        for label in res["runs"]
    }
    return res


# ---------------------------------------------------------------------------- fleet
class LabProcess:
    """bench/labserve.py in its own process; stopped (by its pid) on exit."""

    def __init__(self, inventory: Path, lab_dir: Path, latency: float, *extra: str, timeout: float = 180,
                 part: tuple[int, int] | None = None) -> None:
        self.lab_dir = lab_dir
        suffix = f"-{part[0]}" if part else ""
        state_file = lab_dir / f"bench-lab{suffix}.json"
        state_file.unlink(missing_ok=True)
        self.log = open(lab_dir.parent / f"labserve-{int(time.time() * 1000)}{suffix}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([PY, str(BENCH / "labserve.py"), "-i", str(inventory), "--lab-dir", str(lab_dir),
                                      "--latency", str(latency), "--max-seconds", "2400", *extra,
                                      *(["--part", f"{part[0]}/{part[1]}"] if part else [])],
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        self.state: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lab server exited {self.proc.returncode}: see {self.log.name}")
            with contextlib.suppress(OSError, ValueError):
                self.state = json.loads(state_file.read_text())
                break
            time.sleep(0.2)
        else:
            self.stop()
            raise BenchTimeout(f"lab server not serving after {timeout:.0f}s")

    def cpu(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def _idle_cpu(pid: int, seconds: float) -> float:
    a = proc_cpu_seconds(pid)
    time.sleep(seconds)
    return round((proc_cpu_seconds(pid) - a) / seconds, 3)


def probe_lab(inventory: Path, lab_dir: Path, cmd_extra: list[str], budget: float, official: bool) -> dict[str, Any]:
    """Start a lab variant for at most `budget` seconds: startup time, threads, fds, idle CPU (cores)."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    if official:
        cmd = [PY, "-m", "hvprov.sim.lab", "serve", "-i", str(inventory), "--lab-dir", str(lab_dir), "--latency", "0.02"]
        ready_file = lab_dir / "servers.json"
    else:
        cmd = [PY, str(BENCH / "labserve.py"), "-i", str(inventory), "--lab-dir", str(lab_dir), "--latency", "0.02",
               "--max-seconds", str(budget + 60), *cmd_extra]
        ready_file = lab_dir / "bench-lab.json"
    ready_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    out: dict[str, Any] = {"command": " ".join(Path(c).name if i < 2 else c for i, c in enumerate(cmd[:6])) + " ..."}
    try:
        while time.perf_counter() - t0 < budget and proc.poll() is None and not ready_file.exists():
            time.sleep(0.25)
        out["ready"] = ready_file.exists()
        out["startup_s" if out["ready"] else "not_ready_after_s"] = round(time.perf_counter() - t0, 1)
        if proc.poll() is None:
            out.update(proc_counts(proc.pid))
            out["cpu_s_so_far"] = round(proc_cpu_seconds(proc.pid), 1)
            out["idle_cpu_cores"] = _idle_cpu(proc.pid, 3.0)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    return out


class LabFleet:
    """The fleet's lab in N processes (bench/labserve.py --part I/N), so the lab's CPU is not one
    GIL; one merged WinRM inventory. Stopped by their pids."""

    def __init__(self, inventory: Path, lab_dir: Path, latency: float, processes: int) -> None:
        self.parts: list[LabProcess] = []
        try:
            for i in range(1, processes + 1):
                self.parts.append(LabProcess(inventory, lab_dir, latency, part=(i, processes) if processes > 1 else None))
        except BaseException:
            self.stop()
            raise
        docs = [yaml.safe_load(Path(p.state["inventory"]).read_text()) for p in self.parts]
        merged = docs[0]
        for doc in docs[1:]:
            _merge(merged, doc)
        self.inventory = write_yaml(lab_dir / "inventories" / "lab-winrm-all.yml", merged)
        self.state = {"processes": processes, "hosts": sum(p.state["hosts"] for p in self.parts),
                      "startup_s": max(p.state["startup_s"] for p in self.parts),
                      "listeners": self.parts[0].state.get("listeners"), "accept": self.parts[0].state.get("accept")}

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.parts)

    def idle_cores(self, seconds: float) -> float:
        a = self.cpu()
        time.sleep(seconds)
        return round((self.cpu() - a) / seconds, 3)

    def stop(self) -> None:
        for p in self.parts:
            p.stop()


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


FLEET_VARIANTS = {"threads": (0, 0), "workers2": (2, 0), "dask2": (0, 2)}  # name: (process pool, Dask LocalCluster)


def section_fleet(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    n, forks, latency = cfg.fleet_hosts, cfg.fleet_forks, cfg.latency
    d = work / "fleet"
    lab = d / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    inv = write_yaml(d / "fleet-sim.yml", fleet_inventory(n))
    out: dict[str, Any] = {"hosts": n, "forks": forks, "latency_s": latency, "reps": cfg.fleet_reps,
                           "playbook": "playbooks/site.yml --skip-tags network,vms (facts, prereqs, role, reboot)",
                           "in_flight": f"{forks} hosts at a time in every variant (processes: forks/N threads each)"}
    log(f"fleet: converging {n} sim hosts through the in-process sim connection")
    conv = run_measured([PY, "-m", "hvprov", "apply", str(SITE), "-i", str(inv), "--lab-dir", str(lab), "--skip-tags",
                         "network,vms", "-f", str(forks), "--format", "json"], timeout=900)
    summary = json.loads(conv.stdout)["summary"] if conv.stdout.strip().startswith("{") else {}
    if conv.rc != 0:
        raise RuntimeError(f"converging the fleet failed (rc {conv.rc}): {conv.stderr[-2000:]}")
    out["converge_sim"] = {"wall_s": round(conv.wall, 2), "cpu_s": round(conv.cpu, 2), "summary": summary}
    log(f"fleet: lab in {cfg.lab_processes} process(es) ({n} hosts, http+NTLM listeners, latency {latency * 1000:.0f} ms)")
    labp = LabFleet(inv, lab, latency, cfg.lab_processes)
    cores = os.cpu_count() or 1
    try:
        out["lab"] = {**labp.state, "idle_cpu_cores": labp.idle_cores(2.0)}
        runs: dict[str, list[dict[str, Any]]] = {}
        plan = [v for v in cfg.fleet_variants if v in FLEET_VARIANTS]
        for rep in range(cfg.fleet_reps):
            for variant in plan if rep % 2 == 0 else list(reversed(plan)):  # interleaved, alternating order
                procs, dask = FLEET_VARIANTS[variant]
                jobs = procs or dask or 1
                log(f"fleet: apply (no change) over WinRM, {variant}, {forks} in flight, repetition {rep + 1}/{cfg.fleet_reps}")
                lab0 = labp.cpu()
                with Conditions() as c:
                    fig = run_worker("fleet_ctl", {"playbook": str(SITE), "inventory": str(labp.inventory),
                                                   "mode": "apply", "forks": max(1, forks // jobs),
                                                   "skip_tags": ["network", "vms"], "lab_dir": str(d / "ctl"),
                                                   "workers": procs, "dask": dask}, timeout=900)
                fig.update(c.figures())
                fig["lab_cpu_s"] = round(labp.cpu() - lab0, 2)
                _fleet_figures(fig, n, forks, latency, cores)
                runs.setdefault(variant, []).append(fig)
        out["runs"] = {v: min(rs, key=lambda r: r["wall_s"]) for v, rs in runs.items()}  # best of the repetitions
        out["all_runs"] = {v: [{k: r[k] for k in ("wall_s", "cpu_s", "lab_cpu_s", "loadavg_1m", "steal_pct",
                                                  "under_load", "status")} for r in rs] for v, rs in runs.items()}
        if "threads" in runs:
            base = min(r["wall_s"] for r in runs["threads"])
            out["speedup_vs_threads"] = {v: round(base / min(r["wall_s"] for r in rs), 2) for v, rs in runs.items()}
        if cfg.tracemalloc:
            log("fleet: plan under tracemalloc (threads)")
            fig = run_worker("fleet_ctl", {"playbook": str(SITE), "inventory": str(labp.inventory), "mode": "plan",
                                           "forks": forks, "skip_tags": ["network", "vms"], "lab_dir": str(d / "ctl"),
                                           "tracemalloc": True}, timeout=900)
            out["plan_tracemalloc"] = {"tracemalloc_per_host_kb": round(fig["tracemalloc_peak_kb"] / n, 1),
                                       "wall_s": fig["wall_s"], "status": fig["status"]}
    finally:
        labp.stop()
    if cfg.fleet_probes:  # after the measurements: the official lab's busy threads would disturb them
        log("fleet: lab feasibility probes (official 3-listener lab; thread-per-listener http lab)")
        out["lab_probes"] = {
            "official_all_listeners": probe_lab(inv, d / "probe-official", [], 30, official=True),
            "http_only_thread_per_listener": probe_lab(inv, d / "probe-threads", ["--accept", "threads"], 120, official=False),
        }
    return out


def _fleet_figures(fig: dict[str, Any], n: int, forks: int, latency: float, cores: int) -> None:
    """The ideal: max(latency bound at the requests actually made, CPU bound = controller + lab CPU over the cores)."""
    req = fig["round_trips"]["mean"]  # read after the sessions closed: the Delete is counted
    batches = math.ceil(n / forks)
    fig["requests_per_host"] = req
    fig["latency_bound_s"] = round(batches * req * latency, 3)
    fig["cpu_bound_s"] = round((fig["cpu_s"] + fig["lab_cpu_s"]) / cores, 3)
    fig["controller_cpu_ms_per_host"] = round(1000 * fig["cpu_s"] / n, 2)
    fig["lab_cpu_ms_per_host"] = round(1000 * fig["lab_cpu_s"] / n, 2)
    fig["ideal_s"] = max(fig["latency_bound_s"], fig["cpu_bound_s"])
    fig["vs_ideal"] = round(fig["wall_s"] / fig["ideal_s"], 2)
    fig["mem_per_host_kb"] = round((fig["maxrss_kb"] - fig["rss_before_kb"]) / n, 1)


# ---------------------------------------------------------------------------- scale and secrets
def _plan_cli(inv: Path, lab: Path, forks: int) -> list[str]:
    return [PY, "-m", "hvprov", "plan", str(SITE), "-i", str(inv), "--lab-dir", str(lab), "--skip-tags", "network,vms",
            "-f", str(forks), "--format", "json"]


def section_scale(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    """A plan of N fresh sim hosts through the CLI: wall, CPU, peak RSS; memory per host is the
    peak RSS minus the same plan's on 1 host, over the N - 1 other hosts."""
    n, forks = cfg.scale_hosts, 100
    d = work / "scale"
    inv = write_yaml(d / "fleet.yml", fleet_inventory(n))
    one = write_yaml(d / "one.yml", fleet_inventory(1))
    out: dict[str, Any] = {"hosts": n, "forks": forks, "workload": "hvprov plan playbooks/site.yml --skip-tags "
                           "network,vms (facts, prereqs, role, reboot) on fresh sim hosts, --format json"}
    log(f"scale: plan of 1 sim host (the baseline), then of {n}")
    out["baseline_1"] = measured(_plan_cli(one, d / "lab-1", forks), timeout=300)
    run = measured(_plan_cli(inv, d / "lab", forks), timeout=1800)
    run["mem_per_host_kb"] = round((run["maxrss_kb"] - out["baseline_1"]["maxrss_kb"]) / max(1, n - 1), 1)
    run["ms_per_host"] = round(1000 * run["wall_s"] / n, 3)
    run["cpu_ms_per_host"] = round(1000 * run["cpu_s"] / n, 3)
    out["plan"] = run
    return out


def secrets_inventory(hosts: int, distinct: bool) -> dict[str, Any]:
    """The fleet inventory with an ansible_password on every host: a different one each (as LAPS
    gives a Windows fleet) or the same one everywhere; the same structure and value length."""
    doc = fleet_inventory(hosts)
    for i, hv in enumerate(doc["all"]["children"]["hyperv_hosts"]["hosts"].values()):
        hv["ansible_password"] = f"Laps-{i:06d}-x7Q!" if distinct else "Laps-shared0-x7Q!"
    return doc


def section_secrets(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    n, forks, reps = cfg.secrets_hosts, 100, cfg.secrets_repeats
    d = work / "secrets"
    invs = {"distinct": write_yaml(d / "distinct.yml", secrets_inventory(n, True)),
            "shared": write_yaml(d / "shared.yml", secrets_inventory(n, False))}
    got: dict[str, list[dict[str, Any]]] = {"distinct": [], "shared": []}
    for rep in range(reps):
        for kind in ("distinct", "shared") if rep % 2 == 0 else ("shared", "distinct"):  # interleaved
            log(f"secrets: plan of {n} hosts, {kind} passwords, repetition {rep + 1}/{reps}")
            got[kind].append(measured(_plan_cli(invs[kind], d / f"lab-{kind}-{rep}", forks), timeout=900))
    out: dict[str, Any] = {"hosts": n, "forks": forks, "repetitions": reps, "runs": got,
                           "workload": "hvprov plan playbooks/site.yml --skip-tags network,vms on fresh sim hosts, "
                                       "an ansible_password per host"}
    for kind, rs in got.items():
        out[kind] = {"cpu_s": summarize([r["cpu_s"] for r in rs]), "wall_s": summarize([r["wall_s"] for r in rs]),
                     "under_load": any(r["under_load"] for r in rs)}
    out["cpu_ratio"] = round(out["distinct"]["cpu_s"]["min"] / out["shared"]["cpu_s"]["min"], 3)
    out["cpu_ratio_median"] = round(out["distinct"]["cpu_s"]["median"] / out["shared"]["cpu_s"]["median"], 3)
    return out


# ---------------------------------------------------------------------------- big plan
def prepare_bigplan(d: Path, hosts: int, vms: int) -> tuple[Path, Path, dict[str, Any]]:
    book = write_yaml(d / "playbook.yml", bigplan_playbook(vms))
    inv = write_yaml(d / "inventory.yml", bigplan_inventory(hosts))
    names = list(bigplan_inventory(hosts)["all"]["children"]["hyperv_hosts"]["hosts"])
    prep = run_worker("bigplan_prepare", {"lab_dir": str(d / "lab"), "inventory": str(inv), "playbook": str(book),
                                          "template_host": names[0], "profile": BIGPLAN_PROFILE, "sim": BIGPLAN_SIM,
                                          "hosts": names},
                      timeout=900)
    return book, inv, prep


def section_bigplan(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    n, vms = cfg.bigplan_hosts, cfg.bigplan_vms
    d = work / "bigplan"
    log(f"bigplan: preparing {n} sim hosts with {vms} VMs each")
    book, inv, prep = prepare_bigplan(d, n, vms)
    out: dict[str, Any] = {"hosts": n, "vms_per_host": vms, "forks": cfg.bigplan_forks, "prepare": prep,
                           "workload": "hvprov plan: facts + 1 switch + hyperv_vm loop over 50 VMs (all present: 0 changes)"}
    runs = {}
    for label, trace in [("plan", False), *([("plan_tracemalloc", True)] if cfg.tracemalloc else [])]:
        log(f"bigplan: {label} {n} hosts x {vms} VMs")
        with Conditions() as c:
            fig = run_worker("bigplan", {"playbook": str(book), "inventory": str(inv), "lab_dir": str(d / "lab"),
                                         "forks": cfg.bigplan_forks, "tracemalloc": trace}, timeout=1200)
        fig.update(c.figures())
        fig["mem_per_host_kb"] = round((fig["maxrss_kb"] - fig["rss_before_kb"]) / n, 1)
        if "tracemalloc_peak_kb" in fig:
            fig["tracemalloc_per_host_kb"] = round(fig["tracemalloc_peak_kb"] / n, 1)
        fig["ms_per_host"] = round(1000 * fig["wall_s"] / n, 2)
        fig["cpu_ms_per_vm_item"] = round(1000 * fig["cpu_s"] / (n * vms), 3)
        runs[label] = fig
    out["runs"] = runs
    return out


# ---------------------------------------------------------------------------- profiles
def ensure_pyinstrument() -> bool:
    """pyinstrument (sampling profiler) in bench/.pydeps, outside the project's venv."""
    target = BENCH / ".pydeps"
    if (target / "pyinstrument").is_dir():
        return True
    log("installing pyinstrument into bench/.pydeps (one time)")
    try:
        subprocess.run([PY, "-m", "pip", "install", "-q", "--target", str(target), "pyinstrument>=4.6"], check=True,
                       timeout=300, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"pyinstrument unavailable ({exc}): cProfile only")
        return False
    return True


# (what, file substring, function; None: the package's self time) reported for each profile
HOT_SPOTS: dict[str, list[tuple[str, str, str | None]]] = {
    "engine": [
        ("args templating", "hvprov/templating.py", "template"),
        ("jinja2 context per render (copies all variables)", "jinja2/runtime.py", "new_context"),
        ("debug/set_fact/assert plan", "hvprov/modules/control.py", "plan"),
        ("recording results (mask, TaskResult, events)", "hvprov/taskexec.py", "_finish"),
        ("task variables dict", "hvprov/taskexec.py", "variables"),
        ("Playbook.base_dir (a Path per task)", "hvprov/playbook.py", "base_dir"),
        ("YAML load (pure-Python SafeLoader)", "hvprov/yamlsrc.py", "load_yaml_text"),
        ("secret scrubbing", "hvprov/runner.py", "_scrub"),
    ],
    "bigplan": [
        ("args templating (all)", "hvprov/templating.py", "template"),
        ("probe_paths: VM args templated before facts", "hvprov/taskexec.py", "probe_paths"),
        ("jinja2 context per render (copies all variables)", "jinja2/runtime.py", "new_context"),
        ("_holds_template re-walk of every rendered value", "hvprov/templating.py", "_holds_template"),
        ("facts gathering (regather)", "hvprov/session.py", "regather"),
        ("  of which the in-process simulator", "hvprov/transports/sim.py", "run"),
        ("HostFacts.to_dict (dataclasses.asdict)", "hvprov/facts.py", "to_dict"),
        ("parse_facts", "hvprov/facts.py", "parse_facts"),
        ("task name per loop item (_name)", "hvprov/taskexec.py", "_name"),
        ("hyperv_vm plan", "hvprov/modules/vm.py", "plan"),
        ("YAML load", "hvprov/yamlsrc.py", "load_yaml_text"),
    ],
    "fleet": [
        ("waiting for the lab (socket recv)", "", "recv_into"),
        ("shell open incl. NTLM handshake (WinRMTransport._connect)", "hvprov/transports/winrm.py", "_connect"),
        ("one script (WinRMTransport._run_once)", "hvprov/transports/winrm.py", "_run_once"),
        ("sessions closed at the end (HostSession.close)", "hvprov/session.py", "close"),
        ("pywinrm envelopes (xmltodict.unparse)", "xmltodict.py", "unparse"),
        ("requests proxy lookup in os.environ (should_bypass_proxies)", "requests/utils.py", "should_bypass_proxies"),
        ("pyspnego NTLM + sealing (self time)", "spnego", None),
        ("requests (self time)", "requests", None),
        ("urllib3 (self time)", "urllib3", None),
        ("facts script render", "hvprov/render.py", "render"),
        ("parse_facts", "hvprov/facts.py", "parse_facts"),
        ("YAML inventory load", "hvprov/yamlsrc.py", "load_yaml_text"),
    ],
}


def section_profile(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    d = work / "profile"
    pdir = BENCH / "profiles" / ("quick" if cfg.quick else "")
    tools = ["pyinstrument", "cprofile"] if ensure_pyinstrument() else ["cprofile"]
    out: dict[str, Any] = {"note": "the thread path (BatchRun), every host run inline in one thread (InlineThreadExecutor); pyinstrument samples every "
                                   "0.5 ms (little distortion), cProfile counts calls (inflates many-small-call code "
                                   "such as pure-Python YAML); dumps in bench/profiles/", "tools": tools}

    def profile(name: str, params: dict[str, Any]) -> dict[str, Any]:
        res = {}
        for tool in tools:
            ext = "pyisession" if tool == "pyinstrument" else "prof"
            res[tool] = run_worker("profile", {**params, "tool": tool, "out": str(pdir / f"{name}.{ext}"), "top": 25,
                                               "markers": HOT_SPOTS[name]}, timeout=900)
        return res

    n, m = cfg.engine_hosts, cfg.engine_tasks
    book = write_yaml(d / "engine" / "playbook.yml", engine_playbook(m))
    inv = write_yaml(d / "engine" / "hvprov.yml", engine_inventory(n, m, tool="hvprov"))
    log(f"profile: engine overhead ({n} x {m}) with {', '.join(tools)}")
    out["engine"] = profile("engine", {"playbook": str(book), "inventory": str(inv), "lab_dir": str(d / "lab"),
                                       "warm_limit": "bench0000"})
    hosts = cfg.profile_hosts
    log(f"profile: big plan ({hosts} hosts x {cfg.bigplan_vms} VMs)")
    try:  # one workload's failure must not lose the others' profiles
        bbook, binv, _ = prepare_bigplan(d / "bigplan", hosts, cfg.bigplan_vms)
        out["bigplan"] = profile("bigplan", {"playbook": str(bbook), "inventory": str(binv), "mode": "plan",
                                             "lab_dir": str(d / "bigplan" / "lab"), "warm_limit": "big0000"})
    except (RuntimeError, BenchTimeout) as exc:
        out["bigplan"] = {"error": str(exc)[:1500]}
        log(f"profile: big plan FAILED: {str(exc)[:300]}")
    fhosts = max(10, hosts // 2)
    log(f"profile: fleet controller over WinRM ({fhosts} hosts, no latency; lab in another process)")
    fd = d / "fleet"
    (fd / "lab").mkdir(parents=True, exist_ok=True)
    finv = write_yaml(fd / "fleet-sim.yml", fleet_inventory(fhosts))
    conv = run_measured([PY, "-m", "hvprov", "apply", str(SITE), "-i", str(finv), "--lab-dir", str(fd / "lab"),
                         "--skip-tags", "network,vms", "-f", "50"], timeout=600, capture=False)
    if conv.rc != 0:
        raise RuntimeError(f"converging the profile fleet failed (rc {conv.rc})")
    labp = LabProcess(finv, fd / "lab", 0.0)
    try:
        out["fleet"] = profile("fleet", {"playbook": str(SITE), "inventory": labp.state["inventory"],
                                         "skip_tags": ["network", "vms"], "lab_dir": str(fd / "ctl"), "timer": "cpu",
                                         "warm_limit": "fleet0000"})
    finally:
        labp.stop()
    return out


def section_winrmcpu(cfg: Config, work: Path, state: dict[str, Any]) -> dict[str, Any]:
    """Controller CPU per no-change WinRM host, the lab on its own CPU, after a 1-host warm-up:
    bench/winrm_cpu.py --pin --warmup (its module imports this one: imported here, when run)."""
    import winrm_cpu

    log(f"winrmcpu: {cfg.winrm_hosts} hosts over http+NTLM, lab pinned, {cfg.winrm_repeats} runs")
    return winrm_cpu.section(cfg.winrm_hosts, cfg.winrm_repeats, work / "winrmcpu")


RUNNERS: dict[str, Callable[[Config, Path, dict[str, Any]], dict[str, Any]]] = {
    "engine": section_engine, "roundtrips": section_roundtrips, "winrmcpu": section_winrmcpu, "fleet": section_fleet,
    "scale": section_scale, "secrets": section_secrets, "bigplan": section_bigplan, "profile": section_profile,
}


# ---------------------------------------------------------------------------- the table
def _get(d: Any, *path: str | int) -> Any:
    for p in path:
        if not isinstance(d, (dict, list)):
            return None
        try:
            d = d[p]
        except (KeyError, IndexError, TypeError):
            return None
    return d


def _mark(x: dict[str, Any]) -> str:
    return " [UNDER LOAD]" if x.get("under_load") else ""


def _load_note(x: dict[str, Any]) -> str:
    load = x.get("loadavg_1m")
    return f" (1-min load {load[0]} before, {load[-1]} at the end, steal {x.get('steal_pct', '?')} %)" if load else ""


def rows(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """(section, figure, value, goal, verdict) for the table and the JSON."""
    out: list[dict[str, Any]] = []

    def add(section: str, figure: str, value: Any, goal: str = "", met: bool | None = None) -> None:
        if value is None:
            return
        if isinstance(value, float):
            value = round(value, 3 if abs(value) < 1 else 2 if abs(value) < 100 else 1)
        out.append({"section": section, "figure": figure, "value": value, "goal": goal,
                    "met": met, "verdict": "" if met is None else ("met" if met else "MISSED")})

    e = _get(sections, "engine", "figures")
    if e:
        tag = f"{e['hosts']}x{e['tasks']}, forks {e['forks']}"
        h = e["hvprov"]
        add("engine", f"hvprov ms/host-task, CLI wall ({tag})", h["ms_per_host_task_cli"])
        add("engine", "hvprov ms/host-task, CLI minus 1x1 startup", h["ms_per_host_task_cli_marginal"])
        add("engine", "hvprov ms/host-task, in-process hvprov.apply", h["ms_per_host_task_api"])
        add("engine", "hvprov CPU ms/host-task (CLI)", h["cpu_ms_per_host_task_cli"])
        if "ms_per_host_task_cli_console" in h:
            add("engine", "hvprov ms/host-task, CLI wall, console output (piped)", h["ms_per_host_task_cli_console"])
        st = e.get("startup")
        if st:
            for key, what in (("help", "hvprov --help"), ("plan_1x1", "hvprov plan, 1 host x 1 task"),
                              ("apply_1x1", "hvprov apply, 1 host x 1 task")):
                x = st[key]
                add("engine", f"start-up: {what}, wall s (best of {x['wall_s']['n']}){_mark(x)}", x["wall_s"]["min"])
        a = e.get("ansible", {})
        if "ms_per_host_task_cli" in a:
            add("engine", f"ansible-core ms/host-task, CLI wall ({a.get('version', '')})", a["ms_per_host_task_cli"])
            add("engine", "ansible-core ms/host-task, minus 1x1 startup", a["ms_per_host_task_cli_marginal"])
            add("engine", "ansible-core CPU ms/host-task (all forks)", a["cpu_ms_per_host_task_cli"])
            loaded = _mark(h["cli"]) or _mark(a["cli"])
            add("engine", f"ratio ansible/hvprov, CLI wall (interleaved, {e.get('repetitions', '?')} runs each){loaded}",
                e["ratio_cli"], ">= 100x", e["ratio_cli"] >= 100)
            add("engine", "ratio ansible/hvprov, minus startup", e["ratio_cli_marginal"], ">= 50x", e["ratio_cli_marginal"] >= 50)
            add("engine", "ratio ansible/hvprov, CPU", e["ratio_cpu"], ">= 50x", e["ratio_cpu"] >= 50)
            add("engine", "ratio ansible CLI / hvprov in-process", e["ratio_api"])
            if "ratio_cli_console" in e:
                add("engine", "ratio ansible/hvprov, CLI wall, both printing their console output", e["ratio_cli_console"])
            vs12 = round(ANSIBLE_12MS / h["ms_per_host_task_cli"], 1)
            add("engine", "ratio vs the issue's 12 ms/host-task (ansible on a faster machine)", vs12, ">= 50x", vs12 >= 50)
        elif "ratio_vs_issue_12ms" in e:
            add("engine", "ratio vs the issue's 12 ms (ansible not run)", e["ratio_vs_issue_12ms"], ">= 50x",
                e["ratio_vs_issue_12ms"] >= 50)
    r = _get(sections, "roundtrips", "figures")
    if r:
        ph = r["per_host"]
        conv = ph["converged"]
        add("roundtrips", "converged apply: scripts per host (max)", conv["scripts_run"]["max"], "1", conv["scripts_run"]["max"] == 1)
        add("roundtrips", "converged apply: HTTP requests per host (server-counted)", conv["server_requests"]["max"])
        add("roundtrips", "converged apply: RunResult.round_trips per host", conv["round_trips"]["max"])
        add("roundtrips", "converged plan: scripts per host (max)", ph["converged_plan"]["scripts_run"]["max"], "1",
            ph["converged_plan"]["scripts_run"]["max"] == 1)
        add("roundtrips", "fresh apply: scripts per host, supported hosts (mean/max)",
            f"{ph['fresh']['supported_scripts_run']['mean']} / {ph['fresh']['supported_scripts_run']['max']}")
        add("roundtrips", "fresh apply: HTTP requests per host, supported hosts (mean/max)",
            f"{ph['fresh']['supported_server_requests']['mean']} / {ph['fresh']['supported_server_requests']['max']}")
        an = r.get("ansible")
        if an and an.get("requests"):
            add("roundtrips", "ansible-core winrm: HTTP requests per task (measured, raw)", an["per_task"])
        elif an:  # no request reached the lab: the ansible venv cannot speak WinRM (pywinrm missing?)
            add("roundtrips", "ansible-core winrm: HTTP requests per task", "NOT MEASURED (no request reached the lab; "
                "pywinrm missing from the ansible venv?)")
    w = _get(sections, "winrmcpu", "figures")
    if w and w.get("summary"):
        m = w["summary"]
        tag = (f"{w['hosts']} hosts, forks {w['forks']}, {'lab on its own CPU' if m['pinned'] else 'lab NOT pinned'}, "
               "after a 1-host warm-up")
        loaded = " [UNDER LOAD]" if m["under_load"] else ""
        add("winrmcpu", f"controller CPU ms per no-change host, median of {m['runs']} ({tag}){loaded}",
            m["median"], "<= 3", m["median"] <= 3)
        add("winrmcpu", "controller CPU ms per no-change host: min / max of the runs", f"{m['min']} / {m['max']}")
        add("winrmcpu", "the 1-host warm-up (first use: module implementations, schemas), CPU ms, median",
            m["warmup_ms_median"])
        add("winrmcpu", "HTTP requests per host", m["requests_per_host"])
    f = _get(sections, "fleet", "figures")
    if f:
        tag = f"{f['hosts']} hosts, {f['forks']} in flight, {f['latency_s'] * 1000:.0f} ms"
        for label, x in (_get(f, "runs") or {}).items():
            mark = _mark(x)
            load = x.get("loadavg_1m")
            cond = f"; 1-min load {load[0]} before, {load[-1]} at the end, steal {x.get('steal_pct', '?')} %" if load else ""
            add("fleet", f"{label}: wall s ({tag}{cond}){mark}", x["wall_s"])
            if "cpu_bound_s" in x:
                add("fleet", f"{label}: ideal s = max(latency bound {x['latency_bound_s']} at {x['requests_per_host']} "
                             f"req/host, CPU bound {x['cpu_bound_s']} on the cores present)", x["ideal_s"])
                add("fleet", f"{label}: controller CPU ms per host{mark}", x["controller_cpu_ms_per_host"], "<= 3",
                    x["controller_cpu_ms_per_host"] <= 3)
                add("fleet", f"{label}: lab server CPU ms per host{mark}", x["lab_cpu_ms_per_host"])
            else:
                add("fleet", f"{label}: latency-bound ideal s ({x['requests_per_host']} req/host)", x["ideal_s"])
            add("fleet", f"{label}: wall / ideal", x["vs_ideal"], "<= 1.3", x["vs_ideal"] <= 1.3)
            if x.get("cpu_children_s"):
                add("fleet", f"{label}: controller CPU s, its main process / its worker processes"
                             f"{' (the main process runs the Dask scheduler)' if label.startswith('dask') else ''}",
                    f"{x.get('cpu_self_s')} / {x['cpu_children_s']}")
            add("fleet", f"{label}: controller CPU s (all its processes)", x["cpu_s"])
            add("fleet", f"{label}: lab server CPU s (other processes)", x["lab_cpu_s"])
            add("fleet", f"{label}: controller peak RSS growth per host, KB", x["mem_per_host_kb"], "< 1024",
                x["mem_per_host_kb"] < 1024)
            add("fleet", f"{label}: scripts per host (max)", x["scripts_run"]["max"], "1", x["scripts_run"]["max"] == 1)
        for label, ratio in (f.get("speedup_vs_threads") or {}).items():
            if label != "threads":
                add("fleet", f"{label}: speed-up over threads (best wall of {f.get('reps', '?')} interleaved runs each)",
                    ratio, "> 1", ratio > 1)
        lab = f.get("lab") or {}
        if lab:
            add("fleet", f"lab used: bench/labserve.py x {lab.get('processes', 1)} processes ({lab.get('listeners')} "
                         f"listeners, {lab.get('accept')} accept): startup s / idle cores",
                f"{lab.get('startup_s')} / {lab.get('idle_cpu_cores')}")
        for key, what in (("official_all_listeners", "probe: python -m hvprov.sim.lab serve (http+https+ssh per host)"),
                          ("http_only_thread_per_listener", "probe: http listeners, one serve_forever thread each")):
            pr = _get(f, "lab_probes", key)
            if pr:
                state = f"ready in {pr['startup_s']}s" if pr.get("ready") else f"NOT ready after {pr.get('not_ready_after_s')}s"
                add("fleet", what, f"{state}, {pr.get('threads')} threads, {pr.get('idle_cpu_cores')} cores busy")
        x = _get(f, "plan_tracemalloc")
        if x:
            add("fleet", "plan (threads): tracemalloc peak per host, KB", x["tracemalloc_per_host_kb"], "< 1024",
                x["tracemalloc_per_host_kb"] < 1024)
    sc = _get(sections, "scale", "figures")
    if sc:
        x = sc["plan"]
        mark = _mark(x) + _load_note(x)
        add("scale", f"plan of {sc['hosts']} sim hosts: wall s{mark}", x["wall_s"])
        add("scale", f"plan of {sc['hosts']} sim hosts: CPU s (CPU ms per host {x['cpu_ms_per_host']})", x["cpu_s"])
        add("scale", f"plan of {sc['hosts']} sim hosts: peak RSS MB (1 host: {sc['baseline_1']['maxrss_kb'] // 1024})",
            x["maxrss_kb"] // 1024)
        add("scale", "memory per host, KB (peak RSS minus the 1-host run's, / hosts)", x["mem_per_host_kb"], "< 1024",
            x["mem_per_host_kb"] < 1024)
    se = _get(sections, "secrets", "figures")
    if se:
        for kind in ("distinct", "shared"):
            x = se[kind]
            add("secrets", f"plan of {se['hosts']} hosts, {kind} ansible_password: CPU s (best of "
                           f"{se['repetitions']}, interleaved){_mark(x)}", x["cpu_s"]["min"])
        add("secrets", "CPU distinct / shared passwords", se["cpu_ratio"], "<= 1.2", se["cpu_ratio"] <= 1.2)
    b = _get(sections, "bigplan", "figures")
    if b:
        x = _get(b, "runs", "plan")
        if x:
            tag = f"{b['hosts']} hosts x {b['vms_per_host']} VMs"
            add("bigplan", f"plan wall s ({tag})", x["wall_s"], "< 30", x["wall_s"] < 30)
            add("bigplan", "plan controller CPU s", x["cpu_s"], "< 30", x["cpu_s"] < 30)
            add("bigplan", "CPU ms per hyperv_vm item", x["cpu_ms_per_vm_item"])
            add("bigplan", "peak RSS growth per host, KB", x["mem_per_host_kb"], "< 1024", x["mem_per_host_kb"] < 1024)
        x = _get(b, "runs", "plan_tracemalloc")
        if x:
            add("bigplan", "tracemalloc peak per host, KB", x["tracemalloc_per_host_kb"])
    p = _get(sections, "profile", "figures")
    if p:
        for w in ("engine", "bigplan", "fleet"):
            prof = _get(p, w, "pyinstrument") or _get(p, w, "cprofile")
            if not prof:
                continue
            for h in prof.get("hot_spots", []):
                add("profile", f"{w} ({prof['tool']}): {h['what']} [{h['where']}]", f"{h['pct']}%")
    return out


def render_table(table: list[dict[str, Any]], markdown: bool) -> str:
    if markdown:
        lines = ["| section | figure | value | goal | |", "|---|---|---:|---|---|"]
        lines += [f"| {r['section']} | {r['figure']} | {r['value']} | {r['goal']} | {r['verdict']} |" for r in table]
        return "\n".join(lines)
    w = max((len(r["figure"]) for r in table), default=10)
    lines = [f"{'section':<11} {'figure':<{w}} {'value':>14}  {'goal':<8} "]
    lines += [f"{r['section']:<11} {r['figure']:<{w}} {r['value']!s:>14}  {r['goal']:<8} {r['verdict']}" for r in table]
    return "\n".join(lines)


def update_readme(table_md: str, doc: dict[str, Any]) -> None:
    readme = BENCH / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin not in text or end not in text:
        return
    m = doc["machine"]
    runs = "; ".join(f"{name} {sec.get('generated', '?')} ({sec.get('seconds', '?')} s, 1-min load average "
                     f"{sec.get('loadavg_1m', ['?'])[0]} before"
                     + (f", speed index {sec['speed_index_ms']} ms" if "speed_index_ms" in sec else "") + ")"
                     for name, sec in doc["sections"].items())
    speed = (f" Machine speed index {m['speed_index_ms']} ms (benchlib.speed_index: a fixed Python loop, best of 5;"
             " lower is faster; 107-480 ms on this machine on 2026-12-01 between 21:50 and 23:30 UTC)." if "speed_index_ms" in m else "")
    head = (f"`bench/results.json`: {m['cpus']} cores, {m['mem_gb']} GB, Python {m['python']}, hvprov {m['hvprov']}.{speed} "
            f"Sections: {runs}.\n\n")
    new = text.split(begin)[0] + begin + "\n" + head + table_md + "\n" + end + text.split(end, 1)[1]
    readme.write_text(new)


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, under ~2 minutes")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {','.join(SECTIONS)}")
    ap.add_argument("--json", help="where to write the figures (default bench/results.json; --quick: results-quick.json)")
    ap.add_argument("--no-ansible", action="store_true", help="do not install or run ansible-core")
    ap.add_argument("--ansible-venv", default=str(BENCH / ".venv-ansible"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (generated inventories, lab dirs)")
    ap.add_argument("--no-readme", action="store_true", help="do not refresh the table in bench/README.md")
    ap.add_argument("--render", action="store_true", help="run nothing: print the table of the JSON (and refresh the README)")
    ap.add_argument("--fleet-probes", action="store_true",
                    help="fleet: also probe the shipped lab server's start-up at the fleet's size (~1 min more)")
    ap.add_argument("--fleet-variants", default=",".join(FLEET_VARIANTS),
                    help=f"fleet: executors compared side by side (of {','.join(FLEET_VARIANTS)})")
    ap.add_argument("--engine-repeats", type=int, default=0,
                    help="engine: interleaved runs of each tool (default 3, --quick 1); the best wall of each is compared")
    for name in ("engine_hosts", "engine_tasks", "fleet_hosts", "fleet_forks", "bigplan_hosts", "scale_hosts",
                 "secrets_hosts", "lab_processes"):
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=0)
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    cfg = make_config(args)
    out_path = Path(args.json) if args.json else BENCH / ("results-quick.json" if cfg.quick else "results.json")
    doc: dict[str, Any] = {}
    if out_path.exists():
        with contextlib.suppress(ValueError, OSError):
            doc = json.loads(out_path.read_text())  # --only: keep the other sections' last figures
    doc.setdefault("sections", {})
    if args.render:
        if not doc.get("sections"):
            ap.error(f"no figures in {out_path}")
        table = rows(doc["sections"])
        print(render_table(table, markdown=False))
        if not cfg.quick and not args.no_readme and not args.json:
            update_readme(render_table(table, markdown=True), doc)
        return 0
    doc["generated"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["mode"] = "quick" if cfg.quick else "full"
    doc["machine"] = machine()
    state: dict[str, Any] = {"bytecode": compile_bytecode()}
    doc["machine"]["bytecode"] = state["bytecode"]
    if cfg.ansible and ({"engine", "roundtrips"} & set(only)):
        exe, info = ensure_ansible(cfg.ansible_venv)
        if exe:
            state.update(ansible_playbook=str(exe), ansible_version=info)
        else:
            state["ansible_error"] = info
            log(f"ansible-core unavailable: {info}")
    work = Path(tempfile.mkdtemp(prefix="hvprov-bench-"))
    failures = 0
    t_all = time.perf_counter()
    try:
        for name in SECTIONS:
            if name not in only:
                continue
            calm = settle(30.0)  # what the previous section left running is not this section's cost
            speed = speed_index(3)  # before the section: its own processes would slow the loop
            t0 = time.perf_counter()
            started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            with Conditions() as cond:
                try:
                    figures = RUNNERS[name](cfg, work, state)
                    error = None
                except Exception as exc:  # noqa: BLE001 - one section's failure must not lose the others
                    figures, error = None, f"{type(exc).__name__}: {exc}"
                    failures += 1
                    log(f"{name}: FAILED {error[:2000]}")
            doc["sections"][name] = {"figures": figures, "error": error, "seconds": round(time.perf_counter() - t0, 1),
                                     **cond.figures(), "mode": doc["mode"], "generated": started,
                                     "speed_index_ms": speed, **calm}
            log(f"{name}: done in {time.perf_counter() - t0:.0f}s")
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = rows(doc["sections"])
    doc["table"] = table
    out_path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    print(render_table(table, markdown=False))
    print(f"\n{len(only)} section(s) in {time.perf_counter() - t_all:.0f}s; figures written to {out_path}")
    if not cfg.quick and not args.no_readme and not args.json:
        update_readme(render_table(table, markdown=True), doc)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
