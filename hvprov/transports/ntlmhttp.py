"""A lean per-host HTTP transport for WinRM with NTLM under the Negotiate scheme.

It replaces pywinrm's HTTP `Transport` (requests + requests-ntlm + `winrm.encryption`) for
``ntlm``/``negotiate`` over http and https; pywinrm's `Protocol` (envelopes, fault mapping,
response parsing) stays on top of it: the interface is the same (`send_message`,
`close_session`, `read_timeout_sec`, `encryption`, HTTP errors raised as pywinrm's
`WinRMTransportError` / `InvalidCredentialsError`).

What it does differently, and why it is allowed (docs/winrm-performance.md):

* One persistent connection per host (keep-alive; opened by ``http.client``, requests written
  in one send and answers read by `read_response`): HTTP.sys binds the NTLM
  security context to the TCP connection, so the session lives exactly as long as it.
* The Negotiate token goes on the first request (RFC 4559 section 5: the client may send
  the token without waiting for a challenge) instead of an anonymous request answered 401.
* The Authenticate token travels with the first real message (over http: already sealed with
  the keys the Authenticate message establishes), instead of an empty request that only sets
  up message encryption: WinRb/WinRM (the Ruby client Vagrant and Test Kitchen use against
  Windows) does exactly this (``lib/winrm/http/transport.rb``, NegotiateTransport).
* The multipart/encrypted framing of MS-WSMV 2.2.9.1.1 written here, byte for byte what
  pywinrm's `Encryption` produces (tests/test_ntlmhttp.py), around pyspnego's sealing
  (``wrap_winrm`` byte for byte, with the flags read once per session: ntlmseal.py).
* One pyspnego client context per credential and run, copied per host (ntlmseal.py).
* No environment or proxy lookups: hvprov talks to hosts directly.
* A keep-alive connection the host closed while idle is replaced before a message is sent,
  with a new handshake carrying that message (pywinrm could not re-key an encrypted session
  and hvprov opened a new shell instead).

The NTLM messages are pyspnego's, built as requests-ntlm builds them (protocol ``ntlm``,
service ``http``, the host name, channel bindings ``tls-server-end-point`` over https).
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
import struct
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from spnego.channel_bindings import GssChannelBindings
from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMTransportError

from .httpread import NO_VALUE, Headers, read_response
from .ntlmseal import client_context, session_sealer

__all__ = ["ConnectTimeout", "NtlmHttpTransport", "ReadTimeout", "read_response", "seal", "unseal"]

BOUNDARY = b"--Encrypted Boundary"
ENC_PROTOCOL = b"application/HTTP-SPNEGO-session-encrypted"
ENC_CTYPE = 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'
SOAP_CTYPE = "application/soap+xml;charset=UTF-8"
USER_AGENT = "Python WinRM client"  # pywinrm's, so the host sees the same client
_PART_HEAD = BOUNDARY + b"\r\n\tContent-Type: " + ENC_PROTOCOL + b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
_OCTETS = BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
_OCTETS_LINE = b"\tContent-Type: application/octet-stream\r\n"
_END = BOUNDARY + b"--\r\n"
_PARTS = BOUNDARY + b"\r\n"
_LENGTH = struct.Struct("<i")


class ConnectTimeout(TimeoutError):
    """No TCP connection (or TLS handshake) within the connect timeout."""


class ReadTimeout(TimeoutError):
    """The host did not answer within the read timeout."""


def seal(context: Any, message: bytes) -> bytes:
    """One SOAP message as MS-WSMV 2.2.9.1.1 multipart/encrypted (pywinrm's bytes)."""
    wrapped = context.wrap_winrm(message)
    return b"".join((
        _PART_HEAD, str(len(message)).encode(), b"\r\n", _OCTETS,
        _LENGTH.pack(len(wrapped.header)), wrapped.header, wrapped.data, _END,
    ))


def unseal(context: Any, body: bytes) -> bytes:
    """The SOAP message inside a multipart/encrypted answer (pywinrm's parsing rules)."""
    parts = [p for p in body.split(_PARTS) if p]
    out = []
    for i in range(0, len(parts) - 1, 2):
        expected = int(parts[i].strip().split(b"Length=")[1])
        payload = parts[i + 1]
        if payload.endswith(_END):
            payload = payload[: -len(_END)]
        data = payload.replace(_OCTETS_LINE, b"")
        sig_len = _LENGTH.unpack(data[:4])[0]
        plain = context.unwrap_winrm(data[4 : 4 + sig_len], data[4 + sig_len :])
        if len(plain) != expected:
            raise WinRMError("Encrypted length from server does not match the expected size, message has been tampered with")
        out.append(plain)
    if not parts:
        raise WinRMError("the encrypted answer has no encrypted part")
    return b"".join(out)


def cert_hash(der: bytes) -> bytes:
    """RFC 5929 tls-server-end-point: the certificate's hash (SHA-256 for MD5/SHA-1 signed
    certificates), as requests-ntlm computes it."""
    cert = x509.load_der_x509_certificate(der)
    algo = cert.signature_hash_algorithm
    if algo is None or algo.name in ("md5", "sha1"):
        algo = hashes.SHA256()
    digest = hashes.Hash(algo)
    digest.update(der)
    return digest.finalize()


def _dropped(sock: Any) -> bool:
    """An idle keep-alive connection that is readable was closed by the host (urllib3's test)."""
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class NtlmHttpTransport:
    """One host's WinRM endpoint over one keep-alive connection, authenticated with NTLM."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        path: str,
        username: str,
        password: str,
        encrypt: bool,
        connect_timeout: float,
        read_timeout_sec: float,
        ssl_context: ssl.SSLContext | None = None,
        on_request: Callable[[], None] = lambda: None,
        contexts: dict[Any, Any] | None = None,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.username, self.password = username, password
        self.encrypt = encrypt
        self.connect_timeout = connect_timeout
        self.read_timeout_sec = read_timeout_sec
        self.ssl_context = ssl_context
        self.on_request = on_request
        self.contexts = contexts  # the run's credential cache: NTLM contexts per credential (ntlmseal.py)
        self._conn: http.client.HTTPConnection | None = None
        self._rfile: Any = None
        self._sock_timeout: float | None = None  # what the connection's socket was last set to
        host_name = f"[{host}]" if ":" in host else host
        self._host_header = host_name if port == (443 if ssl_context else 80) else f"{host_name}:{port}"
        # every request's head up to its Content-Type, written once (encoded with each request)
        self._head_start = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Connection: Keep-Alive\r\nContent-Type: "
        )
        self._context: Any = None
        self._sealer: Any = None  # wrap_winrm/unwrap_winrm of the context (ntlmseal.py)

    @property
    def encryption(self) -> Any:
        """The sealing context once the session encrypts (pywinrm's attribute, None before)."""
        return self._context if self.encrypt else None

    def close_session(self) -> None:
        self._context = self._sealer = None
        self._close_connection()

    def _close_connection(self) -> None:
        conn, rfile, self._conn, self._rfile = self._conn, self._rfile, None, None
        if rfile is not None:
            rfile.close()
        if conn is not None:
            conn.close()

    def send_message(self, message: str | bytes) -> bytes:
        if isinstance(message, str):
            message = message.encode("utf-8")
        if self._conn is not None and _dropped(self._conn.sock):
            # the host closed the idle connection (and with it the security context); nothing
            # of this message was sent: authenticate a new connection and send it there, as
            # WinRb/WinRM does on a 401. The shell is the host's, not the connection's.
            self.close_session()
        if self._conn is None or self._context is None:
            return self._authenticate(message)
        body = seal(self._sealer, message) if self.encrypt else message
        return self._result(*self._post(body, None))

    # ------------------------------------------------------------------ internals
    def _authenticate(self, message: bytes) -> bytes:
        """Negotiate (answered 401 with the challenge), then Authenticate carrying `message`."""
        self.close_session()
        conn = self._connect()
        bindings = None
        if isinstance(conn.sock, ssl.SSLSocket):
            der = conn.sock.getpeercert(True)
            if der:
                bindings = GssChannelBindings(application_data=b"tls-server-end-point:" + cert_hash(der))
        context, negotiate = client_context(self.contexts, self.username, self.password, self.host, bindings)
        status, headers, _ = self._post(b"", "Negotiate " + base64.b64encode(negotiate).decode())
        challenge = _challenge(headers) if status == 401 else None
        if challenge is None:
            self.close_session()
            if status == 401:
                raise InvalidCredentialsError("the specified credentials were rejected by the server")
            raise WinRMTransportError("http", status, "")
        if self._conn is None:  # HTTP.sys keeps the connection for the handshake; a host that
            raise ConnectionAbortedError("connection closed during the NTLM handshake")  # does not
        token = "Negotiate " + base64.b64encode(context.step(challenge) or b"").decode()
        self._context, self._sealer = context, session_sealer(context)
        body = seal(self._sealer, message) if self.encrypt else message
        status, headers, data = self._post(body, token)
        if status == 401:
            self.close_session()
            raise InvalidCredentialsError("the specified credentials were rejected by the server")
        return self._result(status, headers, data)

    def _connect(self) -> http.client.HTTPConnection:
        """A connected socket (TCP, then TLS with the context's checks), through http.client."""
        conn: http.client.HTTPConnection
        if self.ssl_context is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.connect_timeout, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise ConnectTimeout(f"connect timed out after {self.connect_timeout:g}s") from exc
        except BaseException:
            conn.close()
            raise
        self._conn, self._rfile = conn, conn.sock.makefile("rb")
        self._sock_timeout = None  # the connect timeout until the first request sets the read timeout
        return conn

    def _post(self, body: bytes, authorization: str | None) -> tuple[int, Headers, bytes]:
        """One request on the keep-alive connection, written in one send; its whole answer."""
        conn, rfile = self._conn, self._rfile
        assert conn is not None and conn.sock is not None and rfile is not None
        sealed = self.encrypt and self._context is not None and bool(body)
        head = (
            f"{self._head_start}{ENC_CTYPE if sealed else SOAP_CTYPE}\r\nContent-Length: {len(body)}\r\n"
            + (f"Authorization: {authorization}\r\n\r\n" if authorization else "\r\n")
        )
        self.on_request()
        try:
            if self._sock_timeout != self.read_timeout_sec:  # set once per connection (a system call)
                conn.sock.settimeout(self.read_timeout_sec)
                self._sock_timeout = self.read_timeout_sec
            conn.sock.sendall(head.encode("latin-1") + body)
            status, headers, data, close = read_response(rfile)
        except TimeoutError as exc:
            self.close_session()
            raise ReadTimeout(f"no answer within {self.read_timeout_sec:g}s") from exc
        except http.client.HTTPException as exc:  # not HTTP: as requests reports it, "aborted"
            self.close_session()
            if isinstance(exc, ConnectionError):
                raise
            raise ConnectionAbortedError(f"connection aborted: {type(exc).__name__}") from exc
        except BaseException:
            self.close_session()
            raise
        if close:
            self._close_connection()  # the next request reconnects and authenticates again
        return status, headers, data

    def _result(self, status: int, headers: Headers, data: bytes) -> bytes:
        if data and self._context is not None and 'protocol="application/HTTP-SPNEGO-session-encrypted"' in (
            headers.get("content-type", NO_VALUE)[0]
        ):
            data = unseal(self._sealer, data)
        if status == 200:
            return data
        if status == 401:
            raise InvalidCredentialsError("the specified credentials were rejected by the server")
        raise WinRMTransportError("http", status, data.decode("utf-8", "replace"))


def _challenge(headers: Headers) -> bytes | None:
    """The NTLM challenge in a 401's ``WWW-Authenticate: Negotiate <token>`` header(s)."""
    for value in headers.get("www-authenticate", ()):
        for offer in value.split(","):
            kind, _, token = offer.strip().partition(" ")
            if kind.lower() in ("negotiate", "ntlm") and token.strip():
                try:
                    return base64.b64decode(token.strip())
                except ValueError:
                    return None
    return None

