"""Issue 12 on the hvprov side: the task tree, strategies, Ansible's variables and the load-time
refusals (the same semantics are checked against ansible-core by tests/ansible_diff/cases/e12_*)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import hvprov
from hvprov.connvars import connection_spec
from hvprov.errors import InputError, OptionsError
from hvprov.inventory import Inventory
from hvprov.runctx import lease_abandoned, run_live
from hvprov.templating import Templar


def inventory(*names: str) -> dict[str, Any]:
    return {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {n: {"sim_profile": "2008r2-standard"} for n in names}}}


def play(tasks: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    return [{"name": "p", "hosts": "all", "gather_facts": False, "tasks": tasks, **kw}]


def ran(result: hvprov.RunResult, host: str) -> list[tuple[str, str]]:
    return [(t.name, t.status.value) for t in result.hosts[host].tasks]


def test_any_errors_fatal_with_linear_stops_every_host_after_the_failing_task(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    pb = play([{"name": "one", "debug": {"msg": "1"}},
               {"name": "breaks", "fail": {"msg": "no"}, "when": "inventory_hostname == 'h2'"},
               {"name": "three", "debug": {"msg": "3"}}], any_errors_fatal=True)
    pb.append({"name": "next", "hosts": "all", "gather_facts": False, "tasks": [{"name": "four", "debug": {"msg": "4"}}]})
    r = hvprov.apply(pb, inventory("h1", "h2", "h3"), lab_dir=tmp_path, on_event=events.append)
    assert ran(r, "h2") == [("one", "ok"), ("breaks", "failed")]
    for other in ("h1", "h3"):  # they ran the failing task (skipped) with h2, then nothing more
        assert ran(r, other) == [("one", "ok"), ("breaks", "skipped")]
        assert r.hosts[other].status.value == "failed" and "any_errors_fatal" in r.hosts[other].msg
    assert any(e["event"] == "play_aborted" and e["reason"] == "any_errors_fatal" for e in events)
    without = hvprov.apply(pb[:1] and [dict(pb[0], any_errors_fatal=False)], inventory("h1", "h2"), lab_dir=tmp_path)
    assert ran(without, "h1")[-1] == ("three", "ok")


def test_linear_runs_each_task_on_every_host_before_the_next_free_does_not_wait(tmp_path: Path) -> None:
    pb = play([{"name": f"t{i}", "debug": {"msg": str(i)}} for i in range(3)])
    events: list[dict[str, Any]] = []
    hvprov.apply(pb, inventory("a", "b", "c"), lab_dir=tmp_path, on_event=events.append)
    order = [e["task"] for e in events if e["event"] == "task_started"]
    assert order == ["t0"] * 3 + ["t1"] * 3 + ["t2"] * 3
    free = hvprov.apply([dict(pb[0], strategy="free")], inventory("a", "b", "c"), lab_dir=tmp_path, forks=1)
    assert all(ran(free, h) == [("t0", "ok"), ("t1", "ok"), ("t2", "ok")] for h in "abc")


def test_tags_import_is_static_include_is_dynamic(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text("- name: inner\n  debug: msg=inner\n")
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                  "    - import_tasks: t.yml\n      tags: [imp]\n"
                  "    - include_tasks: t.yml\n      tags: [inc]\n")
    inv = inventory("h1")
    imported = hvprov.apply(pb, inv, lab_dir=tmp_path, tags=["imp"])
    assert ran(imported, "h1") == [("inner", "ok")]  # the import's tag is on the imported task
    included = hvprov.apply(pb, inv, lab_dir=tmp_path, tags=["inc"])
    assert ran(included, "h1") == [("include_tasks: t.yml", "ok")]  # the include runs, its untagged task does not


def test_inventory_file_playbook_dir_and_role_path(tmp_path: Path) -> None:
    inv = tmp_path / "inv" / "hosts.yml"
    inv.parent.mkdir()
    inv.write_text("all:\n  hosts:\n    h1:\n      ansible_connection: sim\n      sim_profile: 2008r2-standard\n")
    (tmp_path / "roles" / "r1" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r1" / "tasks" / "main.yml").write_text("- name: where\n  debug: msg={{ role_path }}\n")
    pb = tmp_path / "pb.yml"
    pb.write_text("- hosts: all\n  gather_facts: false\n  roles: [r1]\n  tasks:\n"
                  "    - name: dirs\n      debug:\n        msg: '{{ [inventory_file, inventory_dir, playbook_dir] }}'\n")
    r = hvprov.apply(pb, str(inv), lab_dir=tmp_path)
    msgs = {t.name: t.data["msg"] for t in r.hosts["h1"].tasks}
    assert msgs["where"] == str((tmp_path / "roles" / "r1").resolve())
    assert msgs["dirs"] == [str(inv.resolve()), str(inv.parent.resolve()), str(tmp_path.resolve())]


def test_a_process_pool_refuses_plays_that_need_lockstep(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    pb = play([{"name": "x", "debug": {"msg": "x"}, "run_once": True}])
    with ProcessPoolExecutor(max_workers=2) as pool:
        with pytest.raises(OptionsError, match="lockstep"):  # two jobs would split the batch
            hvprov.apply(pb, inventory("h1", "h2"), lab_dir=tmp_path, executor=pool)
        one_job = hvprov.apply(pb, inventory("h1", "h2"), lab_dir=tmp_path, executor=pool, workers=1)
    threads = hvprov.apply(pb, inventory("h1", "h2"), lab_dir=tmp_path)
    assert one_job.to_dict()["hosts"].keys() == threads.to_dict()["hosts"].keys()
    assert [[t.status.value for t in r.hosts[n].tasks] for r in (one_job, threads) for n in ("h1", "h2")] == [["ok"], [], ["ok"], []]


def test_connection_variables_are_templated_and_extra_vars_win() -> None:
    inv = Inventory.load("h1,")  # a host list
    host = inv.hosts["h1"]
    host = type(host)(host.name, {**host.vars, "ansible_user": "{{ admin }}", "admin": "Administrator",
                                  "ansible_password": "{{ vault_pw }}", "vault_pw": "pw-from-vault"},
                      host.groups, host.var_sources)
    spec = connection_spec(host, {}, Templar())
    assert spec.user == "Administrator" and spec.password is not None and spec.password.reveal() == "pw-from-vault"
    spec = connection_spec(host, {"ansible_password": "from-e", "ansible_user": "other"}, Templar())
    assert spec.user == "other" and spec.password is not None and spec.password.reveal() == "from-e"


def test_a_lease_of_an_ended_run_of_this_process_is_abandoned() -> None:
    import os
    import socket

    holder = f"{socket.gethostname()}:{os.getpid()}:deadbeef"
    assert not run_live(holder) and lease_abandoned(holder)
    done = threading.Event()
    t = threading.Thread(target=done.wait, name="worker hvprov-run-deadbeef")
    t.start()
    try:
        assert run_live(holder) and not lease_abandoned(holder)
    finally:
        done.set()
        t.join()


@pytest.mark.parametrize(("task", "reason"), [
    ({"debug": {"msg": "x"}, "delegate_to": "h2"}, "delegate_to is only supported as delegate_to: localhost"),
    ({"include_tasks": "t.yml", "delegate_to": "localhost"}, "delegate_to is only supported as delegate_to: localhost"),
    ({"debug": {"msg": "x"}, "connection": "winrm"}, "connection per task is only supported as connection: local"),
    ({"debug": {"msg": "x"}, "environment": 3}, "environment expects a mapping"),
    ({"debug": {"msg": "x"}, "check_mode": "maybe"}, "expected a boolean"),
    ({"import_tasks": "t.yml", "loop": [1]}, "import_tasks cannot loop"),
    ({"include_tasks": {"file": "t.yml", "apply": {"tags": ["x"]}}}, "include_tasks apply is not supported"),
    ({"include_tasks": "missing.yml"}, "task file not found: missing.yml"),
    ({"meta": "refresh_inventory"}, "meta: refresh_inventory is not supported"),
    ({"block": [{"debug": {"msg": "x"}}], "loop": [1]}, "'loop' is not a block keyword"),
    ({"rescue": [{"debug": {"msg": "x"}}]}, "rescue needs a block"),
    ({"include_role": {"name": "nosuch"}}, "role 'nosuch' not found"),
    ({"debug": {"msg": "x"}, "with_nosuch": [1]}, "lookup plugin 'nosuch' not found (for with_nosuch)"),
    ({"debug": {"msg": "x"}, "loop": [1], "with_items": [2]}, "a task takes one loop keyword"),
    ({"debug": {"msg": "x"}, "until": "x", "retries": "many"}, "retries expects a number"),
    ({"debug": {"msg": "x"}, "notify": "nobody"}, "no handler named or listening to 'nobody'"),
])
def test_refused_at_load_with_file_and_line(tmp_path: Path, task: dict[str, Any], reason: str) -> None:
    import yaml

    (tmp_path / "t.yml").write_text("- debug: msg=x\n")
    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump(play([task])))
    with pytest.raises(InputError) as info:
        hvprov.plan(pb, inventory("h1"), lab_dir=tmp_path)
    assert reason in str(info.value) and f"{pb}:" in str(info.value)


@pytest.mark.parametrize(("play_kw", "reason"), [
    ({"strategy": "host_pinned"}, "strategy 'host_pinned' is not supported"),
    ({"strategy": "free", "tasks": [{"debug": {"msg": "x"}, "run_once": True}]}, "run_once with strategy free"),
    ({"vars_prompt": [{"name": "x"}]}, "vars_prompt 'x': no terminal to ask on and no default"),
    ({"vars_prompt": [{"prompt": "x"}]}, "a vars_prompt entry needs a 'name'"),
    ({"strategy": "free", "any_errors_fatal": True}, "any_errors_fatal is not supported with strategy free"),
    ({"strategy": "free", "max_fail_percentage": 10}, "max_fail_percentage is not supported with strategy free"),
    ({"vars": {"ansible_user": "other"}}, "connection variable 'ansible_user' in vars is not supported"),
])
def test_refused_play_keywords(tmp_path: Path, play_kw: dict[str, Any], reason: str) -> None:
    import yaml

    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump([{**play([{"debug": {"msg": "x"}}])[0], **play_kw}]))
    with pytest.raises(InputError, match=reason):
        hvprov.plan(pb, inventory("h1"), lab_dir=tmp_path)


def test_handlers_of_a_failed_host_do_not_run_and_rescue_clears_the_failure(tmp_path: Path) -> None:
    pb = play([{"block": [{"name": "c", "debug": {"msg": "c"}, "changed_when": True, "notify": "h"},
                          {"name": "f", "fail": {"msg": "x"}, "when": "inventory_hostname == 'h1'"}],
                "rescue": [{"name": "r", "debug": {"msg": "{{ ansible_failed_result.msg }}"}}]},
               {"name": "f2", "fail": {"msg": "y"}, "when": "inventory_hostname == 'h2'"}],
              handlers=[{"name": "h", "debug": {"msg": "handler"}}])
    r = hvprov.apply(pb, inventory("h1", "h2"), lab_dir=tmp_path)
    assert ran(r, "h1") == [("c", "changed"), ("f", "failed"), ("r", "ok"), ("f2", "skipped"), ("h", "ok")]
    assert r.hosts["h1"].tasks[2].data["msg"] == "x" and r.hosts["h1"].status.value == "ok"
    assert ran(r, "h2") == [("c", "changed"), ("f", "skipped"), ("f2", "failed")]  # no handler on a failed host


def test_any_errors_fatal_sends_other_hosts_to_their_rescue_and_counts_them_failed(tmp_path: Path) -> None:
    pb = play([{"block": [{"name": "f", "fail": {"msg": "x"}, "when": "inventory_hostname == 'h1'"},
                          {"name": "in", "debug": {"msg": "in"}}],
                "rescue": [{"name": "r", "debug": {"msg": "r"}}]},
               {"name": "after", "debug": {"msg": "after"}}], any_errors_fatal=True)
    pb.append({"name": "two", "hosts": "all", "gather_facts": False, "tasks": [{"name": "second", "debug": {"msg": "2"}}]})
    r = hvprov.apply(pb, inventory("h1", "h2"), lab_dir=tmp_path)
    assert ran(r, "h1") == [("f", "failed"), ("r", "ok"), ("after", "ok"), ("second", "ok")]
    assert ran(r, "h2") == [("f", "skipped"), ("r", "ok"), ("after", "ok")]  # excluded from the next play
    assert r.hosts["h1"].status.value == "ok" and r.hosts["h2"].status.value == "failed"


def test_tags_select_tasks_not_handlers(tmp_path: Path) -> None:
    pb = play([{"name": "t", "debug": {"msg": "t"}, "changed_when": True, "notify": "h", "tags": ["x"]},
               {"name": "other", "debug": {"msg": "o"}}],
              handlers=[{"name": "h", "debug": {"msg": "h"}}])
    r = hvprov.apply(pb, inventory("h1"), lab_dir=tmp_path, tags=["x"])
    assert ran(r, "h1") == [("t", "changed"), ("h", "ok")]


def test_import_playbook_tags_go_to_its_plays(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - name: in site\n      debug: msg=s\n")
    pb = tmp_path / "main.yml"
    pb.write_text("- import_playbook: site.yml\n  tags: [site]\n"
                  "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: top\n      debug: msg=t\n")
    r = hvprov.apply(pb, inventory("h1"), lab_dir=tmp_path, tags=["site"])
    assert ran(r, "h1") == [("in site", "ok")]


def test_import_playbook_when_also_decides_fact_gathering(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text("- hosts: all\n  tasks:\n    - name: t\n      debug: msg={{ inventory_hostname }}\n")
    pb = tmp_path / "main.yml"
    pb.write_text("- import_playbook: site.yml\n  when: inventory_hostname == 'h1'\n")
    r = hvprov.plan(pb, inventory("h1", "h2"), lab_dir=tmp_path)
    assert ran(r, "h1") == [("Gathering Facts", "ok"), ("t", "ok")]
    assert ran(r, "h2") == [("t", "skipped")] and r.hosts["h2"].round_trips == 0


def test_roles_path_is_searched_after_the_playbook_roles_dir(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    for where, word in ((shared / "r1", "shared"), (shared / "r2", "shared"), (tmp_path / "pb" / "roles" / "r1", "local")):
        (where / "tasks").mkdir(parents=True)
        (where / "tasks" / "main.yml").write_text(f"- name: {where.name}\n  debug: msg={word}\n")
    pb = tmp_path / "pb" / "site.yml"
    pb.write_text("- hosts: all\n  gather_facts: false\n  roles: [r1, r2]\n")
    r = hvprov.apply(pb, inventory("h1"), lab_dir=tmp_path, roles_path=[shared])
    assert [(t.name, t.data["msg"]) for t in r.hosts["h1"].tasks] == [("r1", "local"), ("r2", "shared")]
    with pytest.raises(InputError, match="role 'r2' not found"):
        hvprov.apply(pb, inventory("h1"), lab_dir=tmp_path, roles_path=[])


def test_group_vars_and_host_vars_beside_the_playbook(tmp_path: Path) -> None:
    """The precedence ansible-playbook 2.19.14 printed for this layout: "pb-all inv-web pb-web pb-host"
    (playbook group_vars/all > inventory group_vars/all; inventory group_vars/web > playbook all;
    playbook host_vars > inline host vars)."""
    files = {"inv/hosts.yml": "all:\n  children:\n    web:\n      hosts:\n        h1:\n          z: inline\n",
             "inv/group_vars/all.yml": "x: inv-all\ny: inv-all\nw: inv-all\n", "inv/group_vars/web.yml": "y: inv-web\n",
             "group_vars/all.yml": "x: pb-all\ny: pb-all\n", "group_vars/web.yml": "w: pb-web\n",
             "host_vars/h1.yml": "z: pb-host\nansible_connection: sim\n",
             "site.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: '{{ x }} {{ y }} {{ w }} {{ z }}'\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    r = hvprov.apply(tmp_path / "site.yml", str(tmp_path / "inv" / "hosts.yml"), lab_dir=tmp_path)
    assert r.hosts["h1"].tasks[0].data["msg"] == "pb-all inv-web pb-web pb-host"


def test_a_reboot_holds_the_next_task_in_linear_but_keeps_reporting_progress(tmp_path: Path) -> None:
    inv = {"all": {"vars": {"ansible_connection": "sim", "sim": {"reboot_seconds": 0.3}},
                   "hosts": {"h1": {"sim_profile": "2008r2-standard"}, "h2": {"sim_profile": "2008r2-standard"}}}}
    pb = play([{"name": "role", "windows_feature": {"name": "Hyper-V"}, "when": "inventory_hostname == 'h1'"},
               {"name": "reboot", "reboot": {"delay": 0, "poll_interval": 0.1}},
               {"name": "after", "debug": {"msg": "after"}}], gather_facts=True)
    events: list[dict[str, Any]] = []
    r = hvprov.apply(pb, inv, lab_dir=tmp_path, on_event=events.append)
    assert r.hosts["h1"].status.value == "changed" and ran(r, "h2")[-1] == ("after", "ok")
    kinds = [(e["event"], e["host"], e.get("task") or (e["result"].name if "result" in e else None)) for e in events]
    h1_reboot_done = kinds.index(("task_done", "h1", "reboot"))
    progress = [i for i, k in enumerate(kinds) if k[0] == "progress" and k[1] == "h1"]
    assert progress and min(progress) < h1_reboot_done  # the rebooting host reports while it waits
    assert kinds.index(("task_started", "h2", "after")) > h1_reboot_done  # linear: h2 waits for the task to end everywhere
