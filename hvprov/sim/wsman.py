"""A simulated WS-Management endpoint on 127.0.0.1 that pywinrm and pypsrp talk to for real.

Routing: **one listener (port) per host**, like real hosts each with their own address. A
host may have an http and an https listener (`add_host`, then `add_listener`); both share its
shells. `url_for(host)` gives ``http://127.0.0.1:<port>/wsman``.

Layers (each its own module): `wsauth` (Negotiate/NTLM/Basic, channel binding, message
encryption), `winrs` (the shell and config resources), `wsfaults` (Windows' faults and
envelopes), `cmdshell` (cmd.exe). This module is the HTTP server and the lab's controls.
`HostConfig` is ``winrm get winrm/config`` of one host; `winrm_config(version)` gives Windows'
defaults per WinRM version (2.0 on 2008 R2, 3.0 on 2012 R2 and later).

* Unauthenticated ``Identify`` is answered (no OS version, MS-WSMV); every other request
  needs authentication. Unencrypted bodies over http are refused with 401 unless
  AllowUnencrypted; a request over MaxEnvelopeSizekb gets HTTP 413. Idle shells are deleted
  after their IdleTimeOut.
* powershell.exe is modelled by `_Host.powershell` (one function: the lead can point it at
  ``hvprov.sim.psexe.run_powershell``): it decodes ``-EncodedCommand`` itself (UTF-16LE
  base64), and a script that reads ``[Console]::In`` and runs it as base64 UTF-8 (hvprov's
  stdin bootstrap, recognised by what it does) gets the command's stdin as its script. The
  handler ``handler(host_name, script) -> ExecResult | None`` answers; None is PowerShell's
  CommandNotFoundException. stderr is sent as CLIXML, with a "Preparing modules for first
  use." progress record when ``progress_noise`` is on.
* Controls for tests: `set_down` (listener closed: connection refused; open connections
  reset), `drop_sessions` (a reboot: shells gone, connections cut), `restart_service` (the
  WinRM service restarts: shells gone, HTTP.sys connections kept), `latency_s`, `set_users`.

Usage::

    with WSManLab(handler) as lab:
        port = lab.add_host("hv01", users={"Administrator": "pw"})   # http, Negotiate
        lab.add_listener("hv01", scheme="https")                      # same host, TLS
        lab.url_for("hv01"), lab.ca_cert, lab.requests("hv01")
"""

from __future__ import annotations

import base64
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ..errors import LabError
from . import psline, tls, winrs, wsauth
from . import wsfaults as wf
from .wsconfig import Handler, HostConfig, RequestRecord, winrm_config
from .wshttp import Listener as _Listener

__all__ = ["Handler", "HostConfig", "RequestRecord", "WSManLab", "winrm_config"]

ENC_PROTOCOL = wsauth.ENC_PROTOCOL
FAULT_SHELL_NOT_FOUND = wf.INVALID_SELECTORS
FAULT_TIMED_OUT = wf.TIMED_OUT
FAULT_SHELL_QUOTA = wf.SHELL_QUOTA


