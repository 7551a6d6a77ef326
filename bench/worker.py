"""One measurement in a fresh interpreter: ``python bench/worker.py TASK 'JSON params'``.

Prints one JSON line (the figures) as its last stdout line. Run by bench/run.py, so each
measurement's CPU (getrusage RUSAGE_SELF) and peak RSS (ru_maxrss) belong to it alone. The
hvprov controller is this process; lab servers, when there are any over the network, run in
another one (bench/labserve.py) unless a task says otherwise.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import os
import pstats
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ROOT, SITE, dist, summarize  # noqa: E402

import hvprov  # noqa: E402


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class InlineThreadExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor (so the runner takes its thread path: BatchRun, no picklable jobs)
    that runs each submitted call at once in the caller's thread: the profilers, which follow
    one thread, see every host's work. No thread is ever started."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        f: Future[Any] = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001
            f.set_exception(exc)
        return f


def _preimport() -> None:
    """Import what a run would import lazily, so the RSS baseline holds the code, not the run."""
    import hvprov.api  # noqa: F401
    import hvprov.modules  # noqa: F401
    import hvprov.runner  # noqa: F401
    import hvprov.sim.executor  # noqa: F401
    import hvprov.transports.sim  # noqa: F401
    import hvprov.transports.winrm  # noqa: F401


def _live_children_cpu() -> float:
    """CPU seconds of this process's live children, each with the children it has reaped (/proc)."""
    me, total = str(os.getpid()), 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid
            total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def measured_run(fn: Callable[[], Any], *, trace_memory: bool = False) -> tuple[Any, dict[str, Any]]:
    """Call fn; wall, CPU (RUSAGE_SELF: every thread of this process), RSS before/peak."""
    _preimport()
    import gc

    gc.collect()
    base_rss = rss_kb()
    if trace_memory:
        tracemalloc.start(1)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    live0 = _live_children_cpu()
    t0 = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # worker processes: those reaped (RUSAGE_CHILDREN), and those still alive with what they reaped
    # (a multiprocessing fork server outlives the run; the workers it forked are its children)
    children = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime) + _live_children_cpu() - live0
    fig: dict[str, Any] = {
        "wall_s": round(wall, 4),
        "cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime) + children, 4),
        "cpu_children_s": round(children, 4),
        "cpu_self_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 4),
        "cpu_user_s": round(r1.ru_utime - r0.ru_utime, 4),
        "rss_before_kb": base_rss,
        "maxrss_kb": r1.ru_maxrss,
        "rss_after_kb": rss_kb(),
    }
    if trace_memory:
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        fig["tracemalloc_peak_kb"] = peak // 1024
        fig["tracemalloc_after_kb"] = cur // 1024
    return value, fig


def host_figures(result: Any) -> dict[str, Any]:
    hosts = result.hosts
    return {
        "hosts": len(hosts),
        "status": dict(Counter(h.status.value for h in hosts.values())),
        "changes": result.total_changes,
        "round_trips": dist([h.round_trips for h in hosts.values()]),
        "scripts_run": dist([h.scripts_run for h in hosts.values()]),
        "tasks_per_host": dist([len(h.tasks) for h in hosts.values()]),
        "exit_code": result.exit_code(),
    }


# ---------------------------------------------------------------------------- tasks
def task_engine_api(p: dict[str, Any]) -> dict[str, Any]:
    """hvprov.apply in-process: N hosts x M control tasks (never contacts a host)."""
    runs = []
    for i in range(p["repeats"] + 1):  # the first run warms imports and caches: not counted
        res, fig = measured_run(lambda: hvprov.apply(p["playbook"], p["inventory"], forks=p["forks"], lab_dir=p["lab_dir"]))
        hf = host_figures(res)
        if hf["status"] != {"ok": p["hosts"]} or hf["round_trips"]["max"] != 0:
            raise SystemExit(f"engine workload did not run cleanly: {hf}")
        if i:
            runs.append(fig)
    return {"runs": runs, "wall_s": summarize([r["wall_s"] for r in runs]),
            "cpu_s": summarize([r["cpu_s"] for r in runs]), "tasks_per_host": hf["tasks_per_host"]}


