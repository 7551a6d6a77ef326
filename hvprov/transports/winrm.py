"""WinRM transport: pywinrm's `Protocol`, one WinRS shell per host for the whole run.

NTLM/Negotiate go over hvprov's lean HTTP transport (ntlmhttp.py: one keep-alive connection,
two-leg handshake); Kerberos, CredSSP, Basic and certificates over pywinrm's requests transport.

`open()` authenticates and creates the shell; `run()` sends one script (on the command line
if ``powershell.exe -EncodedCommand`` fits cmd.exe's 8,191 characters, else the bootstrap
with the script streamed on stdin in Send envelopes under ``max_envelope_kb``), collects
stdout/stderr/exit code, and signals the command to clean up. ``hvprov_winrm_max_envelope_kb:
auto`` takes Windows' default for the host's WinRM version, which the CreateResponse reveals
(WinRM 3.0+ echoes the shell: 500 KB; 2.0 does not: 150 KB), at no extra request. Without
cmd.exe (``hvprov_winrm_cmd_shell: false``) powershell.exe is named by its full path (WinRM 2.0
faults 2147942402 on a bare name). https refuses hosts that offer only TLS 1.0/1.1 unless
``hvprov_winrm_allow_tls10: true`` (docs/wsman-conformance.md). If the host says the shell is
gone (fault 2150858843: idle timeout, WinRM restart) or the connection was lost before the
script started (a reboot), the shell is reopened once, transparently.

Security: https validates certificates (``ca_trust_path`` or the system store) unless
``server_cert_validation: ignore``; over http only ntlm/kerberos/credssp with message
encryption are allowed unless ``hvprov_winrm_allow_plaintext``. The password leaves its
`Secret` only for pywinrm or, as NTLM hashes, pyspnego, and never appears in a message. Transient failures (refused, reset,
connect timeout) while connecting are retried ``spec.retries`` times with exponential backoff;
authentication and trust failures never are.

HTTP requests per script (`round_trips`, counted as each is sent, handshakes included): 3 for
a script that fits the command line (Command, Receive, Signal), 3 + n for a streamed one (n
Send envelopes: 3 for 200 KiB at 150 KB; more Receives only if the output exceeds ~110 KB).
`open()` costs 2 with NTLM over http or https (ntlmhttp.py: the Negotiate token on the first
request, answered 401 with the challenge; the Authenticate token carrying Create, sealed over
http), 1 with Basic, 3-4 with the other auths on pywinrm's transport; `close()` 1 (Delete).
A shell the host lost costs 2 more (the failed Command and a new Create); a connection the
host closed costs 1 more (the handshake is redone with the next message), 2 more if a reboot
also took the shell.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from http.client import RemoteDisconnected
from pathlib import Path
from typing import Any, NoReturn, cast
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import requests
from requests.adapters import HTTPAdapter
from spnego._ntlm_raw.crypto import is_ntlm_hash, lmowfv1, ntowfv1
from spnego.exceptions import SpnegoError
from urllib3.util.ssl_ import create_urllib3_context
from winrm import transport as winrm_transport
from winrm.exceptions import AuthenticationError as WinRMAuthenticationError
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from ..connection import ConnectionSpec
from ..errors import (
    AuthenticationError,
    CommandTimeoutError,
    HvprovError,
    OptionsError,
    ProtocolError,
    TransportError,
    TrustError,
    UnreachableError,
)
from ..secrets import MASK
from . import bootstrap, ntlmhttp
from .base import ExecResult, Transport
from .clixml import decode_clixml
from .stdinmemo import run_memo
from .wsman_lean import LeanProtocol, protocol_for

__all__ = ["WinRMTransport", "stdin_chunk_size"]

AUTH_METHODS = {
    "ntlm": "ntlm",
    "negotiate": "ntlm",  # requests-ntlm answers a Negotiate challenge with NTLM
    "kerberos": "kerberos",
    "credssp": "credssp",
    "basic": "basic",
    "plaintext": "basic",
    "certificate": "certificate",
}
ENCRYPTING = ("ntlm", "kerberos", "credssp")
CODEPAGE = 65001  # UTF-8 output, as Ansible asks for
FAULT_SHELL_NOT_FOUND = 2150858843
SEND_OVERHEAD = 4096  # bytes of a Send envelope besides the base64 stdin (pywinrm's is ~1.8 KB)
POWERSHELL_PATH = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CREATEPROCESS_LIMIT = 32766
SHELL_NS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"  # with WINRS_SKIP_CMD_SHELL (domain brief 7.2)


def stdin_chunk_size(max_envelope_kb: int) -> int:
    """Raw stdin bytes per Send so the envelope (base64: 4/3 growth) fits max_envelope_kb."""
    budget = max_envelope_kb * 1024 - SEND_OVERHEAD
    return max(3, budget * 3 // 4 // 3 * 3)


class _SessionLost(Exception):
    """The shell or the connection was gone before the script started: reopen and retry."""

    def __init__(self, error: TransportError, *, rebuild: bool) -> None:
        super().__init__(str(error))
        self.error, self.rebuild = error, rebuild


class _Reauthenticating(Exception):
    """requests-ntlm started a new handshake inside an encrypted session (new connection)."""


def _find(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
    """The first exception of `kind` in exc's causes, contexts, args and urllib3 reasons."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, kind):
            return e
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None), *e.args])
    return None


