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