class _Host:
    def __init__(self, lab: WSManLab, name: str, config: HostConfig) -> None:
        self.lab, self.name, self.config = lab, name, config
        self.lock = threading.Lock()
        self.listeners: dict[str, _Listener] = {}
        self.records: list[RequestRecord] = []
        self.restart_before: dict[str, int] = {}  # action -> how many to let pass, then restart
        self.files: dict[str, str] = {}  # %TEMP% of a handler-only host (sim/psexe.py)
        self.user_file = lab.workdir / f"ntlm-users-{name}.txt"
        self.write_user_file()
        self.winrs = winrs.WinRSService(name, config, self.powershell, lab.handler_errors.append)

    @property
    def shells(self) -> dict[str, winrs.Shell]:
        return self.winrs.shells

    def write_user_file(self) -> None:
        lines = []
        for user, pw in self.config.users.items():
            if any(c in user + pw for c in ":\r\n"):
                raise LabError(
                    f"lab host {self.name}: user names and passwords may not contain ':' or newlines"
                )
            for domain in ("", ".", self.name.upper()):
                lines.append(f"{domain}:{user}:{pw}")
        self.user_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.user_file.chmod(0o600)

    # ------------------------------------------------------------------ powershell.exe
    def powershell(self, args: list[str], read_stdin: Callable[[], bytes] | None) -> tuple[str, str, int]:
        """(stdout, CLIXML stderr, rc) of powershell.exe with `args` on this host (sim/psexe.py)."""
        handler = self.config.handler or self.lab.handler
        return psline.run(handler, self.name, args, read_stdin, files=self.files,
                          progress_noise=self.config.progress_noise)

    # ------------------------------------------------------------------ HTTP + auth
    def handle_http(
        self, conn: wsauth.Conn, listener: _Listener, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the answer to one HTTP request; records it."""
        if self.config.latency_s:
            time.sleep(self.config.latency_s)
        ctype = headers.get("Content-Type", "")
        rec: dict[str, Any] = {"auth": "", "soap_bytes": 0, "action": "", "encrypted": False, "fault": None}
        rec.update(content_type=ctype, body_bytes=len(body), soap_on_wire=b"Envelope" in body)
        answer = self._answer(conn, listener, headers.get("Authorization", ""), ctype, body, rec)
        if answer[0] < 400 and conn.reply_header:
            answer = answer[0], {**answer[1], **conn.reply_header}, answer[2]
            conn.reply_header = {}
        if listener.scheme == "https":
            rec["cbt"], rec["tls"] = conn.cbt_sent, conn.tls
        record = RequestRecord(host=self.name, scheme=listener.scheme, status=answer[0], **rec)
        with self.lock:
            self.records.append(record)
        return answer

    def _answer(
        self, conn: wsauth.Conn, listener: _Listener, auth: str, ctype: str, body: bytes,
        rec: dict[str, Any],
    ) -> tuple[int, dict[str, str], bytes]:
        if not auth and conn.user is None and body and b"Identify" in body:
            identify = self._identify(body, authenticated=False)
            if identify is not None:
                rec.update(action="Identify", soap_bytes=len(body))
                return 200, {"Content-Type": "application/soap+xml;charset=UTF-8"}, identify
        user = self._authenticate(conn, listener, auth, rec)
        if not isinstance(user, str):
            return user  # a challenge or a refusal
        if not body:  # the empty POST that sets up message encryption
            return 200, {}, b""
        encrypted = ctype.startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
        rec["encrypted"] = encrypted
        if encrypted:
            if ENC_PROTOCOL not in ctype or conn.ntlm is None or conn.user is None:
                return 400, {}, b""
            try:
                soap = wsauth.decrypt(conn, body)
            except Exception:  # noqa: BLE001 - anything undecryptable is a bad request
                return 400, {}, b""
        elif listener.scheme == "http" and not self.config.allow_unencrypted:
            return 401, self._challenge(), b""  # AllowUnencrypted=false
        else:
            soap = body
        rec["soap_bytes"] = len(soap)
        if len(soap) > self.config.max_envelope_kb * 1024:
            return 413, {}, b""
        status, xml, rec["action"] = self.dispatch(user, soap, listener)
        code = re.search(r'WSManFault [^>]*Code="(\d+)"', xml) if status == 500 else None
        rec["fault"] = int(code.group(1)) if code else None
        if not encrypted:
            return status, {"Content-Type": "application/soap+xml;charset=UTF-8"}, xml.encode()
        out_type = f'multipart/encrypted;protocol="{ENC_PROTOCOL}";boundary="Encrypted Boundary"'
        return status, {"Content-Type": out_type}, wsauth.encrypt(conn, xml.encode())

    def _identify(self, body: bytes, *, authenticated: bool) -> bytes | None:
        try:
            env = ET.fromstring(body)
        except ET.ParseError:
            return None
        if env.find(f"{{{winrs.NS['s']}}}Body/{{{wf.WSMID}}}Identify") is None:
            return None
        os_version = self.config.os_version if authenticated else None
        return wf.identify_response(self.config.winrm_version, os_version).encode()

    def _authenticate(
        self, conn: wsauth.Conn, listener: _Listener, auth: str, rec: dict[str, Any]
    ) -> str | tuple[int, dict[str, str], bytes]:
        """The authenticated user, or the 401 answer (challenge, next NTLM leg, refusal)."""
        cfg = self.config
        refused = 401, self._challenge(), b""
        kind, _, token = auth.partition(" ")
        if not kind:
            rec["auth"] = "connection" if conn.user is not None else ""
            return conn.user if conn.user is not None else refused
        if kind.lower() == "basic":
            rec["auth"] = "basic"
            if not cfg.basic or (listener.scheme == "http" and not cfg.allow_unencrypted):
                return refused
            return self._check_basic(token) or refused
        if kind.lower() not in ("negotiate", "ntlm") or not cfg.negotiate:
            return refused
        result = wsauth.negotiate_step(
            conn, kind, token, user_file=self.user_file, cbt=listener.cert_hash, level=cfg.cbt_hardening
        )
        rec["auth"] = "ntlm-" + conn.last_leg
        if isinstance(result, tuple) and result[0] == 401 and conn.last_leg != "negotiate":
            return refused
        return result

    def _challenge(self) -> dict[str, str]:
        offers = (["Negotiate"] if self.config.negotiate else []) + (
            ['Basic realm="WSMAN"'] if self.config.basic else []
        )
        return {"WWW-Authenticate": ", ".join(offers)} if offers else {}

    def _check_basic(self, token: str) -> str | None:
        try:
            user, _, pw = base64.b64decode(token).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        user = user.split("\\")[-1]
        for name, secret in self.config.users.items():
            if name.lower() == user.lower() and secret == pw:
                return name
        return None

    # ------------------------------------------------------------------ WS-Man
    def dispatch(self, user: str, soap: bytes, listener: _Listener | None = None) -> tuple[int, str, str]:
        """(HTTP status, response envelope, short action name) for one SOAP request."""
        try:
            req = winrs.parse(soap)
        except wf.Fault as f:
            return 500, wf.fault_envelope(f, _message_id(soap), self.name), "?"
        if req is None:
            identify = self._identify(soap, authenticated=True)
            return (200, identify.decode(), "Identify") if identify else (400, "", "?")
        short = req.action.rsplit("/", 1)[-1]
        if not req.action:
            identify = self._identify(soap, authenticated=True)
            if identify is not None:
                return 200, identify.decode(), "Identify"
        if listener is None:
            listener = next(iter(self.listeners.values()))
        with self.lock:
            left = self.restart_before.get(short)
            restart = left == 0
            if left is not None:
                if restart:
                    del self.restart_before[short]
                else:
                    self.restart_before[short] = left - 1
        if restart:  # the WinRM service restarted just before this request arrived
            self.winrs.drop_all()
        status, xml = self.winrs.dispatch(user, req, listener.url)
        return status, xml, short


def _message_id(soap: bytes) -> str:
    m = re.search(rb"MessageID[^>]*>([^<]+)<", soap)
    return m.group(1).decode("utf-8", "replace").strip() if m else ""


class WSManLab:
    """Simulated WinRM hosts on 127.0.0.1. Use as a context manager or start()/stop()."""

    path = "/wsman"

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        workdir: Path | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.handler = handler
        self.address = address
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="hvprov-wsman-")
        self.workdir = Path(workdir) if workdir else Path(self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hosts: dict[str, _Host] = {}
        self.handler_errors: list[BaseException] = []
        self._tls: tls.TlsFiles | None = None
        self._up_timers: dict[str, threading.Timer] = {}
        self._updown = threading.RLock()
        self._timers: list[threading.Timer] = []
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> WSManLab:
        self._started = True
        for host in self.hosts.values():
            for listener in host.listeners.values():
                listener.serve()
        return self

    def stop(self) -> None:
        self._started = False
        for t in self._timers:
            t.cancel()
        for host in self.hosts.values():
            for listener in host.listeners.values():
                listener.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> WSManLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ hosts
    @property
    def tls_files(self) -> tls.TlsFiles:
        """The lab CA and listener certificate (created on first use)."""
        if self._tls is None:
            self._tls = tls.make_tls_files(self.workdir / "tls")
        return self._tls

    @property
    def ca_cert(self) -> Path:
        return self.tls_files.ca_cert

    def add_host(
        self,
        name: str,
        *,
        scheme: str = "http",
        port: int = 0,
        config: HostConfig | None = None,
        **settings: Any,
    ) -> int:
        """Add a host with one listener; returns its port. `settings` are HostConfig fields."""
        if name in self.hosts:
            raise LabError(f"lab host {name} already exists (use add_listener for another scheme)")
        cfg = replace(config or HostConfig(), **settings)
        self.hosts[name] = _Host(self, name, cfg)
        return self.add_listener(name, scheme=scheme, port=port)

    def add_listener(self, name: str, *, scheme: str = "https", port: int = 0) -> int:
        host = self._host(name)
        if scheme not in ("http", "https") or scheme in host.listeners:
            raise LabError(f"lab host {name}: cannot add a {scheme} listener")
        listener = _Listener(
            host, scheme, self.address, port, self.tls_files if scheme == "https" else None
        )
        host.listeners[scheme] = listener
        if self._started:
            listener.serve()
        return listener.port

    def _host(self, name: str) -> _Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise LabError(f"no lab host {name}") from None

    def config(self, name: str) -> HostConfig:
        """The host's live configuration (change latency_s, max_envelope_kb ... in place)."""
        return self._host(name).config

    def set_users(self, name: str, users: dict[str, str]) -> None:
        host = self._host(name)
        host.config.users = dict(users)
        host.write_user_file()

    def url_for(self, name: str, scheme: str | None = None) -> str:
        return self._listener(name, scheme).url

    def port_for(self, name: str, scheme: str | None = None) -> int:
        return self._listener(name, scheme).port

    def _listener(self, name: str, scheme: str | None) -> _Listener:
        host = self._host(name)
        if scheme is None:
            return next(iter(host.listeners.values()))
        if scheme not in host.listeners:
            raise LabError(f"lab host {name} has no {scheme} listener")
        return host.listeners[scheme]

    # ------------------------------------------------------------------ faults
    def set_down(self, name: str, until: float | None = None) -> None:
        """Stop answering: listeners closed (connection refused), open connections reset.

        `until` is a time.monotonic() deadline after which the host is back; None means
        until `set_up`.
        """
        host = self._host(name)
        with self._updown:  # one down/up transition at a time; the newest deadline wins
            pending = self._up_timers.pop(name, None)
            if pending is not None:
                pending.cancel()
            for listener in host.listeners.values():
                listener.close()
            if until is not None:
                timer = threading.Timer(max(0.0, until - time.monotonic()), self.set_up, args=(name,))
                timer.daemon = True
                self._timers.append(timer)
                self._up_timers[name] = timer
                timer.start()

    def set_up(self, name: str) -> None:
        host = self._host(name)
        with self._updown:
            current = self._up_timers.get(name)
            if current is not None and current is not threading.current_thread():
                self._up_timers.pop(name, None)
                current.cancel()
            elif current is threading.current_thread():
                self._up_timers.pop(name, None)
            for listener in host.listeners.values():
                if self._started:
                    listener.serve()

    def drop_sessions(self, name: str, *, connections: bool = True) -> int:
        """Close every shell of the host (a reboot or a WinRM restart); returns how many.

        With `connections`, open TCP connections are cut too, as a reboot does.
        """
        host = self._host(name)
        n = host.winrs.drop_all()
        if connections:
            for listener in host.listeners.values():
                listener.cut_connections()
        return n

    def restart_service(self, name: str) -> int:
        """``Restart-Service WinRM``: every shell and command is gone (the next request naming
        one gets Windows' w:InvalidSelectors 2150858843); HTTP.sys keeps the TCP connections
        and their security contexts [U]. Returns how many shells were lost."""
        return self.drop_sessions(name, connections=False)

    def restart_service_before(self, name: str, action: str = "Command", *, after: int = 0) -> None:
        """Restart the WinRM service just before the host's `action` request number `after` + 1
        from now (one shot): shells are gone by the time that request is served."""
        host = self._host(name)
        with host.lock:
            host.restart_before[action] = after

    # ------------------------------------------------------------------ observation
    def requests(self, name: str) -> list[RequestRecord]:
        host = self._host(name)
        with host.lock:
            return list(host.records)

    def clear_requests(self, name: str) -> None:
        host = self._host(name)
        with host.lock:
            host.records.clear()

    def shell_count(self, name: str) -> int:
        host = self._host(name)
        with host.winrs.lock:
            return len(host.winrs.shells)
