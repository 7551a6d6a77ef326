"""A simulated WS-Management (WinRM 2.0) endpoint on 127.0.0.1 that pywinrm talks to for real.

Routing: **one listener (port) per host**, like real hosts each with their own address. A
host may have an http and an https listener (`add_host`, then `add_listener`); both share its
shells. `url_for(host)` gives ``http://127.0.0.1:<port>/wsman``.

What is modelled (WinRM 2.0 defaults, domain brief 7.1; codes marked [U] are unverified):

* WinRS resource ``windows/shell/cmd``: Create (ShellId), Command (CommandId), Send (stdin,
  base64), Receive (stdout/stderr base64, CommandState Done + ExitCode, output split so a
  response fits the client's MaxEnvelopeSize), Signal (terminate / ctrl_c), Delete.
* Commands run through cmd.exe unless WINRS_SKIP_CMD_SHELL is TRUE: a line over 8,191
  characters gives cmd's "The command line is too long." on stderr and exit code 1.
  ``powershell.exe`` lines run the lab's model of powershell.exe (sim/psexe.py: arguments,
  stdin by PowerShell version, temp files), which hands scripts to the host's handler; other
  lines fail like cmd.
* stderr of PowerShell is CLIXML, with a "Preparing modules for first use." progress record
  when ``progress_noise`` is on; stdout is CRLF text in the shell's code page (WINRS_CODEPAGE).
* Faults shaped like Windows' (HTTP 500, ``s:Fault`` with ``f:WSManFault Code``): unknown
  ShellId 2150858843, OperationTimeout on Receive 2150858793 (pywinrm retries it), shell quota
  2150859173 (MaxShellsPerUser, 5). A request over MaxEnvelopeSizekb (150) gets HTTP 413.
  Idle shells are deleted after IdleTimeout (180 s).
* Auth: Negotiate/NTLM with pyspnego as the acceptor, one security context per TCP
  connection as with HTTP.sys; message encryption in the ``multipart/encrypted;
  protocol="application/HTTP-SPNEGO-session-encrypted"`` format (MS-WSMV 2.2.9.1.1, as in
  pywinrm's encryption.py); Basic only when enabled and over https or with AllowUnencrypted.
  Unencrypted bodies over http are refused with 401 unless AllowUnencrypted.
  pyspnego's acceptor reads its users from the file named by NTLM_USER_FILE: the lab writes
  one file per host and sets that variable only while a context steps, under a lock.
  A request with an encrypted body on a new connection (the old one was cut) gets the 401
  challenge; its body cannot be decrypted by the new context afterwards (400) [U].
* Output is delivered when the process has finished (no incremental streaming); a Receive
  waits up to OperationTimeout (capped at MaxTimeoutms) before the timeout fault.
* Faults for tests: `set_down` (listener closed: connection refused; open connections reset),
  `drop_sessions` (a reboot: shells gone, connections cut), `latency_s`, `set_users`.

The handler is ``handler(host_name, script) -> ExecResult | None``: the script text the client
meant to run (decoded from -EncodedCommand or the bootstrap's stdin); None makes the host
answer like powershell.exe given an unknown command (CommandNotFoundException, exit 1).
Its stderr is sent as CLIXML error records. Usage::

    with WSManLab(handler) as lab:
        port = lab.add_host("hv01", users={"Administrator": "pw"})   # http, NTLM
        lab.add_listener("hv01", scheme="https")                      # same host, TLS
        lab.url_for("hv01"), lab.ca_cert, lab.requests("hv01")
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from ..errors import LabError
from ..transports.base import ExecResult
from ..transports.clixml import encode_clixml
from . import psexe, tls

__all__ = ["Handler", "HostConfig", "RequestRecord", "WSManLab"]

Handler = Callable[[str, str], "ExecResult | None"]

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ENC_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
FAULT_SHELL_NOT_FOUND = 2150858843
FAULT_TIMED_OUT = 2150858793
FAULT_SHELL_QUOTA = 2150859173
STATUS_CONTROL_C_EXIT = -1073741510  # 0xC000013A as a signed exit code


@dataclass
class HostConfig:
    """`winrm get winrm/config` of one simulated host (WinRM 2.0 defaults)."""

    users: dict[str, str] = field(default_factory=dict)  # local accounts: name -> password
    handler: Handler | None = None  # None: the lab's handler
    allow_unencrypted: bool = False  # Service/AllowUnencrypted
    basic: bool = False  # Service/Auth/Basic
    negotiate: bool = True  # Service/Auth/Negotiate (NTLM)
    max_envelope_kb: int = 150  # MaxEnvelopeSizekb
    max_shells_per_user: int = 5  # Winrs/MaxShellsPerUser
    idle_timeout_s: float = 180.0  # Winrs/IdleTimeout
    max_timeout_s: float = 60.0  # MaxTimeoutms: longest a Receive waits
    cmd_line_limit: int = 8191  # cmd.exe
    latency_s: float = 0.0  # added to every HTTP request
    progress_noise: bool = True  # PowerShell's "Preparing modules for first use." on stderr


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request as the server saw it (what a packet capture would show)."""

    host: str
    scheme: str
    action: str  # Create Command Send Receive Signal Delete, or "" (auth handshake, empty body)
    status: int
    auth: str  # "basic", "ntlm-negotiate", "ntlm-authenticate", "connection" or ""
    content_type: str
    encrypted: bool
    body_bytes: int  # on the wire
    soap_bytes: int  # the SOAP envelope after decryption
    soap_on_wire: bool  # the SOAP text is readable in the HTTP body


