"""The lean NTLM HTTP transport (hvprov/transports/ntlmhttp.py) against pywinrm's message
encryption (the reference for the framing) and the lab's WinRM listeners (real HTTP)."""
# ruff: noqa: F811  (the lab/echo fixtures are imported from fixtures_winrm)

from __future__ import annotations

import ssl
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import spnego
from fixtures_winrm import PASSWORD, USER, add_host, connected, echo, lab, spec_for  # noqa: F401
from requests_ntlm.requests_ntlm import ShimSessionSecurity
from winrm.encryption import Encryption
from winrm.exceptions import WinRMError

from hvprov.errors import AuthenticationError
from hvprov.secrets import Secret
from hvprov.sim.wsauth import ntlm_user_file
from hvprov.sim.wsman import WSManLab
from hvprov.transports import httpread, ntlmhttp
from hvprov.transports import winrm as w
from hvprov.transports.ntlmseal import NtlmSealer

SOAP = '<?xml version="1.0" encoding="utf-8"?>\n<env:Envelope>ü ' + "x" * 3000 + "</env:Envelope>"


def _pair(tmp_path: Path) -> tuple[Any, Any]:
    """A completed NTLM client context (as ntlmhttp builds it) and pyspnego's acceptor."""
    users = tmp_path / "users"
    users.write_text(f":{USER}:{PASSWORD}\n")
    client = spnego.client(USER, PASSWORD, hostname="hv01", service="http", protocol="ntlm",
                           options=spnego.NegotiateOptions.use_ntlm)
    with ntlm_user_file(users):
        server = spnego.server(protocol="ntlm")
        challenge = server.step(client.step())
        server.step(client.step(challenge))
    assert client.complete and server.complete
    return client, server


def _pywinrm(context: Any) -> Encryption:
    """pywinrm's Encryption bound to a context the way requests-ntlm exposes it."""
    session = SimpleNamespace(auth=SimpleNamespace(session_security=ShimSessionSecurity(context)))
    return Encryption(session, "ntlm")  # type: ignore[arg-type]


def _pywinrm_seal(context: Any, message: bytes) -> bytes:
    enc = _pywinrm(context)
    return enc._encrypt_message(message, "hv01") + enc.MIME_BOUNDARY + b"--\r\n"


def _pywinrm_unseal(context: Any, body: bytes) -> bytes:
    return _pywinrm(context)._decrypt_response(SimpleNamespace(content=body), "hv01")  # type: ignore[arg-type]


def test_sealed_messages_are_read_by_pywinrm_and_the_other_way(tmp_path: Path) -> None:
    client, server = _pair(tmp_path)
    msg = SOAP.encode()
    assert _pywinrm_unseal(server, ntlmhttp.seal(client, msg)) == msg  # ours, read by pywinrm
    assert ntlmhttp.unseal(client, _pywinrm_seal(server, msg + b"2")) == msg + b"2"  # pywinrm's, read by us
    assert ntlmhttp.unseal(server, _pywinrm_seal(client, msg + b"3")) == msg + b"3"


def test_framing_is_pywinrm_byte_for_byte_around_the_sealed_bytes(tmp_path: Path) -> None:
    """The same message sealed by both (consecutive sequence numbers, so the 16-byte signature
    and the RC4 output differ): every other byte is equal, at the same offsets."""
    client, _ = _pair(tmp_path)
    msg = SOAP.encode()
    ours, theirs = ntlmhttp.seal(client, msg), _pywinrm_seal(client, msg)
    assert len(ours) == len(theirs)
    start = ours.index(b"application/octet-stream\r\n") + len(b"application/octet-stream\r\n")
    assert struct.unpack("<i", ours[start : start + 4])[0] == 16
    end = start + 4 + 16 + len(msg)
    assert ours[:start + 4] == theirs[:start + 4] and ours[end:] == theirs[end:]
    assert ours[start + 4 : end] != theirs[start + 4 : end]  # sealed: never the plain message
    assert msg not in ours


def test_tampered_length_is_refused(tmp_path: Path) -> None:
    client, server = _pair(tmp_path)
    sealed = _pywinrm_seal(server, b"<x/>").replace(b"Length=4", b"Length=5")
    with pytest.raises(WinRMError, match="does not match"):
        ntlmhttp.unseal(client, sealed)


def test_first_request_carries_the_negotiate_token(lab: WSManLab) -> None:
    add_host(lab)
    with connected(spec_for(lab)) as t:
        assert t.run("Write-Output 1").rc == 0
        assert isinstance(t._protocol.transport, ntlmhttp.NtlmHttpTransport)  # type: ignore[union-attr]
        assert isinstance(t._protocol.transport._sealer, NtlmSealer)  # type: ignore[union-attr]
    recs = lab.requests("hv01")
    assert [(r.auth, r.status) for r in recs[:2]] == [("ntlm-negotiate", 401), ("ntlm-authenticate", 200)]
    assert [r.status for r in recs].count(401) == 1  # no anonymous request answered 401
    assert recs[1].action == "Create" and recs[1].encrypted and not recs[1].soap_on_wire
    assert all(r.auth == "connection" for r in recs[2:])  # one connection for the whole session