_NTLM_SCHEMES = ("negotiate", "ntlm")


class _CountingAdapter(HTTPAdapter):
    """Counts every HTTP request (handshakes included) and applies the connect timeout."""

    def __init__(self, owner: WinRMTransport, wt: _CountingTransport) -> None:
        self.owner, self.wt = owner, wt
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self.owner.spec.winrm_allow_tls10:  # the explicit opt-in for 2008 R2's stock SChannel
            kwargs["ssl_context"] = _legacy_tls_context(self.owner.spec.server_cert_validation != "ignore")
        super().init_poolmanager(*args, **kwargs)

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kind = str(request.headers.get("Authorization") or "").split(" ", 1)[0].lower()
        if self.wt.encryption is not None and self.owner.auth == "ntlm" and kind in _NTLM_SCHEMES:
            raise _Reauthenticating()  # pywinrm cannot re-key an encrypted session
        ctype = str(request.headers.get("Content-Type") or "")
        if request.body and self.owner.must_encrypt and not ctype.startswith("multipart/"):
            raise TrustError(
                f"refusing to send an unencrypted WinRM message to {self.owner.spec.name}",
                host=self.owner.spec.name,
            )
        timeout = kwargs.get("timeout")
        if isinstance(timeout, (int, float)):
            kwargs["timeout"] = (self.owner.spec.connect_timeout, timeout)
        self.owner.round_trips += 1
        return super().send(request, *args, **kwargs)


_ENV_LOCK = threading.Lock()
_should_bypass_proxies = requests.utils.should_bypass_proxies


def _locked_should_bypass_proxies(url: str, no_proxy: str | None) -> bool:
    """requests evaluates pywinrm's {"no_proxy": "*"} by temporarily editing os.environ, which
    every thread shares: under 100 threads one of them read a deleted key (KeyError
    'no_proxy'). Only that short critical section is serialised. "*" (what hvprov always passes,
    proxy=None) bypasses every proxy, as requests would conclude after scanning the environment
    (urllib's proxy_bypass_environment returns True for "*"): answered without the scan."""
    if no_proxy == "*":
        return True
    with _ENV_LOCK:
        return bool(_should_bypass_proxies(url, no_proxy))


requests.utils.should_bypass_proxies = _locked_should_bypass_proxies  # type: ignore[assignment]


