"""Issue 13 item 6: ansible.windows' win_command, win_shell and win_powershell by their own
contract. Argument and result names are those of the collection's module documentation
(ansible-collections/ansible.windows plugins/modules/win_command.py, win_shell.py,
win_powershell.py: DOCUMENTATION options and RETURN keys)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

import hvprov
from hvprov import modules
from hvprov.errors import InputError
from hvprov.model import Status
from hvprov.render import ScriptRenderer
from hvprov.taskargs import free_form

COMMAND_RETURN = {"cmd", "rc", "stdout", "stdout_lines", "stderr", "stderr_lines", "start", "end", "delta", "changed"}
POWERSHELL_RETURN = {"result", "host_out", "host_err", "output", "error", "warning", "verbose", "debug", "information",
                     "changed"}


# The arguments themselves are checked against the collection's ansible-doc in
# tests/ansible_diff/test_windows_contract.py.


def inventory() -> dict[str, Any]:
    return {"all": {"vars": {"ansible_connection": "sim"},
                    "hosts": {"old": {"sim_profile": "2008r2-standard"}, "new": {"sim_profile": "2019-standard"}}}}


def play(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": "p", "hosts": "all", "gather_facts": False, "tasks": tasks}]


def test_results_carry_the_documented_keys_and_plans_say_unknown(tmp_path: Path) -> None:
    tasks = [{"name": "c", "win_command": "whoami /all", "register": "c"},
             {"name": "s", "ansible.windows.win_shell": {"_raw_params": "Get-Date", "chdir": "C:\\"}, "register": "s"},
             {"name": "p", "win_powershell": {"script": "param($N) $N", "parameters": {"N": 1}}, "register": "p"}]
    planned = hvprov.plan(play(tasks), inventory(), lab_dir=tmp_path)
    for host in ("old", "new"):
        assert all(t.status is Status.CHANGED and all(c.unknown for c in t.changes) for t in planned.hosts[host].tasks)
    applied = hvprov.apply(play(tasks), inventory(), lab_dir=tmp_path)
    for host in ("old", "new"):
        c, s, p = applied.hosts[host].tasks
        assert COMMAND_RETURN <= set(c.data) and COMMAND_RETURN <= set(s.data) and POWERSHELL_RETURN <= set(p.data)
        assert c.data["cmd"] == "whoami /all" and c.data["rc"] == 0 and isinstance(c.data["stdout_lines"], list)


def test_creates_skips_as_the_collection_says(tmp_path: Path) -> None:
    t = {"name": "once", "win_command": "setup.exe /q creates=C:\\done.txt", "register": "r"}
    r = hvprov.apply(play([t, t]), inventory(), lab_dir=tmp_path)
    first, second = r.hosts["old"].tasks
    assert first.status is Status.CHANGED and second.status is Status.OK
    assert second.data["msg"] == "skipped, since C:\\done.txt exists" and second.data["rc"] == 0


def test_free_form_keeps_only_known_keys_out_of_the_command() -> None:
    assert free_form("win_command", 'whoami /all chdir=C:\\x creates="C:\\y"') == {
        "chdir": "C:\\x", "creates": "C:\\y", "_raw_params": "whoami /all"}
    assert free_form("win_shell", "echo a=b") == {"_raw_params": "echo a=b"}


def test_argv_is_quoted_by_the_win32_rules_and_the_shell_command_travels_encoded() -> None:
    cmd = modules.MODULES["win_command"]
    args = cmd.ArgsModel.model_validate({"argv": ["C:\\Program Files\\a.exe", "x y", 'q"r']})
    line, file, rest = cmd.command(args)  # type: ignore[attr-defined]
    assert line == subprocess.list2cmdline(["C:\\Program Files\\a.exe", "x y", 'q"r'])
    assert file == "C:\\Program Files\\a.exe" and rest == '"x y" q\\"r'
    shell = modules.MODULES["win_shell"]
    odd = "Write-Output 'a'; $x = \"$(1)\""
    _, exe, arguments = shell.command(shell.ArgsModel.model_validate({"_raw_params": odd, "no_profile": True}))  # type: ignore[attr-defined]
    assert exe == "powershell.exe" and arguments.startswith("-NoProfile -NonInteractive")
    assert base64.b64decode(arguments.rsplit(" ", 1)[1]).decode("utf-16-le") == odd


def test_templates_take_every_value_as_a_literal() -> None:
    r = ScriptRenderer()
    out = r.render("powershell/process.ps1.j2", file="cmd.exe", arguments="/c echo '$(x)'", chdir=None, stdin="a'b",
                   encoding=None, creates=None, removes=None, expand_file=False)
    assert "/c echo '$(x)'" not in out.text.split("\n", 2)[2]  # only as base64 below the header
    ps = r.render("powershell/structured.ps1.j2", script="$x", parameters={"N'": "v"}, chdir=None, creates=None,
                  removes=None, depth=2, error_action="stop")
    assert "$hvParams = @{" in ps.text
    assert "$hvErrorAction = 'stop'" in ps.text  # mapped to a preference on the host, never spliced


def test_win_powershell_executable_is_refused_at_load_with_the_reason(tmp_path: Path) -> None:
    t = {"name": "x", "win_powershell": {"script": "1", "executable": "pwsh.exe"}}
    with pytest.raises(InputError, match="tasks\\[0\\].win_powershell.executable: .*another PowerShell process"):
        hvprov.apply(play([t]), inventory(), lab_dir=tmp_path)


def test_win_powershell_registers_host_out_host_err_and_information_as_the_collection(tmp_path: Path) -> None:
    """The lab answers scripts of literal writes (hvprov/sim/psstreams.py): Write-Host reaches
    host_out on every PowerShell, and also `information` (tag PSHOST) from PowerShell 5 on."""
    script = "Write-Host 'a b'\nWrite-Output 1\n$Host.UI.WriteErrorLine('oops')\nWrite-Warning careful"
    r = hvprov.apply(play([{"name": "p", "win_powershell": {"script": script}, "register": "p"},
                           {"name": "d", "debug": {"msg": "{{ p.host_out | trim }}|{{ p.host_err | trim }}"}}]),
                     inventory(), lab_dir=tmp_path)
    for host, ps5 in (("old", False), ("new", True)):
        p, d = r.hosts[host].tasks
        assert p.data["host_out"] == "a b\r\n" and p.data["host_err"] == "oops\r\n"
        assert p.data["output"] == [1] and p.data["warning"] == ["careful"]
        info = p.data["information"]
        assert ([i["tags"] for i in info], [i["source"] for i in info]) == (([["PSHOST"]], ["Write-Host"]) if ps5 else ([], []))
        assert d.data["msg"] == "a b|oops"


def test_win_powershell_path_reads_the_controllers_file_from_files(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "hello.ps1").write_text("Write-Host 'from file'\n", encoding="utf-8")
    pb = tmp_path / "site.yml"
    pb.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                  "    - win_powershell:\n        path: hello.ps1\n      register: p\n"
                  "    - win_powershell:\n        path: missing.ps1\n      ignore_errors: true\n")
    r = hvprov.apply(pb, inventory(), lab_dir=tmp_path / "lab")
    for host in ("old", "new"):
        first, missing = r.hosts[host].tasks
        assert first.data["host_out"] == "from file\r\n"
        assert missing.status is Status.FAILED and "missing.ps1" in missing.msg
    pb.write_text("- hosts: all\n  tasks:\n    - win_powershell:\n        path: hello.ps1\n        script: '1'\n")
    with pytest.raises(InputError, match="mutually exclusive: path, script"):
        hvprov.apply(pb, inventory(), lab_dir=tmp_path / "lab")
