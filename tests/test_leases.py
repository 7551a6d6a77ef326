"""Two runs against one host never interleave changes: a per-host lease (issue 7)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import hvprov
from hvprov.pscheck import ps2_lint, syntax_errors
from hvprov.render import ScriptRenderer
from hvprov.sim.store import LabStore

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
LAB = str(ROOT / "inventories" / "lab.yml")
KW: dict[str, Any] = {"limit": "hv-std01", "extra_vars": {"sim": {"reboot_seconds": 1.0}}, "skip_tags": ["network", "vms"]}


def _run(tmp_path: Path, events: list[dict[str, Any]], tag: str, out: dict[str, hvprov.RunResult], **kw: Any) -> None:
    def sink(e: dict[str, Any]) -> None:
        events.append({**e, "run": tag, "t": time.monotonic()})

    out[tag] = hvprov.apply(SITE, LAB, lab_dir=tmp_path, on_event=sink, **KW, **kw)


def _until_a_holds_the_lease(tmp_path: Path) -> None:
    store = LabStore(tmp_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        host = store.load("hv-std01") if store.path("hv-std01").exists() else None
        if host is not None and host.lease_owner:
            return
        time.sleep(0.02)
    raise AssertionError("run A never took the lease")


def test_second_run_waits_for_the_lease_and_finds_nothing_to_do(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    out: dict[str, hvprov.RunResult] = {}
    a = threading.Thread(target=_run, args=(tmp_path, events, "A", out))
    a.start()
    _until_a_holds_the_lease(tmp_path)  # A is installing / rebooting
    b = threading.Thread(target=_run, args=(tmp_path, events, "B", out), kwargs={"lease_timeout": 60})
    b.start()
    a.join()
    b.join()
    assert out["A"].hosts["hv-std01"].status.value == "changed"
    assert out["B"].hosts["hv-std01"].status.value == "ok", out["B"].hosts["hv-std01"].msg
    assert out["B"].total_changes == 0  # re-read facts after the lease: A had done it all
    a_done = max(e["t"] for e in events if e["run"] == "A" and e["event"] == "change_applied")
    b_changes = [e for e in events if e["run"] == "B" and e["event"] == "change_applied"]
    assert not b_changes or min(e["t"] for e in b_changes) > a_done
    assert any(e["run"] == "B" and e["event"] == "progress" and "lease" in e["message"] for e in events)


def test_second_run_fails_clearly_after_the_lease_timeout(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    out: dict[str, hvprov.RunResult] = {}
    a = threading.Thread(target=_run, args=(tmp_path, events, "A", out))
    a.start()
    _until_a_holds_the_lease(tmp_path)
    _run(tmp_path, events, "B", out, lease_timeout=0.5)
    a.join()
    b = out["B"].hosts["hv-std01"]
    assert b.status.value == "failed"
    assert "being changed by another hvprov run" in b.msg and "--lease-timeout" in b.msg
    assert out["A"].hosts["hv-std01"].status.value == "changed"


def test_lease_template_is_powershell_2_safe() -> None:
    r = ScriptRenderer().render("system/lease.ps1.j2", action="acquire", owner="ctl:1:'x’", ttl_seconds=900,
                                  steal_from="a:2:b")
    assert syntax_errors(r.text) == [] and ps2_lint(r.text) == []