def test_https_binds_ntlm_to_the_tls_channel(lab: WSManLab) -> None:
    add_host(lab, scheme="https", cbt_hardening="Strict")  # refuses an Authenticate without CBT
    with connected(spec_for(lab, ca_trust_path=str(lab.ca_cert))) as t:
        assert t.run("Write-Output 1").rc == 0
        assert t.round_trips == 2 + 3
    recs = lab.requests("hv01")
    assert recs[1].cbt is True and recs[1].action == "Create" and not recs[1].encrypted


def test_hosts_sharing_a_run_cache_bind_each_its_own_channel(lab: WSManLab) -> None:
    """The run's NTLM context is copied per host (ntlmseal.client_context): each copy carries
    its own host's certificate hash; the lab refuses an Authenticate without the right CBT."""
    import dataclasses

    run_cache: dict[Any, Any] = {}
    for name in ("hv01", "hv02"):
        add_host(lab, name, scheme="https", cbt_hardening="Strict")
        spec = dataclasses.replace(spec_for(lab, name, ca_trust_path=str(lab.ca_cert)), credential_cache=run_cache)
        with connected(spec) as t:
            assert t.run("Write-Output 1").rc == 0
        assert lab.requests(name)[1].cbt is True
    assert sorted(k[0] for k in run_cache if isinstance(k, tuple)) == [
        "ntlm-negotiated-context", "tls-context", "winrm-protocol", "winrm-request-path"]


def test_a_run_builds_one_tls_context_per_trust_setting(lab: WSManLab, tmp_path: Path) -> None:
    """Hosts of one run with the same trust settings share the TLS context (the CA file read
    once); other settings get their own, and each connection still verifies its host."""
    import dataclasses

    from hvprov.errors import TrustError
    from hvprov.sim import tls

    run_cache: dict[Any, Any] = {}
    other = tls.make_tls_files(tmp_path / "other", ca_name="Somebody else's CA")
    contexts = []
    for name, ca, ok in [("hv01", lab.ca_cert, True), ("hv02", other.ca_cert, False), ("hv03", lab.ca_cert, True),
                         ("hv04", other.ca_cert, False)]:
        add_host(lab, name, scheme="https")
        spec = dataclasses.replace(spec_for(lab, name, ca_trust_path=str(ca)), credential_cache=run_cache)
        t = w.WinRMTransport(spec)
        if ok:
            assert t.run("Write-Output 1").rc == 0
        else:
            with pytest.raises(TrustError):
                t.open()
        t.close()
        contexts.append(w._run_tls_context(spec))
    assert contexts[0] is contexts[2] and contexts[1] is contexts[3] and contexts[0] is not contexts[1]
    ignore = dataclasses.replace(spec_for(lab, "hv02", ca_trust_path=str(other.ca_cert), server_cert_validation="ignore"),
                                 credential_cache=run_cache)
    with connected(ignore) as t:  # hv02's certificate is not from `other`: only "ignore" lets it through
        assert t.run("Write-Output 1").rc == 0
    assert w._run_tls_context(ignore).verify_mode == ssl.CERT_NONE and contexts[0].verify_mode == ssl.CERT_REQUIRED


def test_wrong_password_over_https_is_the_same_error(lab: WSManLab) -> None:
    add_host(lab, scheme="https")
    wrong = "Wr0ng-Passw0rd-Value"
    t = w.WinRMTransport(spec_for(lab, ca_trust_path=str(lab.ca_cert), password=Secret(wrong)))
    with pytest.raises(AuthenticationError) as info:
        t.open()
    assert str(info.value) == "authentication failed for hv01 (ntlm as Administrator)"
    assert wrong not in repr(info.value.__dict__) and t.round_trips == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_keep_alive_closed_by_the_host_between_requests(lab: WSManLab, scheme: str) -> None:
    """The host closes the idle connection (HTTP.sys idle timeout): the next message goes on a new
    connection with a new handshake; the shell is kept (it is not the connection's)."""
    add_host(lab, scheme=scheme)
    spec = spec_for(lab, ca_trust_path=str(lab.ca_cert)) if scheme == "https" else spec_for(lab)
    with connected(spec) as t:
        assert t.run("Write-Output 1").rc == 0
        for listener in lab._host("hv01").listeners.values():
            listener.cut_connections()
        before = t.round_trips
        assert t.run("Write-Output 2").rc == 0
        assert t.round_trips - before == 1 + 3  # Negotiate, then Authenticate + Command, Receive, Signal
        assert t.shells_opened == 1
    assert [r.status for r in lab.requests("hv01")].count(401) == 2


