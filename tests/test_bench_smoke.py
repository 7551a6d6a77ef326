"""Smoke test of the benchmark harness (bench/): its workloads run, its lab server serves, its
table renders. It measures nothing: `python bench/run.py` does (never run by CI)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

import hvprov

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"hvprov_bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def test_engine_workload_runs_on_hvprov_and_never_contacts_a_host(tmp_path: Path) -> None:
    lib = _load("benchlib")
    book = lib.write_yaml(tmp_path / "pb.yml", lib.engine_playbook(4))
    inv = lib.write_yaml(tmp_path / "inv.yml", lib.engine_inventory(3, 4, tool="hvprov"))
    res = hvprov.apply(str(book), str(inv), forks=3, lab_dir=tmp_path / "lab")
    assert res.summary()["hosts"]["ok"] == 3, res.to_dict()
    for h in res.hosts.values():
        assert [t.module for t in h.tasks] == ["debug", "set_fact", "assert", "debug"]
        assert h.round_trips == 0
    assert "step 4 of 4, counter 1" in res.hosts["bench0000"].tasks[-1].msg
    assert not (tmp_path / "lab").exists()  # gather_facts false + control modules: no sim host touched


def test_bench_lab_server_serves_winrm_in_its_own_process(tmp_path: Path) -> None:
    lib = _load("benchlib")
    lab = tmp_path / "lab"
    lab.mkdir()
    inv = lib.write_yaml(tmp_path / "fleet.yml", lib.fleet_inventory(2))
    proc = subprocess.Popen([sys.executable, str(BENCH / "labserve.py"), "-i", str(inv), "--lab-dir", str(lab),
                             "--max-seconds", "120"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        state_file = lab / "bench-lab.json"
        deadline = time.monotonic() + 60
        while not state_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state_file.exists(), proc.stderr.read().decode() if proc.poll() is not None else "lab not up in 60 s"
        state = json.loads(state_file.read_text())
        assert state["hosts"] == 2 and state["pid"] == proc.pid
        res = hvprov.plan(str(ROOT / "playbooks" / "site.yml"), state["inventory"], skip_tags=["network", "vms"],
                          lab_dir=tmp_path / "ctl")
        assert res.summary()["hosts"]["unreachable"] == 0, res.to_dict()
        for h in res.hosts.values():
            # NTLM (3) + Create + Command, Send, Receive, Signal (+ Delete once close() is counted)
            assert h.scripts_run == 1 and 1 <= h.round_trips <= 9
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()


def test_table_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _load("run")
    sections = {"fleet": {"figures": {"hosts": 10, "forks": 5, "latency_s": 0.02, "runs": {"apply_no_change": {
        "wall_s": 1.23456, "requests_per_host": 9.0, "ideal_s": 0.36, "vs_ideal": 3.43, "cpu_s": 0.5, "lab_cpu_s": 0.2,
        "mem_per_host_kb": 100.0, "scripts_run": {"max": 1}}}}}}
    table = run.rows(sections)
    by_figure = {r["figure"].split(":")[1].strip(): r for r in table}
    assert by_figure["wall / ideal"]["verdict"] == "MISSED"
    assert by_figure["scripts per host (max)"]["verdict"] == "met"
    # the table rounds the recorded figure (fixed input above, nothing timed here)
    wall = sections["fleet"]["figures"]["runs"]["apply_no_change"]["wall_s"]
    assert by_figure["wall s (10 hosts, 5 in flight, 20 ms)"]["value"] == round(wall, 2) == 1.23
    assert "| fleet |" in run.render_table(table, markdown=True)
    loaded = {"wall_s": 2.0, "requests_per_host": 9.0, "latency_bound_s": 0.36, "cpu_bound_s": 0.5, "ideal_s": 0.5,
              "vs_ideal": 4.0, "cpu_s": 0.04, "lab_cpu_s": 0.03, "controller_cpu_ms_per_host": 4.0,
              "lab_cpu_ms_per_host": 3.0, "loadavg_1m": [5.1, 5.3], "steal_pct": 0.1, "under_load": True,
              "mem_per_host_kb": 100.0, "scripts_run": {"max": 1}}
    rows = {r["figure"]: r for r in run.rows({"fleet": {"figures": {**sections["fleet"]["figures"],
                                                                      "runs": {"plan": loaded}}}})}
    marked = [f for f in rows if "[UNDER LOAD]" in f]
    assert any("wall s" in f and "load 5.1 before" in f for f in marked)
    assert rows["plan: controller CPU ms per host [UNDER LOAD]"]["verdict"] == "MISSED"
    assert any("CPU bound 0.5" in f for f in rows)
    with pytest.raises(SystemExit) as exc:
        run.main(["--only", "nothing", "--json", str(tmp_path / "r.json")])
    assert exc.value.code == 2
    assert "unknown section" in capsys.readouterr().err
    assert os.path.exists(BENCH / "README.md")


def test_profile_attribution_in_a_checkout_named_hvprov() -> None:
    """In /tmp/x/hvprov (a clone named like the package) the .venv's libraries are not hvprov's."""
    worker = _load("worker")
    pkg = "/tmp/x/hvprov/hvprov/"
    venv = "/tmp/x/hvprov/.venv/lib/python3.11/site-packages/"
    assert worker._package(venv + "requests/sessions.py", pkg) == "requests"
    assert worker._package(venv + "spnego/_ntlm.py", pkg) == "spnego"
    assert worker._package(pkg + "transports/winrm.py", pkg) == "hvprov/transports"
    assert worker._package(pkg + "runner.py", pkg) == "hvprov/runner"
    assert worker._where(pkg + "session.py", 12, "close", pkg) == "hvprov/session.py:12:close"
    assert worker._where(venv + "urllib3/connectionpool.py", None, "urlopen", pkg) == "urllib3/connectionpool.py:urlopen"


def test_the_profile_executor_takes_the_thread_path(tmp_path: Path) -> None:
    """The profiles follow one thread: InlineThreadExecutor is a ThreadPoolExecutor (the runner's
    thread path, not picklable jobs) that never starts a thread."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    worker = _load("worker")
    lib = _load("benchlib")
    ex = worker.InlineThreadExecutor()
    assert isinstance(ex, ThreadPoolExecutor)
    seen: set[int] = set()
    events: list[str] = []
    book = lib.write_yaml(tmp_path / "pb.yml", lib.engine_playbook(3))
    inv = lib.write_yaml(tmp_path / "inv.yml", lib.engine_inventory(4, 3, tool="hvprov"))

    def on_event(ev: dict[str, object]) -> None:
        seen.add(threading.get_ident())
        events.append(str(ev["event"]))

    res = hvprov.apply(str(book), str(inv), executor=ex, lab_dir=tmp_path / "lab", on_event=on_event)
    assert res.summary()["hosts"]["ok"] == 4
    assert seen == {threading.get_ident()} and not ex._threads  # noqa: SLF001
    assert events.count("host_done") == 4


