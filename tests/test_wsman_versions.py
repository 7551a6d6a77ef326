"""Issue 14 end to end: the site playbook over WinRM against lab hosts configured as their
Windows release is (WinRM 2.0 limits on 2008 R2 with TLS 1.2 enabled, 3.0 limits on 2019),
hvprov sizing its stdin chunks by the host's WinRM, and the "shell lost, reopen" path run
against the lab's real fault after a simulated WinRM service restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import hvprov
from hvprov.connection import ConnectionSpec
from hvprov.sim.lab import LabServers, load_source
from hvprov.transports import bootstrap
from hvprov.transports.winrm import WinRMTransport, stdin_chunk_size

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "playbooks" / "site.yml")
HOSTS = ("hv-std01", "hvs-2008r2", "hv-2019")
ROLE_ONLY = {"skip_tags": ["network", "vms"]}
EXPECTED = {"hv-std01": "changed", "hvs-2008r2": "ok", "hv-2019": "changed"}


def _servers(tmp: Path, **kw: object) -> LabServers:
    inv, seeds = load_source([str(ROOT / "inventories" / "lab.yml")])
    seeds = {n: s.__class__(s.profile, {**s.overrides, "reboot_seconds": 0.5}) for n, s in seeds.items() if n in HOSTS}
    return LabServers(tmp, seeds, source=inv, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServers, dict[str, Path]]]:
    with _servers(tmp_path_factory.mktemp("lab")) as servers:
        yield servers, servers.inventories()


def test_hosts_get_their_releases_winrm_defaults(lab: tuple[LabServers, dict[str, Path]]) -> None:
    servers, _ = lab
    seen = {
        n: (c.winrm_version, c.max_envelope_kb, c.max_shells_per_user, c.max_memory_per_shell_mb,
            c.idle_timeout_s, c.tls_versions)
        for n in HOSTS
        for c in [servers.wsman.config(n)]
    }
    r2 = ("2.0", 150, 5, 150, 180.0, ("1.0", "1.1", "1.2"))
    assert seen == {"hv-std01": r2, "hvs-2008r2": r2, "hv-2019": ("3.0", 500, 30, 1024, 7200.0, ("1.2",))}


@pytest.mark.parametrize("kind", ["lab-winrm.yml", "lab-winrm-https.yml"])
def test_site_converges_per_windows_version(lab: tuple[LabServers, dict[str, Path]], kind: str, tmp_path: Path) -> None:
    servers, files = lab
    servers.store.reset()
    first = hvprov.apply(SITE, str(files[kind]), lab_dir=tmp_path, forks=3, **ROLE_ONLY)
    assert {n: h.status.value for n, h in first.hosts.items()} == EXPECTED, first.to_dict()
    second = hvprov.apply(SITE, str(files[kind]), lab_dir=tmp_path, forks=3, **ROLE_ONLY)
    assert second.total_changes == 0 and not second.failed
    for name in HOSTS:  # no envelope ever went over the host's MaxEnvelopeSizekb
        limit = servers.wsman.config(name).max_envelope_kb * 1024
        assert all(r.status != 413 and r.soap_bytes <= limit for r in servers.wsman.requests(name))
    if kind == "lab-winrm-https.yml":  # 2008 R2 with TLS 1.2 enabled negotiates TLS 1.2
        tls = {n: {r.tls for r in servers.wsman.requests(n) if r.scheme == "https"} for n in HOSTS}
        assert tls == {n: {"TLSv1.2"} for n in HOSTS}


def test_stdin_chunks_follow_the_hosts_winrm(lab: tuple[LabServers, dict[str, Path]]) -> None:
    servers, files = lab
    doc = yaml.safe_load(files["lab-winrm.yml"].read_text())
    big = "# large\n" + "Write-Output 'x'\n" * 40000  # 640 KB of script: ~850 KB of base64 on stdin
    n = len(bootstrap.stdin_payload(big))
    counts = {}
    for name in ("hv-std01", "hv-2019"):
        spec = ConnectionSpec.from_vars(name, doc["all"]["hosts"][name])
        assert spec.max_envelope_kb == 0  # generated inventories say "auto"
        servers.wsman.clear_requests(name)
        with WinRMTransport(spec) as t:
            t.run(big)
            counts[name] = (t.max_envelope_kb, sum(r.action == "Send" for r in servers.wsman.requests(name)))
    assert counts == {
        "hv-std01": (150, -(-n // stdin_chunk_size(150))),
        "hv-2019": (500, -(-n // stdin_chunk_size(500))),
    }
    assert (counts["hv-std01"][1], counts["hv-2019"][1]) == (9, 3)  # 150 KB vs 500 KB envelopes


def test_winrm_restart_mid_apply_reopens_the_shell_and_converges(
    lab: tuple[LabServers, dict[str, Path]], tmp_path: Path
) -> None:
    servers, files = lab
    servers.store.reset(["hv-2019"])
    servers.wsman.clear_requests("hv-2019")
    servers.wsman.restart_service_before("hv-2019", "Command", after=3)  # between two tasks
    first = hvprov.apply(SITE, str(files["lab-winrm.yml"]), lab_dir=tmp_path, limit="hv-2019", **ROLE_ONLY)
    assert first.hosts["hv-2019"].status.value == "changed", first.to_dict()
    recs = servers.wsman.requests("hv-2019")
    faults = [(r.action, r.fault) for r in recs if r.status == 500]
    assert faults == [("Command", 2150858843)]  # Windows' w:InvalidSelectors: hvprov's "shell lost"
    i = next(k for k, r in enumerate(recs) if r.status == 500)
    assert [r.action for r in recs[i + 1 : i + 3]] == ["Create", "Command"]  # reopened, same script again
    second = hvprov.apply(SITE, str(files["lab-winrm.yml"]), lab_dir=tmp_path, limit="hv-2019", **ROLE_ONLY)
    assert second.total_changes == 0


def test_tls_1_0_only_2008r2_is_refused_with_the_fix(tmp_path: Path) -> None:
    with _servers(tmp_path / "lab", tls12_on_2008r2=False) as servers:
        files = servers.inventories()
        r = hvprov.apply(SITE, str(files["lab-winrm-https.yml"]), lab_dir=tmp_path, forks=3, **ROLE_ONLY)
    status = {n: h.status.value for n, h in r.hosts.items()}
    assert status["hv-2019"] == "changed"
    for name in ("hv-std01", "hvs-2008r2"):
        assert status[name] in ("unreachable", "failed"), status
        text = str(r.hosts[name].to_dict())
        assert "only TLS 1.0/1.1" in text and "enable TLS 1.2 on the host" in text