@pytest.mark.parametrize(("transport", "scheme"), [("basic", "https"), ("credssp", "http"), ("kerberos", "http")])
def test_other_auths_stay_on_pywinrm_transport(lab: WSManLab, transport: str, scheme: str) -> None:
    add_host(lab, scheme=scheme, basic=True)
    t = w.WinRMTransport(spec_for(lab, winrm_transport=transport, ca_trust_path=str(lab.ca_cert)))
    proto = t._build_protocol()
    assert isinstance(proto.transport, w._CountingTransport)
    assert not isinstance(proto.transport, ntlmhttp.NtlmHttpTransport)
    if transport == "basic":
        with connected(spec_for(lab, winrm_transport="basic", ca_trust_path=str(lab.ca_cert))) as c:
            assert c.run("Write-Output 1").rc == 0 and c.round_trips == 1 + 3


RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 401 \r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: Basic realm=\"WSMAN\"\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nfaul\r\n1\r\nt\r\n0\r\nTrailer: z\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold",
    b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
]


def _reader(raw: bytes, buffer: int) -> Any:
    """A socket file's reader (buffer 0: an unbuffered stream, which has no peek: the head is
    read line by line; a small buffer: the head does not fit, line by line too)."""
    import io

    return io.BytesIO(raw) if buffer == 0 else io.BufferedReader(io.BytesIO(raw), buffer)  # type: ignore[arg-type]


READERS = [0, 8, 64, 8192]


@pytest.mark.parametrize("buffer", READERS)
@pytest.mark.parametrize("raw", RESPONSES)
def test_read_response_agrees_with_http_client(raw: bytes, buffer: int) -> None:
    """http.client (the stdlib's HTTP/1.1 client) is the oracle for the lean response reader."""
    import http.client
    import io

    class _Sock:
        def makefile(self, *_: Any) -> io.BytesIO:
            return io.BytesIO(raw)

    ref = http.client.HTTPResponse(_Sock(), method="POST")  # type: ignore[arg-type]
    ref.begin()
    want_body = ref.read()
    status, headers, body, close = ntlmhttp.read_response(_reader(raw, buffer))
    assert (status, body, close) == (ref.status, want_body, bool(ref.will_close))
    assert {k: v for k, v in headers.items()} == {
        k.lower(): ref.headers.get_all(k) for k in {k.lower() for k in ref.headers.keys()}
    }


@pytest.mark.parametrize("buffer", READERS)
@pytest.mark.parametrize("raw", [b"", b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
                                 b"\r\n\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 101 + b"\r\n"])
def test_read_response_refuses_what_http_client_refuses(raw: bytes, buffer: int) -> None:
    import http.client

    with pytest.raises(http.client.HTTPException):
        ntlmhttp.read_response(_reader(raw, buffer))


HOSTILE = {
    "huge Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
    "negative Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "endless interim answers": b"HTTP/1.1 100 Continue\r\n\r\n" * 40 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "negative chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
    "huge chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n",
    "endless trailers": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T: x\r\n" * 200 + b"\r\n",
    "body to the end of the connection past the bound": b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 4096,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_read_response_bounds_what_a_hostile_endpoint_sends(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sizes and counts are bounded: an endpoint cannot make the controller buffer without limit
    or loop forever on a stream of interim answers or trailers."""
    import http.client
    import io

    monkeypatch.setattr(httpread, "MAX_BODY", 1024)
    for buffer in READERS:
        with pytest.raises(http.client.HTTPException):
            ntlmhttp.read_response(_reader(HOSTILE[name], buffer))


def test_a_host_that_stops_answering_is_a_timeout_not_a_hang() -> None:
    """A listener that accepts and reads but never answers: the read timeout ends the wait."""
    import socket
    import threading

    from hvprov.connection import ConnectionSpec
    from hvprov.errors import CommandTimeoutError

    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def swallow() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(0.2)
            while not stop.is_set():
                try:
                    if not conn.recv(65536):
                        return
                except TimeoutError:
                    continue

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    spec = ConnectionSpec(name="mute", kind="winrm", address="127.0.0.1", port=srv.getsockname()[1], user=USER,
                          password=Secret(PASSWORD), retries=0, winrm_scheme="http", operation_timeout=1, read_timeout=2)
    t = w.WinRMTransport(spec)
    try:
        with pytest.raises(CommandTimeoutError, match="mute stopped answering"):
            t.open()
        assert t.round_trips == 1  # the Negotiate went out; no answer came
    finally:
        stop.set()
        thread.join(5)
        srv.close()
