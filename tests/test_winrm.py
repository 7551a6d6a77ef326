"""WinRM transport against the simulated WS-Management server, over real HTTP on 127.0.0.1."""
# ruff: noqa: F811  (the lab/echo fixtures are imported from fixtures_winrm)

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from fixtures_winrm import (  # noqa: F401
    PASSWORD,
    EchoHandler,
    add_host,
    basic_protocol,
    connected,
    echo,
    lab,
    never_sleep,
    spec_for,
)

from hvprov.errors import (
    AuthenticationError,
    CommandTimeoutError,
    ProtocolError,
    TrustError,
    UnreachableError,
)
from hvprov.secrets import Secret
from hvprov.sim import tls
from hvprov.sim.wsman import WSManLab
from hvprov.transports import bootstrap
from hvprov.transports.clixml import decode_clixml, encode_clixml
from hvprov.transports.winrm import POWERSHELL_PATH, WinRMTransport, stdin_chunk_size

SMALL = "# template: test/small\nWrite-Output 'hello'\nexit 3\n"
BIG = ("# template: test/big\n" + "Write-Output 'padding padding padding padding'\n" * 4400)[
    : 200 * 1024
]


def actions(lab: WSManLab, host: str = "hv01") -> list[str]:
    return [r.action or f"auth:{r.status}" for r in lab.requests(host)]


# ---------------------------------------------------------------------- scripts and round trips


