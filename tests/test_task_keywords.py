"""Issue 13 item 4 on the hvprov side: `environment` reaches the scripts as PowerShell literals,
`check_mode: true` plans without applying (ansible-core agreement: tests/ansible_diff/cases/h13_*)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import hvprov
from hvprov.model import Status
from hvprov.render import ScriptRenderer, script_environment
from hvprov.secrets import Secret


def inventory() -> dict[str, Any]:
    return {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"h1": {"sim_profile": "2019-standard"}}}}


def play(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": "p", "hosts": "all", "gather_facts": False, "tasks": tasks}]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_environment_is_set_in_every_script_of_the_task_as_literals(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    odd = "a'b; $(rm -r C:\\)"
    t = {"powershell": {"script": "Write-Output $env:FOO"}, "environment": {"FOO": "{{ v }}", "N": 3}, "vars": {"v": odd}}
    hvprov.apply(play([t, {"powershell": {"script": "Write-Output 1"}}]), inventory(), lab_dir=tmp_path,
                 on_event=events.append)
    scripts = [e["script"] for e in events if e["event"] == "script_run" and "powershell" in e["template"]]
    assert len(scripts) >= 2
    first, last = scripts[0], scripts[-1]
    assert "[Environment]::SetEnvironmentVariable('FOO', ([Text.Encoding]::UTF8.GetString(" in first
    assert b64(odd) in first and odd not in first
    assert "[Environment]::SetEnvironmentVariable('N', '3', 'Process')" in first
    assert "SetEnvironmentVariable" not in last  # only the task that asked for it


def test_a_secret_environment_value_is_masked_in_the_shown_copy_only() -> None:
    r = ScriptRenderer()
    with script_environment({"TOKEN": Secret("hunter2-x")}):
        out = r.render_source("Write-Output {{ x }}\n", x="y")
    assert b64("hunter2-x") in out.text or "'hunter2-x'" in out.text
    assert "hunter2" not in out.shown and "********" in out.shown


def test_check_mode_true_in_apply_plans_and_changes_nothing(tmp_path: Path) -> None:
    feat = {"name": "f", "windows_feature": {"name": "Hyper-V", "state": "present"}, "check_mode": True, "register": "r"}
    r = hvprov.apply(play([feat, {"name": "again", "windows_feature": {"name": "Hyper-V", "state": "present"}}]),
                     inventory(), lab_dir=tmp_path)
    first, second = r.hosts["h1"].tasks
    assert first.status is Status.CHANGED and second.status is Status.CHANGED  # the first made nothing
