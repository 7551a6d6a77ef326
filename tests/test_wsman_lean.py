# ruff: noqa: F811  (the lab/echo fixtures are imported from fixtures_winrm)
"""hvprov's template-built WS-Man envelopes are the bytes pywinrm's xmltodict path produces.

The oracle is pywinrm itself: each operation runs once through `winrm.protocol.Protocol` and once
through `LeanProtocol` against the same canned responses; the messages sent must be equal
(MessageID aside), and the parsed results too.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from fixtures_winrm import PASSWORD, USER, add_host, echo, lab, spec_for  # noqa: F401  (lab/echo are fixtures)
from winrm.protocol import Protocol

from hvprov.transports.wsman_lean import LeanProtocol

MID = re.compile(r"uuid:[0-9a-f-]{36}</a:MessageID>")


def _reply(message: str, body: str) -> bytes:
    mid = re.search(r"<a:MessageID>(uuid:[^<]+)</a:MessageID>", message)
    assert mid
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
        f"<s:Header><a:RelatesTo>{mid.group(1)}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


BODIES = {
    "Create": '<x:ResourceCreated xmlns:x="t"><a:ReferenceParameters><w:SelectorSet>'
    '<w:Selector Name="ShellId">11111111-2222-3333-4444-555555555555</w:Selector></w:SelectorSet>'
    "</a:ReferenceParameters></x:ResourceCreated>",
    "Command": "<rsp:CommandResponse><rsp:CommandId>C-1&amp;2</rsp:CommandId></rsp:CommandResponse>",
    "Receive": "<rsp:ReceiveResponse>"
    f'<rsp:Stream Name="stdout" CommandId="C">{base64.b64encode(b"out 1").decode()}</rsp:Stream>'
    '<rsp:Stream Name="stderr" CommandId="C">' + base64.b64encode(b"err").decode() + "</rsp:Stream>"
    f'<rsp:Stream Name="stdout" CommandId="C">{base64.b64encode(b" and 2").decode()}</rsp:Stream>'
    '<rsp:Stream Name="stdout" CommandId="C" End="true"></rsp:Stream>'
    '<rsp:CommandState CommandId="C" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/'
    'CommandState/Done"><rsp:ExitCode>3</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>',
    "Running": "<rsp:ReceiveResponse>"
    '<rsp:CommandState CommandId="C" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/'
    'CommandState/Running"/></rsp:ReceiveResponse>',
    "Signal": "<rsp:SignalResponse/>",
    "Send": "<rsp:SendResponse/>",
    "Delete": "",
}


class _Wire:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.next = "Create"

    def close_session(self) -> None:
        pass


def _proto(cls: type[Protocol], wire: _Wire) -> Protocol:
    class Recorded(cls):  # type: ignore[misc,valid-type]
        def send_message(self, message: Any) -> bytes:
            text = message.decode() if isinstance(message, bytes) else message
            wire.sent.append(text)
            return _reply(text, BODIES[wire.next])

    p = Recorded("http://h:5985/wsman", transport="ntlm", username="u", password="p", operation_timeout_sec=17,
                 read_timeout_sec=30)
    p.transport = wire  # type: ignore[assignment]
    return p


OPS: list[tuple[str, str, Any]] = [
    ("Create", "open_shell", lambda p: p.open_shell(codepage=65001)),
    ("Create", "open_shell 437", lambda p: p.open_shell()),
    ("Command", "console stdin, cmd.exe", lambda p: p.run_command("S", 'powershell.exe -e "a<b>&c\'"')),
    ("Command", "stdin piped, no cmd.exe", lambda p: p.run_command("S", "x", console_mode_stdin=False,
                                                                  skip_cmd_shell=True)),
    ("Command", "both true", lambda p: p.run_command("S", "x", console_mode_stdin=True, skip_cmd_shell=True)),
    ("Command", "both false", lambda p: p.run_command("S", "x", console_mode_stdin=False, skip_cmd_shell=False)),
    ("Command", "flags as ints", lambda p: p.run_command("S", "x", console_mode_stdin=1, skip_cmd_shell=0)),
    ("Command", "flags as text", lambda p: p.run_command("S", "x", console_mode_stdin="a<&>'\"", skip_cmd_shell="")),
    ("Command", "flags as text 2", lambda p: p.run_command("S", "x", console_mode_stdin="", skip_cmd_shell="b<&>")),
    ("Create", "open_shell 1252", lambda p: p.open_shell(codepage=1252)),
    ("Create", "open_shell text codepage", lambda p: p.open_shell(codepage="<&>\"'")),
    ("Send", "stdin chunk", lambda p: p.send_command_input("S", "C", b"\x00\xffabc" * 50, end=False)),
    ("Send", "last chunk", lambda p: p.send_command_input("S", "C", "text", end=True)),
    ("Receive", "done", lambda p: p.get_command_output_raw("S", 'C"<&')),
    ("Running", "running", lambda p: p.get_command_output_raw("S", "C")),
    ("Signal", "terminate", lambda p: p.cleanup_command("S", "C")),
    ("Delete", "delete", lambda p: p.close_shell("S", close_session=True)),
]


@pytest.mark.parametrize(("reply", "label", "op"), OPS, ids=[o[1] for o in OPS])
def test_envelope_and_result_match_pywinrm(reply: str, label: str, op: Any) -> None:
    ref, lean = _Wire(), _Wire()
    ref.next = lean.next = reply
    expected = op(_proto(Protocol, ref))
    got = op(_proto(LeanProtocol, lean))
    assert got == expected
    assert len(ref.sent) == len(lean.sent) == 1
    assert MID.sub("X", lean.sent[0]) == MID.sub("X", ref.sent[0])


def test_unusual_options_fall_back_to_pywinrm() -> None:
    ref, lean = _Wire(), _Wire()
    want = _proto(Protocol, ref).open_shell(env_vars={"A": "1"}, working_directory="C:\\x", codepage=65001)
    got = _proto(LeanProtocol, lean).open_shell(env_vars={"A": "1"}, working_directory="C:\\x", codepage=65001)
    assert got == want
    assert MID.sub("X", lean.sent[0]) == MID.sub("X", ref.sent[0])
    assert "rsp:Environment" in lean.sent[0]


def test_ntlm_hashes_computed_once_per_password_and_authenticate(lab: Any, echo: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hosts sharing a password in one run (one credential cache): the LM hash (pure-Python
    DES) is computed once, and pyspnego, given the hashes, authenticates against the lab exactly
    as with the password. A transport without the run's cache computes its own."""
    import dataclasses

    from hvprov.transports import winrm as w

    calls: list[str] = []
    real = w.lmowfv1
    monkeypatch.setattr(w, "lmowfv1", lambda pw: calls.append(pw) or real(pw))
    add_host(lab, "hv01")
    add_host(lab, "hv02")
    run_cache: dict[Any, Any] = {}
    for name in ("hv01", "hv02"):
        t = w.WinRMTransport(dataclasses.replace(spec_for(lab, name), credential_cache=run_cache))
        assert t.run("# template: test/x\nWrite-Output 'x'\n").rc == 0
        t.close()
        assert t.round_trips == 6  # Negotiate, Authenticate + Create, Command, Receive, Signal, Delete
    assert len(calls) == 1 and [k for k in run_cache if isinstance(k, str)] == [PASSWORD]
    # and one NTLM client context for the credential, copied for each host (ntlmseal.py)
    contexts = [k for k in run_cache if isinstance(k, tuple) and k[0] == "ntlm-negotiated-context"]
    assert contexts == [("ntlm-negotiated-context", USER, run_cache[PASSWORD])]
    # and one pywinrm protocol object for the two hosts' arguments, copied for each (protocol_for)
    assert len([k for k in run_cache if isinstance(k, tuple) and k[0] == "winrm-protocol"]) == 1
    # and the run's memo of large stdin encodings (transports/stdinmemo.py), nothing else
    from hvprov.transports.stdinmemo import StdinMemo

    assert [k for k in run_cache if not isinstance(k, (str, tuple))] == [StdinMemo]
    assert w.ntlm_hashes("0" * 32 + ":" + "a" * 32) == "0" * 32 + ":" + "a" * 32  # already hashes: as pyspnego would