def task_roundtrips(p: dict[str, Any]) -> dict[str, Any]:
    """The site playbook over the lab's WinRM endpoint (LabServers in this process): fresh, then converged."""
    from hvprov.sim.lab import LabServers, load_source

    lab_dir = Path(p["lab_dir"])
    inv, seeds = load_source([str(ROOT / "inventories" / "lab.yml")])
    seeds = {n: s.__class__(s.profile, {**s.overrides, "reboot_seconds": p["reboot_seconds"]}) for n, s in seeds.items()}
    servers = LabServers(lab_dir / "servers", seeds, source=inv)
    out: dict[str, Any] = {"runs": {}}
    with servers:
        files = servers.inventories()
        winrm_inv = str(files["lab-winrm.yml"])
        servers.store.reset()

        def one(label: str, mode: str) -> None:
            before = {n: len(servers.wsman.requests(n)) for n in seeds}
            t0 = time.perf_counter()
            res = hvprov.run(str(SITE), winrm_inv, mode=mode, forks=p["forks"], lab_dir=lab_dir / "ctl")
            wall = time.perf_counter() - t0
            hosts = {}
            for name, h in sorted(res.hosts.items()):
                recs = servers.wsman.requests(name)[before[name]:]
                by_action = Counter(_kind(r) for r in recs)
                hosts[name] = {"status": h.status.value, "changes": h.change_count, "scripts_run": h.scripts_run,
                               "round_trips": h.round_trips, "server_requests": len(recs),
                               "server_by_action": dict(sorted(by_action.items()))}
            out["runs"][label] = {"mode": mode, "wall_s": round(wall, 3), "changes": res.total_changes,
                                  "summary": res.summary()["hosts"], "hosts": hosts}

        one("fresh", "apply")
        one("converged", "apply")
        one("converged_plan", "plan")
        if p.get("ansible_playbook"):
            out["ansible"] = _ansible_winrm_probe(p, servers, files["lab-winrm.yml"])
    return out


def _kind(rec: Any) -> str:
    """What one HTTP request was: its WS-Man action, or which step of the NTLM handshake."""
    if rec.action:
        return rec.action
    if rec.auth in ("ntlm-negotiate", "ntlm-authenticate"):
        return rec.auth + ("" if rec.status != 401 else " (401)")
    return "anonymous (401)" if rec.status == 401 else f"empty body ({rec.status})"


def _ansible_winrm_probe(p: dict[str, Any], servers: Any, inv_path: Path) -> dict[str, Any]:
    """Ansible's own WinRM connection plugin against the same lab endpoint: K raw tasks on one host.

    The simulator cannot run Ansible's PowerShell, so each task fails (ignored); the HTTP
    requests it costs are counted by the server all the same.
    """
    import subprocess

    import yaml

    host = p["ansible_host"]
    doc = yaml.safe_load(Path(inv_path).read_text())
    hv = doc["all"]["hosts"][host]
    inv = {"all": {"hosts": {host: {
        "ansible_host": "127.0.0.1", "ansible_port": hv["ansible_port"], "ansible_user": hv["ansible_user"],
        "ansible_password": hv["ansible_password"], "ansible_connection": "winrm", "ansible_winrm_scheme": "http",
        "ansible_winrm_transport": "ntlm", "ansible_winrm_message_encryption": "auto",
        "ansible_winrm_server_cert_validation": "ignore"}}}}
    work = Path(p["lab_dir"]) / "ansible"
    work.mkdir(parents=True, exist_ok=True)
    inv_file = work / "inv.yml"
    inv_file.write_text(yaml.safe_dump(inv))
    inv_file.chmod(0o600)
    tasks = p["ansible_tasks"]
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": f"raw {i}", "raw": "Write-Output hello", "ignore_errors": True} for i in range(tasks)]}]
    pb = work / "pb.yml"
    pb.write_text(yaml.safe_dump(play))
    before = len(servers.wsman.requests(host))
    env = {**os.environ, "ANSIBLE_HOME": str(work / "home"), "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    proc = subprocess.run([p["ansible_playbook"], "-i", str(inv_file), str(pb)], env=env, capture_output=True,
                          text=True, timeout=180)
    recs = servers.wsman.requests(host)[before:]
    actions = Counter(_kind(r) for r in recs)
    return {"tasks": tasks, "rc": proc.returncode, "requests": len(recs), "per_task": round(len(recs) / tasks, 2),
            "by_action": dict(sorted(actions.items())),
            "by_action_per_task": {k: round(v / tasks, 2) for k, v in sorted(actions.items())},
            "tail": proc.stdout[-600:] if proc.returncode not in (0, 2) else ""}


