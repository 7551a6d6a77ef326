"""Issue 13 item 4: `environment`, `check_mode` and `diff` inherited from play, block and role
entry as ansible-core does (the task's own wins; environment dicts merged per name).

`environment` is compared end to end: the same keyword structure runs in ansible-core with a
local `shell: echo` of the variables, and in hvprov on the lab with `win_shell`, where the
variables the scripts set in PowerShell are read back from the scripts run. check_mode / diff
agreement on the magic variables is in cases/h13_keyword_scope; here, on the lab, that
check_mode: true (inherited) plans without applying and an inner check_mode: false applies.
"""

from __future__ import annotations

import base64
import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import hvprov
from hvprov.model import Status

from . import oracle

NAMES = ("A", "B", "C", "D")
# (play keywords, block keywords, task keywords): every level's environment, in ansible's forms.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "play_only": ({"environment": {"A": "play", "B": "play"}}, {}, {}),
    "block_overrides_play": ({"environment": {"A": "play", "B": "play"}}, {"environment": {"B": "block"}}, {}),
    "task_overrides_all": ({"environment": {"A": "play", "B": "play"}}, {"environment": {"B": "block", "C": "block"}},
                           {"environment": {"C": "task", "D": "{{ d }}"}}),
    "list_of_mappings": ({"environment": [{"A": "p1"}, {"A": "p2", "B": "p2"}]}, {}, {"environment": [{"C": 3}]}),
    "templated_level": ({"vars": {"envs": {"A": "from-var"}}, "environment": "{{ envs }}"}, {}, {"environment": {"B": "t"}}),
    "block_only": ({}, {"environment": {"D": "block"}}, {}),
}


def _playbook(play_kw: dict[str, Any], block_kw: dict[str, Any], task_kw: dict[str, Any], task: dict[str, Any]) -> list[Any]:
    play_kw = copy.deepcopy(play_kw)
    play_vars = {"d": "templ", **play_kw.pop("vars", {})}
    return [{"hosts": "all", "gather_facts": False, "vars": play_vars, **play_kw,
             "tasks": [{"block": [{**task, **task_kw, "register": "out"}], **block_kw}]}]


def _ansible_env(tmp: Path, case: tuple[dict[str, Any], ...]) -> dict[str, str]:
    echo = "echo " + " ".join(f'"{n}=${{{n}-<unset>}}"' for n in NAMES)
    book = _playbook(*case, {"shell": echo})
    book[0]["tasks"].append({"debug": {"var": "out.stdout"}})
    case_dir = tmp / "src"
    case_dir.mkdir()
    (case_dir / "playbook.yml").write_text(yaml.safe_dump(book, sort_keys=False))
    (case_dir / "inventory.yml").write_text("all:\n  hosts:\n    h1: {}\n")
    doc = oracle.run_case(case_dir, tmp, {})
    outs = [e["result"]["out.stdout"] for e in doc["events"] if "out.stdout" in e.get("result", {})]
    assert outs, doc
    pairs = dict(p.split("=", 1) for p in outs[0].split(" "))
    return {k: v for k, v in pairs.items() if v != "<unset>"}


_SET = re.compile(r"\[Environment\]::SetEnvironmentVariable\('((?:[^']|'')*)', (.*?), 'Process'\)")
_B64 = re.compile(r"\(\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\)")


def _ps_value(text: str) -> str:
    if (m := _B64.fullmatch(text)) is not None:
        return base64.b64decode(m.group(1)).decode()
    assert text.startswith("'") and text.endswith("'"), text
    return text[1:-1].replace("''", "'")


def _hvprov_env(tmp: Path, case: tuple[dict[str, Any], ...]) -> dict[str, str]:
    events: list[dict[str, Any]] = []
    book = _playbook(*case, {"win_shell": "Get-ChildItem env:"})
    inv = {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"h1": {"sim_profile": "2019-standard"}}}}
    res = hvprov.apply(book, inv, lab_dir=tmp / "lab", on_event=events.append)
    assert not res.failed, res.to_dict()
    scripts = [e["script"] for e in events if e["event"] == "script_run" and e["template"].startswith("powershell/")]
    assert len(scripts) == 1
    return {m.group(1).replace("''", "'"): _ps_value(m.group(2)) for m in _SET.finditer(scripts[0])}


@pytest.mark.parametrize("name", sorted(CASES))
def test_environment_levels_merge_as_in_ansible(name: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "h").mkdir()
    theirs = _ansible_env(tmp_path / "a", CASES[name])
    ours = _hvprov_env(tmp_path / "h", CASES[name])
    assert theirs, "the oracle saw no variable: the case shows nothing"
    assert ours == theirs


def _lab(tmp: Path, book: list[Any]) -> list[Any]:
    inv = {"all": {"vars": {"ansible_connection": "sim"}, "hosts": {"h1": {"sim_profile": "2019-standard"}}}}
    return hvprov.apply(book, inv, lab_dir=tmp).hosts["h1"].tasks


FEATURE = {"windows_feature": {"name": "Hyper-V", "state": "present"}}


def test_play_check_mode_plans_and_a_block_check_mode_false_applies(tmp_path: Path) -> None:
    book = [{"hosts": "all", "gather_facts": False, "check_mode": True, "tasks": [
        {"name": "planned", **FEATURE},
        {"name": "still planned", **FEATURE},
        {"block": [{"name": "applied", **FEATURE}, {"name": "done", **FEATURE},
                   {"name": "task wins", **FEATURE, "check_mode": True}], "check_mode": False}]}]
    tasks = {t.name: t.status for t in _lab(tmp_path, book)}
    assert tasks["planned"] is Status.CHANGED and tasks["still planned"] is Status.CHANGED  # nothing applied
    assert tasks["applied"] is Status.CHANGED and tasks["done"] is Status.OK and tasks["task wins"] is Status.OK


def test_role_entry_check_mode_is_inherited_by_the_role_tasks(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "feat" / "tasks"
    role.mkdir(parents=True)
    role.joinpath("main.yml").write_text(yaml.safe_dump([{"name": "in role", **FEATURE}]))
    pb = tmp_path / "site.yml"
    pb.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False,
                                   "roles": [{"role": "feat", "check_mode": True}],
                                   "tasks": [{"name": "after", **FEATURE}]}]))
    tasks = {t.name.split(" : ")[-1]: t.status for t in _lab(tmp_path / "lab", pb)}  # type: ignore[arg-type]
    assert tasks["in role"] is Status.CHANGED and tasks["after"] is Status.CHANGED  # the role's was planned


@pytest.mark.parametrize("key,value", [("environment", {"A": "1"}), ("check_mode", True), ("diff", True)])
def test_keywords_on_a_dynamic_include_are_refused_with_the_reason(key: str, value: Any, tmp_path: Path) -> None:
    from hvprov.errors import InputError

    (tmp_path / "t.yml").write_text("- debug: msg=x\n")
    pb = tmp_path / "site.yml"
    pb.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False,
                                   "tasks": [{"include_tasks": "t.yml", key: value}]}]))
    with pytest.raises(InputError, match=rf"site\.yml:\d+:\d+: .*{key} on include_tasks is not supported"):
        hvprov.apply(pb, {"all": {"hosts": {"h1": {}}}}, lab_dir=tmp_path / "lab")


def test_oracle_is_ansible_core() -> None:
    out = subprocess.run([str(oracle.ansible_bin()), "--version"], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("ansible-playbook [core 2.19")