def test_message_ids_are_uuid4_text_from_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """new_message_id writes what str(uuid.UUID(bytes=..., version=4)) (uuid.uuid4's own
    construction) writes for the same 16 random bytes: every bit pattern of the two bytes the
    version and variant touch, and random others."""
    import os
    import uuid

    from hvprov.transports import wsman_lean

    samples = [bytes([a] * 6 + [b] + [c] + [b ^ c] * 8) for a in (0, 0x5A, 0xFF) for b in range(256) for c in (0, 0x7F, 0xC0, 0xFF)]
    samples += [os.urandom(16) for _ in range(2000)]
    for raw in samples:
        monkeypatch.setattr(wsman_lean.os, "urandom", lambda n, raw=raw: raw[:n])
        assert wsman_lean.new_message_id() == str(uuid.UUID(bytes=raw, version=4))
    monkeypatch.undo()
    assert len({wsman_lean.new_message_id() for _ in range(1000)}) == 1000


@pytest.mark.parametrize("relates_to", ["uuid:{u}", "uuid:{U}", "{u}", "urn:uuid:{u}", "uuid:{{{u}}}", "uuid:{h}",
                                        "uuid:{other}", "uuid:", "uuid:{u}x", "garbage"])
def test_relates_to_is_checked_as_pywinrm_checks_it(relates_to: str) -> None:
    """_answers(relates_to, sent) is pywinrm's uuid.UUID(relates_to.replace("uuid:", "")) ==
    message_id: the same answer, or the same exception, for every spelling."""
    import uuid

    from hvprov.transports.wsman_lean import _answers, new_message_id

    sent = new_message_id()
    text = relates_to.format(u=sent, U=sent.upper(), h=sent.replace("-", ""), other=new_message_id())
    try:
        want: Any = uuid.UUID(text.replace("uuid:", "")) == uuid.UUID(sent)
    except ValueError as exc:
        want = type(exc)
    try:
        got: Any = _answers(text, sent)
    except ValueError as exc:
        got = type(exc)
    assert got == want


