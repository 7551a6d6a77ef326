"""Issue 13 item 3 on the hvprov side: until/retries/delay in plan and apply, the console's retry
line, with_<lookup> loops (each checked against ansible-core by tests/ansible_diff/cases/h13_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hvprov
from hvprov.model import Status

UNTIL = {"name": "wait", "debug": {"msg": "x"}, "register": "r", "until": "r.attempts >= 3", "retries": 5, "delay": 0}


def inventory() -> dict[str, Any]:
    return {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"h1": {"sim_profile": "2008r2-standard"}}}}


def play(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": "p", "hosts": "all", "gather_facts": False, "tasks": tasks}]


def test_apply_retries_until_the_condition_holds_and_says_so(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    r = hvprov.apply(play([UNTIL]), inventory(), lab_dir=tmp_path, on_event=events.append)
    task = r.hosts["h1"].tasks[0]
    assert task.status is Status.OK and task.data["attempts"] == 3
    assert [e["left"] for e in events if e["event"] == "task_retry"] == [5, 4]


def test_plan_plans_an_until_task_once(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    r = hvprov.plan(play([UNTIL]), inventory(), lab_dir=tmp_path, on_event=events.append)
    task = r.hosts["h1"].tasks[0]
    assert task.status is Status.OK and task.data["attempts"] == 1
    assert not [e for e in events if e["event"] == "task_retry"]


def test_exhausted_retries_fail_the_task_with_ansible_count(tmp_path: Path) -> None:
    t = {"name": "never", "debug": {"msg": "x"}, "register": "r", "until": "false", "retries": 2, "delay": 0}
    r = hvprov.apply(play([t]), inventory(), lab_dir=tmp_path)
    task = r.hosts["h1"].tasks[0]
    assert task.status is Status.FAILED and task.data["attempts"] == 2 and task.data["failed"] is True


def test_delay_and_retries_may_be_templates(tmp_path: Path) -> None:
    t = {**UNTIL, "delay": "{{ 0 }}", "retries": "{{ 4 }}"}
    r = hvprov.apply(play([t]), inventory(), lab_dir=tmp_path)
    assert r.hosts["h1"].tasks[0].data["attempts"] == 3


def test_with_dict_loops_over_items(tmp_path: Path) -> None:
    t = {"name": "d", "debug": {"msg": "{{ item.key }}"}, "with_dict": {"a": 1, "b": 2}, "register": "r"}
    r = hvprov.apply(play([t]), inventory(), lab_dir=tmp_path)
    assert [x["msg"] for x in r.hosts["h1"].tasks[0].data["results"]] == ["a", "b"]
