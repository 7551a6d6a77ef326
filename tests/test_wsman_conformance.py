"""The lab's WS-Management endpoint checked with a second, independent client (pypsrp) and
against the shapes of exchanges recorded from real Windows hosts (tests/wsman_recorded.py)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import OptionSet, SelectorSet, WSMan

from hvprov.sim.wsman import WSManLab, winrm_config
from hvprov.transports import bootstrap
from hvprov.transports.base import ExecResult
from hvprov.transports.winrm import stdin_chunk_size
from tests.fixtures_winrm import PASSWORD, USER, EchoHandler, add_host, connected, spec_for
from tests.wsman_recorded import (
    CONFIG_KEYS,
    DOCUMENTED,
    FAULTS,
    NS,
    SHELL_CHILDREN_3,
    fault_shape,
    local,
)

CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


@pytest.fixture
def lab() -> Iterator[WSManLab]:
    with WSManLab(EchoHandler()) as the_lab:
        yield the_lab
    assert not the_lab.handler_errors


def _wsman(lab: WSManLab, name: str = "hv01", scheme: str = "http", **kw: Any) -> WSMan:
    kw.setdefault("auth", "negotiate")
    kw.setdefault("operation_timeout", 5)
    return WSMan(
        "127.0.0.1", port=lab.port_for(name, scheme), ssl=scheme == "https", username=USER,
        password=PASSWORD, cert_validation=str(lab.ca_cert) if scheme == "https" else False, **kw,
    )


def raw(wsman: WSMan, action: str, uri: str, body: ET.Element | None = None,
        selectors: dict[str, str] | None = None, timeout: int | None = None,
        options: dict[str, str] | None = None) -> str:
    """pypsrp builds and sends the request; returns the response text, fault or not."""
    sel = None
    if selectors:
        sel = SelectorSet()
        for k, v in selectors.items():
            sel.add_option(k, v)
    opts = None
    if options:
        opts = OptionSet()
        for k, v in options.items():
            opts.add_option(k, v)
    _, header = wsman._create_header(action, uri, opts, sel, timeout)
    env = ET.Element("{{{}}}Envelope".format(NS["s"]))
    env.append(header)
    b = ET.SubElement(env, "{{{}}}Body".format(NS["s"]))
    if body is not None:
        b.append(body)
    try:
        return wsman.transport.send(ET.tostring(env, encoding="utf-8")).decode()
    except WinRMTransportError as err:
        return str(err.response_text)


def _receive_body(command_id: str | None) -> ET.Element:
    r = ET.Element(f"{{{SHELL}}}Receive")
    ds = ET.SubElement(r, f"{{{SHELL}}}DesiredStream")
    ds.text = "stdout stderr"
    if command_id is not None:
        ds.set("CommandId", command_id)
    return r


# ---------------------------------------------------------------------- pypsrp WinRS


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_pypsrp_winrs_with_negotiate(lab: WSManLab, scheme: str) -> None:
    add_host(lab)
    lab.add_listener("hv01", scheme="https")
    with _wsman(lab, scheme=scheme) as wsman, WinRS(wsman) as shell:
        p = Process(shell, "cmd.exe", ["/c", "echo", "hi", "&", "hostname", "&", "exit", "3"])
        p.invoke()
        p.signal(SignalCode.TERMINATE)
        assert (p.rc, p.stdout, p.stderr) == (3, b"hi\r\nHV01\r\n", b"")
        unknown = Process(shell, "nosuchtool", ["/x"])
        unknown.invoke()
        assert unknown.rc == 9009
        assert unknown.stderr == (b"'nosuchtool' is not recognized as an internal or external "
                                  b"command,\r\noperable program or batch file.\r\n")
    recs = [r for r in lab.requests("hv01") if r.scheme == scheme]
    assert [r.action for r in recs if r.action][:3] == ["Create", "Command", "Receive"]
    assert {r.auth for r in recs} >= {"ntlm-negotiate", "ntlm-authenticate"}
    if scheme == "http":  # pypsrp encrypts over http: no SOAP readable on the wire
        assert all(r.encrypted and not r.soap_on_wire for r in recs if r.action)
    else:  # pypsrp binds NTLM to the TLS channel; Relaxed verifies it
        assert any(r.cbt for r in recs)


def test_pypsrp_streams_stdin_in_several_sends(lab: WSManLab) -> None:
    echo = EchoHandler()
    add_host(lab, handler=echo)
    script = "Write-Output 'streamed'\n" * 400
    payload = bootstrap.stdin_payload(script)
    words = bootstrap.bootstrap_command_line().split(" ")
    with _wsman(lab) as wsman, WinRS(wsman) as shell:
        p = Process(shell, words[0], words[1:])
        p.begin_invoke()
        for i in range(0, len(payload), 1000):
            p.send(payload[i : i + 1000], end=i + 1000 >= len(payload))
        p.end_invoke()
        p.signal(SignalCode.TERMINATE)
    assert p.rc == 0 and echo.scripts == [("hv01", script)]
    assert sum(r.action == "Send" for r in lab.requests("hv01")) == -(-len(payload) // 1000)


def test_output_is_streamed_over_several_receives(lab: WSManLab) -> None:
    echo = EchoHandler(delay_s=1.5, stdout="done\n")
    add_host(lab, handler=echo)
    line = bootstrap.command_line("Start-Sleep 1")
    with _wsman(lab) as wsman, WinRS(wsman) as shell:
        p = Process(shell, "cmd.exe", ["/c", "echo", "first", "&", line, "&", "echo", "last"])
        p.invoke()
        p.signal(SignalCode.TERMINATE)
    assert p.stdout == b"first\r\ndone\r\nlast\r\n" and p.rc == 0
    receives = [r for r in lab.requests("hv01") if r.action == "Receive"]
    assert len(receives) >= 2  # "first" came back while the command still ran


def test_ctrl_c_then_delete_then_the_shell_is_gone(lab: WSManLab) -> None:
    add_host(lab, handler=EchoHandler(delay_s=5))
    with _wsman(lab) as wsman:
        shell = WinRS(wsman)
        shell.open()
        p = Process(shell, "cmd.exe", ["/c", bootstrap.command_line("Start-Sleep 5")])
        p.begin_invoke()
        p.signal(SignalCode.CTRL_C)
        p.poll_invoke()
        assert p.rc == -1073741510
        sid = shell.id
        shell.close()
        text = raw(wsman, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive", CMD,
                   _receive_body(p.id), {"ShellId": sid})
    shape = fault_shape(text)
    assert (shape["subcode"], shape["wsman_code"]) == ("w:InvalidSelectors", 2150858843)
    assert f"ShellId {sid} failed because the shell was not found" in shape["message"]


# ---------------------------------------------------------------------- Create per version


def test_create_options_are_honoured_and_echoed_on_winrm_3(lab: WSManLab) -> None:
    add_host(lab, config=winrm_config("3.0"))
    with _wsman(lab) as wsman:
        shell = WinRS(wsman, environment={"HVPROV_X": "42"}, idle_time_out=60,
                      working_directory="C:\\Windows", id="11111111-2222-3333-4444-555555555555")
        body = shell.open()
        assert body is not None
        kids = [local(c.tag) for c in body.find("rsp:Shell", NS) or []]
        assert kids == SHELL_CHILDREN_3
        assert shell.id == "11111111-2222-3333-4444-555555555555"
        assert (shell.idle_time_out, shell.shell_run_time) == ("PT60.000S", "P0DT0H0M0S")
        p = Process(shell, "cmd.exe", ["/c", "echo", "%HVPROV_X%", "&", "cd"])
        p.invoke()
        assert p.stdout == b"42\r\nC:\\Windows\r\n"  # Environment and WorkingDirectory honoured
        shell.close()


def test_create_response_of_winrm_2_has_no_shell_element(lab: WSManLab) -> None:
    add_host(lab)  # WinRM 2.0 defaults
    with _wsman(lab) as wsman:
        shell = WinRS(wsman)
        body = shell.open()
        assert body is not None and body.find("rsp:Shell", NS) is None
        assert body.find("x:ResourceCreated/a:ReferenceParameters/w:SelectorSet", NS) is not None
        assert shell.id is None  # pypsrp reads the id from the selector set only
        shell.close()


def test_get_winrm_config_reports_the_limits(lab: WSManLab) -> None:
    add_host(lab, name="r2")
    add_host(lab, name="s2019", config=winrm_config("3.0", users={USER: PASSWORD}))
    seen = {}
    for name in ("r2", "s2019"):
        with _wsman(lab, name) as wsman:
            body = wsman.get("http://schemas.microsoft.com/wbem/wsman/1/config", None)
        cfg = body.find("cfg:Config", NS)
        assert cfg is not None
        seen[name] = [cfg.findtext("/".join(f"cfg:{p}" for p in k.split("/")), None, NS) for k in CONFIG_KEYS]
    assert seen["r2"] == ["150", "60000", "Relaxed", "180000", "150", "5"]
    assert seen["s2019"] == ["500", "60000", "Relaxed", "7200000", "1024", "30"]


# ---------------------------------------------------------------------- faults


def _fault_request(name: str, lab: WSManLab, wsman: WSMan, shell: WinRS) -> str:
    recv = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
    sel = {"ShellId": str(shell.id)}
    if name == "unknown CommandId":
        return raw(wsman, recv, CMD, _receive_body("AAAAAAAA-0000-0000-0000-000000000000"), sel)
    if name == "Receive without CommandId":
        return raw(wsman, recv, CMD, _receive_body(None), sel)
    if name == "invalid OperationTimeout":
        return raw(wsman, recv, CMD, _receive_body(None), sel, timeout=-1)
    if name == "Receive times out":
        p = Process(shell, "cmd.exe", ["/c", bootstrap.command_line("Start-Sleep 3")])
        p.begin_invoke()
        return raw(wsman, recv, CMD, _receive_body(p.id), sel, timeout=1)
    if name == "bare executable without cmd.exe (2008 R2)":
        try:
            shell.command("powershell.exe", ["Write-Host", "hi"], no_shell=True)
        except WSManFaultError:
            pass
        cl = ET.Element(f"{{{SHELL}}}CommandLine")
        ET.SubElement(cl, f"{{{SHELL}}}Command").text = "powershell.exe"
        return raw(wsman, SHELL + "/Command", CMD, cl, sel, options={"WINRS_SKIP_CMD_SHELL": "True"})
    if name == "unknown action":
        return raw(wsman, SHELL + "/Frobnicate", CMD, None, sel)
    if name == "unknown ShellId":
        return raw(wsman, recv, CMD, _receive_body("X"), {"ShellId": "00000000-0000-0000-0000-000000000000"})
    if name == "missing ShellId selector":
        return raw(wsman, recv, CMD, _receive_body("X"), None)
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(FAULTS) + sorted(DOCUMENTED))
def test_faults_have_windows_codes_and_shapes(lab: WSManLab, name: str) -> None:
    add_host(lab, handler=EchoHandler(delay_s=3))
    with _wsman(lab) as wsman:
        shell = WinRS(wsman)
        shell.open()
        shell.id = shell._selector_set.values[0][1] if shell.id is None else shell.id  # WinRM 2.0
        got = fault_shape(_fault_request(name, lab, wsman, shell))
    if name in FAULTS:
        assert got == FAULTS[name][1]  # element by element, texts included
    else:
        assert {k: got[k] for k in DOCUMENTED[name]} == DOCUMENTED[name]


def test_fault_table(lab: WSManLab) -> None:
    """request -> Windows' code -> lab's code, every row equal (printed for the report)."""
    add_host(lab, handler=EchoHandler(delay_s=3))
    rows = []
    with _wsman(lab) as wsman:
        shell = WinRS(wsman)
        shell.open()
        shell.id = shell._selector_set.values[0][1]
        for name in sorted(FAULTS) + sorted(DOCUMENTED):
            want = FAULTS[name][1]["wsman_code"] if name in FAULTS else DOCUMENTED[name]["wsman_code"]
            rows.append((name, want, fault_shape(_fault_request(name, lab, wsman, shell))["wsman_code"]))
    for row in rows:
        print("FAULT-ROW | {} | {} | {}".format(*row))
    assert all(want == got for _, want, got in rows) and len(rows) == 8


# ---------------------------------------------------------------------- authentication


def test_unauthenticated_identify_has_no_os_version(lab: WSManLab) -> None:
    port = add_host(lab)
    body = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
        "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
    )
    r = requests.post(f"http://127.0.0.1:{port}/wsman", data=body, timeout=10,
                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    assert r.status_code == 200
    env = ET.fromstring(r.content)
    ns = {"wsmid": "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"}
    assert env.findtext(".//wsmid:ProductVendor", None, ns) == "Microsoft Corporation"
    assert env.findtext(".//wsmid:ProductVersion", None, ns) == "OS: 0.0.0 SP: 0.0 Stack: 2.0"
    other = requests.post(f"http://127.0.0.1:{port}/wsman", data=b"<x/>", timeout=10)
    assert other.status_code == 401 and "Negotiate" in other.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("level", "send_cbt", "ok"), [
    ("Relaxed", False, True), ("Relaxed", True, True), ("Strict", False, False), ("Strict", True, True),
])
def test_channel_binding_hardening(lab: WSManLab, level: str, send_cbt: bool, ok: bool) -> None:
    add_host(lab, cbt_hardening=level)
    lab.add_listener("hv01", scheme="https")
    wsman = _wsman(lab, scheme="https", negotiate_send_cbt=send_cbt)
    if ok:
        with wsman, WinRS(wsman) as shell:
            assert shell.opened
    else:
        with pytest.raises(AuthenticationError), wsman, WinRS(wsman):
            pass


def test_raw_ntlm_and_basic_only_where_enabled(lab: WSManLab) -> None:
    add_host(lab)
    lab.add_listener("hv01", scheme="https")
    with _wsman(lab, auth="ntlm") as wsman, WinRS(wsman) as shell:
        assert shell.opened
    with pytest.raises((AuthenticationError, WinRMTransportError)), _wsman(lab, scheme="https", auth="basic") as w:
        WinRS(w).open()
    lab.config("hv01").basic = True
    with _wsman(lab, scheme="https", auth="basic") as wsman, WinRS(wsman) as shell:
        assert shell.opened


# ---------------------------------------------------------------------- hvprov against the faults


def test_hvprov_reopens_after_a_winrm_service_restart(lab: WSManLab) -> None:
    echo = EchoHandler()
    add_host(lab, handler=echo)
    with connected(spec_for(lab)) as t:
        assert t.run("Write-Output 1").rc == 0
        assert lab.restart_service("hv01") == 1
        assert t.run("Write-Output 2").rc == 0
        assert t.shells_opened == 2
    faults = [r for r in lab.requests("hv01") if r.status == 500]
    assert [r.action for r in faults] == ["Command"]
    assert [s for _, s in echo.scripts] == ["Write-Output 1", "Write-Output 2"]


def test_hvprov_sizes_its_chunks_by_the_hosts_winrm_version(lab: WSManLab) -> None:
    echo = EchoHandler()
    add_host(lab, name="r2", handler=echo)
    add_host(lab, name="s2019", handler=echo, config=winrm_config("3.0", users={USER: PASSWORD}))
    big = "x" * (600 * 1024)
    sends = {}
    for name in ("r2", "s2019"):
        with connected(spec_for(lab, name, max_envelope_kb=0)) as t:  # auto: from the CreateResponse
            assert t.run(big).rc == 0
            assert t.max_envelope_kb == {"r2": 150, "s2019": 500}[name]
        sends[name] = sum(r.action == "Send" for r in lab.requests(name))
        assert max(r.soap_bytes for r in lab.requests(name)) <= t.max_envelope_kb * 1024
    n = len(bootstrap.stdin_payload(big))
    assert sends == {"r2": -(-n // stdin_chunk_size(150)), "s2019": -(-n // stdin_chunk_size(500))}
    assert sends == {"r2": 8, "s2019": 3}  # 800 KiB of base64: 8 x 110 KiB vs 3 x 372 KiB


def test_tls_1_0_only_host_gets_a_clear_error(lab: WSManLab) -> None:
    from hvprov.errors import ProtocolError

    add_host(lab, tls_versions=("1.0",))
    lab.add_listener("hv01", scheme="https")
    spec = spec_for(lab, scheme="https", ca_trust_path=str(lab.ca_cert))
    with pytest.raises(ProtocolError, match="only TLS 1.0/1.1.*enable TLS 1.2 on the host.*hvprov_winrm_allow_tls10"), connected(spec):
        pass
    with connected(replace(spec, winrm_allow_tls10=True)) as t:  # the explicit opt-in
        assert t.run("Write-Output 1").rc == 0


def test_base64_stdin_is_not_hvprov_decoded(lab: WSManLab) -> None:
    """The lab reads the stdin script by what the bootstrap does, not by hvprov's marker."""
    seen: list[str] = []

    def handler(host: str, script: str) -> ExecResult:
        seen.append(script)
        return ExecResult("ok\n", "", 0)

    add_host(lab, handler=handler)
    reader = ("$b = [Console]::In.ReadToEnd(); $t = [Text.Encoding]::UTF8.GetString("
              "[Convert]::FromBase64String($b)); & ([ScriptBlock]::Create($t))")
    with _wsman(lab) as wsman, WinRS(wsman) as shell:
        p = Process(shell, "powershell.exe", ["-EncodedCommand", bootstrap.encode_command(reader)])
        p.begin_invoke()
        p.send(base64.b64encode(b"Get-Date"), end=True)
        p.end_invoke()
    assert seen == ["Get-Date"] and p.stdout == b"ok\r\n"