def test_small_script_runs_inline_with_exit_code(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    echo.rc = 3
    t = WinRMTransport(spec_for(lab))
    t.open()
    # Negotiate (answered 401 with the challenge), then Authenticate carrying the sealed Create
    assert t.round_trips == 2
    result = t.run(SMALL)
    assert result.rc == 3
    assert result.stdout == f"len={len(SMALL)}\nfirst=# template: test/small\n"
    assert result.stderr == ""  # the progress record of the host is dropped
    assert t.round_trips == 2 + 3  # Command, Receive, Signal
    assert echo.scripts == [("hv01", SMALL)]
    t.close()
    assert t.round_trips == 6  # Delete
    assert actions(lab) == [
        "auth:401",
        "Create",
        "Command",
        "Receive",
        "Signal",
        "Delete",
    ]
    assert t.scripts_run == 1 and lab.shell_count("hv01") == 0


def test_200kb_script_is_streamed_on_stdin_under_the_envelope_limit(
    lab: WSManLab, echo: EchoHandler
) -> None:
    add_host(lab)
    echo.rc = 7
    assert len(BIG) == 200 * 1024 and not bootstrap.fits_command_line(BIG)
    with connected(spec_for(lab)) as t:
        before = t.round_trips
        result = t.run(BIG)
        assert result.rc == 7
        assert echo.scripts[-1] == ("hv01", BIG)
        payload = len(bootstrap.stdin_payload(BIG))
        sends = -(-payload // stdin_chunk_size(150))
        assert sends == 3
        assert t.round_trips - before == 3 + sends  # Command, 3 x Send, Receive, Signal
    send_records = [r for r in lab.requests("hv01") if r.action == "Send"]
    assert len(send_records) == 3
    assert all(r.status == 200 and r.soap_bytes <= 150 * 1024 for r in send_records)
    assert max(r.soap_bytes for r in send_records) > 140 * 1024  # chunks are not needlessly small


def test_first_script_counts_auth_and_shell_then_later_scripts_reuse_the_shell(
    lab: WSManLab,
) -> None:
    add_host(lab)
    with connected(spec_for(lab)) as t:
        counts = []
        for i in range(5):
            before = t.round_trips
            assert t.run(f"Write-Output {i}").rc == 0
            counts.append(t.round_trips - before)
        assert t.round_trips == 2 + 5 * 3
        assert counts == [3, 3, 3, 3, 3]
        assert t.scripts_run == 5 and t.shells_opened == 1
    assert actions(lab).count("Create") == 1
    assert actions(lab).count("auth:401") == 1  # one handshake for the whole run


def test_command_line_boundary_between_inline_and_stdin(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    base = len(bootstrap.command_line(""))
    # every character of script adds 8/3 base64 characters: find the longest inline script
    n = max(
        k
        for k in range(3000, 3100)
        if len(bootstrap.command_line("x" * k)) <= bootstrap.CMD_LINE_LIMIT
    )
    assert base < bootstrap.CMD_LINE_LIMIT
    with connected(spec_for(lab)) as t:
        t.run("x" * n)
        t.run("x" * (n + 1))
    acts = actions(lab)
    assert acts.count("Send") == 1  # only the longer one needed stdin
    assert [s for _, s in echo.scripts] == ["x" * n, "x" * (n + 1)]


def test_without_cmd_exe_longer_scripts_go_inline(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    script = "x" * 5000  # over cmd.exe's limit, under CreateProcess's 32,767
    with connected(spec_for(lab, winrm_cmd_shell=False)) as t:
        assert t.run(script).rc == 0
    assert "Send" not in actions(lab) and echo.scripts == [("hv01", script)]


def test_unicode_round_trip_inline_and_streamed(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    text = "Zürich – naïve ☃ 😀 \u2018quoted\u2019"
    echo.stdout = text + "\n"
    echo.stderr = "Fehler: ü 😀"
    echo.rc = 1
    with connected(spec_for(lab)) as t:
        small = t.run(f"Write-Output '{text}'")
        big = t.run(f"# {text}\n" + "x" * 20000)
    assert echo.scripts[0][1] == f"Write-Output '{text}'"
    assert echo.scripts[1][1].startswith(f"# {text}\n")
    for r in (small, big):
        assert r.stdout == text + "\n" and r.stderr == "Fehler: ü 😀" and r.rc == 1


def test_large_output_comes_back_in_several_receives(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    echo.stdout = "".join(f"line {i:06d} " + "y" * 50 + "\n" for i in range(7000))  # ~450 KB
    with connected(spec_for(lab)) as t:
        before = t.round_trips
        result = t.run(SMALL)
        assert result.stdout == echo.stdout
        receives = actions(lab).count("Receive")
        assert receives >= 4
        assert t.round_trips - before == 2 + receives


@pytest.mark.parametrize("rc", [0, 1, 2, 255, 3010])
def test_exit_codes_survive(lab: WSManLab, echo: EchoHandler, rc: int) -> None:
    add_host(lab)
    echo.rc = rc
    with connected(spec_for(lab)) as t:
        assert t.run(SMALL).rc == rc
        assert t.run(BIG).rc == rc


def test_unknown_command_behaves_like_powershell(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    echo.unknown = True
    with connected(spec_for(lab)) as t:
        result = t.run("Get-Frobnicator -All")
    assert result.rc == 1 and result.stdout == ""
    assert result.stderr.startswith(
        "The term 'Get-Frobnicator' is not recognized as the name of a cmdlet"
    )
    assert "CommandNotFoundException" in result.stderr and "_x000D_" not in result.stderr


# ---------------------------------------------------------------------- security


def test_ntlm_over_http_encrypts_every_message_on_the_wire(
    lab: WSManLab, echo: EchoHandler
) -> None:
    add_host(lab)
    echo.stdout = "secret-output\n"
    with connected(spec_for(lab)) as t:
        t.run("$password = 'Sup3rSecretValue'")
        t.run(BIG)
    with_body = [r for r in lab.requests("hv01") if r.body_bytes]
    assert len(with_body) == 1 + 3 + 6 + 1  # Create, small, big, Delete
    for r in with_body:
        assert r.encrypted and not r.soap_on_wire
        assert r.content_type.startswith("multipart/encrypted")
        assert 'protocol="application/HTTP-SPNEGO-session-encrypted"' in r.content_type


def test_https_validates_the_lab_ca(lab: WSManLab) -> None:
    add_host(lab, scheme="https")
    spec = spec_for(lab, ca_trust_path=str(lab.ca_cert))
    with connected(spec) as t:
        assert t.round_trips == 2  # Negotiate, then Authenticate carrying Create
        assert t.run(SMALL).rc == 0
        assert t.round_trips == 2 + 3
    recs = [r for r in lab.requests("hv01") if r.action]
    assert all(r.scheme == "https" and not r.encrypted for r in recs)  # TLS protects it


def test_https_with_an_unknown_ca_is_a_trust_error_naming_the_option(
    lab: WSManLab, tmp_path
) -> None:
    add_host(lab, scheme="https")
    other = tls.make_tls_files(tmp_path / "other", ca_name="Somebody else's CA")
    for spec in (
        spec_for(lab, ca_trust_path=str(other.ca_cert)),
        spec_for(lab),
    ):  # other CA, system store
        t = WinRMTransport(replace(spec, retries=3), sleep=never_sleep)
        with pytest.raises(TrustError) as info:
            t.open()
        msg = str(info.value)
        assert msg.startswith("certificate not trusted for hv01: ")
        assert (
            "ansible_winrm_ca_trust_path" in msg
            and "ansible_winrm_server_cert_validation=ignore" in msg
        )
        assert t.round_trips == 0  # refused in the TLS handshake: no HTTP request was sent
    with connected(spec_for(lab, server_cert_validation="ignore")) as t:
        assert t.run(SMALL).rc == 0


def test_basic_over_https(lab: WSManLab) -> None:
    add_host(lab, scheme="https", basic=True)
    with connected(spec_for(lab, winrm_transport="basic", ca_trust_path=str(lab.ca_cert))) as t:
        assert t.round_trips == 1  # Basic is pre-emptive: Create only
        assert t.run(SMALL).rc == 0
        assert t.round_trips == 4
    assert {r.auth for r in lab.requests("hv01")} == {"basic"}


def test_wrong_password_is_an_authentication_error_without_the_password(lab: WSManLab) -> None:
    add_host(lab)
    wrong = "Wr0ng-Passw0rd-Value"
    t = WinRMTransport(spec_for(lab, password=Secret(wrong), retries=3), sleep=never_sleep)
    with pytest.raises(AuthenticationError) as info:
        t.run(SMALL)
    msg = str(info.value)
    assert msg == "authentication failed for hv01 (ntlm as Administrator)"
    assert wrong not in msg and PASSWORD not in msg and wrong not in repr(info.value.__dict__)
    assert info.value.host == "hv01" and not info.value.transient
    assert t.round_trips == 2  # one handshake (Negotiate, Authenticate), never retried


@pytest.mark.parametrize(
    ("transport", "encryption"), [("basic", "auto"), ("plaintext", "auto"), ("ntlm", "never")]
)
def test_plaintext_http_is_refused_by_the_client(
    lab: WSManLab, transport: str, encryption: str
) -> None:
    add_host(lab, basic=True, allow_unencrypted=True)
    t = WinRMTransport(
        spec_for(lab, winrm_transport=transport, winrm_message_encryption=encryption)
    )
    with pytest.raises(TrustError, match="hvprov_winrm_allow_plaintext") as info:
        t.open()
    assert info.value.host == "hv01" and "hv01" in str(info.value)
    assert t.round_trips == 0 and lab.requests("hv01") == []


def test_plaintext_http_works_when_both_sides_allow_it(lab: WSManLab) -> None:
    add_host(lab, basic=True, allow_unencrypted=True)
    spec = spec_for(lab, winrm_transport="basic", winrm_allow_plaintext=True)
    with connected(spec) as t:
        assert t.run(SMALL).rc == 0
    assert all(r.soap_on_wire for r in lab.requests("hv01"))


def test_host_refusing_unencrypted_traffic(lab: WSManLab) -> None:
    add_host(lab, basic=True)  # AllowUnencrypted=false, as shipped
    for transport, encryption in (("basic", "auto"), ("ntlm", "never")):
        spec = spec_for(
            lab,
            winrm_transport=transport,
            winrm_message_encryption=encryption,
            winrm_allow_plaintext=True,
        )
        with pytest.raises(AuthenticationError, match="AllowUnencrypted=false"):
            WinRMTransport(spec).open()


# ---------------------------------------------------------------------- sessions


def test_shell_reopened_after_the_host_drops_it(lab: WSManLab) -> None:
    add_host(lab)
    with connected(spec_for(lab)) as t:
        t.run(SMALL)
        assert lab.drop_sessions("hv01", connections=False) == 1  # e.g. WinRM service restart
        before = t.round_trips
        assert t.run(SMALL).rc == 0
        assert t.round_trips - before == 1 + 1 + 3  # Command (fault), Create, then the script
        assert t.shells_opened == 2 and t.scripts_run == 2


def test_session_rebuilt_after_a_reboot_cuts_the_connection(
    lab: WSManLab, echo: EchoHandler
) -> None:
    add_host(lab)
    with connected(spec_for(lab)) as t:
        t.run(SMALL)
        lab.drop_sessions("hv01")  # shells gone and TCP connections reset
        before = t.round_trips
        assert t.run(SMALL).rc == 0
        # the cut connection is seen before the Command is sent: a new handshake carries the
        # Command (2, answered with the shell-gone fault), then Create and the script (1 + 3)
        assert t.round_trips - before == 2 + 1 + 3
        assert t.shells_opened == 2
        assert len(echo.scripts) == 2


def test_host_down_is_unreachable_with_backoff_then_recovers(lab: WSManLab) -> None:
    port = add_host(lab)
    lab.set_down("hv01")
    sleeps: list[float] = []
    t = WinRMTransport(spec_for(lab, retries=2), backoff=0.01, sleep=sleeps.append)
    with pytest.raises(UnreachableError) as info:
        t.run(SMALL)
    assert str(info.value) == f"hv01 unreachable: connection refused (127.0.0.1:{port})"
    assert info.value.transient and sleeps == [0.01, 0.02]
    lab.set_up("hv01")
    assert t.run(SMALL).rc == 0
    t.close()


def test_reboot_during_a_run_is_bridged_by_retries(lab: WSManLab) -> None:
    add_host(lab)
    with connected(spec_for(lab, retries=5), backoff=0.1) as t:
        t.run(SMALL)
        lab.drop_sessions("hv01")
        lab.set_down("hv01", until=time.monotonic() + 0.4)
        assert t.run(SMALL).rc == 0
        assert t.shells_opened == 2


def test_shell_quota_of_winrm_2(lab: WSManLab) -> None:
    add_host(lab)
    transports = [WinRMTransport(spec_for(lab)) for _ in range(6)]
    for t in transports[:5]:
        t.open()
    with pytest.raises(ProtocolError, match="2150859173.*maximum number of 5 concurrent shells"):
        transports[5].open()
    for t in transports:
        t.close()
    assert lab.shell_count("hv01") == 0


def test_envelope_larger_than_the_host_allows(lab: WSManLab) -> None:
    add_host(lab)  # 150 KB, WinRM 2.0
    with (
        WinRMTransport(spec_for(lab, max_envelope_kb=500)) as t,
        pytest.raises(ProtocolError, match="MaxEnvelopeSizekb; lower hvprov_winrm_max_envelope_kb"),
    ):
        t.run(BIG)
    assert 413 in [r.status for r in lab.requests("hv01")]


def test_winrm_3_host_takes_bigger_envelopes(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab, "hv12", max_envelope_kb=500)
    with connected(spec_for(lab, "hv12", max_envelope_kb=500)) as t:
        before = t.round_trips
        assert t.run(BIG).rc == 0
        assert t.round_trips - before == 4  # Command, one Send, Receive, Signal
    assert echo.scripts[-1] == ("hv12", BIG)


def test_command_timeout(lab: WSManLab, echo: EchoHandler) -> None:
    add_host(lab)
    echo.delay_s = 2.5
    with connected(spec_for(lab, operation_timeout=5, read_timeout=10)) as t:
        with pytest.raises(CommandTimeoutError, match="hv01: script did not finish within 1s"):
            t.run(SMALL, timeout=1)  # a 2.5 s script: the timeout fired (durations: bench/)
        echo.delay_s = 0
        assert t.run(SMALL).rc == 0
        assert t.shells_opened == 1  # the command was terminated, the shell kept


def test_cmd_line_limit_is_exactly_8191_characters(lab: WSManLab, echo: EchoHandler) -> None:
    port = add_host(lab, basic=True, allow_unencrypted=True)
    p = basic_protocol(port)
    shell = p.open_shell()
    tail = bootstrap.command_line("Write-Output 1")[len(bootstrap.POWERSHELL) :]
    results = []
    for length in (8191, 8192):
        line = bootstrap.POWERSHELL + " " * (length - len(bootstrap.POWERSHELL) - len(tail)) + tail
        assert len(line) == length
        command = p.run_command(shell, line)
        results.append(p.get_command_output(shell, command))
        p.cleanup_command(shell, command)
    p.close_shell(shell)
    assert results[0][2] == 0 and results[0][0].startswith(b"len=14")
    assert results[1] == (b"", b"The command line is too long.\r\n", 1)
    assert len(echo.scripts) == 1


def test_long_command_line_through_cmd_is_refused_by_the_server(lab: WSManLab) -> None:
    port = add_host(lab, basic=True, allow_unencrypted=True)
    p = basic_protocol(port)
    shell = p.open_shell()
    script = "x" * 3500
    line = bootstrap.command_line(script)
    assert len(line) > 8191
    for skip, expected in ((False, b"The command line is too long.\r\n"), (True, b"")):
        # without cmd.exe WinRS needs the program's full path (2008 R2 faults on a bare name)
        full = POWERSHELL_PATH + line[len(bootstrap.POWERSHELL) :]
        command = p.run_command(shell, full if skip else line, skip_cmd_shell=skip)
        out, err, rc = p.get_command_output(shell, command)
        p.cleanup_command(shell, command)
        if skip:  # CreateProcess allows 32,767 characters: PowerShell runs it
            assert rc == 0 and out.startswith(b"len=3500")
        else:
            assert (out, err, rc) == (b"", expected, 1)
    p.close_shell(shell)


# ---------------------------------------------------------------------- CLIXML

PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for '
    "first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR>"
    "</MS></Obj>"
)
OBJS = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">{}</Objs>'


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("plain error text\r\nsecond line\r\n", "plain error text\nsecond line\n"),
        ("#< CLIXML\r\n" + OBJS.format(PROGRESS), ""),
        ("#< CLIXML\r\n" + OBJS.format(PROGRESS + '<S S="Error">boom_x000D__x000A_</S>'), "boom"),
        (
            "#< CLIXML\r\n"
            + OBJS.format('<S S="Error">a_x000D__x000A_</S><S S="Error">b_x000D__x000A_</S>'),
            "a\nb",
        ),
        (
            "#< CLIXML\r\n" + OBJS.format('<S S="warning">careful_x000D__x000A_</S>'),
            "WARNING: careful",
        ),
        ("#< CLIXML\r\n" + OBJS.format('<S S="Error">x_x005F_y &lt;z&gt; &amp;</S>'), "x_y <z> &"),
        ("#< CLIXML\r\n" + OBJS.format('<S S="Error">_xD83D__xDE00_ ü</S>'), "😀 ü"),
        (
            "#< CLIXML\r\n"
            + OBJS.format(PROGRESS)
            + "#< CLIXML\r\n"
            + OBJS.format('<S S="Error">two docs</S>'),
            "two docs",
        ),
        ("#< CLIXML\r\n" + OBJS.format('<S S="Error">cut</S>')[:-7], "cut"),  # truncated
        ("#< CLIXML\r\n" + '<Objs Version="1.1.0.1"/>', ""),
    ],
)
def test_decode_clixml(raw: str, text: str) -> None:
    assert decode_clixml(raw) == text


def test_encode_clixml_round_trips() -> None:
    text = "line one\nline_two <x> & 😀"
    encoded = encode_clixml(text, progress=True)
    assert encoded.startswith("#< CLIXML\r\n<Objs") and 'S="progress"' in encoded
    assert decode_clixml(encoded) == text