@dataclass
class _Command:
    id: str
    line: str
    skip_cmd: bool
    console_stdin: bool = True  # WINRS_CONSOLEMODE_STDIN: stdin is a console, not a pipe
    stdin: bytearray = field(default_factory=bytearray)
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    stdout: bytes = b""
    stderr: bytes = b""
    rc: int = 0
    out_pos: int = 0
    err_pos: int = 0


@dataclass
class _Shell:
    id: str
    user: str
    codepage: int
    last_used: float
    commands: dict[str, _Command] = field(default_factory=dict)


class _Fault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, wsman_code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.subcode, self.reason = code, subcode, reason
        self.wsman_code, self.message = wsman_code, message


def _shell_not_found(shell_id: str) -> _Fault:
    return _Fault(
        "s:Sender",
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained "
        "invalid selectors for the resource. ",
        FAULT_SHELL_NOT_FOUND,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is "
        "incorrect or the shell no longer exists on the server. Provide the correct ShellId or "
        "create a new shell and retry the operation. ",
    )


_NTLM_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _ntlm_user_file(path: Path) -> Iterator[None]:
    """pyspnego's NTLM acceptor reads its credentials from $NTLM_USER_FILE."""
    with _NTLM_ENV_LOCK:
        old = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = str(path)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = old


def _cert_hash(pem_path: Path) -> bytes:
    """RFC 5929 tls-server-end-point hash of the listener certificate (NTLM channel binding)."""
    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    algo = cert.signature_hash_algorithm
    if algo is None or algo.name in ("md5", "sha1"):
        algo = hashes.SHA256()
    digest = hashes.Hash(algo)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return digest.finalize()


class _Conn:
    """Per-TCP-connection state: the NTLM context and who it authenticated."""

    def __init__(self) -> None:
        self.ntlm: Any = None
        self.user: str | None = None