def task_fleet_ctl(p: dict[str, Any]) -> dict[str, Any]:
    """The controller side of the fleet run over WinRM (the lab is another process)."""
    done_ts: list[float] = []
    run_done: list[float] = []

    def on_event(ev: dict[str, Any]) -> None:
        if ev["event"] == "host_done":
            done_ts.append(ev["ts"])
        elif ev["event"] == "run_done":
            run_done.append(ev["ts"])

    kw: dict[str, Any] = {"mode": p["mode"], "forks": p["forks"], "skip_tags": p.get("skip_tags", ()),
                          "lab_dir": p["lab_dir"], "on_event": on_event}
    if p.get("workers"):  # a process pool of that many workers, forks threads in each
        kw["workers"] = p["workers"]
    with _dask_cluster(p.get("dask", 0)) as dask:
        if dask is not None:  # a LocalCluster started (and hvprov imported in it) before the measurement
            kw.update(executor=dask["client"].get_executor(), workers=p["dask"])
            # workers that are our children are in measured_run's live-children figure already
            others = [pid for pid in dask["pids"] if _ppid(pid) != os.getpid()]
            cpu0 = _pids_cpu(others)
        warm = None
        if p.get("warmup"):  # one host first: what the process loads on first use is not per host
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            hvprov.run(p["playbook"], p["inventory"], **{**kw, "limit": "all[0:0]", "on_event": None})
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            warm = round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 4)
        t_start = time.time()
        res, fig = measured_run(lambda: hvprov.run(p["playbook"], p["inventory"], **kw),
                                trace_memory=p.get("tracemalloc", False))
        if warm is not None:
            fig["warmup_cpu_s"] = warm
        if dask is not None:  # this process runs the LocalCluster's scheduler too; the nannies only watch
            fig["cpu_children_s"] = round(fig["cpu_children_s"] + _pids_cpu(others) - cpu0, 4)
            fig["cpu_s"] = round(fig["cpu_self_s"] + fig["cpu_children_s"], 4)
    fig["executor"] = f"dask LocalCluster {p['dask']} processes" if p.get("dask") else (
        f"{p['workers']} worker processes" if p.get("workers") else "threads")
    fig.update(host_figures(res))
    if done_ts and run_done:
        fig["hosts_done_s"] = round(max(done_ts) - t_start, 3)  # last host finished its tasks
        fig["after_hosts_s"] = round(run_done[0] - max(done_ts), 3)  # closing sessions etc.
    fig["failed_msgs"] = sorted({h.msg for h in res.hosts.values() if h.msg})[:5]
    return fig


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _pids_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def _dask_cluster(n: int) -> Iterator[dict[str, Any] | None]:
    """A Dask LocalCluster of n single-thread worker processes, hvprov imported in each (as on a
    long-lived cluster); yields the client and the worker pids whose CPU counts."""
    if not n:
        yield None
        return
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    try:
        client.run(lambda: __import__("hvprov.workers") and __import__("hvprov.transports.winrm") and None)
        yield {"client": client, "pids": list(client.run(os.getpid).values())}  # the nannies only watch
    finally:
        client.close()
        cluster.close()


