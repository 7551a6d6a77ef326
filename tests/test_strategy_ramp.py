"""A round of a controller-only task (debug, set_fact, assert, fail, meta) starts one lane
(strategy._ramp, poolmap's ramp): the result document and each host's events are those of the
all-lanes path (the previous code, kept here as the oracle by turning the ramp off), and a
controller task that blocks (a lookup running a command) still runs forks hosts at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import hvprov
from hvprov import strategy
from hvprov.report.jsondoc import run_document

HOSTS = [f"h{i}" for i in range(7)]


def _inventory() -> dict[str, Any]:
    return {"all": {"vars": {"ansible_connection": "sim"},
                    "hosts": {h: {"n": i, "sim_profile": "2019-standard"} for i, h in enumerate(HOSTS)}}}


MIXED = [
    {"name": "p1", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "hello {{ inventory_hostname }}", "debug": {"msg": "n={{ n }}"}, "register": "hello"},
        {"set_fact": {"double": "{{ n | int * 2 }}"}},
        {"name": "loop", "debug": {"msg": "{{ item }} {{ double }}"}, "loop": [1, 2], "when": "n | int != 1"},
        {"name": "once", "set_fact": {"first": "{{ inventory_hostname }}"}, "run_once": True},
        {"name": "odd fails", "fail": {"msg": "odd {{ n }}"}, "when": "n | int % 2 == 1", "ignore_errors": True},
        {"block": [
            {"name": "three fails", "assert": {"that": ["n | int != 3"], "fail_msg": "three"}},
        ], "rescue": [{"debug": {"msg": "rescued {{ ansible_failed_result.msg }}"}}],
            "always": [{"debug": {"var": "hello.msg"}}]},
        {"name": "five fails", "fail": {"msg": "five"}, "when": "n | int == 5"},
        {"name": "after", "debug": {"msg": "{{ first }} {{ ansible_play_hosts | length }}"}},
        {"meta": "end_host", "when": "n | int == 6"},
        {"name": "last", "debug": {"msg": "done"}},
    ]},
    {"name": "p3", "hosts": "all", "gather_facts": False, "max_fail_percentage": 50, "tasks": [
        {"name": "mfp", "fail": {"msg": "x"}, "when": "n | int == 0"},
        {"name": "mfp2", "fail": {"msg": "y"}, "when": "n | int == 6"},
        {"debug": {"msg": "reached"}},
    ]},
    {"name": "p2", "hosts": "all", "gather_facts": False, "any_errors_fatal": True, "tasks": [
        {"debug": {"msg": "p2 {{ double }}"}},
        {"name": "fatal", "assert": {"that": ["n | int != 2"]}},
        {"debug": {"msg": "not reached"}},
    ]},
]


def _run(tmp_path: Path, name: str, forks: int) -> tuple[dict[str, Any], dict[str, list[tuple[Any, ...]]]]:
    events: list[dict[str, Any]] = []
    result = hvprov.apply(MIXED, _inventory(), lab_dir=tmp_path / name, forks=forks, on_event=events.append)
    doc = json.loads(run_document(result))
    doc["duration"] = 0
    for host in doc["hosts"].values():
        host["duration"] = 0
        for task in host["tasks"]:
            task["duration"] = 0
    per_host: dict[str, list[tuple[Any, ...]]] = {}
    for e in events:
        if e.get("host"):
            shown = e["result"].to_dict() | {"duration": 0} if "result" in e else None
            per_host.setdefault(e["host"], []).append((e["event"], e.get("task"), e.get("item"), e.get("status"), shown))
    return doc, per_host


@pytest.mark.parametrize("forks", [3, 50])
def test_the_ramp_gives_the_all_lanes_document_and_events(tmp_path: Path, forks: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ramped = _run(tmp_path, "ramped", forks)
    monkeypatch.setattr(strategy, "_ramp", lambda task: None)  # the previous code: every lane at once
    lanes = _run(tmp_path, "lanes", forks)
    assert ramped == lanes
    hosts = ramped[0]["hosts"]  # the playbook went where it was meant to
    assert [h["msg"] for h in (hosts["h0"], hosts["h5"], hosts["h6"])] == ["x", "five", "y"]
    assert "(any_errors_fatal)" in hosts["h4"]["msg"] and hosts["h2"]["tasks"][-1]["name"] == "fatal"


def test_a_controller_task_that_blocks_still_runs_forks_hosts_at_a_time(tmp_path: Path) -> None:
    """Each host's lookup waits (bounded, 20 s) until four hosts have arrived and prints how many
    did: on one lane the first host would print 1."""
    meet = tmp_path / "meet"
    meet.mkdir()
    script = tmp_path / "barrier.sh"
    script.write_text(f'touch "{meet}/$1"; i=0\n'
                      f'while [ "$(ls "{meet}" | wc -l)" -lt 4 ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done\n'
                      f'ls "{meet}" | wc -l\n')
    book = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"debug": {"msg": "{{ lookup('lines', 'sh " + str(script) + " ' ~ inventory_hostname) | trim }}"}}]}]
    inv = {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {f"b{i}": {} for i in range(4)}}}
    assert strategy._ramp(hvprov.api.load_playbook_input(book).plays[0].tasks[0]) is not None
    result = hvprov.apply(book, inv, lab_dir=tmp_path / "lab", forks=4)
    assert [h.tasks[0].msg for h in result.hosts.values()] == ["4"] * 4