class _CountingTransport(winrm_transport.Transport):
    """pywinrm's HTTP transport with the counting adapter mounted before the first request."""

    def __init__(self, owner: WinRMTransport, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = owner

    def _mount(self, session: requests.Session) -> None:
        if not isinstance(session.get_adapter("https://"), _CountingAdapter):
            adapter = _CountingAdapter(self.owner, self)
            session.mount("https://", adapter)
            session.mount("http://", adapter)

    def build_session(self) -> requests.Session:
        if self.session is not None:
            return self.session
        try:
            session = super().build_session()
            session.trust_env = False  # settings are explicit; no per-request environment scan
        except BaseException:
            self.close_session()  # never keep a session whose encryption setup failed
            raise
        self._mount(session)
        return session

    def setup_encryption(self, session: requests.Session) -> None:
        self._mount(session)
        super().setup_encryption(session)


class _Mapping:
    """``with transport._errors(lost=...)``: an exception (not an HvprovError, nor a
    BaseException that is not an Exception) leaving the block is raised again as
    ``WinRMTransport._map`` maps it, while it is being handled (so it becomes the new one's
    context, and its cause unless ``from None``), as the ``contextlib.contextmanager``
    generator this replaces did: 4-5 blocks per host at ~10k instructions each for the
    generator's set-up, ~1k for this (docs/winrm-performance.md). tests/test_winrm_errors.py
    runs both on the same exceptions."""

    __slots__ = ("lost", "owner")

    def __init__(self, owner: WinRMTransport, lost: bool) -> None:
        self.owner, self.lost = owner, lost

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, HvprovError):
            return False
        self.owner._map(exc, self.lost)


def _lean_http(auth: str) -> bool:
    """NTLM (and Negotiate, answered with NTLM) go over hvprov's lean HTTP transport
    (ntlmhttp.py); Kerberos, CredSSP, Basic and certificates over pywinrm's."""
    return auth == "ntlm"


class _LeanTransport(ntlmhttp.NtlmHttpTransport):
    """ntlmhttp's transport counting requests, as _CountingTransport does for pywinrm's."""

    def __init__(self, owner: WinRMTransport, password: str, read_timeout: float) -> None:
        spec = owner.spec
        encrypt = spec.winrm_message_encryption == "always" or (
            spec.winrm_message_encryption == "auto" and spec.winrm_scheme == "http"
        )
        super().__init__(
            host=spec.address, port=owner.port, path=_request_path(owner.endpoint, spec.credential_cache),
            username=spec.user, password=password, encrypt=encrypt,
            connect_timeout=spec.connect_timeout, read_timeout_sec=read_timeout,
            ssl_context=_run_tls_context(spec) if spec.winrm_scheme == "https" else None,
            on_request=owner.count_request, contexts=spec.credential_cache,
        )
        self.owner = owner


_NETLOC = re.compile(r"([a-z]+)://([^/?#]*)(.*)\Z", re.S)


def _request_path(endpoint: str, cache: dict[Any, Any] | None) -> str:
    """``urlsplit(endpoint).path``, the path each request names. urlsplit caches its answers
    per URL (lru_cache), and each host's URL differs, so it parsed every host's (~30k
    instructions). The path is what follows the netloc, which ends at the first "/", "?" or
    "#": for an ASCII netloc without brackets (urlsplit checks those: IPv6, NFKC), the host
    and port play no part in it, so it is parsed once per run and tail with a stand-in host.
    tests/test_winrm_errors.py compares it with urlsplit on odd hosts and paths."""
    found = _NETLOC.match(endpoint)
    if cache is None or found is None or not found[2].isascii() or "[" in found[2] or "]" in found[2]:
        return urlsplit(endpoint).path
    key = ("winrm-request-path", found[1], found[3])
    path = cache.get(key)
    if path is None:
        path = cache.setdefault(key, urlsplit(f"{found[1]}://h{found[3]}").path)
    return cast(str, path)


def _run_tls_context(spec: ConnectionSpec) -> ssl.SSLContext:
    """The run's TLS client context for these settings, built once per run (the run's
    credential cache keeps it): building one reads the CA file, about 20 ms of CPU with
    certifi's bundle (the default), once per host before. A context is shared by connections
    as urllib3's pools share theirs; each connection still checks its own host's certificate
    and name. Keyed by everything `_tls_context` reads; a CA file changed during a run is read
    by the next run."""
    cache = spec.credential_cache
    if cache is None:
        return _tls_context(spec)
    key = ("tls-context", spec.server_cert_validation, spec.winrm_allow_tls10, spec.ca_trust_path)
    ctx = cache.get(key)
    return ctx if ctx is not None else cast(ssl.SSLContext, cache.setdefault(key, _tls_context(spec)))


