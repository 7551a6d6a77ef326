"""Interrupts and kills mid-apply: exit 99 with partial results, no half-written file, rerun converges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTS = "hv-std01,hv-ent01,hv-2019,hvs-2008r2"


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "hvprov", "apply", str(ROOT / "playbooks" / "site.yml"), "-i",
           str(ROOT / "inventories" / "lab.yml"), "--lab-dir", str(tmp_path / "lab"), "--limit", HOSTS,
           "-e", '{"sim": {"reboot_seconds": 3}}', "-f", "4", *extra]
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_reboots(tmp_path: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until some host is down for its reboot (the run is mid-apply)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for f in (tmp_path / "lab").glob("*.json"):
            try:
                if json.loads(f.read_text()).get("host", {}).get("reboot_at"):
                    return
            except ValueError:
                pass
        time.sleep(0.05)
    raise AssertionError("no reboot started")


def _all_state_files_valid(tmp_path: Path) -> int:
    files = list((tmp_path / "lab").glob("*.json"))
    for f in files:
        json.loads(f.read_text())  # never half-written
    return len(files)


def _converges(tmp_path: Path) -> None:
    from hvprov.cli import main
    from hvprov.sim.store import LabStore

    store = LabStore(tmp_path / "lab")
    deadline = time.monotonic() + 15  # reboots the killed run had scheduled happen and end first

    def rebooting() -> bool:
        hosts = [store.load(n) for n in store.list()]
        return any(h is not None and h.up_at is not None and time.time() < h.up_at for h in hosts)

    while rebooting() and time.monotonic() < deadline:
        time.sleep(0.1)

    args = ["apply", str(ROOT / "playbooks" / "site.yml"), "-i", str(ROOT / "inventories" / "lab.yml"),
            "--lab-dir", str(tmp_path / "lab"), "--limit", HOSTS, "-e", '{"sim": {"reboot_seconds": 0.2}}',
            "--format", "json", "-f", "4", "--results", str(tmp_path / "r.json")]
    assert main(args) == 0
    assert main(args) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["summary"]["changes"] == 0 and doc["summary"]["hosts"]["ok"] == 4


def test_ctrl_c_mid_apply_exits_99_and_saves_partial_results(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--results", str(tmp_path / "partial.json"))
    _wait_for_reboots(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 99, (out, err)
    assert "Traceback" not in out + err
    doc = json.loads((tmp_path / "partial.json").read_text())
    assert doc["interrupted"] is True
    assert "PLAY RECAP" in out
    assert _all_state_files_valid(tmp_path) == 4


def test_ctrl_c_without_results_option_saves_to_a_named_file(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    _wait_for_reboots(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 99
    saved = list(tmp_path.glob("hvprov-interrupted-*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["interrupted"] is True
    assert str(saved[0].name) in err


def test_kill_mid_apply_leaves_no_corrupt_file_and_rerun_converges(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--results", str(tmp_path / "never.json"))
    _wait_for_reboots(tmp_path, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.json").exists()
    _all_state_files_valid(tmp_path)
    _converges(tmp_path)


def test_ctrl_c_while_hosts_wait_for_a_reboot_marks_them_interrupted_and_a_rerun_resumes(tmp_path: Path) -> None:
    """Issue 11 item 4: waiting hosts are `interrupted`, not failed; the next run carries on."""
    proc = _start(tmp_path, "--results", str(tmp_path / "partial.json"))
    _wait_for_reboots(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 99, (out, err)
    doc = json.loads((tmp_path / "partial.json").read_text())
    waiting = [n for n, h in doc["hosts"].items() if h["msg"].startswith("interrupted while waiting")]
    assert waiting, doc["hosts"]
    for name in waiting:
        h = doc["hosts"][name]
        assert h["status"] != "failed" and all(t["status"] != "failed" for t in h["tasks"]), h
        row = next(line for line in out.splitlines() if line.startswith(name + " ") and " : ok=" in line)
        assert "failed=0" in row and row.endswith("(interrupted)"), row
        assert f"interrupted: [{name}] interrupted while waiting" in out
    assert "failed: [" not in out
    _converges(tmp_path)
