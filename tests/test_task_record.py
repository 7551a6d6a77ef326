"""What a task records (TaskResult.data, the registered result as shown) holds no Secret and no
secret text, whichever way the secret got into it; a task without `environment` or `no_log`
runs with none in force (the executor skips setting what is already in force)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hvprov
from hvprov.secrets import Secret, has_secret, no_log_active

PW = "S3cretValue!x"


def _walk(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [obj, *(x for v in obj.values() for x in _walk(v))]
    if isinstance(obj, (list, tuple)):
        return [obj, *(x for v in obj for x in _walk(v))]
    return [obj]


def test_recorded_results_hold_no_secret(tmp_path: Path) -> None:
    book = [{"hosts": "all", "gather_facts": False, "vars": {"admin_password": PW}, "tasks": [
        {"debug": {"var": "admin_password"}, "register": "r1"},
        {"set_fact": {"copy_password": "{{ admin_password }}", "nested": {"k": ["{{ admin_password }}"]}}},
        {"debug": {"msg": "{{ nested }} {{ admin_password }}"}, "register": "r2"},
        {"debug": {"var": "r1"}},
        {"debug": {"var": "nested"}, "loop": [1, 2]},
        {"assert": {"that": ["admin_password | length > 3"], "success_msg": "ok {{ admin_password }}"}},
    ]}]
    inv = {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"h1": {}, "h2": {}}}}
    result = hvprov.apply(book, inv, lab_dir=tmp_path)
    assert not result.failed
    for host in result.hosts.values():
        for task in host.tasks:
            assert not has_secret(task.data) and not any(isinstance(x, Secret) for x in _walk(task.data))
            assert PW not in json.dumps(task.data, default=repr) and PW not in task.msg
    shown = [t.data for t in result.hosts["h1"].tasks]
    assert "********" in json.dumps(shown)  # masked, not dropped


def test_no_log_scope_is_not_left_behind(tmp_path: Path) -> None:
    book = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"debug": {"msg": "a"}, "no_log": True}, {"debug": {"msg": "b"}}]}]
    events: list[dict[str, Any]] = []
    hvprov.apply(book, {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"h1": {}}}}, lab_dir=tmp_path,
                 on_event=events.append, forks=1)
    assert not no_log_active()
    done = [e for e in events if e["event"] == "task_done"]
    assert [d["result"].msg for d in done] == ["the output has been hidden due to the fact that 'no_log: true' was specified for this result", "b"]