def _tls_context(spec: ConnectionSpec) -> ssl.SSLContext:
    """The verification requests/urllib3 apply for pywinrm: the CA file given, else certifi's
    bundle (requests' default), host name checked; nothing checked with ``ignore``; TLS 1.2+
    unless hvprov_winrm_allow_tls10."""
    verify = spec.server_cert_validation != "ignore"
    if spec.winrm_allow_tls10:
        ctx = _legacy_tls_context(verify)
    else:
        ctx = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    if verify:
        ctx.load_verify_locations(cafile=spec.ca_trust_path or requests.certs.where())
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class WinRMTransport(Transport):
    """One WinRM shell on one host (see the module docstring)."""

    retries_transient = True

    name = "winrm"

    def __init__(
        self,
        spec: ConnectionSpec,
        *,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.backoff = backoff
        self._sleep = sleep
        self._protocol: Protocol | None = None
        self._shell_id: str | None = None
        self._broken = False
        self._terminated = False
        self.shells_opened = 0
        self.max_envelope_kb = spec.max_envelope_kb  # 0: Windows' default for the host's WinRM
        self.auth = AUTH_METHODS.get(spec.winrm_transport, spec.winrm_transport)
        self._stdin_memo = run_memo(spec.credential_cache)  # the run's encodings of large scripts
        self.must_encrypt = (
            spec.winrm_scheme == "http"
            and self.auth in ENCRYPTING
            and (spec.winrm_message_encryption != "never")
        )

    # ------------------------------------------------------------------ public
    @property
    def port(self) -> int:
        return self.spec.port or (5986 if self.spec.winrm_scheme == "https" else 5985)

    @property
    def endpoint(self) -> str:
        host = f"[{self.spec.address}]" if ":" in self.spec.address else self.spec.address
        path = (
            self.spec.winrm_path
            if self.spec.winrm_path.startswith("/")
            else "/" + self.spec.winrm_path
        )
        return f"{self.spec.winrm_scheme}://{host}:{self.port}{path}"

    def open(self) -> None:
        if self._broken:
            self._discard(rebuild=True)
        if self._shell_id is None:
            self._connect()

    def run(self, script: str, timeout: float | None = None) -> ExecResult:
        skip = not self.spec.winrm_cmd_shell
        limit = CREATEPROCESS_LIMIT if skip else bootstrap.CMD_LINE_LIMIT
        memo = self._stdin_memo
        result = bootstrap.deliver(
            script, lambda line, stdin: self._exec(line, stdin, timeout),
            mode=self.spec.script_delivery, limit=limit, payload=memo.payload if memo is not None else None,
        )
        self.scripts_run += 1
        return result

    def run_command(self, command_line: str, timeout: float | None = None) -> ExecResult:
        return self._exec(command_line, None, timeout)

    def _exec(self, line: str, stdin: bytes | None, timeout: float | None) -> ExecResult:
        """One command (stdin None: console-mode stdin, nothing sent); reconnects once."""
        self.open()
        try:
            return self._run_once(line, stdin, timeout)
        except _SessionLost as lost:
            self._discard(rebuild=lost.rebuild)
            self._connect()
            try:
                return self._run_once(line, stdin, timeout)
            except _SessionLost as again:
                self._discard(rebuild=True)
                raise again.error from None

    def close(self) -> None:
        proto, shell = self._protocol, self._shell_id
        self._protocol, self._shell_id, self._broken = None, None, False
        if proto is None:
            return
        try:
            if shell is not None:
                proto.transport.read_timeout_sec = min(
                    int(proto.transport.read_timeout_sec or 10), 10
                )
                proto.close_shell(shell, close_session=False)
        except Exception:  # noqa: BLE001 - close never raises
            pass
        finally:
            with contextlib.suppress(Exception):
                proto.transport.close_session()

    def count_request(self) -> None:
        self.round_trips += 1

    # ------------------------------------------------------------------ session
    def _connect(self) -> None:
        attempts = max(0, self.spec.retries) + 1
        for attempt in range(attempts):
            try:
                with self._errors():
                    if self._protocol is None:
                        self._protocol = self._build_protocol()
                    self._shell_id = self._protocol.open_shell(codepage=CODEPAGE)
                    if not self.max_envelope_kb:
                        self.max_envelope_kb = _default_envelope_kb(self._protocol)
                    self.shells_opened += 1
                    self._broken = False
                return
            except TransportError as exc:
                self._discard(rebuild=True)
                if not exc.transient or attempt == attempts - 1:
                    raise
                self._sleep(self.backoff * 2**attempt)

    def _discard(self, *, rebuild: bool) -> None:
        self._shell_id = None
        self._broken = False
        if rebuild and self._protocol is not None:
            with contextlib.suppress(Exception):
                self._protocol.transport.close_session()
            self._protocol = None

    def _build_protocol(self) -> Protocol:
        spec, name, auth = self.spec, self.spec.name, self.auth
        encryption = spec.winrm_message_encryption
        if auth not in ENCRYPTING + ("basic", "certificate"):
            raise OptionsError(f"unknown WinRM transport {spec.winrm_transport!r} for host {name}")
        if encryption not in ("auto", "always", "never"):
            raise OptionsError(
                f"host {name}: hvprov_winrm_message_encryption must be auto, always or never"
            )
        if spec.winrm_scheme not in ("http", "https"):
            raise OptionsError(f"host {name}: ansible_winrm_scheme must be http or https")
        if auth == "certificate" and spec.winrm_scheme != "https":
            raise OptionsError(
                f"host {name}: certificate authentication needs ansible_winrm_scheme: https"
            )
        if encryption == "always" and auth not in ENCRYPTING:
            raise OptionsError(
                f"host {name}: message encryption needs ntlm, kerberos or credssp, not {auth}"
            )
        if spec.winrm_scheme == "http" and not self.must_encrypt and not spec.winrm_allow_plaintext:
            why = (
                "message encryption is off"
                if auth in ENCRYPTING
                else f"{auth} authentication cannot encrypt"
            )
            raise TrustError(
                f"refusing to talk to {name} over plain http: {why}, so credentials and scripts would "
                "cross the network readable; use https or ntlm/kerberos/credssp with message "
                "encryption, or set hvprov_winrm_allow_plaintext: true",
                host=name,
            )
        if auth == "certificate" and not (spec.client_cert_pem and spec.client_cert_key_pem):
            raise OptionsError(
                f"host {name}: certificate authentication needs ansible_winrm_cert_pem and ansible_winrm_cert_key_pem"
            )
        if auth not in ("certificate", "kerberos") and not (
            spec.user and spec.password is not None
        ):
            raise AuthenticationError(
                f"no credentials for {name}: set ansible_user and ansible_password", host=name
            )
        if spec.ca_trust_path and not Path(spec.ca_trust_path).exists():
            raise TrustError(
                f"ansible_winrm_ca_trust_path for {name} does not exist: {spec.ca_trust_path}",
                host=name,
            )
        operation = max(1, math.ceil(spec.operation_timeout))
        read = max(math.ceil(spec.read_timeout), operation + 1)
        password = spec.password.reveal() if spec.password is not None else None
        if auth == "ntlm" and password is not None:  # same NTLM messages; no per-host DES/MD4
            cache = spec.credential_cache if spec.credential_cache is not None else {}
            password = cache.get(password) or cache.setdefault(password, ntlm_hashes(password))
        common: dict[str, Any] = {
            "username": spec.user,
            "password": password,
            "ca_trust_path": spec.ca_trust_path or None,  # None: system store; no env lookups
            "cert_pem": spec.client_cert_pem,
            "cert_key_pem": spec.client_cert_key_pem,
            "server_cert_validation": spec.server_cert_validation,
            "read_timeout_sec": read,
            "message_encryption": encryption,
            "proxy": None,  # no proxies from the environment
        }
        with self._errors():
            if _lean_http(auth):  # the run's protocol object, copied: its pywinrm Transport is not used
                proto = protocol_for(spec.credential_cache, LeanProtocol, self.endpoint,
                                     {"transport": auth, "operation_timeout_sec": operation, **common})
            else:
                proto = LeanProtocol(
                    self.endpoint,
                    transport=auth,  # type: ignore[arg-type]
                    operation_timeout_sec=operation,
                    **common,
                )
            if self._stdin_memo is not None:
                proto.stdin_b64 = self._stdin_memo.b64
            if _lean_http(auth):
                proto.transport = _LeanTransport(self, password or "", read)
            else:
                proto.transport = _CountingTransport(
                    self, endpoint=self.endpoint, auth_method=auth, service="HTTP", **common
                )
        return proto

    # ------------------------------------------------------------------ one script
    def _run_once(self, line: str, stdin: bytes | None, timeout: float | None) -> ExecResult:
        proto, shell = self._protocol, self._shell_id
        assert proto is not None and shell is not None
        with self._errors(lost=True):
            command_id = self._start(proto, shell, line, stdin)
        self._terminated = False
        try:
            with self._errors():
                stdout, stderr, rc = self._collect(proto, shell, command_id, timeout)
        except TransportError:
            # the shell survives our own deadline if the command could be terminated
            self._broken = not self._terminated
            raise
        try:
            with self._errors():
                proto.cleanup_command(shell, command_id)
        except TransportError:
            self._broken = True  # the result is in hand; reopen before the next script
        out = stdout.decode("utf-8", "replace").replace("\r\n", "\n")
        err = decode_clixml(stderr.decode("utf-8", "replace"))
        return ExecResult(stdout=out, stderr=err, rc=rc)

    def _start(self, proto: Protocol, shell: str, line: str, stdin: bytes | None) -> str:
        skip = not self.spec.winrm_cmd_shell
        line = _direct(line, skip)
        if stdin is None:
            return proto.run_command(shell, line, skip_cmd_shell=skip)
        command_id = proto.run_command(shell, line, console_mode_stdin=False, skip_cmd_shell=skip)
        size = stdin_chunk_size(self.max_envelope_kb)
        for offset in range(0, len(stdin), size):
            end = offset + size >= len(stdin)
            proto.send_command_input(shell, command_id, stdin[offset : offset + size], end=end)
        return command_id

    def _collect(
        self, proto: Protocol, shell: str, command_id: str, timeout: float | None
    ) -> tuple[bytes, bytes, int]:
        deadline = None if timeout is None else time.monotonic() + timeout
        base = proto.operation_timeout_sec
        out: list[bytes] = []
        err: list[bytes] = []
        try:
            while True:
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        with contextlib.suppress(Exception):
                            proto.cleanup_command(shell, command_id)
                            self._terminated = True
                        raise CommandTimeoutError(
                            f"{self.spec.name}: script did not finish within {timeout:g}s",
                            host=self.spec.name,
                        )
                    proto.operation_timeout_sec = max(1, min(base, math.ceil(remaining)))
                try:
                    o, e, rc, done = proto.get_command_output_raw(shell, command_id)
                except WinRMOperationTimeoutError:
                    continue  # no output yet: ask again
                out.append(o)
                err.append(e)
                if done:
                    return b"".join(out), b"".join(err), rc
        finally:
            proto.operation_timeout_sec = base

    # ------------------------------------------------------------------ errors
    def _errors(self, *, lost: bool = False) -> _Mapping:
        """Map library exceptions to hvprov's; with `lost`, session loss becomes _SessionLost."""
        return _Mapping(self, lost)

    def _map(self, exc: Exception, lost: bool) -> NoReturn:
        """Raise what `exc`, raised inside ``with self._errors(lost=...)``, becomes."""
        if isinstance(exc, _Reauthenticating):
            err = UnreachableError(
                f"{self.spec.name} unreachable: connection reset ({self._where})",
                host=self.spec.name,
            )
            if lost:
                raise _SessionLost(err, rebuild=True) from None
            raise err from None
        mapped = self._translate(exc)
        if lost and isinstance(mapped, TransportError) and self._is_lost(exc, mapped):
            raise _SessionLost(mapped, rebuild=not _is_shell_gone(exc)) from exc
        raise mapped from exc

    @property
    def _where(self) -> str:
        return f"{self.spec.address}:{self.port}"

    def _is_lost(self, exc: Exception, mapped: HvprovError) -> bool:
        if _is_shell_gone(exc):
            return True
        if isinstance(mapped, UnreachableError):
            return True
        # a new connection without the old security context: answered 400/401 by the host
        encrypted = self._protocol is not None and self._protocol.transport.encryption is not None
        return encrypted and (
            isinstance(exc, InvalidCredentialsError) or getattr(exc, "code", 0) == 400
        )

    def _translate(self, exc: BaseException) -> HvprovError:
        name, where = self.spec.name, self._where
        msg: str
        if isinstance(exc, (requests.exceptions.SSLError, ssl.SSLError)):
            verify = _find(exc, ssl.SSLCertVerificationError)
            if verify is not None or "CERTIFICATE_VERIFY_FAILED" in str(exc):
                reason = getattr(verify, "verify_message", "") or "verification failed"
                return TrustError(
                    self._scrub(
                        f"certificate not trusted for {name}: {reason}; set ansible_winrm_ca_trust_path "
                        "or ansible_winrm_server_cert_validation=ignore to accept it"
                    ),
                    host=name,
                )
            short = _short(exc)
            if any(k in short.upper() for k in _OLD_TLS):
                return ProtocolError(
                    f"TLS handshake with {name} failed ({where}): the host offers only TLS 1.0/1.1, "
                    "which hvprov refuses; enable TLS 1.2 on the host (Windows Server 2008 R2: "
                    "SChannel TLS 1.2 registry keys, then reboot), or accept TLS 1.0 explicitly with "
                    "hvprov_winrm_allow_tls10: true",
                    host=name,
                )
            return ProtocolError(self._scrub(f"TLS handshake with {name} failed ({where}): {short}"), host=name)
        if isinstance(exc, (requests.exceptions.ConnectTimeout, ntlmhttp.ConnectTimeout)):
            return UnreachableError(
                f"{name} unreachable: connect timed out after {self.spec.connect_timeout:g}s ({where})",
                host=name,
            )
        if isinstance(exc, (requests.exceptions.ReadTimeout, ntlmhttp.ReadTimeout)):
            return CommandTimeoutError(
                f"{name} stopped answering: no reply within {self.spec.read_timeout:g}s ({where})",
                host=name,
            )
        if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError, socket.gaierror)) or (
            isinstance(exc, OSError) and not isinstance(exc, PermissionError)
        ):
            if _find(exc, ConnectionRefusedError):
                what = "connection refused"
            elif _find(exc, socket.gaierror) or "NameResolution" in str(exc):
                what = "name not resolved"
            elif _find(
                exc, (ConnectionResetError, RemoteDisconnected, BrokenPipeError)
            ) or "aborted" in str(exc):
                what = "connection reset"
            else:
                what = "connection failed"
            return UnreachableError(f"{name} unreachable: {what} ({where})", host=name)
        if isinstance(exc, (InvalidCredentialsError, WinRMAuthenticationError, PermissionError)):
            msg = f"authentication failed for {name} ({self.auth} as {self.spec.user})"
            if self.spec.winrm_scheme == "http" and not self.must_encrypt:
                msg += "; the host may refuse unencrypted traffic (AllowUnencrypted=false)"
            return AuthenticationError(self._scrub(msg), host=name)
        if isinstance(exc, (WSManFaultError, WinRMTransportError)) and exc.code == 413:
            return ProtocolError(
                f"{name} refused a request larger than its MaxEnvelopeSizekb; lower "
                f"hvprov_winrm_max_envelope_kb (now {self.max_envelope_kb})",
                host=name,
            )
        if isinstance(exc, WSManFaultError):
            if exc.wsman_fault_code == FAULT_SHELL_NOT_FOUND:
                return UnreachableError(
                    f"{name}: the WinRM shell was closed by the host (rebooted?)", host=name
                )
            code = exc.wsman_fault_code or exc.fault_subcode or exc.code
            return ProtocolError(
                self._scrub(f"{name}: WS-Management fault {code}: {_fault_text(exc)}"), host=name
            )
        if isinstance(exc, WinRMTransportError):
            return ProtocolError(
                f"{name}: unexpected HTTP {exc.code} from {self.endpoint}", host=name
            )
        if isinstance(exc, WinRMError):
            text = self._scrub(str(exc))
            if "not installed" in text or "does not support" in text or "unsupported auth" in text:
                return OptionsError(f"host {name}: {text}")
            return ProtocolError(f"{name}: {text}", host=name)
        if isinstance(exc, SpnegoError):
            return ProtocolError(
                self._scrub(f"{name}: {self.auth} negotiation failed: {exc}"), host=name
            )
        if isinstance(
            exc,
            (
                ET.ParseError,
                StopIteration,
                AssertionError,
                KeyError,
                ValueError,
                IndexError,
                TypeError,
            ),
        ):
            return ProtocolError(
                self._scrub(
                    f"{name} answered something that is not WS-Management ({type(exc).__name__}: {exc})"
                ),
                host=name,
            )
        return ProtocolError(
            self._scrub(f"{name}: WinRM request failed ({type(exc).__name__}: {exc})"), host=name
        )

    def _scrub(self, text: str) -> str:
        pw = self.spec.password.reveal() if self.spec.password is not None else ""
        return text.replace(pw, MASK) if len(pw) >= 3 else text


