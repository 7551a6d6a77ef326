"""SSH transport: against the paramiko lab server (hvprov.sim.sshd) and Debian's real sshd.

Scripts are answered by tests/shims/testhandler.py: stdout starts with
``host=H length=L sha256=X`` of the script as received, so every test checks that the script
arrived intact (through the stdin bootstrap) and that output, stderr and exit code came back.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest
from fixtures_ssh import (
    PASSWORD,
    USER,
    Lab,
    RealSSHD,
    make_lab,
    requires_sshd,
    start_real_sshd,
    write_ed25519,
)

from hvprov.errors import (
    AuthenticationError,
    CommandTimeoutError,
    InventoryError,
    TrustError,
    UnreachableError,
)
from hvprov.scriptresult import parse_result
from hvprov.secrets import Secret
from hvprov.sim.sshd import SSHLab
from hvprov.transports import bootstrap, open_transport
from hvprov.transports.ssh import Endpoint, SSHTransport, parse_jump_host

# paramiko releases before 3.5 use cryptography's TripleDES/Blowfish, which newer cryptography
# versions deprecate (CryptographyDeprecationWarning); with warnings as errors that would fail
# these tests for a dependency's reason. paramiko 5.1 + cryptography 50 emit none.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")


def header(script: str, host: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).hexdigest()
    return f"host={host} length={len(script)} sha256={digest}\n"


def big_script(size: int) -> str:
    """~`size` characters of PowerShell-looking text, with non-ASCII in it, ending in exit 3."""
    line = "$hvprovValue = 'Größe ✓ ünïcödé' + [string]12345  # padding padding padding\n"
    return line * (size // len(line) + 1) + "exit 3\n"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with make_lab(tmp_path) as the_lab:
        yield the_lab


@pytest.fixture(scope="module")
def real_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealSSHD]:
    with start_real_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


# =========================================================================== paramiko lab
def test_small_script(lab: Lab) -> None:
    lab.add("hv01")
    script = "Write-Output 'hello'\n"
    with SSHTransport(lab.spec("hv01")) as t:
        res = t.run(script)
    assert res.rc == 0
    assert res.stdout.startswith(header(script, "hv01"))
    assert parse_result(res, "t.ps1")["length"] == len(script)
    assert res.stderr == ""
    assert t.round_trips == 3  # auth + channel open + exec
    assert t.scripts_run == 1


def test_200kb_script_travels_on_stdin_and_exit_code_survives(lab: Lab) -> None:
    lab.add("hv01")
    script = big_script(200_000)
    assert len(script) >= 200_000 and not bootstrap.fits_command_line(script)
    with SSHTransport(lab.spec("hv01")) as t:
        res = t.run(script)
    assert res.rc == 3
    assert res.stdout.startswith(header(script, "hv01"))
    assert len(bootstrap.bootstrap_command_line()) < bootstrap.CMD_LINE_LIMIT // 2  # what cmd.exe sees


def test_unicode_round_trip(lab: Lab) -> None:
    lab.add("hv01")
    text = "Größe ✓ 日本語 𝄞 Ωmega"
    script = f"#hv-echo: {text}\n$x = '{text}'\n"
    with SSHTransport(lab.spec("hv01")) as t:
        res = t.run(script)
    assert res.rc == 0
    assert res.stdout.startswith(header(script, "hv01"))
    assert f"echo={text}\n" in res.stdout


@pytest.mark.timeout(60)
def test_large_stdout_and_stderr_at_once_do_not_deadlock(lab: Lab) -> None:
    lab.add("hv01")
    # 3 MB of stderr is more than paramiko's 2 MB receive window: a client that read only
    # stdout until EOF would wait forever while the server waits for window on stderr.
    script = "#hv-out: 1048576\n#hv-err: 3145728\n" + big_script(150_000)
    with SSHTransport(lab.spec("hv01")) as t:
        res = t.run(script)
    assert res.rc == 3
    assert res.stdout.count("o" * 99 + "\n") == 1048576 // 100
    assert len(res.stderr) == 3145728


def test_one_connection_is_reused_for_five_scripts(lab: Lab) -> None:
    lab.add("hv01")
    with SSHTransport(lab.spec("hv01")) as t:
        for i in range(5):
            res = t.run(f"Write-Output {i}\nexit {i}\n")
            assert res.rc == i
        assert lab.lab.connections("hv01") == 1
        assert t.connections == 1
        assert t.round_trips == 1 + 5 * 2
        assert t.scripts_run == 5


def test_open_and_close_are_idempotent(lab: Lab) -> None:
    lab.add("hv01")
    t = SSHTransport(lab.spec("hv01"))
    t.open()
    t.open()
    assert lab.lab.connections("hv01") == 1
    t.close()
    t.close()


def test_reconnects_transparently_after_the_host_was_down(lab: Lab) -> None:
    lab.add("hv01")
    sleeps = Sleeps()
    t = SSHTransport(lab.spec("hv01", retries=8), backoff=0.1, sleep=sleeps)
    with t:
        assert t.run("exit 0\n").rc == 0
        lab.lab.set_down("hv01", time.time() + 0.6)  # drops the connection, refuses for 0.6 s
        res = t.run("Write-Output 'after reboot'\nexit 4\n")
    assert res.rc == 4
    assert lab.lab.connections("hv01") == 2
    assert t.connections == 2
    assert sleeps.calls  # refused at first, then retried with backoff
    assert t.round_trips == 2 * 3  # two connections, one script each


def test_dropped_connection_is_noticed_when_the_host_is_back(lab: Lab) -> None:
    lab.add("hv01")
    with SSHTransport(lab.spec("hv01")) as t:
        t.run("exit 0\n")
        lab.lab.set_down("hv01", None)
        with pytest.raises(UnreachableError, match="connection refused by hv01"):
            t.run("exit 0\n")
        lab.lab.set_up("hv01")
        deadline = time.monotonic() + 5
        while True:  # the lab listens again within ~50 ms
            try:
                assert t.run("exit 5\n").rc == 5
                break
            except UnreachableError:
                assert time.monotonic() < deadline
                time.sleep(0.05)


def test_host_down_is_unreachable_after_retries_with_backoff(lab: Lab) -> None:
    lab.add("hv01")
    lab.lab.set_down("hv01", None)
    sleeps = Sleeps()
    t = SSHTransport(lab.spec("hv01", retries=2), backoff=0.01, sleep=sleeps)
    with pytest.raises(UnreachableError) as info:
        t.open()
    assert "connection refused by hv01 (127.0.0.1:" in str(info.value)
    assert info.value.transient and info.value.host == "hv01"
    assert sleeps.calls == [0.01, 0.02]


def test_unknown_host_key_is_refused_and_names_the_policy(lab: Lab) -> None:
    lab.add("hv01", trusted=False)
    sleeps = Sleeps()
    t = SSHTransport(lab.spec("hv01", retries=3), sleep=sleeps)
    with pytest.raises(TrustError) as info:
        t.open()
    msg = str(info.value)
    fp = lab.lab.host_key("hv01").fingerprint
    assert msg.startswith(f"unknown SSH host key for hv01 (ssh-ed25519 {fp}); add it to known_hosts")
    assert "hvprov_ssh_host_key_policy: accept-new" in msg
    assert sleeps.calls == []  # never retried
    assert lab.known_hosts.read_text() == ""


def test_a_missing_known_hosts_file_is_named_as_missing(lab: Lab) -> None:
    """Issue 11 item 6: not "add it or set accept-new" when the file itself is not there."""
    lab.add("hv01")
    missing = lab.tmp / "nowhere" / "known_hosts"
    with pytest.raises(TrustError) as info:
        SSHTransport(lab.spec("hv01", ssh_known_hosts=str(missing))).open()
    msg = str(info.value)
    assert f"the known_hosts file {missing} does not exist" in msg
    assert "accept-new" not in msg
    assert not missing.exists()


def test_accept_new_records_the_key_then_strict_works(lab: Lab) -> None:
    lab.add("hv01", trusted=False)
    with SSHTransport(lab.spec("hv01", ssh_host_key_policy="accept-new")) as t:
        assert t.run("exit 0\n").rc == 0
    lines = lab.known_hosts.read_text().splitlines()
    assert lines == [lab.lab.host_key_line("hv01")]
    with SSHTransport(lab.spec("hv01")) as t:  # strict
        assert t.run("exit 0\n").rc == 0
    with SSHTransport(lab.spec("hv01", ssh_host_key_policy="accept-new")) as t:
        t.run("exit 0\n")
    assert lab.known_hosts.read_text().splitlines() == lines  # recorded once


def test_accept_new_creates_the_known_hosts_file(lab: Lab) -> None:
    lab.add("hv01", trusted=False)
    path = lab.tmp / "new" / "dir" / "known_hosts"
    with SSHTransport(lab.spec("hv01", ssh_known_hosts=str(path), ssh_host_key_policy="accept-new")) as t:
        t.run("exit 0\n")
    assert path.read_text() == lab.lab.host_key_line("hv01") + "\n"


def test_ignore_policy_trusts_without_recording(lab: Lab) -> None:
    lab.add("hv01", trusted=False)
    with SSHTransport(lab.spec("hv01", ssh_host_key_policy="ignore")) as t:
        assert t.run("exit 0\n").rc == 0
    assert lab.known_hosts.read_text() == ""


@pytest.mark.parametrize("policy", ["strict", "accept-new", "ignore"])
def test_changed_host_key_is_refused_under_every_policy(lab: Lab, policy: str) -> None:
    lab.add("hv01")
    old = lab.known_hosts.read_text()
    new = lab.lab.rotate_host_key("hv01")
    with pytest.raises(TrustError) as info:
        SSHTransport(lab.spec("hv01", ssh_host_key_policy=policy)).open()
    msg = str(info.value)
    assert "SSH host key for hv01 has CHANGED" in msg and new.fingerprint in msg
    assert lab.known_hosts.read_text() == old


def test_hashed_known_hosts_entries_are_understood(lab: Lab) -> None:
    port = lab.add("hv01", trusted=False)
    key = lab.lab.host_key("hv01")
    hashed = paramiko.HostKeys.hash_host(f"[127.0.0.1]:{port}")
    lab.known_hosts.write_text(
        "# comment\n@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE\n"
        f"{hashed} {key.get_name()} {key.get_base64()}\n"
    )
    with SSHTransport(lab.spec("hv01")) as t:
        assert t.run("exit 0\n").rc == 0


def test_wrong_password_is_an_authentication_error_without_the_password(lab: Lab) -> None:
    lab.add("hv01")
    secret = "Wr0ng-S3cret-Value"
    sleeps = Sleeps()
    t = SSHTransport(lab.spec("hv01", password=Secret(secret), retries=3), sleep=sleeps)
    with pytest.raises(AuthenticationError) as info:
        t.open()
    err = info.value
    assert str(err).startswith("authentication failed for hv01 as admin (tried password")
    for text in (str(err), repr(err), repr(err.args), err.message):
        assert secret not in text and PASSWORD not in text
    assert sleeps.calls == []  # never retried


def test_key_file_authentication(lab: Lab) -> None:
    key = lab.client_key
    lab.add("hv01", users={USER: None},  # key only, given as an authorized_keys line
            authorized_keys=[f'from="127.0.0.1" {key.get_name()} {key.get_base64()} me@test'])
    with SSHTransport(lab.spec("hv01", password=None, ssh_key_file=str(lab.client_key_file))) as t:
        assert t.run("exit 0\n").rc == 0
    # a passphrase for a key that is not encrypted is ignored, as OpenSSH does
    spec = lab.spec("hv01", password=None, ssh_key_file=str(lab.client_key_file),
                    ssh_key_passphrase=Secret("unused"))
    with SSHTransport(spec) as t:
        assert t.run("exit 0\n").rc == 0


def test_encrypted_key_file_and_passphrase(lab: Lab) -> None:
    path = lab.tmp / "id_enc"
    passphrase = "K3y-Passphrase-xyz"
    key = write_ed25519(path, passphrase)
    lab.add("hv01", users={USER: None}, authorized_keys=[key])
    spec = lab.spec("hv01", password=None, ssh_key_file=str(path))
    with SSHTransport(replace(spec, ssh_key_passphrase=Secret(passphrase))) as t:
        assert t.run("exit 0\n").rc == 0
    with pytest.raises(AuthenticationError, match="is encrypted: set hvprov_ssh_key_passphrase"):
        SSHTransport(spec).open()
    with pytest.raises(AuthenticationError, match="wrong hvprov_ssh_key_passphrase") as info:
        SSHTransport(replace(spec, ssh_key_passphrase=Secret("not-the-passphrase"))).open()
    assert "not-the-passphrase" not in str(info.value) and passphrase not in str(info.value)
    with pytest.raises(AuthenticationError, match="cannot read SSH key file .*missing: No such file"):
        SSHTransport(replace(spec, ssh_key_file=str(lab.tmp / "missing"))).open()


def test_key_not_authorized_falls_back_to_password(lab: Lab) -> None:
    lab.add("hv01", authorized_keys=[])
    with SSHTransport(lab.spec("hv01", ssh_key_file=str(lab.client_key_file))) as t:
        assert t.run("exit 0\n").rc == 0


def test_jump_host(lab: Lab) -> None:
    jport = lab.add("jump")
    lab.add("hv01")
    spec = lab.spec("hv01", ssh_jump_host=f"{USER}@127.0.0.1:{jport}")
    with SSHTransport(spec) as t:
        for _ in range(2):
            res = t.run("#hv-echo: via jump\nexit 2\n")
            assert res.rc == 2 and "echo=via jump\n" in res.stdout
    assert lab.lab.connections("jump") == 1 and lab.lab.connections("hv01") == 1
    assert lab.lab.execs("jump") == 0 and lab.lab.execs("hv01") == 2
    # jump auth + direct-tcpip channel + target auth, then 2 per script
    assert t.round_trips == 3 + 2 * 2


def test_jump_host_key_is_checked_too(lab: Lab) -> None:
    jport = lab.add("jump", trusted=False)
    lab.add("hv01")
    with pytest.raises(TrustError, match=r"unknown SSH host key for jump host 127\.0\.0\.1"):
        SSHTransport(lab.spec("hv01", ssh_jump_host=f"127.0.0.1:{jport}")).open()


def test_jump_host_syntax() -> None:
    assert parse_jump_host("bastion", default_user="u") == Endpoint("u", "bastion", 22)
    assert parse_jump_host("ops@10.0.0.1:2222", default_user="u") == Endpoint("ops", "10.0.0.1", 2222)
    assert parse_jump_host("[::1]:2200", default_user=None) == Endpoint(None, "::1", 2200)
    for bad in ("a@b@c", "host:99999", "host:x", ""):
        with pytest.raises(InventoryError, match="hvprov_ssh_jump_host"):
            parse_jump_host(bad, default_user=None, host_name="hv01")


def test_timeout_argument_caps_the_script(lab: Lab) -> None:
    lab.add("hv01")
    with SSHTransport(lab.spec("hv01")) as t:
        with pytest.raises(CommandTimeoutError, match="did not finish within 0.3 s"):  # durations: bench/timings.py
            t.run("#hv-sleep: 1\n", timeout=0.3)
        assert t.run("exit 1\n").rc == 1  # the connection is still good
    assert lab.lab.connections("hv01") == 1


def test_silent_long_script_on_a_live_host_is_not_a_timeout(lab: Lab) -> None:
    lab.add("hv01")
    with SSHTransport(lab.spec("hv01", read_timeout=0.6, ssh_keepalive=1)) as t:
        res = t.run("#hv-sleep: 1.5\nexit 0\n")  # keepalive probes are answered meanwhile
    assert res.rc == 0


def test_host_that_stops_answering_is_a_read_timeout(lab: Lab) -> None:
    lab.add("hv01")
    with SSHTransport(lab.spec("hv01", read_timeout=0.5)) as t:
        t.run("exit 0\n")
        lab.lab.set_frozen("hv01")
        try:
            with pytest.raises(CommandTimeoutError, match="hv01 stopped answering: nothing for 0.5 s"):
                t.run("#hv-sleep: 1.5\n")
        finally:
            lab.lab.set_frozen("hv01", False)
        assert t.run("exit 6\n").rc == 6  # dropped, then reconnected by the next run
    assert lab.lab.connections("hv01") == 2


def test_clixml_stderr_is_decoded(lab: Lab) -> None:
    lab.add("hv01")
    with SSHTransport(lab.spec("hv01")) as t:
        res = t.run("#hv-clixml: Get-Item : Cannot find path 'C:\\nope' <because> it does not exist.\nexit 1\n")
    assert res.rc == 1
    assert res.stderr.rstrip("\n") == "Get-Item : Cannot find path 'C:\\nope' <because> it does not exist."


def test_lab_latency_per_request(lab: Lab) -> None:
    """A host with lab latency still answers (the delay itself is measured by bench/timings.py)."""
    lab.add("hv01", latency=0.2)
    with SSHTransport(lab.spec("hv01")) as t:
        assert t.run("exit 0\n").rc == 0
        assert t.run("exit 3\n").rc == 3


def test_unknown_command_answers_like_cmd_exe(lab: Lab) -> None:
    lab.add("hv01")
    with SSHTransport(lab.spec("hv01")) as t:
        res = t.run("#hv-missing\n")
    assert res.rc == 9009  # cmd.exe's exit code for a program it cannot find (issue 14)
    assert res.stderr.startswith("'powershell.exe' is not recognized as an internal or external command,\n")


def test_lab_enforces_the_cmd_exe_command_line_limit(lab: Lab) -> None:
    port = lab.add("hv01")
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect("127.0.0.1", port, USER, PASSWORD, allow_agent=False, look_for_keys=False)

        def execute(line: str) -> tuple[int, bytes, bytes]:
            _, out, err = client.exec_command(line)
            return out.channel.recv_exit_status(), out.read(), err.read()

        small = "Write-Output 1\n" * 10
        rc, out, _ = execute(bootstrap.command_line(small))  # inline -EncodedCommand
        text = out.decode().replace("\r\n", "\n")  # console programs write CRLF lines
        assert (rc, text) == (0, header(small, "hv01") + text.split("\n", 1)[1])
        long = "Write-Output 1\n" * 300
        line = bootstrap.command_line(long)
        assert len(line) > bootstrap.CMD_LINE_LIMIT
        assert execute(line) == (1, b"", b"The command line is too long.\r\n")
        rc, _, err = execute("nosuchtool C:\\")
        assert rc == 9009 and err.startswith(b"'nosuchtool' is not recognized")
    finally:
        client.close()


def test_lab_api(tmp_path: Path) -> None:
    with SSHLab(tmp_path / "k", handler=lambda host, script: None) as server:
        port = server.add_host("a")
        line = server.host_key_line("a")
        assert line.startswith(f"[127.0.0.1]:{port} ssh-ed25519 AAAA")
        assert server.host_key_line("a", 22).startswith("127.0.0.1 ssh-ed25519 ")
    with SSHLab(tmp_path / "k", handler=lambda host, script: None) as server:  # key persisted
        server.add_host("a")
        assert server.host_key_line("a").split()[1:] == line.split()[1:]


def test_open_transport_builds_the_ssh_transport(lab: Lab) -> None:
    lab.add("hv01")
    t = open_transport(lab.spec("hv01"))
    assert isinstance(t, SSHTransport)
    with t:
        assert t.run("exit 0\n").rc == 0


def test_transports_of_parallel_hosts(lab: Lab) -> None:
    names = [f"hv{i:02d}" for i in range(4)]
    for n in names:
        lab.add(n, trusted=False)
    results: dict[str, int] = {}

    def work(name: str) -> None:
        with SSHTransport(lab.spec(name, ssh_host_key_policy="accept-new")) as t:
            results[name] = t.run(f"exit {len(name)}\n").rc

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == {n: 4 for n in names}
    assert sorted(lab.known_hosts.read_text().splitlines()) == sorted(lab.lab.host_key_line(n) for n in names)


# =========================================================================== real OpenSSH sshd
@pytest.mark.sshd
@requires_sshd
def test_real_sshd_small_script_and_reuse(real_sshd: RealSSHD) -> None:
    with SSHTransport(real_sshd.spec()) as t:
        for i in range(3):
            script = f"Write-Output 'hello {i}'\nexit {i}\n"
            res = t.run(script)
            assert res.rc == i
            assert res.stdout.startswith(header(script, "sshd"))
            assert parse_result(res, "t.ps1")["sha256"] == hashlib.sha256(script.encode()).hexdigest()
        assert t.connections == 1
        assert t.round_trips == 1 + 3 * 2


@pytest.mark.sshd
@requires_sshd
def test_real_sshd_200kb_script_and_exit_code(real_sshd: RealSSHD) -> None:
    script = big_script(200_000)
    with SSHTransport(real_sshd.spec()) as t:
        res = t.run(script)
    assert res.rc == 3
    assert res.stdout.startswith(header(script, "sshd"))


@pytest.mark.sshd
@requires_sshd
def test_real_sshd_unicode_and_large_output(real_sshd: RealSSHD) -> None:
    text = "Größe ✓ 日本語 𝄞"
    script = f"#hv-echo: {text}\n#hv-out: 1048576\n#hv-err: 3145728\nexit 9\n"
    with SSHTransport(real_sshd.spec()) as t:
        res = t.run(script)
    assert res.rc == 9
    assert res.stdout.startswith(header(script, "sshd") + f"echo={text}\n")
    assert res.stdout.count("o" * 99 + "\n") == 1048576 // 100
    assert len(res.stderr) == 3145728


@pytest.mark.sshd
@requires_sshd
def test_real_sshd_wrong_password(real_sshd: RealSSHD) -> None:
    secret = "Definitely-Wr0ng-Passw0rd"
    spec = real_sshd.spec(ssh_key_file=None, password=Secret(secret), retries=2)
    sleeps = Sleeps()
    with pytest.raises(AuthenticationError) as info:
        SSHTransport(spec, sleep=sleeps).open()
    assert str(info.value).startswith(f"authentication failed for sshd as {real_sshd.user}")
    assert secret not in str(info.value) and secret not in repr(info.value.args)
    assert sleeps.calls == []


@pytest.mark.sshd
@requires_sshd
def test_real_sshd_unknown_host_key(real_sshd: RealSSHD, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")  # present but without the key (a missing file is named as missing)
    with pytest.raises(TrustError, match=r"unknown SSH host key for sshd \(ssh-ed25519 SHA256:.*"
                                         r"hvprov_ssh_host_key_policy: accept-new"):
        SSHTransport(real_sshd.spec(ssh_known_hosts=str(empty))).open()
    with SSHTransport(real_sshd.spec(ssh_known_hosts=str(empty), ssh_host_key_policy="accept-new")) as t:
        assert t.run("exit 0\n").rc == 0
    assert empty.read_text() == real_sshd.known_hosts.read_text()