class _Host:
    def __init__(self, lab: WSManLab, name: str, config: HostConfig) -> None:
        self.lab, self.name, self.config = lab, name, config
        self.lock = threading.Lock()
        self.shells: dict[str, _Shell] = {}
        self.listeners: dict[str, _Listener] = {}
        self.records: list[RequestRecord] = []
        self.files: dict[str, str] = {}  # %TEMP% of a handler-only host (sim/psexe.py)
        self.user_file = lab.workdir / f"ntlm-users-{name}.txt"
        self.write_user_file()

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

    # ------------------------------------------------------------------ HTTP + auth
    def handle_http(
        self, conn: _Conn, listener: _Listener, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the answer to one HTTP request; records it."""
        if self.config.latency_s:
            time.sleep(self.config.latency_s)
        ctype = headers.get("Content-Type", "")
        rec: dict[str, Any] = {"auth": "", "soap_bytes": 0, "action": "", "encrypted": False}
        rec.update(content_type=ctype, body_bytes=len(body), soap_on_wire=b"Envelope" in body)
        answer = self._answer(conn, listener, headers.get("Authorization", ""), ctype, body, rec)
        record = RequestRecord(host=self.name, scheme=listener.scheme, status=answer[0], **rec)
        with self.lock:
            self.records.append(record)
        return answer

    def _answer(
        self,
        conn: _Conn,
        listener: _Listener,
        auth: str,
        ctype: str,
        body: bytes,
        rec: dict[str, Any],
    ) -> tuple[int, dict[str, str], bytes]:
        user = self._authenticate(conn, listener, auth, rec)
        if not isinstance(user, str):
            return user  # a challenge or a refusal
        if not body:  # pywinrm's empty POST that sets up message encryption
            return 200, {}, b""
        encrypted = ctype.startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
        rec["encrypted"] = encrypted
        if encrypted:
            if ENC_PROTOCOL not in ctype or conn.ntlm is None or conn.user is None:
                return 400, {}, b""
            try:
                soap = self._decrypt(conn, body)
            except (SpnegoError, ValueError, IndexError, struct.error):
                return 400, {}, b""
        elif listener.scheme == "http" and not self.config.allow_unencrypted:
            return 401, self._challenge(), b""  # AllowUnencrypted=false
        else:
            soap = body
        rec["soap_bytes"] = len(soap)
        if len(soap) > self.config.max_envelope_kb * 1024:
            return 413, {}, b""
        status, xml, rec["action"] = self.dispatch(user, soap)
        if not encrypted:
            return status, {"Content-Type": "application/soap+xml;charset=UTF-8"}, xml.encode()
        out_type = f'multipart/encrypted;protocol="{ENC_PROTOCOL}";boundary="Encrypted Boundary"'
        return status, {"Content-Type": out_type}, self._encrypt(conn, xml.encode())

    def _authenticate(
        self, conn: _Conn, listener: _Listener, auth: str, rec: dict[str, Any]
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
        try:
            raw = base64.b64decode(token)
            msg_type = struct.unpack("<I", raw[8:12])[0] if raw[:8] == b"NTLMSSP\x00" else 0
        except (ValueError, struct.error):
            return 400, {}, b""
        conn.user = None
        try:
            with _ntlm_user_file(self.user_file):
                if msg_type == 1:
                    rec["auth"] = "ntlm-negotiate"
                    conn.ntlm = self._new_acceptor(listener)
                    challenge = base64.b64encode(conn.ntlm.step(raw) or b"").decode()
                    return 401, {"WWW-Authenticate": f"{kind} {challenge}"}, b""
                rec["auth"] = "ntlm-authenticate"
                if msg_type != 3 or conn.ntlm is None:
                    return refused
                conn.ntlm.step(raw)
        except SpnegoError:  # wrong password, bad token
            conn.ntlm = None
            return refused
        conn.user = str(conn.ntlm.client_principal or "").split("\\")[-1]
        return conn.user

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

    def _new_acceptor(self, listener: _Listener) -> Any:
        cbt = None
        if listener.cert_hash:
            cbt = GssChannelBindings(application_data=b"tls-server-end-point:" + listener.cert_hash)
        return spnego.server(  # the caller holds _ntlm_user_file
            protocol="ntlm", channel_bindings=cbt, options=spnego.NegotiateOptions.use_ntlm
        )

    @staticmethod
    def _decrypt(conn: _Conn, body: bytes) -> bytes:
        out = b""
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        for i in range(0, len(parts) - 1, 2):
            length = int(parts[i].strip().split(b"Length=")[1])
            payload = parts[i + 1]
            if payload.endswith(BOUNDARY + b"--\r\n"):
                payload = payload[: -len(BOUNDARY + b"--\r\n")]
            data = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
            sig_len = struct.unpack("<i", data[:4])[0]
            plain = conn.ntlm.unwrap(data[4 : 4 + sig_len] + data[4 + sig_len :]).data
            if len(plain) != length:
                raise ValueError("length mismatch")
            out += plain
        if not parts:
            raise ValueError("no encrypted part")
        return out

    @staticmethod
    def _encrypt(conn: _Conn, message: bytes) -> bytes:
        wrapped = conn.ntlm.wrap(message, encrypt=True).data
        sig, sealed = wrapped[:16], wrapped[16:]
        return (
            BOUNDARY + b"\r\n\tContent-Type: " + ENC_PROTOCOL.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(message)).encode()
            + b"\r\n"
            + BOUNDARY
            + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", len(sig))
            + sig
            + sealed
            + BOUNDARY
            + b"--\r\n"
        )

    # ------------------------------------------------------------------ WS-Man / WinRS
    def dispatch(self, user: str, soap: bytes) -> tuple[int, str, str]:
        """(HTTP status, response envelope, short action name) for one SOAP request."""
        try:
            env = ET.fromstring(soap)
        except ET.ParseError:
            return 400, "", "?"
        header = env.find("s:Header", NS)
        body = env.find("s:Body", NS)
        if header is None or body is None:
            return 400, "", "?"
        action = (header.findtext("a:Action", "", NS) or "").strip()
        short = action.rsplit("/", 1)[-1]
        msg_id = (header.findtext("a:MessageID", "", NS) or "").strip()
        shell_id = ""
        for sel in header.findall("w:SelectorSet/w:Selector", NS):
            if sel.get("Name") == "ShellId":
                shell_id = (sel.text or "").strip()
        options = {
            o.get("Name"): (o.text or "").strip()
            for o in header.findall("w:OptionSet/w:Option", NS)
        }
        m = re.fullmatch(r"PT([\d.]+)S", header.findtext("w:OperationTimeout", "", NS) or "")
        op_timeout = float(m.group(1)) if m else 60.0
        size = header.findtext("w:MaxEnvelopeSize", "", NS) or ""
        max_env = int(size) if size.strip().isdigit() else 153600
        try:
            with self.lock:
                self._expire_idle()
                if short == "Create":
                    return 200, self._create(user, options, msg_id), short
                shell = self.shells.get(shell_id) or self.shells.get(shell_id.upper())
                if shell is None:
                    raise _shell_not_found(shell_id)
                shell.last_used = time.monotonic()
                if short == "Delete":
                    del self.shells[shell.id]
                    return 200, _envelope(action + "Response", msg_id, ""), short
                if short == "Command":
                    return 200, self._command(shell, body, options, msg_id), short
                if short == "Send":
                    return 200, self._send(shell, body, msg_id), short
                if short == "Signal":
                    return 200, self._signal(shell, body, msg_id), short
            if short == "Receive":  # waits for output: outside the lock
                return 200, self._receive(shell, body, msg_id, op_timeout, max_env), short
            raise _Fault(
                "s:Sender",
                "a:ActionNotSupported",
                f"The action {action} is not supported.",
                2150858758,
                "",
            )  # [U] code
        except _Fault as f:
            return 500, _fault_envelope(f, msg_id, self.name), short
        except ValueError:  # bad base64 or numbers in the request
            return 400, "", short

    def _expire_idle(self) -> None:
        limit = time.monotonic() - self.config.idle_timeout_s
        for sid in [s.id for s in self.shells.values() if s.last_used < limit]:
            del self.shells[sid]

    def _create(self, user: str, options: dict[str | None, str], msg_id: str) -> str:
        mine = sum(1 for s in self.shells.values() if s.user.lower() == user.lower())
        if mine >= self.config.max_shells_per_user:
            n = self.config.max_shells_per_user
            raise _Fault(
                "s:Receiver",
                "w:QuotaLimit",  # [U] subcode
                f"The WS-Management service cannot process the request. This user is allowed a "
                f"maximum number of {n} concurrent shells, which has been exceeded. Close existing "
                "shells or raise the quota for this user. ",
                FAULT_SHELL_QUOTA,
                "",
            )
        sid = str(uuid.uuid4()).upper()
        try:
            codepage = int(options.get("WINRS_CODEPAGE") or 437)
        except ValueError:
            codepage = 437
        self.shells[sid] = _Shell(sid, user, codepage, time.monotonic())
        url = next(iter(self.listeners.values())).url if self.listeners else ""
        body = (
            f"<x:ResourceCreated><a:Address>{escape(url)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{SHELL_URI}/cmd</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{sid}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            f"</x:ResourceCreated><rsp:Shell><rsp:ShellId>{sid}</rsp:ShellId>"
            f"<rsp:ResourceUri>{SHELL_URI}/cmd</rsp:ResourceUri><rsp:Owner>{escape(user)}</rsp:Owner>"
            f"<rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:IdleTimeOut>PT{self.config.idle_timeout_s:.3f}S"
            "</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>"
            "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
        )
        return _envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", msg_id, body
        )

    def _command(
        self, shell: _Shell, body: ET.Element, options: dict[str | None, str], msg_id: str
    ) -> str:
        cl = body.find("rsp:CommandLine", NS)
        command = (cl.findtext("rsp:Command", "", NS) if cl is not None else "") or ""
        args = (cl.findtext("rsp:Arguments", "", NS) if cl is not None else "") or ""
        line = command.strip() + (" " + args if args else "")
        cmd = _Command(
            str(uuid.uuid4()).upper(),
            line,
            options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE",
            options.get("WINRS_CONSOLEMODE_STDIN", "TRUE").upper() != "FALSE",
        )
        shell.commands[cmd.id] = cmd
        if cmd.console_stdin or len(line) > self._line_limit(cmd):
            self._start(shell, cmd)  # a piped stdin is read to its end first
        body_xml = (
            f"<rsp:CommandResponse><rsp:CommandId>{cmd.id}</rsp:CommandId></rsp:CommandResponse>"
        )
        return _envelope(f"{SHELL_URI}/CommandResponse", msg_id, body_xml)

    def _line_limit(self, cmd: _Command) -> int:
        return 32766 if cmd.skip_cmd else self.config.cmd_line_limit

    def _send(self, shell: _Shell, body: ET.Element, msg_id: str) -> str:
        for stream in body.findall("rsp:Send/rsp:Stream", NS):
            cmd = self._find_command(shell, stream.get("CommandId", ""))
            if stream.get("Name") == "stdin" and not cmd.started:
                cmd.stdin += base64.b64decode((stream.text or "").strip())
                if (stream.get("End") or "").lower() == "true":
                    self._start(shell, cmd)
        return _envelope(f"{SHELL_URI}/SendResponse", msg_id, "<rsp:SendResponse/>")

    def _signal(self, shell: _Shell, body: ET.Element, msg_id: str) -> str:
        sig = body.find("rsp:Signal", NS)
        cid = sig.get("CommandId", "") if sig is not None else ""
        cmd = self._find_command(shell, cid)
        code = (sig.findtext("rsp:Code", "", NS) if sig is not None else "") or ""
        if code.endswith("/ctrl_c"):  # the process ends, the command stays until terminate
            if not cmd.done.is_set():
                cmd.rc = STATUS_CONTROL_C_EXIT
                cmd.started = True
                cmd.done.set()
        else:  # terminate
            shell.commands.pop(cmd.id, None)
        return _envelope(f"{SHELL_URI}/SignalResponse", msg_id, "<rsp:SignalResponse/>")

    def _receive(
        self, shell: _Shell, body: ET.Element, msg_id: str, op_timeout: float, max_env: int
    ) -> str:
        ds = body.find("rsp:Receive/rsp:DesiredStream", NS)
        with self.lock:
            cmd = self._find_command(shell, ds.get("CommandId", "") if ds is not None else "")
        if not cmd.done.wait(min(op_timeout, self.config.max_timeout_s)):
            raise _Fault(
                "s:Receiver",
                "w:TimedOut",
                "The WS-Management service cannot complete the operation within the time "
                "specified in OperationTimeout.  ",
                FAULT_TIMED_OUT,
                "The WS-Management service cannot complete the operation within the time "
                "specified in OperationTimeout.  ",
            )
        budget = max(1024, (max_env - 2048) * 3 // 4)
        with self.lock:
            out = cmd.stdout[cmd.out_pos : cmd.out_pos + budget]
            cmd.out_pos += len(out)
            err = cmd.stderr[cmd.err_pos : cmd.err_pos + budget - len(out)]
            cmd.err_pos += len(err)
            finished = cmd.out_pos >= len(cmd.stdout) and cmd.err_pos >= len(cmd.stderr)
        cid = cmd.id
        xml = "<rsp:ReceiveResponse>"
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                xml += f'<rsp:Stream Name="{name}" CommandId="{cid}">{base64.b64encode(data).decode()}</rsp:Stream>'
        state = f"{SHELL_URI}/CommandState/" + ("Done" if finished else "Running")
        if finished:
            xml += f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>'
            xml += f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>'
            xml += f'<rsp:CommandState CommandId="{cid}" State="{state}"><rsp:ExitCode>{cmd.rc}</rsp:ExitCode></rsp:CommandState>'
        else:
            xml += f'<rsp:CommandState CommandId="{cid}" State="{state}"/>'
        return _envelope(f"{SHELL_URI}/ReceiveResponse", msg_id, xml + "</rsp:ReceiveResponse>")

    @staticmethod
    def _find_command(shell: _Shell, cid: str) -> _Command:
        cmd = shell.commands.get(cid) or shell.commands.get(cid.upper())
        if cmd is None:
            raise _Fault(
                "s:Sender",
                "w:InvalidParameter",
                "The parameter is incorrect. ",
                87,
                "The parameter is incorrect. ",
            )
        return cmd

    # ------------------------------------------------------------------ processes
    def _start(self, shell: _Shell, cmd: _Command) -> None:
        cmd.started = True
        codec = "utf-8" if shell.codepage == 65001 else f"cp{shell.codepage}"
        try:
            "".encode(codec)
        except LookupError:
            codec = "cp437"
        threading.Thread(
            target=self._run_process, args=(cmd, codec), daemon=True, name=f"winrs-{self.name}"
        ).start()

    def _run_process(self, cmd: _Command, codec: str) -> None:
        try:
            out, err, rc = self._execute(cmd)
        except Exception as exc:  # a handler bug: report it like a crashed process
            self.lab.handler_errors.append(exc)
            out, err, rc = "", encode_clixml(f"hvprov lab: handler failed: {exc!r}"), 1
        if cmd.done.is_set():  # interrupted with ctrl_c meanwhile
            return
        cmd.stdout = out.replace("\r\n", "\n").replace("\n", "\r\n").encode(codec, "replace")
        cmd.stderr = err.encode(codec, "replace")
        cmd.rc = rc
        cmd.done.set()

    def _execute(self, cmd: _Command) -> tuple[str, str, int]:
        if len(cmd.line) > self._line_limit(cmd):
            if cmd.skip_cmd:
                return (
                    "",
                    "The filename or extension is too long.\r\n",
                    1,
                )  # [U] CreateProcess error 206
            return "", "The command line is too long.\r\n", 1
        argv = psexe.split_command_line(cmd.line)
        if not argv or not psexe.is_powershell(argv[0]):
            word = cmd.line.split(" ", 1)[0]
            return (
                "",
                f"'{word}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
                1,
            )
        noise = self.config.progress_noise
        handler = self.config.handler or self.lab.handler
        stdin = None if cmd.console_stdin else bytes(cmd.stdin)
        result = psexe.answer(self.name, argv, stdin, handler, self.files) if handler is not None else None
        if result is None:
            return "", encode_clixml(_not_recognized(" ".join(argv[1:])), progress=noise), 1
        err = encode_clixml(result.stderr, progress=noise) if (result.stderr or noise) else ""
        return result.stdout, err, result.rc


def _not_recognized(script: str) -> str:
    word = "?"
    for line in script.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word = line.split()[0]
            break
    return (
        f"The term '{word}' is not recognized as the name of a cmdlet, function, script file, or "
        "operable program. Check the spelling of the name, or if a path was included, verify that "
        "the path is correct and try again.\n"
        f"At line:1 char:{len(word) + 1}\n+ {word} <<<< \n"
        f"    + CategoryInfo          : ObjectNotFound: ({word}:String) [], CommandNotFoundException\n"
        "    + FullyQualifiedErrorId : CommandNotFoundException"
    )


def _envelope(action: str, relates_to: str, body: str) -> str:
    return (
        '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        f'xmlns:rsp="{SHELL_URI}" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:Action>{escape(action)}</a:Action><a:MessageID>uuid:{str(uuid.uuid4()).upper()}"
        "</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )


def _fault_envelope(f: _Fault, relates_to: str, machine: str) -> str:
    body = (
        f"<s:Fault><s:Code><s:Value>{f.code}</s:Value><s:Subcode><s:Value>{f.subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(f.reason)}</s:Text>'
        '</s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        f"Code={quoteattr(str(f.wsman_code))} Machine={quoteattr(machine)}><f:Message>"
        f"{escape(f.message or f.reason)}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


# ---------------------------------------------------------------------- HTTP plumbing


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = 120  # HTTP.sys idle connection timeout
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.state = _Conn()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no console noise
        pass

    def do_POST(self) -> None:  # noqa: N802
        listener = self.server.listener
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.rstrip("/").lower() != listener.host.lab.path.lower():
            status, headers, payload = 404, dict[str, str](), b""
        else:
            status, headers, payload = listener.host.handle_http(
                self.state, listener, self.headers, body
            )
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listener: _Listener) -> None:
        self.listener = listener
        super().__init__((listener.address, listener.port), _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn = request
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.listener.ssl_context is not None:
                request.settimeout(10)
                conn = self.listener.ssl_context.wrap_socket(request, server_side=True)
            self.listener.track(conn, True)
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except (OSError, ValueError):
            pass  # client went away, TLS handshake refused, connection dropped by the lab
        finally:
            self.listener.track(conn, False)
            if conn is not request:
                with contextlib.suppress(OSError):
                    conn.close()


class _Listener:
    def __init__(
        self, host: _Host, scheme: str, address: str, port: int, tls_files: tls.TlsFiles | None
    ) -> None:
        self.host, self.scheme, self.address, self.port = host, scheme, address, port
        self.ssl_context = tls.server_context(tls_files) if tls_files else None
        self.cert_hash = _cert_hash(tls_files.server_cert) if tls_files else b""
        self.server: _HTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.conns: set[Any] = set()
        self.lock = threading.Lock()
        self.bind()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}:{self.port}{self.host.lab.path}"

    def bind(self) -> None:
        if self.server is None:
            self.server = _HTTPServer(self)
            self.port = self.server.server_address[1]

    def serve(self) -> None:
        self.bind()
        if self.thread is None and self.server is not None:
            self.thread = threading.Thread(
                target=self.server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"wsman-{self.host.name}-{self.scheme}",
            )
            self.thread.start()

    def track(self, conn: Any, add: bool) -> None:
        with self.lock:
            (self.conns.add if add else self.conns.discard)(conn)

    def cut_connections(self) -> None:
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError, ValueError):
                c.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        server, thread = self.server, self.thread
        self.server = self.thread = None
        if server is not None:
            if thread is not None:
                server.shutdown()
            server.server_close()
        self.cut_connections()
        if thread is not None:
            thread.join(timeout=5)


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
        with host.lock:
            n = len(host.shells)
            host.shells.clear()
        if connections:
            for listener in host.listeners.values():
                listener.cut_connections()
        return n

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
        with host.lock:
            return len(host.shells)
