"""The runner's Ansible semantics on in-process simulated hosts, with playbooks as Python data."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import hvprov
from hvprov.api import parse_extra_vars
from hvprov.cli import main
from hvprov.errors import VariableError


def inventory(**hosts: str) -> dict[str, Any]:
    return {"all": {"vars": {"ansible_connection": "sim", "sim": {"reboot_seconds": 0.2}},
                    "hosts": {name: {"sim_profile": profile} for name, profile in hosts.items()}}}


def play(tasks: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    return [{"name": "t", "hosts": "all", "gather_facts": kw.pop("gather_facts", False), "tasks": tasks, **kw}]


def names(result: hvprov.RunResult, host: str) -> list[str]:
    return [t.name for t in result.hosts[host].tasks if t.status.value != "skipped"]


def test_tags_and_skip_tags(tmp_path: Path) -> None:
    tasks = [{"name": "a", "debug": {"msg": "a"}, "tags": ["x"]}, {"name": "b", "debug": {"msg": "b"}, "tags": "y,z"},
             {"name": "c", "debug": {"msg": "c"}}, {"name": "d", "debug": {"msg": "d"}, "tags": ["always"]},
             {"name": "e", "debug": {"msg": "e"}, "tags": ["never", "debugging"]}]
    inv = inventory(h1="2008r2-standard")
    run = lambda **kw: names(hvprov.plan(play(tasks), inv, lab_dir=tmp_path, **kw), "h1")  # noqa: E731
    assert run() == ["a", "b", "c", "d"]
    assert run(tags=["x"]) == ["a", "d"]
    assert run(tags=["z"], skip_tags=["always"]) == ["b"]
    assert run(skip_tags=["y"]) == ["a", "c", "d"]
    assert run(tags=["debugging"]) == ["d", "e"]
    assert run(tags=["untagged"]) == ["c", "d"]


def test_register_when_loop_set_fact_assert(tmp_path: Path) -> None:
    tasks = [
        {"name": "facts", "set_fact": {"wanted": ["Hyper-V"], "n": 3}},
        {"name": "loop", "debug": {"msg": "{{ item * 2 }}"}, "loop": [1, 2, 3], "register": "doubled"},
        {"name": "skipped", "debug": {"msg": "never"}, "when": "n > 5"},
        {"name": "check", "assert": {"that": ["doubled.results | length == 3", "doubled.results[2].msg == 6",
                                            "hvprov_facts.os.sku == 7", "wanted[0] == 'Hyper-V'"]}},
        {"name": "by facts", "debug": {"msg": "{{ hvprov_facts.os.version }}"}, "register": "v"},
        {"name": "check2", "assert": {"that": "v.msg == '6.1.7601'", "fail_msg": "bad version"}},
    ]
    r = hvprov.apply(play(tasks, gather_facts=True), inventory(h1="2008r2-standard"), lab_dir=tmp_path)
    h = r.hosts["h1"]
    assert h.status.value == "ok", h.msg
    statuses = {t.name: t.status.value for t in h.tasks}
    assert statuses["skipped"] == "skipped"
    assert statuses["check"] == "ok" and statuses["check2"] == "ok"


def test_failed_assert_stops_only_that_host(tmp_path: Path) -> None:
    tasks = [{"name": "check", "assert": {"that": "hvprov_facts.os.sku == 7", "fail_msg": "not standard"}},
             {"name": "after", "debug": {"msg": "ran"}}]
    r = hvprov.apply(play(tasks, gather_facts=True), inventory(std="2008r2-standard", web="2008r2-web"), lab_dir=tmp_path)
    assert r.hosts["web"].status.value == "failed" and "not standard" in r.hosts["web"].msg
    assert "after" not in names(r, "web")
    assert r.hosts["std"].status.value == "ok" and "after" in names(r, "std")
    assert r.exit_code() == 2


def test_ignore_errors_no_log_changed_when_failed_when(tmp_path: Path) -> None:
    tasks = [
        {"name": "fails", "assert": {"that": "false"}, "ignore_errors": True},
        {"name": "secret", "debug": {"msg": "token s3cr3t-value"}, "no_log": True},
        {"name": "script", "powershell": {"script": "Get-Date"}, "changed_when": False, "register": "out"},
        {"name": "judged", "debug": {"msg": "x"}, "failed_when": "out.changed == false", "ignore_errors": True},
        {"name": "still runs", "debug": {"msg": "yes"}},
    ]
    r = hvprov.apply(play(tasks), inventory(h1="2008r2-standard"), lab_dir=tmp_path)
    h = r.hosts["h1"]
    by = {t.name: t for t in h.tasks}
    assert by["fails"].status.value == "failed" and by["fails"].ignored
    assert "s3cr3t" not in by["secret"].msg and "no_log" in by["secret"].msg
    assert "s3cr3t" not in str(r.to_dict())
    assert by["script"].status.value == "ok"  # changed_when: false
    assert by["judged"].status.value == "failed" and by["judged"].ignored
    assert by["still runs"].status.value == "ok"
    assert h.status.value == "ok"


def test_handlers_run_only_when_notified(tmp_path: Path) -> None:
    pb = play([{"name": "role", "windows_feature": {"name": "Hyper-V"}, "notify": "say"},
               {"name": "again", "windows_feature": {"name": "Hyper-V"}, "notify": "other"}],
              gather_facts=True, handlers=[{"name": "say", "debug": {"msg": "installed"}},
                                           {"name": "other", "debug": {"msg": "never"}}])
    inv = inventory(h1="2008r2-standard")
    r = hvprov.apply(pb, inv, lab_dir=tmp_path)
    assert names(r, "h1")[-1] == "say" and "other" not in names(r, "h1")
    r2 = hvprov.apply(pb, inv, lab_dir=tmp_path)
    assert "say" not in names(r2, "h1")


def test_serial_and_max_fail_percentage(tmp_path: Path) -> None:
    pb = play([{"name": "prereqs", "hyperv_prereqs": {}}], gather_facts=True, serial=2, max_fail_percentage=0)
    inv = inventory(a1="2008r2-standard", a2="2008r2-web", b1="2008r2-standard", b2="2008r2-standard")
    events: list[dict[str, Any]] = []
    r = hvprov.plan(pb, inv, lab_dir=tmp_path, on_event=events.append)
    assert sorted(r.hosts) == ["a1", "a2"]  # the second batch never started
    assert any(e["event"] == "play_aborted" for e in events)
    pb2 = play([{"name": "prereqs", "hyperv_prereqs": {}}], gather_facts=True, serial=["25%", 3])
    r2 = hvprov.plan(pb2, inv, lab_dir=tmp_path, on_event=events.append, forks=1)
    starts = [e["host"] for e in events if e["event"] == "host_started"][-4:]
    assert starts == ["a1", "a2", "b1", "b2"] and len(r2.hosts) == 4


def test_extra_vars_forms_and_precedence(tmp_path: Path) -> None:
    f = tmp_path / "vars.yml"
    f.write_text("from_file: 3\nwho: file\n")
    ev = parse_extra_vars(["who=cli n=1", '{"j": [1, 2]}', f"@{f}"])
    assert ev == {"who": "file", "n": "1", "j": [1, 2], "from_file": 3}
    with pytest.raises(VariableError):
        parse_extra_vars(["not-a-pair"])
    inv = inventory(h1="2008r2-standard")
    inv["all"]["hosts"]["h1"]["who"] = "host"
    tasks = [{"name": "show", "debug": {"msg": "{{ who }}"}, "register": "r"},
             {"name": "check", "assert": {"that": "r.msg == expected"}}]
    res = hvprov.plan(play(tasks, vars={"who": "play"}), inv, lab_dir=tmp_path, extra_vars={"who": "extra", "expected": "extra"})
    assert res.hosts["h1"].status.value == "ok", res.hosts["h1"].msg
    res = hvprov.plan(play(tasks, vars={"who": "play", "expected": "play"}), inv, lab_dir=tmp_path)
    assert res.hosts["h1"].status.value == "ok", res.hosts["h1"].msg


def test_shards_partition_the_fleet(tmp_path: Path) -> None:
    inv = inventory(**{f"h{i:02d}": "2008r2-standard" for i in range(20)})
    pb = play([{"name": "x", "debug": {"msg": "x"}}])
    seen: list[str] = []
    for i in (1, 2, 3):
        seen += list(hvprov.plan(pb, inv, lab_dir=tmp_path, shard=(i, 3)).hosts)
    assert sorted(seen) == sorted(inv["all"]["hosts"]) and len(seen) == len(set(seen))


def test_two_runs_in_threads_do_not_interfere(tmp_path: Path) -> None:
    results: dict[str, hvprov.RunResult] = {}
    pb = play([{"name": "prereqs", "hyperv_prereqs": {}}, {"name": "role", "windows_feature": {"name": "Hyper-V"}}],
              gather_facts=True)

    def go(key: str, profile: str) -> None:
        results[key] = hvprov.apply(pb, inventory(**{key: profile}), lab_dir=tmp_path)

    threads = [threading.Thread(target=go, args=("std", "2008r2-standard")), threading.Thread(target=go, args=("web", "2008r2-web"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(results["std"].hosts) == ["std"] and results["std"].hosts["std"].status.value == "changed"
    assert list(results["web"].hosts) == ["web"] and results["web"].hosts["web"].status.value == "failed"


def test_unreachable_host_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    inv = tmp_path / "inv.yml"
    inv.write_text(f"all:\n  hosts:\n    gone:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n"
                   "      ansible_user: Administrator\n      ansible_password: Pa55w0rd-secret\n      hvprov_retries: 0\n")
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  tasks:\n    - hyperv_prereqs: {}\n")
    code = main(["apply", str(pb), "-i", str(inv), "--lab-dir", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 3
    assert "unreachable" in out.out and "Pa55w0rd-secret" not in out.out + out.err


@pytest.mark.parametrize("argv", [
    ["apply"], ["plan", "x.yml"], ["apply", "x.yml", "-i", "y", "--forks", "zero"], ["frobnicate"],
])
def test_bad_options_exit_5(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 5
    capsys.readouterr()


def test_bad_shard_and_forks_exit_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = str(Path(__file__).parent / "data" / "inv" / "one.yml")
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  tasks: []\n")
    assert main(["plan", str(pb), "-i", inv, "--shard", "3/2", "--lab-dir", str(tmp_path)]) == 5
    assert main(["plan", str(pb), "-i", inv, "--forks", "0", "--lab-dir", str(tmp_path)]) == 5
    assert "ERROR" in capsys.readouterr().err


def test_a_process_pool_executor_runs_hosts_in_other_processes(tmp_path: Path) -> None:
    """Any concurrent.futures.Executor: jobs are pickled to worker processes (as Dask's would be)."""
    from concurrent.futures import ProcessPoolExecutor

    pb = play([{"name": "prereqs", "hyperv_prereqs": {}}, {"name": "role", "windows_feature": {"name": "Hyper-V"}},
               {"name": "who", "debug": {"msg": "{{ inventory_hostname }} pid"}, "register": "who"}], gather_facts=True)
    inv = inventory(std="2008r2-standard", web="2008r2-web", dc="2008r2-datacenter")
    events: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        res = hvprov.apply(pb, inv, lab_dir=tmp_path, executor=pool, on_event=events.append)
    assert {n: h.status.value for n, h in res.hosts.items()} == {"std": "changed", "web": "failed", "dc": "changed"}
    assert res.hosts["std"].round_trips >= 2 and res.hosts["std"].state["os_version"] == "6.1.7601"
    assert {e["host"] for e in events if e["event"] == "task_done"} == {"std", "web", "dc"}
    again = hvprov.apply(pb, inv, lab_dir=tmp_path)  # the workers' changes landed on the lab hosts
    assert again.total_changes == 0
