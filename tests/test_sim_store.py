"""The lab store (persistence, seeds, locking, drift) and the sim transport (reboots, counters)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from hvprov.connection import ConnectionSpec
from hvprov.errors import LabError, UnreachableError
from hvprov.scriptresult import parse_result
from hvprov.sim.model import Switch, Vm
from hvprov.sim.store import FORMAT, HostSeed, LabStore, safe_name
from hvprov.transports import open_transport
from hvprov.transports.base import ExecResult
from hvprov.transports.sim import SimTransport

T0 = 1_800_000_000.0
STD = HostSeed("2008r2-standard", {})


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> LabStore:
    return LabStore(tmp_path / "lab", clock)


def script(template: str, **params: object) -> str:
    return f"# hvprov-template: {template}\n# hvprov-params: {json.dumps(params)}\n"


# --------------------------------------------------------------------------- store


def test_first_session_creates_and_persists(store):
    with store.session("hv01", STD) as host:
        assert host.hostname == "HV01"
        host.features.append("Telnet-Client")
    doc = json.loads(store.path("hv01").read_text())
    assert (doc["format"], doc["name"], doc["profile"], doc["seed"]) == (FORMAT, "hv01", "2008r2-standard", STD.digest)
    with store.session("hv01", STD) as host:
        assert "Telnet-Client" in host.features


def test_tuple_seed_equals_hostseed(store):
    with store.session("hv01", ("2008r2-standard", None)) as host:
        host.memory_mb = 1234
    with store.session("hv01", STD) as host:
        assert host.memory_mb == 1234


def test_changed_seed_recreates_the_host(store):
    with store.session("hv01", STD) as host:
        host.features.append("Telnet-Client")
    with store.session("hv01", HostSeed("2008r2-standard", {"memory_mb": 4096})) as host:
        assert "Telnet-Client" not in host.features and host.memory_mb == 4096
    with store.session("hv01", HostSeed("2012r2-datacenter", {"memory_mb": 4096})) as host:
        assert host.version == "6.3.9600"


def test_seed_digest_ignores_key_order():
    assert HostSeed("p", {"a": 1, "b": 2}).digest == HostSeed("p", {"b": 2, "a": 1}).digest
    assert HostSeed("p", {"a": 1}).digest != HostSeed("p", {"a": 2}).digest


def test_failed_body_saves_nothing(store):
    with store.session("hv01", STD):
        pass
    saved = store.path("hv01").read_text()
    with pytest.raises(RuntimeError), store.session("hv01", STD) as host:
        host.features.clear()
        raise RuntimeError("boom")
    assert store.path("hv01").read_text() == saved


def test_saves_leave_no_temp_files(store):
    for _ in range(3):
        with store.session("hv01", STD) as host:
            host.memory_mb += 1
    assert sorted(p.name for p in store.lab_dir.iterdir()) == [".locks", "hv01.json"]


def test_unchanged_host_is_not_rewritten(store):
    with store.session("hv01", STD):
        pass
    before = store.path("hv01").stat().st_ino
    with store.session("hv01", STD) as host:
        host.hostname = host.hostname  # no change
    assert store.path("hv01").stat().st_ino == before
    with store.session("hv01", STD) as host:
        host.memory_mb += 1
    assert store.path("hv01").stat().st_ino != before


def test_corrupt_state_names_the_reset(store):
    store.lab_dir.mkdir(parents=True)
    store.path("hv01").write_text("{not json")
    with pytest.raises(LabError, match="hvprov lab reset hv01"), store.session("hv01", STD):
        pass


def test_other_format_is_recreated(store):
    store.lab_dir.mkdir(parents=True)
    store.path("hv01").write_text(json.dumps({"format": FORMAT + 1, "seed": STD.digest, "host": {}}))
    with store.session("hv01", STD) as host:
        assert host.hostname == "HV01"


def test_safe_names():
    assert safe_name("hv01.lab.example") == "hv01.lab.example"
    odd = safe_name("../etc/passwd")
    assert "/" not in odd and not odd.startswith(".")
    assert safe_name("a/b") != safe_name("a_b")


def test_list_reset_status(store):
    for name in ("hv02", "hv01", "hv03"):
        with store.session(name, STD):
            pass
    assert store.list() == ["hv01", "hv02", "hv03"]
    assert [s["name"] for s in store.status()] == ["hv01", "hv02", "hv03"]
    assert store.status()[0]["hostname"] == "HV01" and store.status()[0]["down"] is False
    assert store.reset(["hv02", "nope"]) == ["hv02"]
    assert store.list() == ["hv01", "hv03"]
    assert store.reset() == ["hv01", "hv03"]
    assert store.list() == []


def test_alter_fields_and_mutation_persist(store):
    with store.session("hv01", HostSeed("2008r2-standard", {"features": ["Hyper-V"]})) as host:
        host.switches.append(Switch("g1", "External", "external", "Local Area Connection 2"))
        host.vms.append(Vm("v1", "web01", "running"))
    store.alter("hv01", vt_enabled=False, memory_mb=8192)
    store.alter("hv01", lambda h: (h.switches.clear(), setattr(h.vms[0], "state", "off")))
    with store.session("hv01", HostSeed("2008r2-standard", {"features": ["Hyper-V"]})) as host:
        assert (host.cpu.vt_enabled, host.memory_mb, host.switches, host.vms[0].state) == (False, 8192, [], "off")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vt_enabled": "no"}, "sim.cpu.vt_enabled: expected a boolean"),
        ({"nonsense": 1}, "sim.nonsense: unknown setting"),
        ({"mutate": lambda h: setattr(h, "memory_mb", "lots")}, "sim.memory_mb: expected an integer"),
    ],
)
def test_bad_alter_is_rejected_and_changes_nothing(store, kwargs, message):
    with store.session("hv01", STD):
        pass
    saved = store.path("hv01").read_text()
    with pytest.raises(LabError, match=message):
        store.alter("hv01", **kwargs)
    assert store.path("hv01").read_text() == saved


def test_alter_unknown_host(store):
    with pytest.raises(LabError, match="no lab host 'ghost'"):
        store.alter("ghost", memory_mb=1)


def test_sessions_on_one_host_never_lose_updates(tmp_path):
    """Four threads, each with its own store object (own lock fd), append under the lock."""

    def worker(tag: str) -> None:
        st = LabStore(tmp_path / "lab")
        for i in range(10):
            with st.session("hv01", STD) as host:
                files = list(host.files)
                time.sleep(0.001)  # widen the load->save window
                host.files = [*files, f"C:\\{tag}{i}"]

    threads = [threading.Thread(target=worker, args=(t,)) for t in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with LabStore(tmp_path / "lab").session("hv01", STD) as host:
        assert len(host.files) == 40


# --------------------------------------------------------------------------- transport


def spec(name: str = "hv01", profile: str | None = "2008r2-standard", **sim: object) -> ConnectionSpec:
    vars: dict[str, object] = {"ansible_connection": "sim", "sim": dict(sim)}
    if profile is not None:
        vars["sim_profile"] = profile
    return ConnectionSpec.from_vars(name, vars)


def test_open_transport_builds_a_sim_transport(tmp_path):
    t = open_transport(spec(), tmp_path)
    assert isinstance(t, SimTransport) and t.name == "sim"


@pytest.mark.parametrize("profile", [None, "2008r2-typo"])
def test_missing_or_unknown_profile_lists_profiles(tmp_path, profile):
    with pytest.raises(LabError) as exc:
        SimTransport(spec(profile=profile), tmp_path)
    assert "valid profiles: 2008r2-datacenter" in str(exc.value) and "hyperv-server-2008r2" in str(exc.value)


def test_bad_overrides_fail_at_construction(tmp_path):
    with pytest.raises(LabError, match="sim.vt_enabled: unknown setting|sim.cpu.vt_enabled: expected a boolean"):
        SimTransport(spec(vt_enabled="maybe"), tmp_path)


def test_reboot_cycle_through_the_transport(tmp_path, clock):
    t = SimTransport(spec(features=["Hyper-V"], reboot_seconds=5.0), tmp_path, clock=clock)
    with t:
        old = parse_result(t.run(script("system/boot_time.ps1.j2")), "boot")["last_boot"]
        parse_result(t.run(script("system/reboot.ps1.j2", reason="x", delay_seconds=2)), "reboot")
        clock.t = T0 + 1.9
        assert parse_result(t.run(script("system/boot_time.ps1.j2")), "boot")["last_boot"] == old
        clock.t = T0 + 2.0
        with pytest.raises(UnreachableError, match="connection refused: hv01 is restarting") as exc:
            t.run(script("system/boot_time.ps1.j2"))
        assert exc.value.transient and exc.value.host == "hv01"
        clock.t = T0 + 6.9
        with pytest.raises(UnreachableError):
            t.run(script("system/boot_time.ps1.j2"))
        clock.t = T0 + 7.0
        t.reconnect()
        new = parse_result(t.run(script("system/boot_time.ps1.j2")), "boot")["last_boot"]
        assert new != old
        facts = parse_result(t.run(script("facts/host.ps1.j2", probe_paths=[])), "facts")
        assert facts["hypervisor"]["hvboot"] == "Running" and facts["os"]["last_boot"] == new
    assert (t.round_trips, t.scripts_run) == (7, 5)


def test_state_survives_a_new_transport(tmp_path, clock):
    sm = "feature/servermanager_v1.ps1.j2"
    first = SimTransport(spec(), tmp_path, clock=clock)
    assert parse_result(first.run(script(sm, names=["Hyper-V"], state="present")), sm)["exit_code"] == "SuccessRestartRequired"
    again = SimTransport(spec(), tmp_path, clock=clock)
    assert parse_result(again.run(script(sm, names=["Telnet-Client"], state="present")), sm)["exit_code"] == "FailedRestartRequired"
    facts = parse_result(again.run(script("facts/host.ps1.j2", probe_paths=[])), "facts")
    assert facts["pending_reboot"]["cbs"] is True and "Hyper-V" in facts["features"]["installed"]


def test_fault_hook_answers_instead_of_the_host(tmp_path, clock):
    canned = ExecResult("", "boom", 1)
    seen: list[str] = []

    def fault(host, text, now):
        seen.append(host.hostname)
        return canned

    t = SimTransport(spec(), tmp_path, clock=clock, fault=fault)
    assert t.run(script("system/boot_time.ps1.j2")) is canned
    assert (seen, t.round_trips, t.scripts_run) == (["HV01"], 1, 0)


def test_hosts_are_separate(tmp_path, clock):
    a = SimTransport(spec("hv01"), tmp_path, clock=clock)
    b = SimTransport(spec("hv02", "2012r2-datacenter"), tmp_path, clock=clock)
    a.run(script("system/reboot.ps1.j2", reason="x", delay_seconds=0))
    with pytest.raises(UnreachableError):
        a.run(script("system/boot_time.ps1.j2"))
    assert parse_result(b.run(script("system/boot_time.ps1.j2")), "boot")["hostname"] == "HV02"