def test_the_search_under_the_root_is_findall_descendants() -> None:
    """_below(root) yields exactly root.findall(".//*") (pywinrm's search), the same elements in
    the same order, on every answer shape here: the canned replies, the lab's faults, nested and
    repeated names, a lone root."""
    import xml.etree.ElementTree as ET

    from hvprov.sim import wsfaults
    from hvprov.transports.wsman_lean import _below

    docs = [_reply("<a:MessageID>uuid:1</a:MessageID>", body) for body in BODIES.values()]
    faults = [wsfaults.shell_not_found("S-1"), wsfaults.command_not_found(), wsfaults.missing_shell_id(),
              wsfaults.invalid_parameter(), wsfaults.timed_out(), wsfaults.invalid_timeout("PT0S"),
              wsfaults.action_not_supported("x"), wsfaults.file_not_found(), wsfaults.shell_quota(5)]
    docs += [wsfaults.fault_envelope(f, "uuid:2", "hv01").encode() for f in faults]
    docs += [wsfaults.envelope("a", "uuid:3", "<rsp:Shell><rsp:ShellId>S</rsp:ShellId></rsp:Shell>").encode()]
    docs += [b"<r/>", b"<r><RelatesTo>x</RelatesTo><RelatesTo>y</RelatesTo></r>",
             b"<RelatesTo><a><RelatesTo Name='ShellId'>z</RelatesTo></a><CommandId/></RelatesTo>",
             b"<r>" + b"<n>" * 40 + b"<CommandId>deep</CommandId>" + b"</n>" * 40 + b"</r>"]
    assert len(docs) == 21
    for doc in docs:
        root = ET.fromstring(doc)
        assert [id(n) for n in _below(root)] == [id(n) for n in root.findall(".//*")], doc


def _protocol_args(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"transport": "ntlm", "operation_timeout_sec": 20, "username": "u", "password": "p",
                            "ca_trust_path": None, "cert_pem": None, "cert_key_pem": None,
                            "server_cert_validation": "validate", "read_timeout_sec": 30,
                            "message_encryption": "auto", "proxy": None}
    return args | over