def test_new_sections_render(tmp_path: Path) -> None:
    run = _load("run")
    secs = {"scale": {"figures": {"hosts": 10000, "baseline_1": {"maxrss_kb": 40000}, "plan": {
                "wall_s": 30.0, "cpu_s": 29.0, "maxrss_kb": 800000, "mem_per_host_kb": 76.0, "cpu_ms_per_host": 2.9,
                "loadavg_1m": [0.5, 1.5], "steal_pct": 0.1, "under_load": False}}},
            "secrets": {"figures": {"hosts": 2000, "repetitions": 3, "cpu_ratio": 1.31,
                                    "distinct": {"cpu_s": {"min": 7.9}, "under_load": True},
                                    "shared": {"cpu_s": {"min": 6.0}, "under_load": False}}}}
    table = {r["figure"]: r for r in run.rows(secs)}
    assert table["memory per host, KB (peak RSS minus the 1-host run's, / hosts)"]["verdict"] == "met"
    assert table["CPU distinct / shared passwords"]["verdict"] == "MISSED"
    assert any("distinct" in f and "[UNDER LOAD]" in f for f in table)
    with pytest.raises(SystemExit):
        run.main(["--only", "scale,secrets,nope", "--json", str(tmp_path / "r.json")])


def test_winrmcpu_section_runs_over_the_lab_server(tmp_path: Path) -> None:
    """bench/run.py's winrmcpu section on 3 hosts: the lab in its own process (pinned when there
    are 2 CPUs), a 1-host warm-up, then the run; its figures reach the table (values not judged)."""
    run = _load("run")
    wc = _load("winrm_cpu")
    before = os.sched_getaffinity(0)
    out = wc.section(3, 1, tmp_path / "w")
    assert os.sched_getaffinity(0) == before  # the controller's pinning is undone
    (fig,) = out["runs"]
    assert fig["status"] == {"ok": 3} and fig["requests_per_host"] == 7.0
    assert fig["warmup_1_host_cpu_ms"] > 0 and fig["controller_cpu_ms_per_host"] > 0
    assert out["summary"]["pinned"] == (len(before) >= 2)
    table = {r["figure"]: r for r in run.rows({"winrmcpu": {"figures": out}})}
    (row,) = [r for f, r in table.items() if f.startswith("controller CPU ms per no-change host, median of 1")]
    assert row["goal"] == "<= 3" and row["value"] == fig["controller_cpu_ms_per_host"]