def test_tls_1_0_opt_in_still_checks_the_certificate(lab: WSManLab, tmp_path: Any) -> None:
    from hvprov.errors import TrustError
    from hvprov.sim import tls

    add_host(lab, tls_versions=("1.0",))
    lab.add_listener("hv01", scheme="https")
    other = tls.make_tls_files(tmp_path / "other")  # a CA that did not sign the listener
    spec = spec_for(lab, scheme="https", ca_trust_path=str(other.ca_cert), winrm_allow_tls10=True)
    with pytest.raises(TrustError, match="certificate not trusted"), connected(spec):
        pass
    with connected(replace(spec, server_cert_validation="ignore")) as t:
        assert t.run("Write-Output 1").rc == 0


def test_hvprov_collects_output_over_several_receives(lab: WSManLab) -> None:
    """PowerShell prints as it goes: Receives come back Running with part of the output."""
    add_host(lab, handler=EchoHandler(stdout="one\ntwo\nthree\n"), write_delay_s=0.3)
    with connected(spec_for(lab)) as t:
        result = t.run("Write-Output one; Start-Sleep 1; Write-Output two")
    assert (result.stdout, result.rc) == ("one\ntwo\nthree\n", 0)
    assert sum(r.action == "Receive" for r in lab.requests("hv01")) >= 2
