"""Bad input corpus (issue "Input errors", issue 11 item 3): every bad or hostile inventory,
playbook, vars file, extra var and saved plan is refused by the CLI with the documented exit
code, ``file:line:``, the field path, a readable message, and no traceback. Every case runs as
its own ``python -m hvprov`` process under a 20-second limit: none may hang, none may exit 250.

One file per case, with the header comments of tests/test_bad_input.py and a few more:

    # expect: <substring of the output>                       (required)
    # expect-line: N | none    line in the located file; `none`: the error has no line
    # expect-field: <field path>
    # expect-file: <path relative to the case> | --extra-vars[0] | none
                               the file the error names (default: the case file itself)
    # expect-code: N           exit code (default 4; 5 = command-line options, hvprov/cli.py)
    # args: <extra CLI arguments, shlex syntax; {dir} is the case's folder>
    # inventory: <file relative to the case> (playbook cases; default tests/data/inv/one.yml)
    # playbook: <file relative to the case> (inventory cases; default inventories/_site.yml)
    # argv: <the whole command line instead, shlex syntax> (e.g. `apply {dir}/_plan.json`)

Placeholders in args/argv/expect-file: ``{dir}`` the case's folder, ``{fifo}`` a named pipe
made for the case, ``{big}`` a 17 MB (sparse) file, ``{tmp}`` a temporary folder holding a FIFO
named ``plan.json``.

Folders (files starting with ``_`` are helpers, not cases):
  * ``tests/data/bad/playbooks2/``: playbooks (undefined variables in args, when, loop and
    names; loops over non-lists; sizes; names and paths Windows refuses; unknown modules, keys
    and arguments; play host patterns; ``--limit`` syntax errors, which are option errors: 5);
  * ``tests/data/bad/vars/``: playbooks whose vars_files or ``-e`` extra vars are bad;
  * ``tests/data/bad/inventories/``: inventories (YAML, INI, and ``<case>/inventory.yml``
    folders with broken group_vars/host_vars), each run with ``inventories/_site.yml``.

  * ``tests/data/bad/playbooks/``: the first playbooks (formerly tests/test_bad_input.py);
  * ``tests/data/bad/hostile/``: input made to hang or crash hvprov (alias bombs, FIFOs,
    /dev/zero, huge numbers and strings, backtracking regexes, unknown filters, deep group
    chains, hand-edited saved plans).
Runs go as far as they get against simulated hosts in a temporary ``--lab-dir``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BAD = Path(__file__).parent / "data" / "bad"
DEFAULT_INVENTORY = Path(__file__).parent / "data" / "inv" / "one.yml"
DEFAULT_PLAYBOOK = BAD / "inventories" / "_site.yml"
CATEGORIES = ("playbooks", "playbooks2", "vars", "inventories", "hostile")
LIMIT_SECONDS = 20
INVENTORY_SUFFIXES = {".yml", ".yaml", ".json", ".ini", ""}


@dataclass
class Case:
    path: Path
    category: str
    expect: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.category}/{self.path.relative_to(BAD / self.category)}"


def _header(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(
            r"#\s*(expect(?:-line|-field|-file|-code)?|args|argv|inventory|playbook):\s*(.*)$", line
        )
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _cases() -> list[Case]:
    cases = []
    for category in CATEGORIES:
        root = BAD / category
        files = sorted(p for p in root.glob("*") if p.is_file() and not p.name.startswith("_"))
        if category == "inventories":
            files = [p for p in files if p.suffix in INVENTORY_SUFFIXES]
            files += sorted(root.glob("*/inventory.*"))
        else:
            files = [p for p in files if p.suffix in (".yml", ".yaml")]
        cases += [Case(p, category, _header(p)) for p in files]
    return cases


CASES = _cases()


def _subst(text: str, case: Case, tmp: Path) -> str:
    for name, value in (("{dir}", case.path.parent), ("{fifo}", tmp / "fifo"), ("{big}", tmp / "big.yml"),
                        ("{tmp}", tmp)):
        text = text.replace(name, str(value))
    return text


def _argv(case: Case, lab: Path) -> list[str]:
    exp, here = case.expect, case.path.parent
    if "argv" in exp:
        argv = [_subst(a, case, lab.parent) for a in shlex.split(exp["argv"])]
        return argv + (["--lab-dir", str(lab)] if argv[0] in ("plan", "apply") else [])
    if case.category == "inventories":
        playbook = here / exp["playbook"] if "playbook" in exp else DEFAULT_PLAYBOOK
        argv = ["plan", str(playbook), "-i", str(case.path)]
    else:
        inventory = here / exp["inventory"] if "inventory" in exp else DEFAULT_INVENTORY
        argv = ["plan", str(case.path), "-i", str(inventory)]
    argv += ["--lab-dir", str(lab)]
    argv += [_subst(a, case, lab.parent) for a in shlex.split(exp.get("args", ""))]
    return argv


def test_corpus_size_and_headers(capsys: pytest.CaptureFixture[str]) -> None:
    per = {c: sum(1 for case in CASES if case.category == c) for c in CATEGORIES}
    with capsys.disabled():
        print("\n[bad-input corpus] " + ", ".join(f"{k} {v}" for k, v in per.items()) + f"; total {len(CASES)}")
    assert len(CASES) >= 100
    assert per["hostile"] >= 20
    for case in CASES:
        assert "expect" in case.expect, f"{case.id}: no '# expect:' header"
        assert set(case.expect) <= {
            "expect",
            "expect-line",
            "expect-field",
            "expect-file",
            "expect-code",
            "args",
            "argv",
            "inventory",
            "playbook",
        }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_location(case: Case, tmp_path: Path) -> None:
    exp = case.expect
    os.mkfifo(tmp_path / "fifo")
    os.mkfifo(tmp_path / "plan.json")
    with open(tmp_path / "big.yml", "wb") as fh:
        fh.truncate(17 * 1024 * 1024)
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "hvprov", *_argv(case, tmp_path / "lab")], capture_output=True,
                              text=True, timeout=LIMIT_SECONDS, stdin=subprocess.DEVNULL, env=env, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case.id}: hvprov still running after {LIMIT_SECONDS} s (a hang)")
    code, text = proc.returncode, proc.stdout + proc.stderr
    assert code != 250, text
    assert code in (4, 5), f"exit {code}:\n{text}"
    wanted_code = int(exp.get("expect-code", "4"))
    assert code == wanted_code, f"exit {code}, expected {wanted_code}:\n{text}"
    assert "Traceback" not in text, text
    assert "internal error" not in text and "ERROR: unexpected" not in text, text
    assert exp["expect"] in text, f"message {exp['expect']!r} not in:\n{text}"
    # file:line: -- where the error is
    where = exp.get("expect-file")
    if where != "none":
        if where is None:
            located = str(case.path)
        elif where.startswith("--"):
            located = where
        elif where.startswith("{"):
            located = _subst(where, case, tmp_path)
        else:
            located = str(case.path.parent / where)
        line = exp.get("expect-line")
        if line is None:  # a line is required, whichever it is
            assert re.search(re.escape(located) + r":\d+:", text), f"no {located}:LINE: in:\n{text}"
        elif line == "none":
            assert located + ":" in text, f"no {located}: in:\n{text}"
        else:
            assert f"{located}:{line}:" in text, f"no {located}:{line}: in:\n{text}"
    if "expect-field" in exp:
        assert exp["expect-field"] in text, f"field {exp['expect-field']!r} not in:\n{text}"
    # readable: one ERROR/failed line per problem, not a dump
    for line in text.splitlines():
        if line.startswith("ERROR:") or "=> " in line:
            assert len(line) < 600, f"unreadably long message line: {line[:200]}..."
