"""Reports never overstate and never pass a terminal raw control codes (issue 11, items 3, 4, 6).

Each case runs the CLI as a process (as a user would) against the in-process lab, with the
inputs under tests/data/reports/, and compares what is printed with the run document.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hvprov.model import Status, TaskResult
from hvprov.report.console import recap_counts
from hvprov.report.text import one_line, plural, safe_text, show_value

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "reports"
HOSTILE = ROOT / "tests" / "data" / "bad" / "hostile"


def _hvprov(*args: str, cwd: Path | None = None) -> tuple[int, str]:
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "hvprov", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd, stdin=subprocess.DEVNULL, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _recap_row(text: str, host: str) -> dict[str, int]:
    line = next(s for s in text.splitlines() if s.startswith(host + " ") and " : ok=" in s)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def test_a_failed_loop_reports_only_the_changes_it_made(tmp_path: Path) -> None:
    """VM one is created, VM two's create fails (a WMI job failure): the task keeps VM one's
    changes and not VM two's planned ones; the row, the summary and the document agree."""
    results = tmp_path / "run.json"
    code, text = _hvprov("apply", str(DATA / "vm_loop.yml"), "-i", str(DATA / "faulty_loop_inv.yml"),
                         "--lab-dir", str(tmp_path / "lab"), "--results", str(results))
    assert code == 2, text
    doc = json.loads(results.read_text())
    task = doc["hosts"]["hvs-a"]["tasks"][-1]
    assert task["status"] == "failed"
    assert task["changes"] and {c["resource"] for c in task["changes"]} == {"vm/one"}, task["changes"]
    made = len(task["changes"])
    assert doc["summary"]["changes"] == made
    assert _recap_row(text, "hvs-a")["changes"] == made
    assert f"1 host: 1 failed; {plural(made, 'change')} made" in text
    assert "changed: [hvs-a] VM one => (item=one)" in text  # the item line before the failure


def test_a_failed_reboot_counts_the_reboot_it_made_not_the_failed_check(tmp_path: Path) -> None:
    results = tmp_path / "run.json"
    code, text = _hvprov("apply", str(ROOT / "playbooks" / "site.yml"), "-i", str(ROOT / "inventories" / "lab.yml"),
                         "--limit", "hv-vtoff01", "--lab-dir", str(tmp_path / "lab"), "--results", str(results),
                         "-e", '{"sim": {"reboot_seconds": 0.2}}')
    assert code == 2, text
    host = json.loads(results.read_text())["hosts"]["hv-vtoff01"]
    reboot = next(t for t in host["tasks"] if t["module"] == "reboot")
    assert reboot["status"] == "failed" and [c["action"] for c in reboot["changes"]] == ["reboot"]  # not "verify"
    made = [c for t in host["tasks"] for c in t["changes"] if c["action"] != "verify"]
    assert host["changes"] == len(made) == 3  # Hyper-V, its tools, the reboot: what the host went through


def test_recap_row_agrees_with_the_summary_for_a_stale_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    code, text = _hvprov("plan", str(HOSTILE / "_site.yml"), "-i", str(DATA / "review_inv.yml"),
                         "--lab-dir", str(tmp_path / "lab"), "--out", str(plan))
    assert code == 0, text
    code, text = _hvprov("apply", str(plan), "--lab-dir", str(tmp_path / "lab"))
    assert code == 2, text
    assert "plan is stale for hvs-a" in text
    assert _recap_row(text, "hvs-a")["failed"] == 1
    assert "1 host: 1 failed;" in text


def test_recap_row_agrees_with_the_summary_for_a_bad_sim_profile(tmp_path: Path) -> None:
    code, text = _hvprov("plan", str(DATA / "vm_loop.yml"), "-i", str(DATA / "bad_profile_inv.yml"),
                         "--lab-dir", str(tmp_path / "lab"))
    assert code == 2, text
    assert _recap_row(text, "hv-bad")["failed"] == 1
    assert "2 hosts: 1 changed, 1 failed;" in text


def test_recap_counts_host_level_failures() -> None:
    ok = TaskResult("Gathering Facts", "facts", Status.OK)
    assert recap_counts((ok,), Status.FAILED)["failed"] == 1
    assert recap_counts((), Status.UNREACHABLE)["unreachable"] == 1
    failed = TaskResult("x", "debug", Status.FAILED)
    assert recap_counts((ok, failed), Status.FAILED)["failed"] == 1
    assert recap_counts((ok,), Status.OK) == {"ok": 1, "changed": 0, "unreachable": 0, "failed": 0,
                                               "skipped": 0, "ignored": 0}


RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_characters_from_inventory_names_and_values_never_reach_the_console(tmp_path: Path) -> None:
    code, text = _hvprov("plan", str(DATA / "control_chars.yml"), "-i", str(DATA / "control_chars_inv.yml"),
                         "--lab-dir", str(tmp_path / "lab"))
    assert code == 2, text
    assert not RAW_CONTROLS.search(text), repr(text)
    assert "[hv\\x07x\\x1b7y] show title\\x1b]0;pwned\\x07said\\x0d\\u202eok" in text  # shown, escaped
    assert "boom title\\x1b]0;pwned" in text


