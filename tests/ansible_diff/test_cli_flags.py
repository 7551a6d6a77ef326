"""ansible-playbook's command-line habits on `hvprov apply` / `hvprov plan`, against
ansible-playbook itself (the oracle venv): --list-hosts / --list-tasks / --list-tags /
--syntax-check output (identical stdout, but for the order of hosts and of a play's tags, which
ansible-playbook prints from a set), and --start-at-task and several playbooks per command
(the same tasks run on the same hosts with the same status: ansible-core on local-connection
hosts, hvprov on sim hosts). Where ansible-playbook finds no task to start at (it runs nothing and
prints an error), hvprov refuses with exit 5 and the same message.

Data: cli_cases/<case>/ (inventory.yml, playbooks, roles; case.yml: `playbooks`, `list`, `run`,
`extra_vars`), and every case of cases/ for the combined listing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import oracle

HERE = Path(__file__).parent
CLI_CASES = HERE / "cli_cases"
RUN_CASES = HERE / "cases"
DEFAULT_LIST = [["--list-hosts", "--list-tasks", "--list-tags"], ["--list-tasks"], ["--list-tags"]]
CASE_KEYS = {"playbooks", "list", "run", "extra_vars", "note"}


def _case(path: Path) -> dict[str, Any]:
    f = path / "case.yml"
    data = (yaml.safe_load(f.read_text()) if f.exists() else {}) or {}
    unknown = set(data) - CASE_KEYS
    assert not unknown, f"{f}: unknown keys {sorted(unknown)}"
    return data


def _extra(case: dict[str, Any]) -> list[str]:
    return ["-e", json.dumps(case["extra_vars"])] if case.get("extra_vars") else []


def _cli_dirs() -> list[Path]:
    return sorted(p for p in CLI_CASES.iterdir() if p.is_dir() and (p / "inventory.yml").exists())


def _run_dirs() -> list[Path]:
    out = []
    for p in sorted(RUN_CASES.iterdir()):
        f = p / "case.yml"
        if (p / "playbook.yml").exists() and not (f.exists() and "refused" in (yaml.safe_load(f.read_text()) or {})):
            out.append(p)
    return out


# (label, case dir, playbooks, flags) for every listing compared
LISTINGS: list[tuple[str, Path, list[str], list[str]]] = []
for _p in _cli_dirs():
    _c = _case(_p)
    for _flags in _c.get("list", DEFAULT_LIST):
        LISTINGS.append((f"{_p.name}:{' '.join(_flags)}", _p, _c.get("playbooks", ["playbook.yml"]),
                         [*_flags, *_extra(_c)]))
for _p in _run_dirs():
    _c = yaml.safe_load((_p / "case.yml").read_text()) if (_p / "case.yml").exists() else {}
    _ev = ["-e", json.dumps(_c["extra_vars"])] if (_c or {}).get("extra_vars") else []
    _lim = ["-l", str(_c["limit"])] if (_c or {}).get("limit") else []
    LISTINGS.append((f"cases/{_p.name}", _p, ["playbook.yml"], ["--list-hosts", "--list-tasks", "--list-tags", *_ev, *_lim]))

# Listings hvprov refuses (exit 5), with the reason: ansible-playbook lists a role's tasks at each
# place a play names it, although they run once; hvprov's task tree holds them once.
REFUSED_LISTINGS = {
    "cases/e12_role_meta_dependencies": "names role(s) common more than once in a play",
    "cases/e12_role_runs_once_per_play": "names role(s) base more than once in a play",
}

RUNS: list[tuple[str, Path, list[str], list[str]]] = []
for _p in _cli_dirs():
    _c = _case(_p)
    for _flags in _c.get("run", []):
        RUNS.append((f"{_p.name}:{' '.join(_flags) or '(none)'}", _p, _c.get("playbooks", ["playbook.yml"]),
                     [*_flags, *_extra(_c)]))


def _env(home: Path, out: Path) -> dict[str, str]:
    (home / "none.cfg").write_text("[defaults]\n")
    return oracle._env(home, out)


def _ansible(cwd: Path, args: list[str], events: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        out = home / "events.json"
        env = _env(home, out)
        if not events:
            env.pop("ANSIBLE_STDOUT_CALLBACK")
        proc = subprocess.run([str(oracle.ansible_bin()), "-i", "inventory.yml", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        doc = json.loads(out.read_text()) if out.exists() else {"events": []}
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "events": doc["events"]}


def normalized(text: str) -> str:
    """Hosts under `hosts (N):` sorted, a play's TAGS sorted: ansible-playbook prints sets."""
    lines = text.rstrip("\n").split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(  play #\d+ \(.*\): .*\tTAGS: \[)(.*)\]$", line)
        if m:
            line = m.group(1) + ",".join(sorted(t for t in m.group(2).split(",") if t)) + "]"
        out.append(line)
        i += 1
        if re.match(r"^    hosts \(\d+\):$", line):
            j = i
            while j < len(lines) and lines[j].startswith("      "):
                j += 1
            out.extend(sorted(lines[i:j]))
            i = j
    return "\n".join(out)


@pytest.fixture(scope="module")
def oracle_listings() -> dict[str, dict[str, Any]]:
    oracle.ensure_venv()
    with ThreadPoolExecutor(3) as pool:
        futures = {label: pool.submit(_ansible, path, [*books, *flags]) for label, path, books, flags in LISTINGS}
        return {k: f.result() for k, f in futures.items()}


# the first case also pays the module fixture: ~150 ansible-playbook listings, past the
# suite's 300 s per test on a loaded 2-core machine
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(("label", "path", "books", "flags"), LISTINGS, ids=[x[0] for x in LISTINGS])
def test_listing_matches_ansible_playbook(label: str, path: Path, books: list[str], flags: list[str],
                                          oracle_listings: dict[str, dict[str, Any]],
                                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hvprov.cli import main

    theirs = oracle_listings[label]
    monkeypatch.chdir(path)
    code = main(["plan", "-i", "inventory.yml", *books, *flags])
    ours, err = capsys.readouterr()
    assert theirs["rc"] == 0, theirs["stderr"][-2000:]
    if label in REFUSED_LISTINGS:
        assert code == 5 and REFUSED_LISTINGS[label] in err, (code, err)
        return
    assert code == 0, err
    assert normalized(ours) == normalized(theirs["stdout"])


def _record(name: str, action: str, status: str) -> tuple[str, str, str]:
    """(task name without its role, action, status); an include's own result under its action
    only (each tool names an unnamed include its own way), fact gathering as `gather_facts`."""
    action = action.removeprefix("ansible.builtin.")
    if name == "Gathering Facts":
        action = "gather_facts"
    if action in ("include_tasks", "include_role"):
        name = ""
    return name.split(" : ", 1)[-1].removeprefix("ansible.builtin."), action, status


def _records_ansible(events: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {}
    for ev in events:
        out.setdefault(ev["host"], []).append(_record(ev["task"], ev["action"], ev["status"]))
    return out


def _records_hvprov(doc: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    return {host: [_record(t["name"], t["module"], t["status"]) for t in h["tasks"]]
            for host, h in doc["hosts"].items() if h["tasks"]}


@pytest.fixture(scope="module")
def oracle_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    oracle.ensure_venv()
    base = tmp_path_factory.mktemp("cliruns")

    def one(i: int, path: Path, books: list[str], flags: list[str]) -> dict[str, Any]:
        work = base / f"{i}"
        shutil.copytree(path, work)
        return _ansible(work, ["-c", "local", *books, *flags], events=True)

    with ThreadPoolExecutor(3) as pool:
        futures = {label: pool.submit(one, i, path, books, flags) for i, (label, path, books, flags) in enumerate(RUNS)}
        return {k: f.result() for k, f in futures.items()}


@pytest.mark.parametrize(("label", "path", "books", "flags"), RUNS, ids=[x[0] for x in RUNS])
def test_run_matches_ansible_playbook(label: str, path: Path, books: list[str], flags: list[str],
                                      oracle_runs: dict[str, dict[str, Any]], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hvprov.cli import main

    theirs = oracle_runs[label]
    work = tmp_path / "case"
    shutil.copytree(path, work)
    (tmp_path / "sim.yml").write_text("all:\n  vars:\n    ansible_connection: sim\n    sim_profile: 2019-standard\n")
    monkeypatch.chdir(work)
    results = tmp_path / "results.json"
    code = main(["apply", "-i", "inventory.yml", "-i", str(tmp_path / "sim.yml"), *books, *flags,
                 "--lab-dir", str(tmp_path / "lab"), "--results", str(results), "--format", "json"])
    _, err = capsys.readouterr()
    if "No matching task" in theirs["stderr"]:  # ansible-playbook ran nothing: hvprov refuses up front
        assert not theirs["events"]
        assert code == 5, err
        assert re.search(r'No matching task ".*" found', err), err
        assert not results.exists()
        return
    assert code == theirs["rc"], (err, theirs["stderr"][-2000:])
    doc = json.loads(results.read_text())
    assert _records_hvprov(doc) == _records_ansible(theirs["events"])


# --syntax-check on a corpus of good and broken playbooks: the same exit code (hvprov's 4 for
# every input error, where ansible-playbook says 1 for a missing file or role) and the same
# file:line:column. hvprov checks more at load than ansible-playbook's syntax check does:
STRICTER = {"unknown_filter.yml": "no filter named 'no_such_filter_q'"}
SYNTAX_DIR = HERE / "cli_syntax"
SYNTAX = sorted(p.name for p in SYNTAX_DIR.glob("*.yml") if p.name != "inventory.yml")
SYNTAX_RUNS = [[name] for name in SYNTAX] + [["ok_roles.yml", "yaml_indent.yml"], ["ok_roles.yml", "ok_roles.yml"]]


@pytest.fixture(scope="module")
def oracle_syntax() -> dict[str, dict[str, Any]]:
    oracle.ensure_venv()
    with ThreadPoolExecutor(3) as pool:
        futures = {" ".join(r): pool.submit(_ansible, SYNTAX_DIR, ["--syntax-check", *r]) for r in SYNTAX_RUNS}
        return {k: f.result() for k, f in futures.items()}


@pytest.mark.parametrize("books", SYNTAX_RUNS, ids=[" ".join(r) for r in SYNTAX_RUNS])
def test_syntax_check_matches_ansible_playbook(books: list[str], oracle_syntax: dict[str, dict[str, Any]],
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from hvprov.cli import main

    theirs = oracle_syntax[" ".join(books)]
    monkeypatch.chdir(SYNTAX_DIR)
    code = main(["plan", "-i", "inventory.yml", "--syntax-check", *books])
    ours, err = capsys.readouterr()
    stricter = [STRICTER[b] for b in books if b in STRICTER]
    if theirs["rc"] == 0 and not stricter:
        assert code == 0, err
        assert ours == theirs["stdout"]
        return
    assert code == 4, (code, err)
    assert ours == ""  # like ansible-playbook: nothing listed when a playbook does not load
    if stricter:
        assert theirs["rc"] == 0 and stricter[0] in err
        return
    assert theirs["rc"] in (1, 4), theirs["stderr"]
    origin = re.search(r"Origin: \S*/([^/\s]+\.yml):(\d+):(\d+)", theirs["stderr"])
    if origin:
        assert f"{origin.group(1)}:{origin.group(2)}:{origin.group(3)}" in err, (theirs["stderr"], err)
    else:
        assert re.search(r"\w+\.yml:\d+:\d+", err), err


def test_syntax_check_touches_no_host_and_needs_no_inventory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from hvprov.cli import main

    monkeypatch.chdir(SYNTAX_DIR)
    monkeypatch.delenv("ANSIBLE_INVENTORY", raising=False)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "none.cfg"))
    assert main(["apply", "--syntax-check", "ok_roles.yml", "--lab-dir", str(tmp_path / "lab")]) == 0
    assert capsys.readouterr().out == "\nplaybook: ok_roles.yml\n"
    assert not (tmp_path / "lab").exists()


# --step without a terminal: hvprov refuses (exit 5) instead of waiting for an answer.
def test_step_without_terminal_is_refused(tmp_path: Path) -> None:  # noqa: D103
    import subprocess as sp
    import sys

    path = CLI_CASES / "sections_handlers"
    proc = sp.run([sys.executable, "-m", "hvprov.cli", "apply", "-i", "inventory.yml", "--step", "playbook.yml",
                   "--lab-dir", str(tmp_path / "lab")], cwd=path, stdin=sp.DEVNULL, capture_output=True, text=True,
                  timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert proc.returncode == 5, proc.stderr
    assert "--step" in proc.stderr and "terminal" in proc.stderr
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize("argv", [
    ["apply", "saved-plan.json", "playbook.yml"],
    ["apply", "playbook.yml", "saved-plan.json"],
    ["plan", "-i", "inventory.yml", "a.yml", "b.yml", "--out", "x.json"],
    ["apply", "-i", "inventory.yml", "a.yml", "--start-at-task", "a2 task", "--workers", "2", "--step"],
])
def test_refused_combinations(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    from hvprov.cli import main

    work = tmp_path / "w"
    shutil.copytree(CLI_CASES / "multi_playbooks", work)
    shutil.copy(work / "a.yml", work / "playbook.yml")
    from hvprov.plans import FORMAT

    (work / "saved-plan.json").write_text(json.dumps({"format": FORMAT}))
    monkeypatch.chdir(work)
    assert main(argv) == 5
    assert "ERROR:" in capsys.readouterr().err
    assert not (work / "x.json").exists()


def test_start_at_task_in_a_serial_play_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-core starts only the first serial batch at the task (later batches start over)."""
    from hvprov.cli import main

    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    h1: {}\n    h2: {}\n")
    (tmp_path / "p.yml").write_text("- hosts: all\n  serial: 1\n  gather_facts: false\n  tasks:\n"
                                    "    - debug: msg=a\n    - name: second\n      debug: msg=b\n")
    monkeypatch.chdir(tmp_path)
    assert main(["apply", "-i", "inventory.yml", "p.yml", "--start-at-task", "second",
                 "--lab-dir", str(tmp_path / "lab")]) == 5
    assert "serial" in capsys.readouterr().err
    assert not (tmp_path / "lab").exists()


def test_D_is_diff() -> None:
    from hvprov.cli import build_parser

    for cmd in ("apply", "plan"):
        assert build_parser().parse_args([cmd, "-i", "x", "p.yml", "-D"]).diff is True
        assert build_parser().parse_args([cmd, "-i", "x", "p.yml"]).diff is False


def test_stepper_answers(tmp_path: Path) -> None:
    """y runs a task, anything else skips it (no result), c runs it and stops asking; a closed
    stdin is an error, never a hang (ansible-core's _take_step answers)."""
    import io

    import hvprov.api as api
    from hvprov.errors import OptionsError
    from hvprov.stepping import Stepper

    inv = {"all": {"hosts": {"h1": {"ansible_connection": "sim"}}}}
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": f"t{i}", "debug": {"msg": str(i)}} for i in range(5)] + [{"meta": "noop"}]}]
    answers = iter(["y\n", "n\n", "\n", "c\n"])
    out = io.StringIO()
    result = api.apply(play, inv, lab_dir=tmp_path / "lab", step=Stepper(lambda: next(answers), out))
    assert [t.name for t in result.hosts["h1"].tasks if t.module == "debug"] == ["t0", "t3", "t4"]
    assert out.getvalue().count("(N)o/(y)es/(c)ontinue: ") == 8  # 4 prompts, each shown again as a banner
    with pytest.raises(OptionsError):
        api.apply(play, inv, lab_dir=tmp_path / "lab2", step=Stepper(lambda: "", io.StringIO()))
