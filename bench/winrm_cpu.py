"""Controller CPU per no-change host over WinRM, with the load it was measured under.

    .venv/bin/python bench/winrm_cpu.py --hosts 200 --forks 20 [--repeats 3] [--profile FILE.prof]

Converges N simulated hosts (site playbook, --skip-tags network,vms), serves them over http+NTLM
from bench/labserve.py in another process (latency 0 by default: the figure is CPU, not wall),
then runs the no-change apply on threads in a fresh interpreter per repetition (bench/worker.py
fleet_ctl) and prints, per repetition: controller CPU ms per host, HTTP requests per host
(RunResult.round_trips, read after close(): the Delete included), the lab server's CPU, and the machine's 1-minute
load average and CPU steal (from /proc/stat) before and during. ``--profile`` also writes a
cProfile (CPU timer) of the same run with every host inline in one thread; ``--thread-profile
FILE.prof`` a cProfile of every thread of one whole run in this process (after a warm-up run),
merged, with the top cumulative entries per host (the hosts run in worker threads: a main-thread
profile sees them only as waits).
A figure taken while the 1-minute load average exceeds the core count is marked "under load".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    PY,
    converged_fleet,
    cpu_times,
    emit,
    loadavg,
    run_measured,
    run_worker,
    steal_pct,
)
from run import SITE, LabProcess  # noqa: E402

VARIANTS = {
    "pywinrm": "pywinrm as is (its Protocol and Transport: requests, requests-ntlm, password hashed per host)",
    "requests": "main before the lean transport (LeanProtocol, cached NTLM hashes, pywinrm's requests Transport)",
    "lean0": "the lean NTLM transport as merged before the 2026-12-01 evening cuts (pyspnego's wrap_winrm "
             "per message, a new spnego.client per host)",
    "lean": "lean NTLM transport (LeanProtocol over ntlmhttp: http.client keep-alive, 2-leg handshake), "
            "with every cut below",
    "lean-pyseal": "lean, but sealing through pyspnego's public wrap_winrm/unwrap_winrm per message",
    "lean-freshctx": "lean, but a new spnego.client context built and stepped for every host",
    "lean-clixmlparse": "lean, but every CLIXML stderr document parsed (the progress-only one too)",
    "lean-createparse2": "lean, but the CreateResponse parsed a second time for the envelope size (as before)",
    "lean1": "lean without the 2026-12-02 cuts (the transport as merged after the evening cuts)",
    "lean-headlines": "lean, but every answer's head read line by line (readline per line)",
    "lean-uuidobj": "lean, but each MessageID made as str(uuid.uuid4())",
    "lean-settimeout": "lean, but the socket's read timeout set before every request",
    "lean-findall": "lean, but answers searched with findall('.//*') (ElementPath) as pywinrm does",
    "lean-objsre": "lean, but CLIXML <Objs> documents found with the regex (clixml._OBJS_RE.finditer)",
}

# the evening cuts, each switched off by the variants naming it (lean0: all of them)
_CUTS = {"lean-pyseal": ("seal",), "lean-freshctx": ("context",), "lean-clixmlparse": ("clixml",),
         "lean-createparse2": ("create",)}
_CUTS.update({"lean-headlines": ("head",), "lean-uuidobj": ("uuid",), "lean-settimeout": ("timeout",),
              "lean-findall": ("findall",), "lean-objsre": ("objs",)})
_NIGHT_CUTS = ("head", "uuid", "timeout", "findall", "objs")  # 2026-12-02 (lean1: all of them off)
_ALL_CUTS = ("seal", "context", "clixml", "create", *_NIGHT_CUTS)


def _select_path(variant: str) -> None:
    """Switch hvprov/transports/winrm.py to one of VARIANTS in this process, for an
    interleaved comparison (--ab): the old paths are the code still in the tree (pywinrm's
    Transport stays for other auths), so what is compared is what runs."""
    import uuid

    import requests
    from winrm.protocol import Protocol

    from hvprov.transports import clixml, httpread, ntlmhttp, wsman_lean
    from hvprov.transports import winrm as w
    from hvprov.transports.wsman_lean import LeanProtocol

    saved = w.__dict__.setdefault("_bench_saved", {"hashes": w.ntlm_hashes, "lean": w._lean_http,
                                                   "sealer": ntlmhttp.session_sealer,
                                                   "context": ntlmhttp.client_context,
                                                   "clixml": clixml._records,
                                                   "head": httpread._buffered_head,
                                                   "uuid": wsman_lean.new_message_id,
                                                   "post": ntlmhttp.NtlmHttpTransport._post,
                                                   "below": wsman_lean._below,
                                                   "objs": clixml._objs_spans})
    w.LeanProtocol = Protocol if variant == "pywinrm" else LeanProtocol  # type: ignore[misc]
    w.ntlm_hashes = (lambda pw: pw) if variant == "pywinrm" else saved["hashes"]  # type: ignore[assignment]
    lean = variant.startswith("lean")
    w._lean_http = saved["lean"] if lean else (lambda auth: False)  # type: ignore[assignment]
    off = _ALL_CUTS if variant == "lean0" else _NIGHT_CUTS if variant == "lean1" else _CUTS.get(variant, ())
    httpread._buffered_head = (lambda rfile: None) if "head" in off else saved["head"]  # type: ignore[assignment]
    wsman_lean.new_message_id = (lambda: str(uuid.uuid4())) if "uuid" in off else saved["uuid"]

    def post_setting_timeout(self: Any, *args: Any) -> Any:  # the pre-cut path: settimeout every time
        self._sock_timeout = None
        return saved["post"](self, *args)

    ntlmhttp.NtlmHttpTransport._post = post_setting_timeout if "timeout" in off else saved["post"]
    wsman_lean._below = (lambda root: iter(root.findall(".//*"))) if "findall" in off else saved["below"]
    clixml._objs_spans = (  # type: ignore[assignment]
        (lambda body: [m.span() for m in clixml._OBJS_RE.finditer(body)]) if "objs" in off else saved["objs"])
    ntlmhttp.session_sealer = (lambda ctx: ctx) if "seal" in off else saved["sealer"]  # type: ignore[assignment]
    clixml._records = clixml._parsed_records if "clixml" in off else saved["clixml"]  # type: ignore[assignment]
    w._LeanTransport.send_message = _parse_create_twice if "create" in off else ntlmhttp.NtlmHttpTransport.send_message
    ntlmhttp.client_context = (  # type: ignore[assignment]
        (lambda cache, *args: saved["context"](None, *args)) if "context" in off else saved["context"])

    def scan(url: str, no_proxy: str | None) -> bool:  # the pre-cut wrapper: always the locked scan
        with w._ENV_LOCK:
            return bool(w._should_bypass_proxies(url, no_proxy))

    requests.utils.should_bypass_proxies = scan if variant == "pywinrm" else w._locked_should_bypass_proxies


def _parse_create_twice(self: Any, message: str | bytes) -> bytes:
    """The old path's extra parse: the transport read the envelope size from the raw
    CreateResponse before LeanProtocol.open_shell parsed it again (the result is recomputed)."""
    import contextlib
    import xml.etree.ElementTree as ET

    from hvprov.transports import ntlmhttp

    response = ntlmhttp.NtlmHttpTransport.send_message(self, message)
    if not self.owner.max_envelope_kb and b"CreateResponse" in response[:1500]:
        with contextlib.suppress(ET.ParseError):
            ET.fromstring(response).find(".//{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}ShellRunTime")
    return response


def transport_loop(inventory: str, limit: int, profile: str | None, variant: str = "lean") -> dict[str, Any]:
    """open / one small script / close on each host in turn, in this thread: the transport alone.
    The hosts share one credential cache, as in a run (hvprov/runctx.py)."""
    import cProfile
    import dataclasses
    import resource

    import yaml

    from hvprov.connection import ConnectionSpec
    from hvprov.transports.winrm import WinRMTransport

    _select_path(variant)

    hosts = yaml.safe_load(Path(inventory).read_text())["all"]["hosts"]
    cache: dict[str, str] = {}
    specs = [dataclasses.replace(ConnectionSpec.from_vars(n, dict(v)), credential_cache=cache)
             for n, v in list(hosts.items())[:limit]]
    WinRMTransport(specs[0]).close()  # imports done
    prof = cProfile.Profile(time.process_time) if profile else None
    trips = []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    if prof:
        prof.enable()
    for spec in specs:
        t = WinRMTransport(spec)
        t.open()
        res = t.run("Write-Output 'ok'")
        t.close()
        trips.append(t.round_trips)
        assert res.stdout, res  # the lab answers (a result line refusing the headerless script)
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"variant": variant, "hosts": len(specs),
            "transport_cpu_ms_per_host": round(1000 * cpu / len(specs), 2),
            "user_sys_ms_per_host": [round(1000 * (r1.ru_utime - r0.ru_utime) / len(specs), 2),
                                     round(1000 * (r1.ru_stime - r0.ru_stime) / len(specs), 2)],
            "requests_per_host": sum(trips) / len(trips), "profiled": bool(profile)}


def transport_per_host(inventory: str, limit: int, variants: list[str], shift: int) -> list[dict[str, Any]]:
    """Like transport_loop, the variants alternating host by host (--per-host): each host's open /
    script / close is timed alone (getrusage around it), so slow drifts of the machine's load
    fall on every variant alike. One figure per variant: CPU ms per host over its hosts."""
    import dataclasses
    import resource

    import yaml

    from hvprov.connection import ConnectionSpec
    from hvprov.transports.winrm import WinRMTransport

    hosts = yaml.safe_load(Path(inventory).read_text())["all"]["hosts"]
    cache: dict[str, str] = {}
    specs = [dataclasses.replace(ConnectionSpec.from_vars(n, dict(v)), credential_cache=cache)
             for n, v in list(hosts.items())[:limit]]
    for variant in variants:  # imports done, each path once
        _select_path(variant)
        WinRMTransport(specs[0]).close()
    cpu = dict.fromkeys(variants, 0.0)
    count = dict.fromkeys(variants, 0)
    for i, spec in enumerate(specs):
        variant = variants[(i + shift) % len(variants)]
        _select_path(variant)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t = WinRMTransport(spec)
        t.open()
        res = t.run("Write-Output 'ok'")
        t.close()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu[variant] += (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        count[variant] += 1
        assert res.stdout, res
    return [{"variant": v, "hosts": count[v], "transport_cpu_ms_per_host": round(1000 * cpu[v] / count[v], 2),
             "per_host_alternation": True} for v in variants]


def thread_profile(params: dict[str, Any], out: str, top: int = 25) -> dict[str, Any]:
    """The whole run in this process with a cProfile (CPU timer) in every thread, merged: the
    worker threads are where the hosts run (a main-thread profile sees them only as waits)."""
    import cProfile
    import pstats
    import threading

    import hvprov

    profs: list[cProfile.Profile] = []
    lock = threading.Lock()
    orig_run = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)
        with lock:
            profs.append(prof)
        prof.enable()
        try:
            orig_run(self)
        finally:
            prof.disable()

    def one() -> Any:
        return hvprov.run(params["playbook"], params["inventory"], mode=params["mode"], forks=params["forks"],
                          skip_tags=params["skip_tags"], lab_dir=params["lab_dir"])

    one()  # imports and caches warm, as in a long-lived controller's second run
    main = cProfile.Profile(time.thread_time)
    threading.Thread.run = run  # type: ignore[method-assign]
    try:
        main.enable()
        res = one()
        main.disable()
    finally:
        threading.Thread.run = orig_run  # type: ignore[method-assign]
    st = pstats.Stats(main)
    for prof in profs:
        st.add(prof)
    st.dump_stats(out)
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][3])  # type: ignore[attr-defined]
    n = len(res.hosts)
    return {"hosts": n, "threads": len(profs) + 1, "profiled_cpu_ms_per_host": round(1000 * total / n, 2),
            "top_cumulative": [{"fn": f"{Path(k[0]).name}:{k[1]}:{k[2]}", "cum_ms_per_host": round(1000 * v[3] / n, 3),
                                "self_ms_per_host": round(1000 * v[2] / n, 3)} for k, v in rows[:top]]}


def fleet_run(variant: str, params: dict[str, Any]) -> dict[str, Any]:
    """bench/worker.py's fleet_ctl in a fresh interpreter with `variant` selected first (--ab)."""
    res = run_measured([PY, __file__, "--fleet-worker", variant, json.dumps(params)], timeout=900)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.rc != 0 or not lines:
        raise RuntimeError(f"fleet worker {variant} failed (rc {res.rc}):\n{res.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def fleet_worker(variant: str, params: str) -> int:
    _select_path(variant)
    import worker

    print(json.dumps(worker.task_fleet_ctl(json.loads(params)), default=str), flush=True)
    return 0


def summary(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """min / median / all of `key` per variant, and the load range, of alternated runs."""
    import statistics

    out: dict[str, Any] = {}
    for run in runs:
        out.setdefault(run["variant"], []).append(run[key])
    loads = [x for run in runs for x in run["loadavg_1m_before_during"]]
    return {**{v: {"min": min(xs), "median": round(statistics.median(xs), 2), "all": xs} for v, xs in out.items()},
            "loadavg_1m_range": [min(loads), max(loads)]}


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    inv, lab = converged_fleet(work, args.hosts)
    labp = LabProcess(inv, lab, args.latency)
    cores = os.cpu_count() or 1
    out: dict[str, Any] = {"hosts": args.hosts, "forks": args.forks, "latency_s": args.latency, "cores": cores,
                           "runs": []}
    own_cpus = os.sched_getaffinity(0)
    try:
        if args.pin:
            out["pinned"] = pin(labp.proc.pid, own_cpus)
        winrm_inv = labp.state["inventory"]
        params = {"playbook": str(SITE), "inventory": winrm_inv, "mode": "apply", "forks": args.forks,
                  "skip_tags": ["network", "vms"], "lab_dir": str(work / "ctl"), "warmup": args.warmup}
        if args.transport_only:
            variants = args.variants.split(",") if args.ab else ["lean"]
            out["variants"] = {v: VARIANTS[v] for v in variants}
            rounds = args.repeats if args.per_host else args.repeats * len(variants)
            for i in range(rounds):
                base = variants[i % len(variants)]
                load0, st0, lab0 = loadavg(), cpu_times(), labp.cpu()
                if args.per_host:
                    runs = transport_per_host(winrm_inv, args.hosts, variants, i)
                else:
                    runs = [transport_loop(winrm_inv, args.hosts, args.profile if i == len(variants) - 1 else None, base)]
                common = {"lab_cpu_ms_per_host": round(1000 * (labp.cpu() - lab0) / args.hosts, 2),
                          "loadavg_1m_before_during": [load0, loadavg()], "steal_pct_during": steal_pct(st0, cpu_times())}
                for run in runs:
                    run.update(common, under_load=max(common["loadavg_1m_before_during"]) > cores)
                    out["runs"].append(run)
                    print(json.dumps(run), flush=True)
            if args.ab:
                out["summary"] = summary(out["runs"], "transport_cpu_ms_per_host")
            return out
        variants = args.variants.split(",") if args.ab else [None]
        for i in range(args.repeats * len(variants)):
            variant = variants[i % len(variants)]
            load0, st0, lab0 = loadavg(), cpu_times(), labp.cpu()
            fig = run_worker("fleet_ctl", params, timeout=900) if variant is None else fleet_run(variant, params)
            load1, st1 = loadavg(), cpu_times()
            n = fig["hosts"]
            req = fig["round_trips"]["mean"]  # read after close(): the Delete is counted already
            lab_cpu = labp.cpu() - lab0
            cpu_bound = (fig["cpu_s"] + lab_cpu) / cores
            latency_bound = -(-n // args.forks) * req * args.latency
            run = {
                **({"variant": variant} if variant else {}),
                "controller_cpu_ms_per_host": round(1000 * fig["cpu_s"] / n, 2),
                **({"warmup_1_host_cpu_ms": round(1000 * fig["warmup_cpu_s"], 1)} if "warmup_cpu_s" in fig else {}),
                "requests_per_host": req,
                "lab_cpu_ms_per_host": round(1000 * lab_cpu / n, 2),
                "wall_s": fig["wall_s"],
                "ideal_s": round(max(latency_bound, cpu_bound), 3),
                "ideal_basis": "cpu" if cpu_bound >= latency_bound else "latency",
                "status": fig["status"],
                "loadavg_1m_before_during": [load0, load1],
                "steal_pct_during": steal_pct(st0, st1),
                "under_load": max(load0, load1) > cores,
            }
            out["runs"].append(run)
            print(json.dumps(run), flush=True)
        if args.ab:
            out["summary"] = summary(out["runs"], "controller_cpu_ms_per_host")
        if args.thread_profile:
            out["thread_profile"] = thread_profile(params, args.thread_profile)
        if args.profile:
            prof = run_worker("profile", {**params, "tool": "cprofile", "timer": "cpu", "out": args.profile,
                                          "top": 30, "markers": [], "warm_limit": "fleet0000"}, timeout=900)
            out["profile"] = {k: prof[k] for k in ("profiled_s", "hosts", "self_time_by_package", "top_self",
                                                   "top_cumulative_libraries")}
    finally:
        os.sched_setaffinity(0, own_cpus)
        labp.stop()
    return out


def pin(lab_pid: int, cpus: set[int]) -> dict[str, list[int]]:
    """--pin: the lab server (every thread) on one CPU, this process and the controllers it starts
    on the others. On a real fleet the Windows hosts are other machines: the lab sharing the
    controller's cores moves both between CPUs and through each other's caches, which the
    controller's CPU figure then carries (measured: about +17 % on 2 cores)."""
    if len(cpus) < 2:
        return {}  # nothing to pin to: reported as not pinned
    lab_cpu = max(cpus)
    for tid in os.listdir(f"/proc/{lab_pid}/task"):
        os.sched_setaffinity(int(tid), {lab_cpu})
    ctl = set(cpus) - {lab_cpu}
    os.sched_setaffinity(0, ctl)  # inherited by the controller processes started from here
    return {"lab": [lab_cpu], "controller": sorted(ctl)}


def section(hosts: int, repeats: int, work: Path) -> dict[str, Any]:
    """bench/run.py's winrmcpu section: `--hosts N --forks 20 --repeats R --pin --warmup`, with the
    median, min and max of the runs (the median is the figure judged)."""
    import statistics

    args = argparse.Namespace(hosts=hosts, forks=20, latency=0.0, repeats=repeats, profile=None, thread_profile=None,
                              transport_only=False, ab=False, per_host=False, variants="", pin=True, warmup=True)
    work.mkdir(parents=True, exist_ok=True)
    out = measure(args, work)
    runs = out["runs"]
    xs = [r["controller_cpu_ms_per_host"] for r in runs]
    out["summary"] = {"runs": len(xs), "pinned": bool(out.get("pinned")), "median": round(statistics.median(xs), 2), "min": min(xs), "max": max(xs),
                      "warmup_ms_median": statistics.median(r["warmup_1_host_cpu_ms"] for r in runs),
                      "requests_per_host": max(r["requests_per_host"] for r in runs),
                      "under_load": any(r["under_load"] for r in runs)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--forks", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", help="also write a cProfile (CPU timer) of the run, hosts inline")
    ap.add_argument("--thread-profile", help="also write a cProfile of every thread of one run in this process "
                    "(after a warm-up run), and print its top cumulative entries per host")
    ap.add_argument("--transport-only", action="store_true",
                    help="open / one small script / close per host in one thread: WinRMTransport alone")
    ap.add_argument("--ab", action="store_true",
                    help="alternate runs of --variants: with --transport-only in this process (same load), "
                         "else whole runs, each in a fresh interpreter with its variant selected")
    ap.add_argument("--per-host", action="store_true",
                    help="with --transport-only --ab: alternate the variants host by host within each repetition")
    ap.add_argument("--variants", default="requests,lean",
                    help="comma-separated, from: " + ", ".join(f"{k} ({v})" for k, v in VARIANTS.items()))
    ap.add_argument("--warmup", action="store_true",
                    help="run one host first in the controller process (reported apart): what a process "
                         "loads on first use (module implementations, their argument schemas) is not per host")
    ap.add_argument("--pin", action="store_true",
                    help="the lab server on one CPU, the controller on the others (see pin())")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--fleet-worker", nargs=2, metavar=("VARIANT", "PARAMS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fleet_worker:
        return fleet_worker(*args.fleet_worker)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="hvprov-winrm-cpu-") as tmp:
        out = measure(args, Path(tmp))
    emit(out, args.json, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