def test_control_characters_in_an_input_error_are_escaped(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text('all:\n  hosts:\n    "hv\\e[2J[x":\n      ansible_connection: sim\n', encoding="utf-8")
    code, text = _hvprov("plan", str(HOSTILE / "_site.yml"), "-i", str(inv), "--lab-dir", str(tmp_path / "lab"))
    assert code == 4, text
    assert f"{inv}:3:5:" in text
    assert not RAW_CONTROLS.search(text), repr(text)


def test_a_newline_cannot_break_out_of_a_review_files_comment(tmp_path: Path) -> None:
    out = tmp_path / "review"
    code, text = _hvprov("plan", str(DATA / "review_newline.yml"), "-i", str(DATA / "review_inv.yml"),
                         "--lab-dir", str(tmp_path / "lab"), "--scripts", str(out))
    assert code == 0, text
    files = sorted(out.glob("*/*.ps1"))
    assert files
    for f in files:
        lines = f.read_text(encoding="utf-8").splitlines()
        header = lines[: next(i for i, s in enumerate(lines) if s.startswith("# hvprov-template:"))]
        assert header and all(s.startswith("# ") for s in header), header
        assert not any(s.lstrip().startswith("Remove-Item") for s in lines), lines[:6]


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2J", "\\x1b[2J"), ("a\rb", "a\\x0db"), ("bell\x07", "bell\\x07"), ("\x9b31m", "\\x9b31m"),
    ("rtl\u202eevil", "rtl\\u202eevil"), ("two\nlines\tok", "two\nlines\tok"), ("plain", "plain"),
])
def test_safe_text(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


def test_one_line_and_values_and_singulars() -> None:
    assert one_line("a\nb\tc\x1b") == "a\\nb\\tc\\x1b"
    assert show_value(["C:\\Hyper-V\\a.vhd"]) == "[C:\\Hyper-V\\a.vhd]"
    assert show_value({"a": [1, True, None]}) == "{a: [1, true, null]}"
    assert show_value("text") == "text"
    assert [plural(n, "host") for n in (0, 1, 2)] == ["0 hosts", "1 host", "2 hosts"]
    assert plural(1, "change") == "1 change"


def test_partial_limit_and_empty_play_are_named(tmp_path: Path) -> None:
    book = tmp_path / "two_plays.yml"
    book.write_text("- name: nobody\n  hosts: nogroup\n  gather_facts: false\n  tasks: [{debug: {msg: x}}]\n"
                    "- hosts: all\n  gather_facts: false\n  tasks: [{debug: {msg: y}}]\n", encoding="utf-8")
    code, text = _hvprov("plan", str(book), "-i", str(HOSTILE / "_inv.yml"), "--lab-dir", str(tmp_path / "lab"),
                         "--limit", "h1,nosuch")
    assert code == 0, text
    assert "[WARNING]: Could not match supplied host pattern, ignoring: nosuch" in text
    assert "[WARNING]: Could not match supplied host pattern, ignoring: nogroup" in text
    assert "[WARNING]: play 'nobody': no hosts matched (hosts: nogroup)" in text
    assert "ok: [h1] debug => y" in text


def test_a_change_needing_a_restart_the_playbook_forbids_is_pending_and_blocked(tmp_path: Path) -> None:
    base = ["-i", str(DATA / "review_inv.yml"), "--lab-dir", str(tmp_path / "lab")]
    book = str(DATA / "vm_memory.yml")
    code, text = _hvprov("apply", book, *base)
    assert code == 0, text
    code, text = _hvprov("plan", book, *base, "-e", "mem=1024", "--detailed-exitcode")
    assert code == 2, text  # pending, not an error (1)
    assert "blocked: [hvs-a] VM web01 => VM web01 is running and changing memory (512 MB → 1024 MB)" in text
    assert "~ vm/web01 (update) [disruptive]: blocked" in text
    code, text = _hvprov("plan", book, *base, "-e", "mem=1024", "--format", "json")
    task = json.loads(text[text.index("{"):])["hosts"]["hvs-a"]["tasks"][-1]
    assert task["blocked"] is True and task["status"] == "changed"
    code, text = _hvprov("apply", book, *base, "-e", "mem=1024")
    assert code == 2, text  # apply refuses to make it
    assert "failed: [hvs-a] VM web01 => VM web01 is running" in text


def test_control_characters_in_vm_notes_from_the_host_are_escaped(tmp_path: Path) -> None:
    base = ["-i", str(DATA / "review_inv.yml"), "--lab-dir", str(tmp_path / "lab")]
    book = str(DATA / "vm_notes.yml")
    code, text = _hvprov("apply", book, *base)
    assert code == 0, text
    code, text = _hvprov("lab", "alter", "hvs-a", "--set-vm", "web01:notes=\x1b]0;owned\x07\x1b[2J", "--lab-dir",
                         str(tmp_path / "lab"))
    assert code == 0, text
    code, text = _hvprov("plan", book, *base, "--diff")
    assert code == 0, text
    assert "~ notes: \\x1b]0;owned\\x07\\x1b[2J → managed by hvprov" in text
    assert not RAW_CONTROLS.search(text), repr(text)