def task_bigplan_prepare(p: dict[str, Any]) -> dict[str, Any]:
    """A lab of N hosts each already running the switch and the 50 VMs the plan describes.

    One host is converged by hvprov itself through the sim connection (role, reboot, switch,
    50 VHDs + VMs); the others are seeded with copies of its state through the lab store.
    """
    import dataclasses

    from hvprov.sim.model import HostModel
    from hvprov.sim.store import HostSeed, LabStore

    lab_dir = Path(p["lab_dir"])
    t0 = time.perf_counter()
    template = p["template_host"]
    role = hvprov.apply(str(SITE), p["inventory"], limit=template, skip_tags=["network", "vms"], lab_dir=lab_dir)
    vms = hvprov.apply(p["playbook"], p["inventory"], limit=template, lab_dir=lab_dir, forks=1)
    check = hvprov.plan(p["playbook"], p["inventory"], limit=template, lab_dir=lab_dir)
    if vms.failed or check.total_changes:
        raise SystemExit(f"template host did not converge: {vms.summary()} / plan {check.summary()} "
                         f"{[h.msg for h in vms.hosts.values()]}")
    converge_s = time.perf_counter() - t0
    store = LabStore(lab_dir)
    tpl = store.load(template)
    assert tpl is not None
    state = tpl.to_dict()
    seed = HostSeed(p["profile"], dict(p.get("sim", {})))  # as the inventory seeds them
    fields = [f.name for f in dataclasses.fields(HostModel) if f.name != "hostname"]
    t1 = time.perf_counter()
    for name in p["hosts"]:
        if name == template:
            continue
        copy = HostModel.from_dict(state, "template")
        with store.session(name, seed) as host:
            for f in fields:
                setattr(host, f, getattr(copy, f))
    return {"converge_template_s": round(converge_s, 2), "seed_copies_s": round(time.perf_counter() - t1, 2),
            "template_vms": len(tpl.vms), "template_switches": len(tpl.switches), "role": role.summary()["hosts"]}


def task_bigplan(p: dict[str, Any]) -> dict[str, Any]:
    res, fig = measured_run(lambda: hvprov.plan(p["playbook"], p["inventory"], forks=p["forks"], lab_dir=p["lab_dir"]),
                            trace_memory=p.get("tracemalloc", False))
    fig.update(host_figures(res))
    items = []
    for h in res.hosts.values():
        vm_tasks = [t for t in h.tasks if t.module == "hyperv_vm"]
        items.append(sum(len(t.data.get("results", [])) for t in vm_tasks))
    fig["vm_items_per_host"] = dist(items)
    fig["failed_msgs"] = sorted({h.msg for h in res.hosts.values() if h.msg})[:5]
    return fig


HVPROV_PKG = str(Path(hvprov.__file__).resolve().parent) + os.sep  # the package run, wherever it is checked out


def _where(file: str, line: int | None, func: str, pkg_dir: str | None = None) -> str:
    pkg_dir = pkg_dir or HVPROV_PKG
    if file.startswith(pkg_dir) and "/site-packages/" not in file[len(pkg_dir):]:
        file = "hvprov/" + file[len(pkg_dir):]
        return f"{file}:{func}" if line is None else f"{file}:{line}:{func}"
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            if marker == "/lib/python3":
                file = "stdlib/" + file.split("/", 1)[1]
            break
    else:
        file = os.path.relpath(file, ROOT) if file.startswith(str(ROOT)) else file
    return f"{file}:{func}" if line is None else f"{file}:{line}:{func}"


