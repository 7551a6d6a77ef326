"""Issue "Faults": the simulated lab injects failures and hvprov classifies every host truthfully.

Per fault kind, a two-host run (the faulted host next to a clean one that must not notice);
then the big run: 100 lab hosts, 20 % faulted with a fixed seed across every kind, forks 50;
every host ends in its expected class (never a false ok/changed), transient faults are
recovered by bounded retries, and once the faults are removed the lab converges (the run after
that changes nothing). The role slice of playbooks/site.yml runs from tests/data/faults/role.yml
(the same tasks; the reboot has no delay and gives up after 3 s).
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import pytest
from winrm.exceptions import WinRMTransportError

import hvprov
from hvprov.connection import ConnectionSpec
from hvprov.errors import LabError, ProtocolError
from hvprov.model import RunResult, Status
from hvprov.secrets import Secret
from hvprov.sim.faults import (
    EXPECTED,
    KINDS,
    Fault,
    FaultInjector,
    FaultPlan,
    parse_faults,
    read_journal,
    split_overrides,
)
from hvprov.sim.store import LabStore
from hvprov.transports.sim import SimTransport

ROOT = Path(__file__).resolve().parent.parent
ROLE = str(ROOT / "tests" / "data" / "faults" / "role.yml")
FAST = {"reboot_seconds": 0.2}
ROLE_TASK = "Enable the Hyper-V role"
REBOOT_TASK = "Reboot into the hypervisor when the role needs it"
CLEAN = "hv-clean"
FAULTED = "hv-faulted"


def inventory(hosts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A YAML-shaped inventory of sim hosts: name -> host vars (sim_profile defaults to 2008 R2)."""
    entries = {}
    for name, hv in hosts.items():
        hv = dict(hv)
        faults = hv.pop("faults", None)
        entry = {"sim_profile": hv.pop("profile", "2008r2-standard"), "sim": dict(FAST), **hv}
        if faults is not None:
            entry["sim"]["faults"] = faults
        entries[name] = entry
    return {"all": {"vars": {"ansible_connection": "sim", "ansible_user": "Administrator"},
                    "children": {"hyperv_hosts": {"hosts": entries}}}}


def apply(inv: dict[str, Any], lab: Path, **kw: Any) -> RunResult:
    kw.setdefault("forks", 10)
    return hvprov.apply(ROLE, inv, lab_dir=lab, **kw)


