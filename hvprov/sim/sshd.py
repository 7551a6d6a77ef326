"""A simulated Windows OpenSSH server for the lab: real SSH (paramiko) on 127.0.0.1.

Each lab host listens on its own port and answers like Win32-OpenSSH whose default shell is
``cmd.exe``: an exec request's command line runs as ``cmd.exe /c <line>`` (`cmdshell`: at most
8,191 characters, "The command line is too long." and exit 1; a program cmd does not know is
"'X' is not recognized as an internal or external command" with exit 9009). powershell.exe is
`psline`: the script (from ``-EncodedCommand``, or from stdin for the stdin bootstrap, which
reads stdin to EOF) goes to a **handler** ``handler(host_name, script) -> ExecResult | None``,
whose stderr is sent as CLIXML as powershell.exe writes it when redirected; None means this
host has no powershell.exe (cmd's 9009). stdout and stderr are sent concurrently (as a real
process writes both), then the exit status. ``direct-tcpip`` channels are forwarded, so a lab
host can be a jump host. User names are case-insensitive (Windows accounts); a PTY request is
refused (the exec still runs, without a terminal).

    with SSHLab(tmp_path / "keys", handler=my_handler) as lab:
        port = lab.add_host("hv01", users={"admin": "pw"}, authorized_keys=[pubkey])
        known_hosts.write_text(lab.host_key_line("hv01") + "\\n")
        lab.set_down("hv01", time.time() + 2)   # drops connections, refuses new ones for 2 s

Host keys are ed25519 and RSA (as ``ssh-keygen -A`` gives a Windows OpenSSH install), generated
once per host and persisted in ``key_dir`` (so a lab restarted on the same directory keeps its
identities); `host_key_line` is the ed25519 one; `rotate_host_key` makes a new ed25519 key.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import selectors
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import LabError
from ..transports.base import ExecResult
from . import cmdshell, psline

Handler = Callable[[str, str], "ExecResult | None"]

LOCALHOST = "127.0.0.1"
_POLL = 0.05  # how often idle threads look at the lab's flags
_STDIN_TIMEOUT = 60.0  # a client that never sends EOF on stdin

log = logging.getLogger(__name__)


def _readable(objs: list[Any], timeout: float) -> list[Any]:
    """select() for any number of descriptors (poll-based selectors; select() stops at fd 1024)."""
    with selectors.DefaultSelector() as sel:
        for obj in objs:
            sel.register(obj, selectors.EVENT_READ)
        return [key.fileobj for key, _ in sel.select(timeout)]


def answer(host: str, command: str, read_stdin: Callable[[], bytes], handler: Handler,
           files: dict[str, str] | None = None) -> ExecResult:
    """What a Windows host with cmd.exe as OpenSSH's default shell answers to one exec request;
    powershell.exe is the lab's model of it (sim/psexe.py via psline), with `files` its %TEMP%."""
    files = {} if files is None else files
    out: list[str] = []
    err: list[str] = []

    def write(stream: str, text: str) -> None:  # a Windows console program writes CRLF lines
        if stream == "stdout":
            out.append(text.replace("\r\n", "\n").replace("\n", "\r\n"))
        else:
            err.append(text)

    def powershell(args: list[str], _stdin: bytes) -> tuple[str, str, int]:
        missing = ("", cmdshell.not_recognized("powershell.exe"), cmdshell.NOT_RECOGNIZED_RC)
        return psline.run(handler, host, args, read_stdin, files=files, on_missing=missing)

    ctx = cmdshell.Context(hostname=host.upper(), write=write, powershell=powershell,
                           env={"COMPUTERNAME": host.upper(), "SystemRoot": r"C:\Windows"})
    rc = cmdshell.run_line(ctx, command)
    return ExecResult(stdout="".join(out), stderr="".join(err), rc=rc)


def _new_ed25519(path: Path) -> paramiko.PKey:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    tmp.replace(path)
    return paramiko.Ed25519Key(filename=str(path))


