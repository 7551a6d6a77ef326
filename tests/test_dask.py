"""Host batches on a Dask cluster (a LocalCluster of processes, small enough for a 2-core CI
machine): the same results as threads; a worker killed mid-run loses no host."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import hvprov
from hvprov.cli import main

distributed = pytest.importorskip("distributed")  # in the test extra: CI always has it

PROFILES = ["2008r2-standard", "2008r2-datacenter", "2012r2-datacenter", "2008r2-web"]  # web: refused


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def fleet(n: int) -> dict[str, Any]:
    hosts = {f"hv{i:03d}": {"sim_profile": PROFILES[i % len(PROFILES)], "ansible_password": f"Pw-{i:03d}-LAPS-x9"}
             for i in range(n)}
    return {"all": {"vars": {"ansible_connection": "sim"}, "hosts": hosts}}


PLAYBOOK = [
    {"name": "role", "hosts": "all", "gather_facts": True, "tasks": [
        {"name": "prereqs", "hyperv_prereqs": {}},
        {"name": "feature", "windows_feature": {"name": "Hyper-V"}},
        {"name": "say", "debug": {"msg": "{{ inventory_hostname }} uses {{ ansible_password }}"}, "register": "said"}]},
    {"name": "carry", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "carried", "assert": {"that": ["said.msg is defined", "hvprov_facts.os.version is defined"]}}]},
]


def outcome(res: hvprov.RunResult) -> dict[str, Any]:
    return {n: (h.status.value, sum(1 for t in h.tasks if t.changed), [(t.name, t.status.value) for t in h.tasks],
                h.msg) for n, h in sorted(res.hosts.items())}


def kinds(events: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e["event"]] = out.get(e["event"], 0) + 1
    return out


def test_200_hosts_on_a_local_cluster_match_threads(client: Any, tmp_path: Path) -> None:
    inv = fleet(200)
    runs = {}
    for label, kw in (("threads", {"workers": 1}), ("dask", {"executor": client.get_executor()})):
        events: list[dict[str, Any]] = []
        res = hvprov.apply(PLAYBOOK, inv, lab_dir=tmp_path / label, forks=8, on_event=events.append, **kw)
        runs[label] = (outcome(res), res.exit_code(), kinds(events))
        text = repr(events) + repr(res.to_dict())
        assert "LAPS" not in text, label  # every host's own password masked, in workers too
        assert "hv005 uses ********" in text
    assert runs["dask"] == runs["threads"]
    statuses = [s for s, *_ in runs["threads"][0].values()]
    assert statuses.count("failed") == 50 and statuses.count("changed") == 150
    assert runs["threads"][1] == 2


def test_cli_dask_address(client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    inv, pb = tmp_path / "inv.yml", tmp_path / "pb.yml"
    inv.write_text(yaml.safe_dump(fleet(8)))
    pb.write_text(yaml.safe_dump(PLAYBOOK))
    code = main(["apply", str(pb), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"), "--dask",
                 client.scheduler.address, "--format", "json"])
    out = capsys.readouterr().out
    assert code == 2 and '"hv005"' in out and "LAPS" not in out


def test_a_worker_killed_mid_run_loses_no_host(client: Any, tmp_path: Path) -> None:
    inv = fleet(12)
    slow = [{"name": "slow", "hosts": "all", "gather_facts": False, "strategy": "free", "tasks": [
        {"name": "wait", "debug": {"msg": "{{ item }}"}, "loop": [1, 2, 3, 4], "loop_control": {"pause": 1}}]}]
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one_when_busy() -> None:
        for _ in range(300):  # bounded: at most 30 s
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                time.sleep(1.0)  # the job is inside its hosts' loops
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(pids[busy[0]])
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_one_when_busy)
    killer.start()
    res = hvprov.apply(slow, inv, lab_dir=tmp_path, forks=6, executor=client.get_executor(), workers=2)
    killer.join()
    assert killed, "no worker was busy: the test did not kill anything"
    assert set(res.hosts) == set(inv["all"]["hosts"])  # never lost
    for name, h in res.hosts.items():  # retried on the other worker, or reported unreachable
        assert h.status.value in ("ok", "unreachable"), (name, h.status, h.msg)
        if h.status.value == "ok":
            assert [t.name for t in h.tasks] == ["wait"]
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker for the other tests