PROTOCOL_ARGS = [
    _protocol_args(),
    _protocol_args(server_cert_validation="ignore", message_encryption="always", ca_trust_path="/ca.pem"),
    _protocol_args(operation_timeout_sec="7", read_timeout_sec="9", username="dom\\u", password="a:b"),
    _protocol_args(message_encryption="never", transport="basic"),
]
BAD_PROTOCOL_ARGS = [  # each refused by pywinrm's constructor
    _protocol_args(operation_timeout_sec=30), _protocol_args(operation_timeout_sec=0),
    _protocol_args(read_timeout_sec="x"), _protocol_args(server_cert_validation="maybe"),
    _protocol_args(username=""), _protocol_args(password=None), _protocol_args(message_encryption="sometimes"),
]


@pytest.mark.parametrize("args", PROTOCOL_ARGS)
def test_the_runs_protocol_copy_is_what_pywinrm_builds(args: dict[str, Any]) -> None:
    """protocol_for: for hosts with the same arguments, each gets a copy of the run's object whose
    attributes are those pywinrm's own constructor gives a fresh object for that host (its
    transport aside: the caller replaces it); copies are distinct objects; another argument
    gets another object."""
    from hvprov.transports.wsman_lean import protocol_for

    cache: dict[Any, Any] = {}
    for port in (5985, 40001, 40002):
        endpoint = f"http://10.0.0.{port % 7}:{port}/wsman"
        fresh = LeanProtocol(endpoint, **args)
        got = protocol_for(cache, LeanProtocol, endpoint, args)
        assert type(got) is LeanProtocol
        want = {k: v for k, v in vars(fresh).items() if k != "transport"}
        assert {k: v for k, v in vars(got).items() if k != "transport"} == want
        assert set(vars(got)) == set(vars(fresh))
        got.transport = _Wire()  # type: ignore[assignment]
        got.operation_timeout_sec = 1  # the copy's own attributes: the run's object keeps its own
    assert len(cache) == 1
    template = next(iter(cache.values()))[0]
    assert template.transport is None and template.operation_timeout_sec == int(args["operation_timeout_sec"])
    other = protocol_for(cache, LeanProtocol, "http://h:1/wsman", args | {"username": "other"})
    assert other.username == "other" and len(cache) == 2
    assert protocol_for(None, LeanProtocol, "http://h:1/wsman", args).transport.endpoint == "http://h:1/wsman"


@pytest.mark.parametrize("args", BAD_PROTOCOL_ARGS)
def test_the_runs_protocol_refuses_what_pywinrm_refuses_for_every_host(args: dict[str, Any]) -> None:
    """Arguments pywinrm's constructor refuses are refused for each host with the same exception
    and text; nothing is kept for them."""
    from hvprov.transports.wsman_lean import protocol_for

    with pytest.raises(Exception) as want:
        LeanProtocol("http://h:5985/wsman", **args)
    cache: dict[Any, Any] = {}
    for _ in range(2):
        with pytest.raises(type(want.value)) as got:
            protocol_for(cache, LeanProtocol, "http://h:5985/wsman", args)
        assert str(got.value) == str(want.value)
    assert cache == {}


def test_descendant_is_elementpaths_descendant_find() -> None:
    """winrm._descendant(root, tag) is root.find(".//" + tag): the first element below the root
    with that tag; the root itself never (a root with that tag, nested and repeated ones)."""
    import xml.etree.ElementTree as ET

    from hvprov.transports.winrm import _descendant

    docs = [_reply("<a:MessageID>uuid:1</a:MessageID>", body) for body in BODIES.values()]
    docs += [b"<T/>", b"<T><T>1</T><T>2</T></T>", b"<r><a><T>1</T></a><T>2</T></r>", b"<r><a/><b><c><T/></c></b></r>",
             b'<x:T xmlns:x="urn:n"><x:T>in</x:T></x:T>', b'<r xmlns:x="urn:n"><T/><x:T/></r>']
    for doc in docs:
        root = ET.fromstring(doc)
        for tag in ("T", "{urn:n}T", "RelatesTo", "{http://schemas.xmlsoap.org/ws/2004/08/addressing}RelatesTo",
                    "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}ShellRunTime"):
            assert _descendant(root, tag) is root.find(".//" + tag), (doc, tag)
