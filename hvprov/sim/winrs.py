"""The WinRS (``windows/shell/cmd``) and ``winrm/config`` resources of one simulated host.

Requests and answers follow the exchanges recorded from real Windows hosts in pypsrp's test
suite (tests/tests_pypsrp/responses/*.yml) and MS-WSMV 3.1.4.1; docs/wsman-conformance.md maps
each behaviour to its source. Processes run in threads through `cmdshell` (cmd.exe) unless
WINRS_SKIP_CMD_SHELL is TRUE; their output is published as they write it, and a Receive
returns as soon as some output is there (CommandState Running) or the process has ended.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from . import cmdshell
from . import wsfaults as wf

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": wf.SHELL_URI,
}
CMD_URI = wf.SHELL_URI + "/cmd"
CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
STATUS_CONTROL_C_EXIT = -1073741510  # 0xC000013A as a signed exit code
_DURATION = re.compile(r"^PT(\d+(?:\.\d+)?)S$")


@dataclass
class Command:
    id: str
    line: str
    skip_cmd: bool
    console_stdin: bool = True  # WINRS_CONSOLEMODE_STDIN: stdin is a console, not a pipe
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    rc: int = 0
    done: bool = False
    out_pos: int = 0
    err_pos: int = 0
    out_seen: int = 0  # bytes of out/err published to Receive (the process flushed them)
    err_seen: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)


@dataclass
class Shell:
    id: str
    user: str
    codepage: int
    last_used: float
    idle_s: float
    env: dict[str, str]
    cwd: str | None
    created: float
    commands: dict[str, Command] = field(default_factory=dict)


@dataclass
class Request:
    action: str
    msg_id: str
    resource: str
    selectors: dict[str, str]
    options: dict[str, str]
    timeout_s: float
    max_env: int
    body: ET.Element


def parse(soap: bytes) -> Request | None:
    """The parts of a WS-Management request the service uses; a bad OperationTimeout faults."""
    try:
        env = ET.fromstring(soap)
    except ET.ParseError:
        return None
    header, body = env.find("s:Header", NS), env.find("s:Body", NS)
    if header is None or body is None:
        return None
    msg_id = (header.findtext("a:MessageID", "", NS) or "").strip()
    selectors = {
        str(s.get("Name")): (s.text or "").strip()
        for s in header.findall("w:SelectorSet/w:Selector", NS)
    }
    options = {
        str(o.get("Name")): (o.text or "").strip() for o in header.findall("w:OptionSet/w:Option", NS)
    }
    raw = (header.findtext("w:OperationTimeout", "", NS) or "").strip()
    m = _DURATION.match(raw)
    if raw and (not m or float(m.group(1)) <= 0):
        raise wf.invalid_timeout(raw)
    size = (header.findtext("w:MaxEnvelopeSize", "", NS) or "").strip()
    return Request(
        action=(header.findtext("a:Action", "", NS) or "").strip(),
        msg_id=msg_id,
        resource=(header.findtext("w:ResourceURI", "", NS) or "").strip(),
        selectors=selectors,
        options=options,
        timeout_s=float(m.group(1)) if m else 60.0,
        max_env=int(size) if size.isdigit() else 153600,
        body=body,
    )


class WinRSService:
    """Shells of one host. `config` is the host's HostConfig (read live)."""

    def __init__(self, name: str, config: Any, powershell: Callable[..., tuple[str, str, int]],
                 on_error: Callable[[BaseException], None]) -> None:
        self.name, self.config = name, config
        self.powershell, self.on_error = powershell, on_error
        self.lock = threading.Lock()
        self.shells: dict[str, Shell] = {}

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, user: str, req: Request, address: str) -> tuple[int, str]:
        short = req.action.rsplit("/", 1)[-1]
        try:
            if req.action == TRANSFER + "Get" and req.resource.lower() == CONFIG_URI:
                return 200, wf.envelope(TRANSFER + "GetResponse", req.msg_id, self._config())
            if req.action == TRANSFER + "Create" and req.resource.lower() == CMD_URI:
                return 200, self._create(user, req, address)
            if short not in ("Command", "Send", "Receive", "Signal", "Delete") or (
                req.action != TRANSFER + "Delete" and not req.action.startswith(wf.SHELL_URI + "/")
            ):
                raise wf.action_not_supported(req.action)
            shell = self._shell(req)
            if short == "Receive":  # waits for output: outside the lock
                return 200, self._receive(shell, req)
            with self.lock:
                if short == "Delete":
                    self._close(shell)
                    return 200, wf.envelope(TRANSFER + "DeleteResponse", req.msg_id, "")
                handler = {"Command": self._command, "Send": self._send, "Signal": self._signal}[short]
                return 200, handler(shell, req)
        except wf.Fault as f:
            return 500, wf.fault_envelope(f, req.msg_id, self.name)

    def _shell(self, req: Request) -> Shell:
        sid = req.selectors.get("ShellId")
        if not sid:
            raise wf.missing_shell_id()
        with self.lock:
            self.expire_idle()
            shell = self.shells.get(sid.upper())
            if shell is None:
                raise wf.shell_not_found(sid)
            shell.last_used = time.monotonic()
            return shell

    def expire_idle(self) -> None:
        now = time.monotonic()
        for sid in [s.id for s in self.shells.values() if s.last_used < now - s.idle_s]:
            self._close(self.shells[sid])

    def _close(self, shell: Shell) -> None:
        self.shells.pop(shell.id, None)
        for cmd in shell.commands.values():
            _finish(cmd, None)

    def drop_all(self) -> int:
        with self.lock:
            shells = list(self.shells.values())
            for s in shells:
                self._close(s)
        return len(shells)

    # ------------------------------------------------------------------ resources
    def _config(self) -> str:
        c = self.config
        return wf.config_body({
            "MaxEnvelopeSizekb": c.max_envelope_kb, "MaxTimeoutms": int(c.max_timeout_s * 1000),
            "AllowUnencrypted": c.allow_unencrypted, "Basic": c.basic, "Negotiate": c.negotiate,
            "CbtHardeningLevel": c.cbt_hardening, "IdleTimeout": int(c.idle_timeout_s * 1000),
            "MaxConcurrentUsers": c.max_concurrent_users, "MaxProcessesPerShell": c.max_processes_per_shell,
            "MaxMemoryPerShellMB": c.max_memory_per_shell_mb, "MaxShellsPerUser": c.max_shells_per_user,
        })

    def _create(self, user: str, req: Request, address: str) -> str:
        spec = req.body.find("rsp:Shell", NS)
        spec = spec if spec is not None else ET.Element("none")
        idle = self.config.idle_timeout_s
        m = _DURATION.match((spec.findtext("rsp:IdleTimeOut", "", NS) or "").strip())
        if m:
            idle = min(float(m.group(1)), self.config.idle_timeout_s)
        env = {str(v.get("Name")): v.text or "" for v in spec.findall("rsp:Environment/rsp:Variable", NS)}
        cwd = spec.findtext("rsp:WorkingDirectory", None, NS)
        try:
            codepage = int(req.options.get("WINRS_CODEPAGE") or 437)
        except ValueError:
            codepage = 437
        with self.lock:
            self.expire_idle()
            mine = sum(1 for s in self.shells.values() if s.user.lower() == user.lower())
            if mine >= self.config.max_shells_per_user:
                raise wf.shell_quota(self.config.max_shells_per_user)
            sid = (spec.get("ShellId") or str(uuid.uuid4())).upper()
            now = time.monotonic()
            self.shells[sid] = Shell(sid, user, codepage, now, idle, env, cwd, now)
        body = (
            f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{CMD_URI}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{sid}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            "</x:ResourceCreated>"
        )
        if self.config.winrm_version != "2.0":  # WinRM 2.0 answers with ResourceCreated only
            body += self._shell_xml(self.shells[sid])
        return wf.envelope(TRANSFER + "CreateResponse", req.msg_id, body)

    def _shell_xml(self, shell: Shell) -> str:
        env = "".join(
            f"<rsp:Variable Name={quoteattr(k)}>{escape(v)}</rsp:Variable>" for k, v in shell.env.items()
        )
        return (
            f'<rsp:Shell xmlns:rsp="{wf.SHELL_URI}"><rsp:ShellId>{shell.id}</rsp:ShellId>'
            f"<rsp:ResourceUri>{CMD_URI}</rsp:ResourceUri><rsp:Owner>{escape(shell.user)}</rsp:Owner>"
            "<rsp:ClientIP>127.0.0.1</rsp:ClientIP>"
            + (f"<rsp:Environment>{env}</rsp:Environment>" if shell.env else "")
            + (f"<rsp:WorkingDirectory>{escape(shell.cwd)}</rsp:WorkingDirectory>" if shell.cwd else "")
            + f"<rsp:IdleTimeOut>PT{shell.idle_s:.3f}S</rsp:IdleTimeOut>"
            "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
            "</rsp:Shell>"
        )

    def _command(self, shell: Shell, req: Request) -> str:
        cl = req.body.find("rsp:CommandLine", NS)
        cl = cl if cl is not None else ET.Element("none")
        command = (cl.findtext("rsp:Command", "", NS) or "").strip()
        args = [a.text or "" for a in cl.findall("rsp:Arguments", NS)]
        line = " ".join([command, *args]) if args else command
        skip = req.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        if skip and self.config.winrm_version == "2.0" and "\\" not in command:
            raise wf.file_not_found()  # CreateProcess without a path: recorded on 2008 R2
        # pywinrm sends TRUE unless it streams stdin (then FALSE, as Ansible's winrm plugin does);
        # pypsrp sends no option and streams stdin to a pipe: absent is taken as a pipe [U].
        console = req.options.get("WINRS_CONSOLEMODE_STDIN", "FALSE").upper() == "TRUE"
        cmd = Command((cl.get("CommandId") or str(uuid.uuid4())).upper(), line, skip, console)
        shell.commands[cmd.id] = cmd
        threading.Thread(target=self._run, args=(shell, cmd), daemon=True, name=f"winrs-{self.name}").start()
        body = f"<rsp:CommandResponse><rsp:CommandId>{cmd.id}</rsp:CommandId></rsp:CommandResponse>"
        return wf.envelope(f"{wf.SHELL_URI}/CommandResponse", req.msg_id, body)

    def _find(self, shell: Shell, cid: str | None) -> Command:
        if not cid:
            raise wf.invalid_parameter()
        cmd = shell.commands.get(cid.upper())
        if cmd is None:
            raise wf.command_not_found()
        return cmd

    def _send(self, shell: Shell, req: Request) -> str:
        for stream in req.body.findall("rsp:Send/rsp:Stream", NS):
            cmd = self._find(shell, stream.get("CommandId"))
            with cmd.changed:
                if stream.get("Name") == "stdin" and not cmd.stdin_closed:
                    cmd.stdin += base64.b64decode((stream.text or "").strip())
                    cmd.stdin_closed = (stream.get("End") or "").lower() == "true"
                    cmd.changed.notify_all()
        return wf.envelope(f"{wf.SHELL_URI}/SendResponse", req.msg_id, "<rsp:SendResponse/>")

    def _signal(self, shell: Shell, req: Request) -> str:
        sig = req.body.find("rsp:Signal", NS)
        cmd = self._find(shell, sig.get("CommandId") if sig is not None else None)
        code = (sig.findtext("rsp:Code", "", NS) if sig is not None else "") or ""
        if code.endswith("/ctrl_c"):  # the process ends, the command stays until terminate
            _finish(cmd, STATUS_CONTROL_C_EXIT)
        else:  # terminate
            _finish(cmd, None)
            shell.commands.pop(cmd.id, None)
        return wf.envelope(f"{wf.SHELL_URI}/SignalResponse", req.msg_id, "<rsp:SignalResponse/>")

    def _receive(self, shell: Shell, req: Request) -> str:
        ds = req.body.find("rsp:Receive/rsp:DesiredStream", NS)
        with self.lock:
            cmd = self._find(shell, ds.get("CommandId") if ds is not None else None)
        deadline = time.monotonic() + min(req.timeout_s, self.config.max_timeout_s)
        budget = max(1024, (req.max_env - 2048) * 3 // 4)
        with cmd.changed:
            while not (cmd.done or cmd.out_seen > cmd.out_pos or cmd.err_seen > cmd.err_pos):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise wf.timed_out()
                cmd.changed.wait(left)
            out = bytes(cmd.out[cmd.out_pos : min(cmd.out_seen, cmd.out_pos + budget)])
            cmd.out_pos += len(out)
            err = bytes(cmd.err[cmd.err_pos : min(cmd.err_seen, cmd.err_pos + budget - len(out))])
            cmd.err_pos += len(err)
            finished = cmd.done and cmd.out_pos >= len(cmd.out) and cmd.err_pos >= len(cmd.err)
            rc = cmd.rc
        cid, xml = cmd.id, "<rsp:ReceiveResponse>"
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                xml += f'<rsp:Stream Name="{name}" CommandId="{cid}">{base64.b64encode(data).decode()}</rsp:Stream>'
        state = f"{wf.SHELL_URI}/CommandState/" + ("Done" if finished else "Running")
        if finished:
            xml += f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>'
            xml += f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>'
            xml += f'<rsp:CommandState CommandId="{cid}" State="{state}"><rsp:ExitCode>{rc}</rsp:ExitCode></rsp:CommandState>'
        else:
            xml += f'<rsp:CommandState CommandId="{cid}" State="{state}"></rsp:CommandState>'
        return wf.envelope(f"{wf.SHELL_URI}/ReceiveResponse", req.msg_id, xml + "</rsp:ReceiveResponse>")

    # ------------------------------------------------------------------ processes
    def _run(self, shell: Shell, cmd: Command) -> None:
        codec = "utf-8" if shell.codepage == 65001 else f"cp{shell.codepage}"
        try:
            "".encode(codec)
        except LookupError:
            codec = "cp437"

        def write(stream: str, text: str) -> None:
            with cmd.changed:
                if cmd.done:
                    return
                if stream == "stdout":
                    cmd.out += text.replace("\r\n", "\n").replace("\n", "\r\n").encode(codec, "replace")
                else:
                    cmd.err += text.encode(codec, "replace")

        def flush() -> None:  # what the process wrote so far becomes visible to Receive
            with cmd.changed:
                cmd.out_seen, cmd.err_seen = len(cmd.out), len(cmd.err)
                cmd.changed.notify_all()

        def read_stdin() -> bytes:
            with cmd.changed:
                end = time.monotonic() + self.config.idle_timeout_s
                while not (cmd.stdin_closed or cmd.done) and time.monotonic() < end:
                    cmd.changed.wait(0.5)
                return bytes(cmd.stdin)

        profile = f"C:\\Users\\{shell.user}"
        env = {"COMPUTERNAME": self.name.upper(), "USERNAME": shell.user, "USERPROFILE": profile,
               "SystemRoot": r"C:\Windows", "windir": r"C:\Windows", "SystemDrive": "C:",
               "ComSpec": r"C:\Windows\system32\cmd.exe", **shell.env}
        ctx = cmdshell.Context(
            hostname=self.name.upper(), write=write, env=env,
            powershell=lambda args, _stdin: self.powershell(args, None if cmd.console_stdin else read_stdin),
            write_delay_s=self.config.write_delay_s, cwd=shell.cwd or profile, flush=flush,
        )
        try:
            if cmd.skip_cmd:
                if len(cmd.line) > 32766:
                    write("stderr", "The filename or extension is too long.\r\n")  # [U] error 206
                    rc = 1
                else:
                    argv = cmdshell.split_args(cmd.line)
                    rc = cmdshell.run_program(ctx, argv[0], argv[1:]) if argv else 0
            else:
                rc = cmdshell.run_line(ctx, cmd.line)
        except Exception as exc:  # a handler bug: report it like a crashed process
            self.on_error(exc)
            write("stderr", f"hvprov lab: handler failed: {exc!r}")
            rc = 1
        _finish(cmd, rc)


def _finish(cmd: Command, rc: int | None) -> None:
    """The process ended with `rc` (None: killed, keep what it had); its output and its end
    become visible together."""
    with cmd.changed:
        if not cmd.done:
            cmd.done = True
            cmd.stdin_closed = True
            cmd.out_seen, cmd.err_seen = len(cmd.out), len(cmd.err)
            if rc is not None:
                cmd.rc = rc
        cmd.changed.notify_all()