def fired(lab: Path, host: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [j for j in read_journal(lab) if j["host"] == host and (kind is None or j["kind"] == kind)]


def tasks(result: RunResult, host: str) -> dict[str, Any]:
    return {t.name: t for t in result.hosts[host].tasks}


# ---------------------------------------------------------------------------- the fault model


def test_fault_specs_defaults_and_inventory_form() -> None:
    assert parse_faults(["refused"]) == [Fault("refused")]
    assert Fault.of("reset_once") == Fault("reset_once", count=1)
    assert Fault.of("dies_mid_apply").after == 1
    assert Fault.of("wmi_job_fails").template == ("feature/*", "hyperv_*")
    f = Fault.of("slow", seconds=2, template="feature/*")
    assert f.to_dict() == {"kind": "slow", "template": ["feature/*"], "seconds": 2.0}
    assert parse_faults([f.to_dict()]) == [f]
    assert {k: Fault.of(k).expected() for k in KINDS} == EXPECTED
    assert Fault.of("reset_once", count=4).expected(retries=3) == "unreachable"
    rest, faults = split_overrides({"reboot_seconds": 1, "faults": [{"kind": "auth"}]})
    assert rest == {"reboot_seconds": 1} and faults == [Fault("auth")]


@pytest.mark.parametrize(("value", "message"), [
    ([{"kind": "boom"}], "sim.faults[0].kind: unknown fault kind 'boom' (known: refused, reset_once"),
    ([{"kind": "refused", "after": -1}], "sim.faults[0].after: expected an integer >= 0, got -1"),
    ([{"kind": "reset_once", "count": 0}], "sim.faults[0].count: expected an integer >= 1"),
    ([{"kind": "auth", "seconds": 3}], "sim.faults[0].seconds: only for kind slow"),
    ([{"kind": "auth", "when": 3}], "sim.faults[0].when: unknown field"),
    ([{"kind": "auth", "template": []}], "sim.faults[0].template: expected a glob or a list of globs"),
    (3, "sim.faults: expected a list of faults, got int 3"),
])
def test_bad_fault_specs_name_the_field(value: Any, message: str) -> None:
    with pytest.raises(LabError) as info:
        parse_faults(value)
    assert message in str(info.value)


def test_a_bad_fault_spec_fails_only_that_host(tmp_path: Path) -> None:
    inv = inventory({FAULTED: {"faults": [{"kind": "boom"}]}, CLEAN: {}})
    result = apply(inv, tmp_path)
    assert result.hosts[FAULTED].status is Status.FAILED
    assert "sim.faults[0].kind: unknown fault kind 'boom'" in result.hosts[FAULTED].msg
    assert result.hosts[CLEAN].status is Status.CHANGED


def test_http500_is_the_error_the_winrm_transport_raises_for_it() -> None:
    from hvprov.transports.winrm import WinRMTransport

    spec = ConnectionSpec(name="hv01", kind="winrm", address="10.0.0.7", user="Administrator",
                          password=Secret("pw"))
    real = WinRMTransport(spec)._translate(WinRMTransportError("http", 500, "Internal Server Error"))
    injector = FaultInjector("hv01", [Fault("http500")], address="10.0.0.7", user="Administrator")
    with pytest.raises(ProtocolError) as info:
        injector.before_connect("# hvprov-template: facts/host.ps1.j2\n# hvprov-params: {}\n")
    assert type(real) is ProtocolError
    assert info.value.message.startswith(real.message), (info.value.message, real.message)
    assert not info.value.transient


def test_fault_counters_after_count_and_template() -> None:
    def script(template: str) -> str:
        return f"# hvprov-template: {template}.ps1.j2\n# hvprov-params: {{}}\n"

    inj = FaultInjector("hv01", [Fault.of("reset_once", count=2, after=1, template="feature/*")])
    outcomes = []
    for t in ["facts/host", "feature/dism_v1", "feature/dism_v1", "facts/host", "feature/dism_v1",
              "feature/dism_v1"]:
        try:
            inj.before_connect(script(t))
            outcomes.append("ok")
        except hvprov.errors.UnreachableError:
            outcomes.append("reset")
    assert outcomes == ["ok", "ok", "reset", "ok", "reset", "ok"]


def test_faults_are_not_part_of_the_lab_host_seed(tmp_path: Path) -> None:
    """Adding or removing faults keeps the lab host: what a faulted run did stays done."""
    broken = inventory({FAULTED: {"faults": [{"kind": "no_result_line", "template": "system/reboot"}]}})
    first = apply(broken, tmp_path)
    assert first.hosts[FAULTED].status is Status.FAILED
    assert tasks(first, FAULTED)[ROLE_TASK].status is Status.CHANGED  # installed before the reboot failed
    assert SimTransport(ConnectionSpec.from_vars(FAULTED, {"ansible_connection": "sim", "sim_profile": "2008r2-standard",
                                                           "sim": {**FAST, "faults": ["auth"]}}),
                        tmp_path).seed.overrides == FAST
    second = apply(inventory({FAULTED: {}}), tmp_path)
    t = tasks(second, FAULTED)
    assert second.hosts[FAULTED].status is Status.CHANGED
    assert t[ROLE_TASK].status is Status.OK  # the role is still there: same host, not re-created
    assert t[REBOOT_TASK].status is Status.CHANGED


# ---------------------------------------------------------------------------- one fault at a time

# kind, fault spec, extra host vars, run options, expected status, text in the host's message
CASES = [
    ("refused", {"kind": "refused"}, {}, {}, Status.UNREACHABLE, "connection refused"),
    ("refused-at-install", {"kind": "refused", "template": "feature/*"}, {}, {}, Status.UNREACHABLE,
     "connection refused"),
    ("reset_once", {"kind": "reset_once", "count": 2}, {}, {}, Status.CHANGED, ""),
    ("reset_once-at-install", {"kind": "reset_once", "template": "feature/*"}, {}, {}, Status.CHANGED, ""),
    ("reset-beyond-retries", {"kind": "reset_once", "count": 5}, {"hvprov_retries": 1}, {}, Status.UNREACHABLE,
     "connection reset"),
    ("http500", {"kind": "http500"}, {}, {}, Status.UNREACHABLE, "unexpected HTTP 500"),
    ("slow-read-timeout", {"kind": "slow"}, {"hvprov_read_timeout": 0.3}, {}, Status.UNREACHABLE,
     "no reply within 0.3s"),
    ("slow-script-timeout", {"kind": "slow", "template": "feature/*"}, {}, {"script_timeout": 0.3},
     Status.UNREACHABLE, "did not finish within 0.3s"),
    ("slow-within-timeout", {"kind": "slow", "seconds": 0.05}, {}, {"script_timeout": 2}, Status.CHANGED, ""),
    ("auth", {"kind": "auth"}, {}, {}, Status.UNREACHABLE, "authentication failed for hv-faulted"),
    ("reboot_never_returns", {"kind": "reboot_never_returns"}, {}, {}, Status.UNREACHABLE,
     "did not come back with a new boot within 3 s after the reboot"),
    ("wmi_job_fails", {"kind": "wmi_job_fails"}, {}, {}, Status.FAILED, "job failed (JobState 10"),
    ("no_result_line", {"kind": "no_result_line"}, {}, {}, Status.FAILED, "without a result line"),
    ("no_result_line-at-install", {"kind": "no_result_line", "template": "feature/*"}, {}, {}, Status.FAILED,
     "without a result line"),
    # The host answers every poll after the reboot, but never with a result line: it is reachable
    # and its script fails, so the host is `failed`, not `unreachable` ("could not talk to it").
    ("no_result_line-after-reboot", {"kind": "no_result_line", "template": "system/boot_time"}, {}, {},
     Status.FAILED, "without a result line"),
    ("dies_mid_apply", {"kind": "dies_mid_apply"}, {}, {}, Status.UNREACHABLE, "down for good"),
    ("dies_mid_apply-at-install", {"kind": "dies_mid_apply", "template": "feature/*", "after": 0}, {}, {},
     Status.UNREACHABLE, "down for good"),
]


@pytest.mark.parametrize(("case", "fault", "host_vars", "options", "status", "text"), CASES,
                         ids=[c[0] for c in CASES])
def test_one_fault(tmp_path: Path, case: str, fault: dict[str, Any], host_vars: dict[str, Any],
                   options: dict[str, Any], status: Status, text: str) -> None:
    inv = inventory({FAULTED: {"faults": [fault], **host_vars}, CLEAN: {}})
    result = apply(inv, tmp_path, **options)
    host = result.hosts[FAULTED]
    kind = fault["kind"]
    assert fired(tmp_path, FAULTED, kind), f"the {kind} fault never fired: the case tests nothing"
    assert host.status is status, (case, host.status, host.msg)
    assert text in host.msg, (case, host.msg)
    assert result.hosts[CLEAN].status is Status.CHANGED, result.hosts[CLEAN].msg  # unaffected
    if status not in (Status.OK, Status.CHANGED):  # the failing step is recorded as such
        assert host.tasks and host.tasks[-1].status in (Status.FAILED, Status.UNREACHABLE), host.tasks
    if kind == "auth":  # never retried
        assert len(fired(tmp_path, FAULTED, "auth")) == 1
    if kind in ("refused", "auth", "http500", "slow") and fault.get("template", "*") == "*" and status is Status.UNREACHABLE:
        assert LabStore(tmp_path).load(FAULTED) is None  # the host was never reached
    if kind == "wmi_job_fails":
        assert tasks(result, FAULTED)[ROLE_TASK].status is Status.FAILED
        assert "Hyper-V" not in LabStore(tmp_path).load(FAULTED).features  # the job made no change


def test_reset_once_costs_a_bounded_number_of_attempts(tmp_path: Path) -> None:
    """A reset is retried (hvprov_retries times at most), then the host is reached."""
    inv = inventory({FAULTED: {"faults": [{"kind": "reset_once", "count": 3}], "hvprov_retries": 3}})
    result = apply(inv, tmp_path)
    assert result.hosts[FAULTED].status is Status.CHANGED, result.hosts[FAULTED].msg
    assert len(fired(tmp_path, FAULTED, "reset_once")) == 3


def test_rerun_after_each_fault_converges(tmp_path: Path) -> None:
    """Every kind on its own host; remove the faults: the next run finishes, the one after is a no-op."""
    hosts: dict[str, dict[str, Any]] = {f"hv-k{i}": {"faults": [Fault.of(k).to_dict()], "hvprov_read_timeout": 0.3}
                                        for i, k in enumerate(KINDS)}
    hosts[CLEAN] = {}
    first = apply(inventory(hosts), tmp_path, forks=len(hosts))
    assert first.hosts[CLEAN].status is Status.CHANGED
    clean = inventory({n: {} for n in hosts})
    second = apply(clean, tmp_path, forks=len(hosts))
    assert {n: h.status.value for n, h in second.hosts.items() if h.status not in (Status.OK, Status.CHANGED)} == {}
    third = apply(clean, tmp_path, forks=len(hosts))
    assert third.summary() == {"hosts": {"ok": len(hosts), "changed": 0, "failed": 0, "unreachable": 0}, "changes": 0, "unknown": 0}


def test_a_lease_left_by_a_host_that_died_is_taken_over_by_the_rerun(tmp_path: Path) -> None:
    """The host died after the run took its lease: the lease outlives the run, but the run has
    ended, so the next run of this controller takes the lease over and finishes the job."""
    died = {"kind": "dies_mid_apply", "template": "feature/*", "after": 0}
    first = apply(inventory({FAULTED: {"faults": [died]}}), tmp_path)
    assert first.hosts[FAULTED].status is Status.UNREACHABLE
    assert LabStore(tmp_path).load(FAULTED).lease_owner is not None  # left behind by the dead run
    LabStore(tmp_path).alter(FAULTED, management_lost=False, reboot_at=None)  # the host is repaired
    events: list[dict[str, Any]] = []
    rerun = apply(inventory({FAULTED: {}}), tmp_path, lease_timeout=1, on_event=events.append)
    host = rerun.hosts[FAULTED]
    assert host.status is Status.CHANGED, (host.status, host.msg)
    assert any(e["event"] == "progress" and "taking over the lease" in e.get("message", "") for e in events)


# ---------------------------------------------------------------------------- random plans


def test_random_plans_are_deterministic_and_deal_every_kind() -> None:
    names = [f"hv-{i:03d}" for i in range(100)]
    a = FaultPlan.random(names, rate=0.2, seed=11)
    assert a == FaultPlan.random(list(reversed(names)), rate=0.2, seed=11)
    assert a != FaultPlan.random(names, rate=0.2, seed=12)
    assert len(a.faults) == 20
    kinds = collections.Counter(a.kind_of(n) for n in a.faults)
    assert set(kinds) == set(KINDS) and max(kinds.values()) - min(kinds.values()) <= 1
    assert FaultPlan.random(names, rate=0, seed=1).faults == {}
    with pytest.raises(LabError):
        FaultPlan.random(names, rate=1.5)


def test_plan_apply_keeps_the_group_sim_settings() -> None:
    inv = {"all": {"vars": {"ansible_connection": "sim", "sim": {"reboot_seconds": 0.5}},
                   "children": {"a": {"hosts": {"h1": {"sim_profile": "2019-standard"}, "h2": None}},
                                "b": {"hosts": {"h1": None}}}}}
    plan = FaultPlan({"h1": (Fault("auth"),)})
    out = plan.apply(inv)
    assert out["all"]["children"]["a"]["hosts"]["h1"] == {
        "sim_profile": "2019-standard", "sim": {"reboot_seconds": 0.5, "faults": [{"kind": "auth"}]}}
    assert out["all"]["children"]["b"]["hosts"]["h1"]["sim"]["faults"] == [{"kind": "auth"}]
    assert out["all"]["children"]["a"]["hosts"]["h2"] is None
    assert inv["all"]["children"]["a"]["hosts"]["h1"] == {"sim_profile": "2019-standard"}  # a copy
    with pytest.raises(LabError, match="not in the inventory: nope"):
        FaultPlan({"nope": (Fault("auth"),)}).apply(inv)


# ---------------------------------------------------------------------------- the big run

HOSTS = 100
RATE = 0.2
SEED = 20240611


def _leases_left(lab: Path, result: RunResult) -> list[str]:
    """Hosts that went down holding the run's lease (system/lease): the next run takes those
    leases over (their run has ended) instead of waiting out lease_ttl."""
    store = LabStore(lab)
    return sorted(name for name in result.hosts
                  if (model := store.load(name)) is not None and model.lease_owner is not None)


def test_hundred_hosts_twenty_percent_faulted(tmp_path: Path) -> None:
    t0 = time.monotonic()
    names = [f"hv-{i:03d}" for i in range(HOSTS)]
    base = inventory({n: {"profile": "2008r2-standard" if i % 2 else "2019-standard"} for i, n in enumerate(names)})
    plan = FaultPlan.random(names, rate=RATE, seed=SEED)
    assert len(plan.faults) == HOSTS * RATE and {plan.kind_of(n) for n in plan.faults} == set(KINDS)
    faulted = plan.apply(base)

    first = hvprov.apply(ROLE, faulted, lab_dir=tmp_path, forks=50, script_timeout=0.5)
    t1 = time.monotonic()
    problems: list[str] = []
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for name in names:
        got = first.hosts[name].status.value
        kind = plan.kind_of(name) or "(none)"
        table[kind][got] += 1
        want = plan.expected(name, clean="changed")
        if kind != "(none)" and not fired(tmp_path, name, kind):
            problems.append(f"{name}: its {kind} fault never fired")
        if got != want:
            problems.append(f"{name} [{kind} {plan.for_host(name)[0].to_dict() if kind != '(none)' else ''}]: "
                            f"{got}, expected {want}: {first.hosts[name].msg[:160]}")
        if want in ("failed", "unreachable") and got in ("ok", "changed"):
            problems.append(f"{name}: FALSE {got.upper()} despite {kind}")

    lines = [f"{'fault kind':<22}{'hosts':>6}  {'expected':<21} statuses (run 1)"]
    for kind in [*KINDS, "(none)"]:
        count = sum(table[kind].values())
        want = "changed" if kind == "(none)" else ("changed (recovered)" if EXPECTED[kind] == "recovered" else EXPECTED[kind])
        shown = ", ".join(f"{s} {n}" for s, n in sorted(table[kind].items()))
        lines.append(f"{kind:<22}{count:>6}  {want:<21} {shown}")

    expired = _leases_left(tmp_path, first)
    clean_inv = base
    second = hvprov.apply(ROLE, clean_inv, lab_dir=tmp_path, forks=50, script_timeout=0.5)
    t2 = time.monotonic()
    for name, h in second.hosts.items():
        if h.status not in (Status.OK, Status.CHANGED):
            problems.append(f"rerun without faults: {name} [{plan.kind_of(name)}] {h.status.value}: {h.msg[:160]}")
        if first.hosts[name].status is Status.CHANGED and (h.status is not Status.OK or h.change_count):
            problems.append(f"rerun: {name} finished in run 1 but changed again ({h.status.value}, {h.change_count})")
    third = hvprov.apply(ROLE, clean_inv, lab_dir=tmp_path, forks=50)
    t3 = time.monotonic()
    if third.summary() != {"hosts": {"ok": HOSTS, "changed": 0, "failed": 0, "unreachable": 0}, "changes": 0, "unknown": 0}:
        problems.append(f"third run is not a no-op: {third.summary()}")

    lines += [
        f"run 1 (faulted): {first.summary()} in {t1 - t0:.1f} s",
        f"run 2 (faults removed; leases left by run 1 taken over on {len(expired)} hosts: "
        f"{', '.join(f'{n} ({plan.kind_of(n)})' for n in expired)}): "
        f"{second.summary()} in {t2 - t1:.1f} s",
        f"run 3: {third.summary()} in {t3 - t2:.1f} s",
    ]
    print("\n" + "\n".join(lines))
    assert not problems, "\n".join(lines + problems)
