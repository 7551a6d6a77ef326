"""The read timeout on a keep-alive connection: set on its socket once (not before every
request), and still the one in force for every request, also when it changes."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import pytest

from hvprov.transports import ntlmhttp

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _transport(sock: socket.socket, read_timeout: float) -> ntlmhttp.NtlmHttpTransport:
    t = ntlmhttp.NtlmHttpTransport(host="h", port=5985, path="/wsman", username="u", password="p", encrypt=False,
                                   connect_timeout=30.0, read_timeout_sec=read_timeout)
    sock.settimeout(30.0)  # as http.client leaves it: the connect timeout
    t._conn, t._rfile = SimpleNamespace(sock=sock, close=sock.close), sock.makefile("rb")  # type: ignore[assignment]
    return t


class _Counting:
    """A socket whose settimeout calls are counted (everything else is the socket's)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.calls = sock, 0

    def settimeout(self, value: float) -> None:
        self.calls += 1
        self.sock.settimeout(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def test_the_read_timeout_is_set_once_per_connection_and_applies_to_every_request() -> None:
    ours, host = socket.socketpair()
    with ours, host:
        t = _transport(ours, 7.0)
        counting = _Counting(ours)
        t._conn.sock = counting  # type: ignore[union-attr]
        for _ in range(3):
            host.sendall(OK)
            assert t._post(b"x", None)[2] == b"ok"
            assert ours.gettimeout() == 7.0
        assert counting.calls == 1
        t.read_timeout_sec = 0.2  # changed: set again, and it holds
        host.sendall(OK)
        assert t._post(b"x", None)[2] == b"ok"
        assert ours.gettimeout() == 0.2 and counting.calls == 2
        with pytest.raises(ntlmhttp.ReadTimeout):  # the host does not answer the next one
            t._post(b"x", None)


def test_a_new_connection_gets_the_read_timeout_again() -> None:
    """After a reconnect (http.client leaves the connect timeout on the new socket) the first
    request sets the read timeout again."""
    import threading

    srv = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        for _ in range(2):
            conn, _ = srv.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(OK)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with srv:
        t = ntlmhttp.NtlmHttpTransport(host="127.0.0.1", port=srv.getsockname()[1], path="/wsman", username="u",
                                       password="p", encrypt=False, connect_timeout=9.0, read_timeout_sec=4.0)
        for _ in range(2):
            conn = t._connect()
            assert conn.sock.gettimeout() == 9.0
            assert t._post(b"x", None)[2] == b"ok"
            assert conn.sock.gettimeout() == 4.0
            t._close_connection()
        thread.join(10)


def _previous_head(t: ntlmhttp.NtlmHttpTransport, body: bytes, authorization: str | None, sealed: bool) -> bytes:
    """The request head as _post wrote it before its start was kept per connection (the oracle)."""
    ctype = ntlmhttp.ENC_CTYPE if sealed else ntlmhttp.SOAP_CTYPE
    return (
        f"POST {t.path} HTTP/1.1\r\nHost: {t._host_header}\r\nUser-Agent: {ntlmhttp.USER_AGENT}\r\n"
        f"Connection: Keep-Alive\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n"
        + (f"Authorization: {authorization}\r\n\r\n" if authorization else "\r\n")
    ).encode("latin-1")


@pytest.mark.parametrize(("host", "port", "tls", "path"), [
    ("hv01", 5985, False, "/wsman"), ("hv01.example.com", 80, False, "/wsman"), ("10.0.0.5", 443, True, "/wsman"),
    ("fe80::1", 5986, True, "/wsman-anon/x"), ("::1", 80, False, "/"), ("h\u00e9", 5985, False, "/w\u00e9"),
])
def test_requests_are_written_as_before(host: str, port: int, tls: bool, path: str) -> None:
    """Every request's bytes (sealed or not, with and without Authorization, empty and long
    bodies) are what the previous formula wrote for the same host, port, scheme and path."""
    import ssl

    ours, peer = socket.socketpair()
    with ours, peer:
        t = ntlmhttp.NtlmHttpTransport(host=host, port=port, path=path, username="u", password="p", encrypt=True,
                                       connect_timeout=30.0, read_timeout_sec=7.0,
                                       ssl_context=ssl.create_default_context() if tls else None)
        ours.settimeout(30.0)
        t._conn, t._rfile = SimpleNamespace(sock=ours, close=ours.close), ours.makefile("rb")  # type: ignore[assignment]
        peer.settimeout(10)
        for body, auth, context in [(b"", "Negotiate TlRMTVNTUAAB", None), (b"x" * 3000, "Negotiate abc", object()),
                                    (b"<s/>", None, object()), (b"<s/>", None, None)]:
            t._context = context
            peer.sendall(OK)
            assert t._post(body, auth)[2] == b"ok"
            want = _previous_head(t, body, auth, sealed=context is not None and bool(body)) + body
            got = b""
            while len(got) < len(want):
                got += peer.recv(65536)
            assert got == want
