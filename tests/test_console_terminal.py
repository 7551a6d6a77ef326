"""The console as people see it (issue 11, item 6).

* In a real terminal (tmux, from Debian; scripts/test.sh installs it): `hvprov lab reset` and a
  13-host `hvprov apply` of the lab, typed with send-keys; at the end capture-pane must show
  every result line of every host (the live area must not have erased any) and the recap row
  of every host, and no live-area row may be left behind.
* Piped (CI): a task's line reaches the reader while that host is still down for its reboot,
  and a heartbeat line comes during the wait.

No timing is asserted: the tests wait (bounded) for states, never for durations.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB_INVENTORY = ROOT / "inventories" / "lab.yml"
SITE = ROOT / "playbooks" / "site.yml"


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=30).stdout


def _expected_lines(doc: dict) -> dict[str, list[str]]:
    """Per host, the text every console result line must contain (from the run document)."""
    out: dict[str, list[str]] = {}
    for host, h in doc["hosts"].items():
        lines = []
        for t in h["tasks"]:
            if t["status"] == "skipped":
                continue
            if t["module"] in ("hyperv_vm",) and t["status"] != "failed" and "," in t["name"]:
                continue  # a loop: one line per item instead, checked below
            lines.append(f"{t['status']}: [{host}] {t['name']}")
        out[host] = lines
    return out


@pytest.mark.timeout(400)
def test_thirteen_host_apply_in_a_real_terminal_keeps_every_result_on_screen(tmp_path: Path) -> None:
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it from Debian)"
    session = f"hvprov-{uuid.uuid4().hex[:8]}"
    lab, results = tmp_path / "lab", tmp_path / "run.json"
    hvprov = f"{sys.executable} -m hvprov"
    _tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-c", str(ROOT),
          "env", "-i", f"PATH={os.environ['PATH']}", "TERM=xterm-256color", "HOME=" + str(tmp_path),
          "bash", "--norc", "--noprofile")
    try:
        _tmux("set-option", "-t", session, "history-limit", "20000")
        _tmux("send-keys", "-t", session, f"{hvprov} lab reset --lab-dir {lab}", "Enter")
        _tmux("send-keys", "-t", session,
              f"{hvprov} apply {SITE} -i {LAB_INVENTORY} --lab-dir {lab} --results {results}; "
              "echo HVPROV-EXIT=$?", "Enter")
        deadline = time.monotonic() + 360
        screen = ""
        while time.monotonic() < deadline:
            screen = _tmux("capture-pane", "-p", "-J", "-t", session, "-S", "-")
            if "HVPROV-EXIT=" in screen.replace("echo HVPROV-EXIT", ""):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the apply did not finish:\n" + screen[-3000:])
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True, timeout=30)
    lines = screen.splitlines()
    assert any(line.startswith("HVPROV-EXIT=2") for line in lines), screen[-2000:]  # some lab hosts fail by design
    doc = json.loads(results.read_text())
    assert len(doc["hosts"]) == 13
    missing = []
    for host, expected in _expected_lines(doc).items():
        missing += [e for e in expected if not any(line.startswith(e) for line in lines)]
        assert any(line.startswith(f"{host} ") and " : ok=" in line for line in lines), f"no recap row for {host}"
        for t in doc["hosts"][host]["tasks"]:  # loops: one line per item
            if t["module"] == "hyperv_vm" and t["status"] == "changed":
                for c in t["changes"]:
                    kind, _, vm = c["resource"].partition("/")
                    if kind != "vm" or c["action"] != "create":
                        continue
                    want = f"changed: [{host}] VM {vm} => (item={vm})"
                    if not any(line.startswith(want) for line in lines):
                        missing.append(want)
    assert not missing, "result lines erased or never printed:\n" + "\n".join(missing) + "\n---\n" + screen[-3000:]
    recap_at = max(i for i, line in enumerate(lines) if line.startswith("PLAY RECAP"))
    assert "13 hosts:" in "\n".join(lines[recap_at:])
    # nothing of the live area is left: no stray "host  task" rows after the last result
    assert all(not line.startswith("hv-") or " : ok=" in line for line in lines[recap_at:]), screen[-2000:]


def _rebooting(lab: Path, host: str) -> bool:
    from hvprov.sim.store import LabStore

    h = LabStore(lab).load(host)
    return h is not None and h.up_at is not None and time.time() < h.up_at


@pytest.mark.timeout(300)
def test_piped_output_shows_a_task_line_before_the_hosts_reboot_completes(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    host = "hv-std01"
    env = {**os.environ, "HVPROV_HEARTBEAT_SECONDS": "0.5"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hvprov", "apply", str(SITE), "-i", str(LAB_INVENTORY), "--lab-dir", str(lab),
         "--limit", host, "-e", '{"sim": {"reboot_seconds": 6}}'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    assert proc.stdout is not None
    seen: list[str] = []
    enable_line_while_down = False
    try:
        for line in proc.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith(f"changed: [{host}] Enable the Hyper-V role"):
                # the line has arrived; the host is yet to go down and come back for its reboot
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not _rebooting(lab, host):
                    time.sleep(0.05)
                assert not any(s.startswith(f"changed: [{host}] Reboot") for s in seen)
                enable_line_while_down = _rebooting(lab, host)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    text = "\n".join(seen)
    assert proc.returncode == 0, text
    assert enable_line_while_down, "the task line did not arrive before the reboot:\n" + text
    reboot_done = next(i for i, s in enumerate(seen) if s.startswith(f"changed: [{host}] Reboot"))
    beats = [s for s in seen[:reboot_done] if s.startswith("... still working") and host in s]
    assert beats, "no heartbeat while the host rebooted:\n" + text
    assert "1 host: 1 changed;" in text