def _rsa_key(path: Path) -> paramiko.PKey:
    """The host's RSA key (3072 bits, ssh-keygen's default), made once and kept in `path`."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = paramiko.RSAKey.generate(3072)
        tmp = path.with_suffix(".tmp")
        key.write_private_key_file(str(tmp))
        tmp.chmod(0o600)
        tmp.replace(path)
    return paramiko.RSAKey(filename=str(path))


def _public_blob(key: paramiko.PKey | str) -> bytes:
    """The wire form of a public key given as a PKey or an authorized_keys line."""
    if isinstance(key, paramiko.PKey):
        return key.asbytes()
    parts = key.split()
    for i, part in enumerate(parts):  # skip options ("from=...") before the key type
        if re.fullmatch(r"(ssh|ecdsa-sha2|sk)-[\w@.-]+", part) and i + 1 < len(parts):
            return paramiko.PublicBlob.from_string(f"{part} {parts[i + 1]}").key_blob
    raise LabError(f"not a public key line: {key[:40]!r}")


@dataclass
class _Host:
    name: str
    port: int
    key_path: Path
    host_key: paramiko.PKey
    users: dict[str, str | None]
    authorized: set[bytes]
    handler: Handler
    latency: float
    listener: socket.socket | None = None
    rsa_key: paramiko.PKey | None = None  # offered next to the ed25519 key
    down_until: float | None = None
    frozen: bool = False
    transports: set[paramiko.Transport] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)  # %TEMP% of a handler-only host (sim/psexe.py)
    connections: int = 0  # accepted SSH connections (for reuse checks)
    execs: int = 0  # exec requests answered
    thread: threading.Thread | None = None


class _Server(paramiko.ServerInterface):
    """One connection's view of the server (paramiko calls these from its transport thread)."""

    def __init__(self, lab: SSHLab, host: _Host) -> None:
        self.lab = lab
        self.host = host
        self.commands: dict[int, str] = {}
        self.forwards: dict[int, tuple[str, int]] = {}
        self.exec_ready = threading.Condition()

    # -- auth
    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def _user(self, username: str) -> str | None:
        """Windows account names are case-insensitive."""
        return next((u for u in self.host.users if u.lower() == username.lower()), None)

    def check_auth_password(self, username: str, password: str) -> int:
        user = self._user(username)
        expected = self.host.users.get(user) if user is not None else None
        if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if self._user(username) is not None and key.asbytes() in self.host.authorized:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    # -- channels
    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_UNKNOWN_CHANNEL_TYPE

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        self.forwards[chanid] = (str(destination[0]), int(destination[1]))
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        with self.exec_ready:
            self.commands[channel.get_id()] = command.decode("utf-8", "replace")
            self.exec_ready.notify_all()
        return True

    def check_channel_pty_request(self, channel: paramiko.Channel, term: bytes, width: int, height: int,
                                  pixelwidth: int, pixelheight: int, modes: bytes) -> bool:
        return False  # refused: the client goes on without a terminal

    def check_channel_env_request(self, channel: paramiko.Channel, name: bytes, value: bytes) -> bool:
        return True

    def check_global_request(self, kind: str, msg: paramiko.Message) -> bool:
        # A frozen host stops answering: blocking here stalls this connection's transport thread,
        # so the client sees no reply to its keepalive probes and no channel data.
        while self.host.frozen and not self.lab._stopping.is_set():
            time.sleep(_POLL)
        return False  # like OpenSSH: unknown global requests (keepalives) are refused

    def wait_command(self, chanid: int, timeout: float) -> str | None:
        with self.exec_ready:
            self.exec_ready.wait_for(lambda: chanid in self.commands, timeout)
            return self.commands.get(chanid)