def ntlm_hashes(password: str) -> str:
    """The password as pyspnego's "LM:NT" hash credential, computed once per distinct password
    and run (`ConnectionSpec.credential_cache`: the run's, gone with it; a fleet usually shares
    one password). pyspnego hashes a plain password
    for every context it builds (lmowfv1 is pure-Python DES, ~1.5 ms); given the hashes it
    skips that and sends the same NTLM messages (spnego/_ntlm.py: _NTLMCredential)."""
    if is_ntlm_hash(password):  # already hashes: pyspnego would take them as such
        return password
    return f"{lmowfv1(password).hex()}:{ntowfv1(password).hex()}"


def _legacy_tls_context(verify: bool) -> ssl.SSLContext:
    """A client context that also accepts TLS 1.0 and 1.1 (certificates verified as configured)."""
    ctx = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1; the user asked for them
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 at level >= 1
    return ctx


_OLD_TLS = ("UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "PROTOCOL_VERSION", "WRONG_VERSION_NUMBER")


def _default_envelope_kb(proto: Protocol) -> int:
    """Windows' default MaxEnvelopeSizekb for the WinRM version the CreateResponse reveals: 3.0
    and later echo the shell (rsp:Shell with ShellRunTime), 2.0 (2008 R2) does not. The answer
    as LeanProtocol.open_shell parsed it (parsed once, not twice)."""
    created = getattr(proto, "create_answer", None)
    if created is not None and _descendant(created, _SHELL_RUN_TIME) is not None:
        return 500
    return 150


_SHELL_RUN_TIME = f"{{{SHELL_NS}}}ShellRunTime"


def _descendant(root: ET.Element, tag: str) -> ET.Element | None:
    """``root.find(".//" + tag)`` (the first element below the root with that tag, in document
    order; ElementPath's descendant step is ``elem.iter(tag)`` without ``elem`` itself) from the
    C iterator, without ElementPath's generators (~12k instructions per call)."""
    nodes = root.iter(tag)
    first = next(nodes, None)
    return next(nodes, None) if first is root else first


def _direct(line: str, skip_cmd_shell: bool) -> str:
    """Without cmd.exe, WinRS hands the command to CreateProcess with no PATH search: WinRM 2.0
    faults 2147942402 on a bare ``powershell.exe`` (recorded, docs/wsman-conformance.md)."""
    if skip_cmd_shell and line.startswith(bootstrap.POWERSHELL + " "):
        return POWERSHELL_PATH + line[len(bootstrap.POWERSHELL) :]
    return line


def _is_shell_gone(exc: BaseException) -> bool:
    return isinstance(exc, WSManFaultError) and exc.wsman_fault_code == FAULT_SHELL_NOT_FOUND


def _fault_text(exc: WSManFaultError) -> str:
    """The WSManFault message (Windows' detailed text), else the SOAP reason."""
    with contextlib.suppress(ET.ParseError, TypeError):
        root = ET.fromstring(exc.response)
        node = root.find(".//{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}Message")
        if node is not None and "".join(node.itertext()).strip():
            return " ".join("".join(node.itertext()).split())
    return " ".join(exc.reason.split())


def _short(exc: BaseException) -> str:
    inner = _find(exc, ssl.SSLError)
    return str(inner or exc)[:200]
