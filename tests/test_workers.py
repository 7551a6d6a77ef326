"""Host batches in worker processes (--workers / workers=): the same results as threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hvprov
from hvprov.cli import main
from hvprov.errors import OptionsError
from hvprov.workers import default_workers, split

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
LAB = str(ROOT / "inventories" / "lab.yml")
FAST = {"sim": {"reboot_seconds": 0.3}}


def outcome(res: hvprov.RunResult) -> dict[str, Any]:
    """What must not depend on where hosts ran: statuses, change counts, tasks, end states."""
    return {n: (h.status.value, sum(1 for t in h.tasks if t.changed), [(t.name, t.status.value) for t in h.tasks],
                h.state, h.msg) for n, h in sorted(res.hosts.items())}


def kinds(events: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e["event"]] = out.get(e["event"], 0) + 1
    return out


def test_site_playbook_on_two_worker_processes_matches_threads(tmp_path: Path) -> None:
    """Play 2 needs play 1's facts and registered variables: they travel with the jobs."""
    runs = {}
    for label, kw in (("threads", {"workers": 1}), ("procs", {"workers": 2})):
        events: list[dict[str, Any]] = []
        lab = tmp_path / label
        applied = hvprov.apply(SITE, LAB, lab_dir=lab, extra_vars=FAST, forks=4, on_event=events.append, **kw)
        again = hvprov.apply(SITE, LAB, lab_dir=lab, extra_vars=FAST, forks=4, **kw)
        runs[label] = (outcome(applied), applied.exit_code(), kinds(events), again.total_changes, outcome(again))
    assert runs["procs"] == runs["threads"]
    statuses = {s for s, *_ in runs["threads"][0].values()}
    assert "changed" in statuses and "failed" in statuses  # the lab has both: the comparison can fail
    assert runs["threads"][3] == 0
    assert not any("undefined" in msg for *_, msg in runs["procs"][0].values())


def test_events_stream_from_workers_and_secrets_are_masked(tmp_path: Path) -> None:
    inv = {"all": {"vars": {"ansible_connection": "sim", "ansible_password": "Sup3r-S3cret-pw"},
                   "hosts": {f"h{i}": {"sim_profile": "2008r2-standard"} for i in range(6)}}}
    pb = [{"hosts": "all", "gather_facts": True, "strategy": "free", "tasks": [
        {"name": "leak", "debug": {"msg": "pw {{ ansible_password }} on {{ inventory_hostname }}"}}]}]
    events: list[dict[str, Any]] = []
    res = hvprov.plan(pb, inv, lab_dir=tmp_path, workers=3, forks=2, on_event=events.append)
    assert {h.status.value for h in res.hosts.values()} == {"ok"}
    text = repr(events) + repr(res.to_dict())
    assert "Sup3r-S3cret-pw" not in text and "pw ******** on h3" in text
    assert kinds(events)["host_done"] == 6


def test_lockstep_play_runs_when_one_job_holds_the_batch_and_is_refused_when_split(tmp_path: Path) -> None:
    inv = {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"a": {"sim_profile": "2008r2-standard"},
                                                                   "b": {"sim_profile": "2008r2-standard"}}}}
    pb = [{"hosts": "all", "gather_facts": False, "tasks": [{"name": "x", "debug": {"msg": "x"}, "run_once": True}]}]
    with pytest.raises(OptionsError, match="lockstep"):
        hvprov.plan(pb, inv, lab_dir=tmp_path, workers=2)
    one = hvprov.plan(pb, inv, lab_dir=tmp_path, workers=1)
    assert one.exit_code() == 0
    pb[0]["serial"] = 1  # batches of one host: each fits in one job
    assert hvprov.plan(pb, inv, lab_dir=tmp_path, workers=2).exit_code() == 0


def test_cli_workers_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", SITE, "-i", LAB, "--lab-dir", str(tmp_path), "--workers", "0"]) == 5
    assert "--workers" in capsys.readouterr().err
    code = main(["plan", SITE, "-i", LAB, "--lab-dir", str(tmp_path), "--workers", "2", "--skip-tags", "network,vms"])
    assert code == 2  # the lab's refused editions fail, as on threads
    assert "hv-std01" in capsys.readouterr().out


def test_default_workers_and_split() -> None:
    assert default_workers(10, 8) == 1 and default_workers(1000, 2) == 2 and default_workers(1000, 1) == 1
    assert [len(c) for c in split(list(range(7)), 3)] == [3, 2, 2]
    assert split([1], 4) == [[1]]
    with pytest.raises(OptionsError, match="'auto'"):
        hvprov.plan([], {"all": {"hosts": {}}}, workers="many")


def test_a_killed_worker_process_leaves_its_hosts_unreachable(tmp_path: Path) -> None:
    import os
    import signal
    import threading
    import time

    from hvprov.workers import process_pool

    inv = {"all": {"vars": {"ansible_connection": "sim"},
                   "hosts": {f"h{i}": {"sim_profile": "2008r2-standard"} for i in range(6)}}}
    slow = [{"hosts": "all", "gather_facts": False, "strategy": "free", "tasks": [
        {"name": "wait", "debug": {"msg": "{{ item }}"}, "loop": [1, 2, 3, 4], "loop_control": {"pause": 1}}]}]
    events: list[dict[str, Any]] = []
    killed: list[int] = []
    with process_pool(2) as pool:
        def kill_one_when_running() -> None:
            for _ in range(300):  # bounded: at most 30 s
                if any(e["event"] == "task_started" for e in events):  # streamed: a job is inside its hosts
                    pid = next(iter(pool._processes))  # noqa: SLF001 - the pool's worker pids
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_one_when_running)
        killer.start()
        res = hvprov.apply(slow, inv, lab_dir=tmp_path, forks=3, executor=pool, workers=2, on_event=events.append)
        killer.join()
    assert killed
    assert set(res.hosts) == set(inv["all"]["hosts"])  # never lost
    lost = [h for h in res.hosts.values() if h.status.value == "unreachable"]
    assert lost and all("worker lost" in h.msg for h in lost)
    assert all(h.status.value in ("ok", "unreachable") for h in res.hosts.values())
    assert res.exit_code() != 0