class SSHLab:
    """SSH servers for simulated Windows hosts, one 127.0.0.1 port per host."""

    def __init__(
        self,
        key_dir: str | Path,
        *,
        handler: Handler | None = None,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key_dir = Path(key_dir)
        self.handler = handler
        self.latency = latency
        self.clock = clock
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> SSHLab:
        with self._lock:
            if self._started:
                return self
            self._started = True
            self._stopping.clear()
            hosts = list(self._hosts.values())
        for h in hosts:
            self._start_listener(h)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            hosts = list(self._hosts.values())
            self._started = False
        for h in hosts:
            self._drop_connections(h)
        deadline = time.monotonic() + 2.0  # a handler still sleeping is left behind (daemon)
        for t in [h.thread for h in hosts if h.thread] + self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for h in hosts:
            self._close_listener(h)
            h.thread = None
        self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self) -> SSHLab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- hosts -------------------------------------------------------------------
    def add_host(
        self,
        name: str,
        port: int = 0,
        *,
        users: dict[str, str | None] | None = None,
        authorized_keys: Iterable[paramiko.PKey | str] = (),
        handler: Handler | None = None,
        latency: float | None = None,
    ) -> int:
        """Serve `name` on 127.0.0.1:`port` (0: any free port); returns the port.

        `users` maps user names to passwords (None: key only); `authorized_keys` (PKey objects
        or authorized_keys lines) are accepted for every user in `users`.
        """
        if name in self._hosts:
            raise LabError(f"SSH lab host {name!r} already exists")
        handler = handler or self.handler
        if handler is None:
            raise LabError(f"SSH lab host {name!r} needs a handler (SSHLab(handler=...) or add_host(handler=...))")
        key_path = self.key_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}_ed25519_key"
        key = paramiko.Ed25519Key(filename=str(key_path)) if key_path.exists() else _new_ed25519(key_path)
        host = _Host(
            name=name, port=port, key_path=key_path, host_key=key, users=dict(users or {}),
            rsa_key=_rsa_key(key_path.with_name(key_path.name.replace("_ed25519_key", "_rsa_key"))),
            authorized={_public_blob(k) for k in authorized_keys}, handler=handler,
            latency=self.latency if latency is None else latency,
        )
        host.listener = self._bind(port)
        host.port = host.listener.getsockname()[1]
        with self._lock:
            self._hosts[name] = host
            started = self._started
        if started:
            self._start_listener(host)
        return host.port

    def _host(self, name: str) -> _Host:
        try:
            return self._hosts[name]
        except KeyError:
            raise LabError(f"no SSH lab host {name!r}") from None

    def port(self, name: str) -> int:
        return self._host(name).port

    def host_key(self, name: str) -> paramiko.PKey:
        return self._host(name).host_key

    def host_key_line(self, name: str, port: int | None = None, address: str = LOCALHOST, *,
                      rsa: bool = False) -> str:
        """The host's known_hosts line (``[127.0.0.1]:port ssh-ed25519 AAAA...``; `rsa`: its RSA key)."""
        h = self._host(name)
        key = h.rsa_key if rsa and h.rsa_key is not None else h.host_key
        port = h.port if port is None else port
        where = address if port == 22 else f"[{address}]:{port}"
        return f"{where} {key.get_name()} {key.get_base64()}"

    def rotate_host_key(self, name: str) -> paramiko.PKey:
        """A new host key (as after a reinstall); new connections present it."""
        h = self._host(name)
        h.host_key = _new_ed25519(h.key_path)
        return h.host_key

    def set_down(self, name: str, until: float | None = None) -> None:
        """Drop the host's connections and refuse new ones until `until` (a `clock()` time;
        None: until `set_up`)."""
        h = self._host(name)
        h.down_until = float("inf") if until is None else until
        self._close_listener(h)
        self._drop_connections(h)

    def set_up(self, name: str) -> None:
        self._host(name).down_until = None

    def is_down(self, name: str) -> bool:
        h = self._host(name)
        return h.down_until is not None and self.clock() < h.down_until

    def set_frozen(self, name: str, frozen: bool = True) -> None:
        """A frozen host keeps its TCP connections but stops answering keepalive probes (and
        everything queued behind them), like a hung machine."""
        self._host(name).frozen = frozen

    def connections(self, name: str) -> int:
        """How many SSH connections the host has accepted."""
        return self._host(name).connections

    def execs(self, name: str) -> int:
        return self._host(name).execs

    # -- listening ---------------------------------------------------------------
    @staticmethod
    def _bind(port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOCALHOST, port))
        except OSError as exc:
            s.close()
            raise LabError(f"cannot listen on {LOCALHOST}:{port}: {exc.strerror or exc}") from None
        s.listen(16)
        return s

    def _close_listener(self, h: _Host) -> None:
        s, h.listener = h.listener, None
        if s is not None:
            # shutdown first: it stops listening at once, even while the serving thread's
            # select() still holds the socket (a plain close would wait for it, and connections
            # made meanwhile would be reset instead of refused)
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _drop_connections(self, h: _Host) -> None:
        with self._lock:
            transports = list(h.transports)
            h.transports.clear()
        for t in transports:
            with contextlib.suppress(Exception):
                t.close()

    def _start_listener(self, h: _Host) -> None:
        if h.thread is not None and h.thread.is_alive():
            return
        h.thread = threading.Thread(target=self._serve, args=(h,), name=f"sshlab-{h.name}", daemon=True)
        h.thread.start()

    def _serve(self, h: _Host) -> None:
        while not self._stopping.is_set():
            if h.down_until is not None:
                if self.clock() < h.down_until:
                    self._close_listener(h)
                    time.sleep(_POLL)
                    continue
                h.down_until = None  # its down time is over: listen again
            if h.listener is None:
                try:
                    h.listener = self._bind(h.port)
                except LabError:  # port still held; try again shortly
                    time.sleep(_POLL)
                    continue
            listener = h.listener
            try:
                if not _readable([listener], _POLL):
                    continue
                sock, _addr = listener.accept()
            except (OSError, ValueError):  # closed by set_down / stop
                continue
            if self.is_down(h.name):
                sock.close()
                continue
            self._spawn(self._connection, h, sock, name=f"sshlab-{h.name}-conn")

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads = [x for x in self._threads if x.is_alive()] + [t]

    # -- one connection ----------------------------------------------------------
    def _connection(self, h: _Host, sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = paramiko.Transport(sock)
        except OSError:  # the client is already gone
            sock.close()
            return
        t.add_server_key(h.host_key)
        if h.rsa_key is not None:
            t.add_server_key(h.rsa_key)
        server = _Server(self, h)
        with self._lock:
            h.transports.add(t)
            h.connections += 1
        try:
            if self.is_down(h.name):  # set_down raced with this accept
                return
            try:
                t.start_server(server=server)
            except (paramiko.SSHException, EOFError, OSError):
                return  # client went away during key exchange
            while t.is_active() and not self._stopping.is_set():
                chan = t.accept(_POLL * 4)
                if chan is None:
                    continue
                dest = server.forwards.pop(chan.get_id(), None)
                if dest is not None:
                    self._spawn(self._forward, chan, dest, name=f"sshlab-{h.name}-fwd")
                else:
                    self._spawn(self._session, h, server, chan, name=f"sshlab-{h.name}-chan")
        finally:
            with self._lock:
                h.transports.discard(t)
            t.close()
            sock.close()  # Transport.close() leaves it open if the transport never started

    def _session(self, h: _Host, server: _Server, chan: paramiko.Channel) -> None:
        try:
            command = server.wait_command(chan.get_id(), timeout=10.0)
            if command is None:  # a shell or subsystem request: not modelled
                chan.send_stderr(b"hvprov lab: only exec requests are supported\r\n")
                chan.send_exit_status(1)
                return
            if h.latency:
                time.sleep(h.latency)
            try:
                result = answer(h.name, command, lambda: self._read_stdin(chan), h.handler, h.files)
            except Exception:  # a broken handler: show it like a crashed process
                log.exception("SSH lab handler failed on %s", h.name)
                result = ExecResult(stdout="", stderr=traceback.format_exc(), rc=255)
            h.execs += 1
            self._send_result(chan, result)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the client or the lab went away
        finally:
            with contextlib.suppress(Exception):
                chan.close()

    @staticmethod
    def _read_stdin(chan: paramiko.Channel) -> bytes:
        chan.settimeout(_STDIN_TIMEOUT)
        parts = []
        while True:
            try:
                data = chan.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            parts.append(data)
        return b"".join(parts)

    @staticmethod
    def _send_result(chan: paramiko.Channel, result: ExecResult) -> None:
        chan.settimeout(None)
        err = result.stderr.encode("utf-8")
        failure: list[BaseException] = []

        def send_err() -> None:
            try:
                chan.sendall_stderr(err)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                failure.append(exc)

        writer = threading.Thread(target=send_err, daemon=True) if err else None
        if writer:
            writer.start()  # both streams at once, as a process writes them
        chan.sendall(result.stdout.encode("utf-8"))
        if writer:
            writer.join()
        if failure:
            raise failure[0]
        chan.send_exit_status(result.rc & 0xFFFFFFFF)
        chan.shutdown_write()

    def _forward(self, chan: paramiko.Channel, dest: tuple[str, int]) -> None:
        try:
            sock = socket.create_connection(dest, timeout=5.0)
        except OSError:
            chan.close()
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not self._stopping.is_set():
                ready = _readable([chan, sock], _POLL * 4)
                if chan in ready:
                    data = chan.recv(65536)
                    if not data:
                        break
                    sock.sendall(data)
                if sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        break
                    chan.sendall(data)
                if chan.closed:
                    break
        except (OSError, ValueError, KeyError, TypeError, EOFError, paramiko.SSHException):
            pass  # either side closed (waiting on a closed channel raises ValueError or OSError)
        finally:
            sock.close()
            chan.close()