def _package(file: str, pkg_dir: str = HVPROV_PKG) -> str:
    """The package a profiled file belongs to. hvprov by its real directory, not by a "/hvprov/"
    in the path: in a checkout named hvprov every library of its .venv has that in its path."""
    if file in ("~", "<built-in>"):
        return "builtins (C)"
    if "/site-packages/" in file:
        return file.split("/site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    if file.startswith(pkg_dir):
        parts = file[len(pkg_dir):].split("/")
        return "hvprov/" + (parts[0] if len(parts) > 1 else parts[0].removesuffix(".py"))
    if file.startswith("<frozen"):
        return "stdlib"
    if file == "<template>":
        return "jinja2 (compiled templates)"
    if file.startswith("<"):
        return "generated code (dataclass __init__ etc.)"
    return "stdlib"


def task_profile(p: dict[str, Any]) -> dict[str, Any]:
    """Profile one workload, every host run inline in this thread (InlineThreadExecutor: the runner's thread path).

    tool "cprofile": deterministic (call counts; inflates code made of many small calls, such
    as pure-Python YAML); tool "pyinstrument": statistical sampling every 0.5 ms (little
    distortion; time spent waiting, e.g. on a socket, shows as time in the waiting call).
    """
    mode = p.get("mode", "apply")
    tool = p.get("tool", "cprofile")
    top = p.get("top", 20)
    kw = {"lab_dir": p["lab_dir"], "skip_tags": p.get("skip_tags", ()), "mode": mode}
    hvprov.run(p["playbook"], p["inventory"], forks=1, limit=p.get("warm_limit"), **kw)
    out = Path(p["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    self_t: Counter[str] = Counter()
    cum_t: Counter[str] = Counter()
    calls: dict[str, int] = {}
    if tool == "pyinstrument":
        sys.path.insert(0, str(Path(__file__).resolve().parent / ".pydeps"))
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0005)
        t0 = time.perf_counter()
        prof.start()
        res = hvprov.run(p["playbook"], p["inventory"], limit=p.get("limit"), executor=InlineThreadExecutor(), **kw)
        prof.stop()
        wall = time.perf_counter() - t0
        session = prof.last_session
        assert session is not None
        session.save(str(out))  # pyinstrument --load out (html / text views)
        root = session.root_frame()
        assert root is not None
        total = root.time
        by_pkg: Counter[str] = Counter()

        def walk(frame: Any, seen: frozenset[str]) -> None:
            if frame.is_synthetic:  # pyinstrument 5: a "[root]" over one frame per thread name
                for child in frame.children:
                    walk(child, seen)
                return
            key = _where(frame.file_path or "?", None, frame.function)
            self_t[key] += frame.total_self_time
            by_pkg[_package(frame.file_path or "?")] += frame.total_self_time
            if key not in seen:  # recursion counted once
                cum_t[key] += frame.time
            for child in frame.children:
                walk(child, seen | {key})

        walk(root, frozenset())
    else:
        prof = cProfile.Profile(time.process_time) if p.get("timer") == "cpu" else cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        res = hvprov.run(p["playbook"], p["inventory"], limit=p.get("limit"), executor=InlineThreadExecutor(), **kw)
        prof.disable()
        wall = time.perf_counter() - t0
        prof.dump_stats(str(out))
        st = pstats.Stats(str(out))
        total = st.total_tt  # type: ignore[attr-defined]
        by_pkg = Counter()
        for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
            key = _where(file, line, func)
            self_t[key] += tt
            cum_t[key] = max(cum_t[key], ct)
            calls[key] = nc
            by_pkg[_package(file)] += tt

    def row(k: str, v: float, what: str) -> dict[str, Any]:
        r: dict[str, Any] = {"fn": k, what: round(v, 3), "pct": round(100 * v / total, 1)}
        if k in calls:
            r["calls"] = calls[k]
        return r

    def marker(file_sub: str, func: str | None) -> float:
        if func is None:  # a whole package's self time
            return sum(v for k, v in by_pkg.items() if k == file_sub)
        hits = [v for k, v in cum_t.items() if file_sub in k.rsplit(":", 1)[0] and k.rsplit(":", 1)[-1].endswith(func)]
        return max(hits, default=0.0)

    markers = [{"what": label, "where": f"{file_sub}:{func}" if func else f"{file_sub} (self time)",
                "s": round(marker(file_sub, func), 3), "pct": round(100 * marker(file_sub, func) / total, 1)}
               for label, file_sub, func in p.get("markers", [])]
    hv_cum = [(k, v) for k, v in cum_t.items() if k.startswith("hvprov/")]
    ext_cum = [(k, v) for k, v in cum_t.items() if not k.startswith(("hvprov/", "stdlib/threading", "bench/"))
               and "worker.py" not in k and k != "~:0:<built-in method builtins.exec>"]
    return {
        "tool": tool, "timer": p.get("timer", "wall") if tool == "cprofile" else "wall (sampled)",
        "wall_s": round(wall, 3), "profiled_s": round(total, 3), "hosts": len(res.hosts),
        "summary": res.summary(), "prof_file": str(out), "hot_spots": markers,
        "self_time_by_package": [{"package": k, "s": round(v, 3), "pct": round(100 * v / total, 1)}
                                 for k, v in by_pkg.most_common(14)],
        "top_self": [row(k, v, "self_s") for k, v in self_t.most_common(top)],
        "top_cumulative_hvprov": [row(k, v, "cum_s") for k, v in sorted(hv_cum, key=lambda kv: -kv[1])[:top]],
        "top_cumulative_libraries": [row(k, v, "cum_s") for k, v in sorted(ext_cum, key=lambda kv: -kv[1])[:top]],
    }


TASKS = {name.removeprefix("task_"): fn for name, fn in globals().items() if name.startswith("task_")}


def main() -> int:
    task, params = sys.argv[1], json.loads(sys.argv[2])
    out = TASKS[task](params)
    sys.stdout.write("\n" + json.dumps(out, default=str) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
