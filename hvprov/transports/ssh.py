"""SSH transport (paramiko) to Windows hosts running OpenSSH (connection kind ``ssh``).

One SSH connection per host for the whole run: `open()` connects, checks the host key and
authenticates; every `run()` opens one session channel on it. The remote default shell is
assumed to be cmd.exe (Win32-OpenSSH's default; 8,191-character command lines), so the script
never travels on the command line: each run execs the short
``powershell.exe ... -EncodedCommand <bootstrap>`` line (`bootstrap.bootstrap_command_line()`,
830 characters, only letters, digits, ``+/=.-`` and spaces: the same under cmd.exe, a PowerShell default
shell or a POSIX shell, so ``hvprov_ssh_shell`` changes nothing here) and writes
the script to stdin as base64 of UTF-8 (`bootstrap.stdin_payload`), then EOF. stdout and
stderr are drained together while stdin is written, so neither side can block the other;
the exit status comes from the channel.

Host keys (``hvprov_ssh_host_key_policy``), looked up in ``hvprov_ssh_known_hosts`` or
``~/.ssh/known_hosts`` (plain or hashed entries, ``[host]:port`` for ports other than 22):

* ``strict`` (default): an unknown key is refused (TrustError naming the policy variable).
* ``accept-new``: an unknown key is appended to that known_hosts file, then trusted.
* ``ignore``: an unknown key is trusted for this run and not recorded.
* A key that differs from a recorded one is refused under every policy (TrustError).

Authentication, in order: ``hvprov_ssh_key_file`` (with ``hvprov_ssh_key_passphrase``), the
SSH agent's keys (``hvprov_ssh_allow_agent``), then the password. With neither a key file nor
a password, ~/.ssh/id_ed25519, id_ecdsa and id_rsa (unencrypted) are tried after the agent.

Jump host (``hvprov_ssh_jump_host: [user@]host[:port]``): a first connection to the jump host
(same credentials, same host key checks), then a ``direct-tcpip`` channel to the target that
carries the real SSH connection.

Timeouts: ``connect_timeout`` bounds TCP connect, banner, key exchange, auth and channel
opening. While a script runs, the host must show life at least every ``read_timeout``
seconds: channel data, or the reply to a keepalive probe (a global request sent after
``min(ssh_keepalive, read_timeout / 3)`` seconds of silence); otherwise CommandTimeoutError
and the connection is dropped (the next run reconnects). So a long, silent script on a live
host is fine. The ``timeout`` argument of `run()`, if given, caps the whole script
(CommandTimeoutError; the channel is closed, the connection kept).

Round trips (``round_trips``) count the requests that wait for the server's answer, once
answered (a request lost with a dropped connection is not counted): +1 for the authentication
exchange of each connection (key exchange and every auth method tried count as this one),
+1 for each channel open (session channels, and the direct-tcpip channel through a jump host),
+1 for each exec request. So a script on an open connection costs 2; the first script of a run
costs 3 (5 through a jump host); a reconnect adds 1 (2 through a jump host). Writing stdin,
reading output and the exit status ride on the exec'd channel and are not counted, nor are
keepalive probes.

Errors: refused / reset / unresolvable / timed-out connects and lost connections raise
UnreachableError (retried `retries` times with exponential backoff when connecting; a dropped
connection is re-established once, transparently, when `run()` starts); rejected credentials
raise AuthenticationError, untrusted host keys TrustError (never retried); no common
algorithms or a malformed answer ProtocolError. No message ever contains the password or the
key passphrase.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey
from paramiko.pkey import UnknownKeyType

from ..connection import ConnectionSpec
from ..errors import (
    AuthenticationError,
    CommandTimeoutError,
    InventoryError,
    ProtocolError,
    TransportError,
    TrustError,
    UnreachableError,
)
from ..secrets import MASK
from . import bootstrap
from .base import ExecResult, Transport

try:  # written separately; until it exists stderr stays as the host sent it
    from .clixml import decode_clixml
except ModuleNotFoundError as _exc:
    if _exc.name != f"{__package__}.clixml":
        raise
    decode_clixml = None  # type: ignore[assignment]

SSH_PORT = 22
POLICIES = ("strict", "accept-new", "ignore")
_CHUNK = 32768
_READ = 65536
_MAX_BACKOFF = 10.0
_known_hosts_lock = threading.Lock()  # accept-new appends from parallel host threads


# --------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Endpoint:
    """Where one SSH connection goes."""

    user: str | None
    host: str
    port: int

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH uses in known_hosts: ``host`` on port 22, else ``[host]:port``."""
        return self.host if self.port == SSH_PORT else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


_JUMP_RE = re.compile(r"(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[^\]\s]+)\]|(?P<host>[^:@\[\]\s]+))(?::(?P<port>\d+))?")


def parse_jump_host(text: str, *, default_user: str | None, host_name: str = "?") -> Endpoint:
    """``[user@]host[:port]`` (IPv6 in brackets) -> Endpoint; InventoryError if malformed."""
    m = _JUMP_RE.fullmatch(text.strip())
    port = int(m.group("port")) if m and m.group("port") else SSH_PORT
    if not m or not 0 < port < 65536:
        raise InventoryError(
            f"expected [user@]host[:port], got {text!r}", field=f"hosts.{host_name}.hvprov_ssh_jump_host"
        )
    return Endpoint(m.group("user") or default_user, m.group("v6") or m.group("host"), port)


def known_hosts_path(spec: ConnectionSpec) -> Path:
    return Path(os.path.expanduser(spec.ssh_known_hosts or "~/.ssh/known_hosts"))


def read_known_hosts(path: Path) -> list[tuple[list[str], paramiko.PKey]]:
    """(host patterns, key) of each usable known_hosts line. Marker lines (@cert-authority,
    @revoked), unknown key types and malformed lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TrustError(f"cannot read known_hosts file {path}: {exc.strerror or exc}") from None
    entries = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "@")):
            continue
        try:
            entry = HostKeyEntry.from_line(line, lineno)
        except (InvalidHostKey, UnknownKeyType, paramiko.SSHException, ValueError, TypeError):
            continue  # a line we cannot use (bad base64, odd key data): OpenSSH skips it too
        if entry is not None and entry.key is not None:
            entries.append((list(entry.hostnames), entry.key))
    return entries


def _name_matches(name: str, pattern: str) -> bool:
    if pattern.startswith("|1|"):
        return paramiko.HostKeys.hash_host(name, pattern) == pattern
    return pattern == name


def known_keys(entries: list[tuple[list[str], paramiko.PKey]], name: str) -> list[paramiko.PKey]:
    return [key for names, key in entries if any(_name_matches(name, p) for p in names)]


def _decode(data: bytes) -> str:
    """UTF-8 (what PowerShell writes with an UTF-8 console, and hvprov's ASCII JSON); else the
    OEM code page of an English Windows console."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp437")


def _decode_stderr(text: str) -> str:
    """CLIXML (powershell.exe's redirected error stream) as console text, line ends as ``\n``."""
    return decode_clixml(text) if decode_clixml is not None else text


class _Dropped(Exception):
    """The connection turned out to be gone before the script started."""


class _Probe:
    """One keepalive probe (a global request that wants a reply) in a helper thread:
    paramiko's global_request blocks until the reply or until the connection closes."""

    def __init__(self, conn: paramiko.Transport) -> None:
        self.done = threading.Event()
        self._conn = conn
        threading.Thread(target=self._run, name="hvprov-ssh-probe", daemon=True).start()

    def _run(self) -> None:
        try:
            self._conn.global_request("keepalive@openssh.com", wait=True)
        except (paramiko.SSHException, EOFError, OSError):
            pass  # the connection is gone; the run loop sees it
        finally:
            self.done.set()


# --------------------------------------------------------------------------- transport
class SSHTransport(Transport):
    """One SSH connection to one host, reused by every script of the run."""

    retries_transient = True

    name = "ssh"

    def __init__(
        self,
        spec: ConnectionSpec,
        *,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        if spec.ssh_host_key_policy not in POLICIES:
            raise InventoryError(
                f"expected strict, accept-new or ignore, got {spec.ssh_host_key_policy!r}",
                field=f"hosts.{spec.name}.hvprov_ssh_host_key_policy",
            )
        self.spec = spec
        self.target = Endpoint(spec.user, spec.address, spec.port or SSH_PORT)
        self.jump = (
            parse_jump_host(spec.ssh_jump_host, default_user=spec.user, host_name=spec.name)
            if spec.ssh_jump_host
            else None
        )
        self.backoff = backoff
        self._sleep = sleep
        self.connections = 0  # SSH connections established to the target (reconnects included)
        self._conn: paramiko.Transport | None = None
        self._jump_conn: paramiko.Transport | None = None

    # -- lifecycle --------------------------------------------------------------------
    def open(self) -> None:
        with self._map_errors():
            if not self._alive():
                self._connect_with_retries()

    def close(self) -> None:
        conns = (self._conn, self._jump_conn)
        self._conn = self._jump_conn = None
        for c in conns:
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close()

    def _alive(self) -> bool:
        return self._conn is not None and self._conn.is_active()

    @contextlib.contextmanager
    def _map_errors(self) -> Iterator[None]:
        """The edge: every error leaving open()/run() is an hvprov TransportError naming the host.
        Specific cases are mapped where they arise (with better messages); this is the net for
        whatever paramiko or the socket raise elsewhere."""
        name = self.spec.name
        try:
            yield
        except TransportError as exc:
            if exc.host is None:
                exc.host = name
            raise
        except paramiko.AuthenticationException as exc:
            raise AuthenticationError(
                f"authentication failed for {name}: {self._safe(_reason(exc))}", host=name
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if self._conn is not None and self._conn.is_active():
                raise ProtocolError(f"SSH error with {name}: {self._safe(_reason(exc))}", host=name) from None
            self.close()
            raise UnreachableError(
                f"connection to {name} failed: {self._safe(_reason(exc))}", host=name
            ) from None

    # -- running ----------------------------------------------------------------------
    def run(self, script: str, timeout: float | None = None) -> ExecResult:
        limit = bootstrap.CMD_LINE_LIMIT
        result = bootstrap.deliver(
            script, lambda line, stdin: self._exec(line, stdin or b"", timeout),
            mode=self.spec.script_delivery, limit=limit,
        )
        self.scripts_run += 1
        return result

    def run_command(self, command_line: str, timeout: float | None = None) -> ExecResult:
        return self._exec(command_line, b"", timeout)

    def _exec(self, line: str, payload: bytes, timeout: float | None) -> ExecResult:
        """One exec request: `line` with `payload` on stdin, then EOF."""
        with self._map_errors():
            chan = self._start_command(line)
            try:
                out, err, rc = self._exchange(chan, payload, timeout)
            finally:
                with contextlib.suppress(Exception):
                    chan.close()
        # a Windows console program writes CRLF lines: line ends as ``\n``, as over WinRM
        stdout = _decode(out).replace("\r\n", "\n")
        return ExecResult(stdout=stdout, stderr=_decode_stderr(_decode(err)), rc=rc)

    def _start_command(self, line: str) -> paramiko.Channel:
        """A session channel with the bootstrap exec'd; reconnects once if the connection dropped."""
        fresh = False
        if not self._alive():
            self.close()
            self._connect_with_retries()
            fresh = True
        try:
            return self._open_exec(line)
        except _Dropped:
            if fresh:
                raise UnreachableError(
                    f"connection to {self.spec.name} ({self.target}) was lost right after it was made",
                    host=self.spec.name,
                ) from None
        self.close()
        self._connect_with_retries()
        try:
            return self._open_exec(line)
        except _Dropped:
            raise UnreachableError(
                f"connection to {self.spec.name} ({self.target}) keeps dropping", host=self.spec.name
            ) from None

    def _open_exec(self, line: str) -> paramiko.Channel:
        conn = self._conn
        assert conn is not None
        label = self.spec.name
        try:
            chan = conn.open_session(timeout=self.spec.connect_timeout)
            self.round_trips += 1
        except paramiko.ChannelException as exc:
            self.round_trips += 1  # answered, with a refusal
            raise ProtocolError(f"{label} refused a session channel: {exc.text}", host=label) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # the connection died (or hangs: "Timeout opening channel."); nothing ran yet
            raise _Dropped() from exc
        try:
            with self._watchdog(conn, self.spec.read_timeout) as fired:
                chan.exec_command(line)
            self.round_trips += 1
        except (paramiko.SSHException, EOFError, OSError) as exc:
            with contextlib.suppress(Exception):
                chan.close()
            if fired.is_set():
                self.close()
                raise CommandTimeoutError(
                    f"{label} did not answer the exec request within {self.spec.read_timeout:g} s",
                    host=label,
                ) from None
            if _dies_soon(conn):
                raise _Dropped() from exc
            self.round_trips += 1  # answered, with a refusal
            raise ProtocolError(f"{label} refused to run powershell.exe: {exc}", host=label) from None
        return chan

    @contextlib.contextmanager
    def _watchdog(self, conn: paramiko.Transport, seconds: float) -> Iterator[threading.Event]:
        """Closes `conn` if the block (a paramiko call that waits without timeout) takes longer."""
        fired = threading.Event()

        def fire() -> None:
            fired.set()
            conn.close()

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        try:
            yield fired
        finally:
            timer.cancel()

    def _exchange(
        self, chan: paramiko.Channel, payload: bytes, timeout: float | None
    ) -> tuple[bytes, bytes, int]:
        """Write stdin, read stdout and stderr together, return them with the exit status."""
        conn = self._conn
        assert conn is not None
        label = self.spec.name
        silence = self.spec.read_timeout
        probe_after = max(0.05, min(self.spec.ssh_keepalive or silence, silence / 3))
        start = time.monotonic()
        deadline = start + timeout if timeout is not None else None
        last_alive = start
        probe: _Probe | None = None
        out: list[bytes] = []
        err: list[bytes] = []
        sent = 0
        stdin_open = True
        fd = chan.fileno()  # readable when stdout or stderr has data, or at EOF
        while True:
            if stdin_open:
                try:
                    while sent < len(payload) and chan.send_ready():
                        n = chan.send(payload[sent : sent + _CHUNK])
                        if n <= 0:
                            break
                        sent += n
                    if sent >= len(payload):
                        chan.shutdown_write()
                        stdin_open = False
                except OSError:  # the process closed its stdin (or exited): stop writing
                    stdin_open = False
            got = False
            while chan.recv_ready():
                out.append(chan.recv(_READ))
                got = True
            while chan.recv_stderr_ready():
                err.append(chan.recv_stderr(_READ))
                got = True
            now = time.monotonic()
            if got:
                last_alive = now
            if chan.exit_status_ready() and (chan.eof_received or chan.closed):
                if not chan.recv_ready() and not chan.recv_stderr_ready():
                    return b"".join(out), b"".join(err), chan.recv_exit_status()
                continue
            if chan.closed or not conn.is_active():
                if not conn.is_active():
                    self.close()
                    raise UnreachableError(
                        f"connection to {label} was lost while the script ran", host=label
                    )
                raise ProtocolError(f"{label} closed the channel without an exit status", host=label)
            # liveness: a probe answered proves the host is still there
            if probe is not None and probe.done.is_set():
                probe = None
                if conn.is_active():
                    last_alive = now
            if deadline is not None and now >= deadline:
                raise CommandTimeoutError(
                    f"the script on {label} did not finish within {timeout:g} s", host=label
                )
            if now - last_alive >= silence:
                self.close()
                raise CommandTimeoutError(
                    f"{label} stopped answering: nothing for {silence:g} s while the script ran",
                    host=label,
                )
            if probe is None and now - last_alive >= probe_after:
                probe = _Probe(conn)
            wait = 0.005 if stdin_open and not chan.send_ready() else 0.1
            if chan.eof_received:
                chan.status_event.wait(wait)
            else:
                select.select([fd], [], [], wait)

    # -- connecting -------------------------------------------------------------------
    def _connect_with_retries(self) -> None:
        attempt = 0
        while True:
            try:
                self._connect()
                return
            except TransportError as exc:
                if exc.host is None:
                    exc.host = self.spec.name
                if not exc.transient or attempt >= self.spec.retries:
                    raise
            self._sleep(min(self.backoff * 2**attempt, _MAX_BACKOFF))
            attempt += 1

    def _connect(self) -> None:
        self.close()
        jump_conn = None
        try:
            if self.jump is not None:
                label = f"jump host {self.jump.host}"
                sock = self._tcp(self.jump, label)
                jump_conn = self._handshake(sock, self.jump, label)
                self._jump_conn = jump_conn
                channel = self._direct_tcpip(jump_conn)
                conn = self._handshake(channel, self.target, self.spec.name)
            else:
                sock = self._tcp(self.target, self.spec.name)
                conn = self._handshake(sock, self.target, self.spec.name)
        except BaseException:
            self.close()
            if jump_conn is not None:
                jump_conn.close()
            raise
        if self.spec.ssh_keepalive:
            conn.set_keepalive(self.spec.ssh_keepalive)
            if jump_conn is not None:
                jump_conn.set_keepalive(self.spec.ssh_keepalive)
        self._conn = conn
        self.connections += 1

    def _tcp(self, ep: Endpoint, label: str) -> socket.socket:
        timeout = self.spec.connect_timeout
        try:
            sock = socket.create_connection((ep.host, ep.port), timeout=timeout)
        except socket.gaierror as exc:
            raise UnreachableError(f"cannot resolve {label} ({ep.host}): {exc.strerror}") from None
        except TimeoutError:
            raise UnreachableError(f"connecting to {label} ({ep}) timed out after {timeout:g} s") from None
        except ConnectionRefusedError:
            raise UnreachableError(f"connection refused by {label} ({ep})") from None
        except OSError as exc:
            raise UnreachableError(f"cannot connect to {label} ({ep}): {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _direct_tcpip(self, jump_conn: paramiko.Transport) -> paramiko.Channel:
        assert self.jump is not None
        t = self.target
        try:
            chan = jump_conn.open_channel(
                "direct-tcpip", dest_addr=(t.host, t.port), src_addr=("127.0.0.1", 0),
                timeout=self.spec.connect_timeout,
            )
            self.round_trips += 1
            return chan
        except paramiko.ChannelException as exc:
            self.round_trips += 1  # answered, with a refusal
            raise UnreachableError(
                f"jump host {self.jump.host} could not connect to {self.spec.name} ({t}): {exc.text}"
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise UnreachableError(f"jump host {self.jump.host} dropped the connection: {exc}") from None

    def _handshake(self, sock: socket.socket | paramiko.Channel, ep: Endpoint, label: str) -> paramiko.Transport:
        """Key exchange, host key check and authentication on an open socket or channel."""
        kh_path = known_hosts_path(self.spec)
        entries = read_known_hosts(kh_path)
        known = known_keys(entries, ep.known_hosts_name)
        try:
            conn = paramiko.Transport(sock)
        except BaseException:
            sock.close()
            raise
        try:
            timeout = self.spec.connect_timeout
            conn.banner_timeout = conn.handshake_timeout = conn.auth_timeout = timeout
            if known:
                _prefer_key_types(conn, [k.get_name() for k in known])
            try:
                conn.start_client(timeout=timeout)
            except paramiko.IncompatiblePeer as exc:
                raise ProtocolError(f"no SSH algorithms in common with {label} ({ep}): {exc}") from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise UnreachableError(f"SSH handshake with {label} ({ep}) failed: {_reason(exc)}") from None
            self._check_host_key(conn.get_remote_server_key(), known, ep, label, kh_path)
            self._authenticate(conn, ep, label)
        except BaseException:
            conn.close()
            sock.close()  # Transport.close() does nothing once the transport has died by itself
            raise
        return conn

    # -- host keys --------------------------------------------------------------------
    def _check_host_key(
        self, key: paramiko.PKey, known: list[paramiko.PKey], ep: Endpoint, label: str, path: Path
    ) -> None:
        if any(k == key for k in known):
            return
        fp = f"{key.get_name()} {key.fingerprint}"
        if known:
            recorded = ", ".join(sorted({f"{k.get_name()} {k.fingerprint}" for k in known}))
            raise TrustError(
                f"SSH host key for {label} has CHANGED: it presented {fp}, known_hosts has {recorded} "
                f"for {ep.known_hosts_name} in {path}. This may be a man-in-the-middle attack; if the "
                "host was reinstalled, remove the old entry from known_hosts"
            )
        policy = self.spec.ssh_host_key_policy
        if policy == "strict" and not path.exists():
            raise TrustError(
                f"cannot check the SSH host key of {label} ({fp}): the known_hosts file {path} does not exist "
                "(hvprov_ssh_known_hosts names it; default ~/.ssh/known_hosts)"
            )
        if policy == "strict":
            raise TrustError(
                f"unknown SSH host key for {label} ({fp}); add it to known_hosts or set "
                f"hvprov_ssh_host_key_policy: accept-new (looked up {ep.known_hosts_name} in {path})"
            )
        if policy == "accept-new":
            _record_host_key(path, ep.known_hosts_name, key)

    # -- authentication ---------------------------------------------------------------
    def _authenticate(self, conn: paramiko.Transport, ep: Endpoint, label: str) -> None:
        self.round_trips += 1
        user = ep.user or _local_user()
        password = self.spec.password.reveal() if self.spec.password else None
        tried: list[str] = []
        allowed: list[str] | None = None
        try:
            for source, key in self._keys():
                if allowed is not None and "publickey" not in allowed:
                    break
                tried.append(source)
                try:
                    remaining = conn.auth_publickey(user, key)
                except paramiko.BadAuthenticationType as exc:
                    allowed = list(exc.allowed_types)
                    continue
                except paramiko.AuthenticationException:
                    continue
                if not remaining:
                    return
                allowed = list(remaining)  # partial success: another method is required
                break
            if password is not None and (allowed is None or "password" in allowed):
                tried.append("password")
                try:
                    remaining = conn.auth_password(user, password)
                    if not remaining:
                        return
                except paramiko.BadAuthenticationType as exc:
                    allowed = list(exc.allowed_types)
                except paramiko.AuthenticationException:
                    pass
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise UnreachableError(
                f"{label} ({ep}) dropped the connection during authentication: {self._safe(_reason(exc))}"
            ) from None
        what = ", ".join(tried) if tried else "nothing: no key file, agent key or password"
        server = f"; the server accepts {', '.join(allowed)}" if allowed else ""
        raise AuthenticationError(f"authentication failed for {label} as {user} (tried {what}{server})")

    def _keys(self) -> Iterator[tuple[str, paramiko.PKey]]:
        spec = self.spec
        if spec.ssh_key_file:
            key = self._load_key(spec.ssh_key_file, required=True)
            assert key is not None
            yield f"key file {spec.ssh_key_file}", key
        if spec.ssh_allow_agent:
            agent = paramiko.Agent()
            try:
                for key in agent.get_keys():
                    yield f"agent key {key.fingerprint}", key
            finally:
                agent.close()
        if not spec.ssh_key_file and spec.password is None:
            for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
                path = Path(os.path.expanduser(f"~/.ssh/{name}"))
                if path.is_file():
                    key = self._load_key(str(path), required=False)
                    if key is not None:
                        yield f"key file {path}", key

    def _load_key(self, path: str, *, required: bool) -> paramiko.PKey | None:
        """The private key in `path` (OpenSSH or PEM; ed25519, ECDSA, RSA). A key file that
        cannot be used is an AuthenticationError if `required`, else skipped (None)."""
        passphrase = self.spec.ssh_key_passphrase.reveal() if self.spec.ssh_key_passphrase else None
        try:
            return _read_private_key(Path(os.path.expanduser(path)), passphrase)
        except paramiko.PasswordRequiredException:
            if not required:
                return None
            raise AuthenticationError(f"SSH key file {path} is encrypted: set hvprov_ssh_key_passphrase") from None
        except (OSError, ValueError, UnknownKeyType, paramiko.SSHException) as exc:
            if not required:
                return None
            if isinstance(exc, OSError):
                raise AuthenticationError(f"cannot read SSH key file {path}: {exc.strerror or exc}") from None
            if passphrase:  # cryptography's text after a failed decrypt is misleading
                raise AuthenticationError(
                    f"cannot load SSH key file {path}: wrong hvprov_ssh_key_passphrase, or not a private key"
                ) from None
            raise AuthenticationError(
                f"cannot load SSH key file {path}: not a usable private key ({self._safe(_reason(exc))})"
            ) from None

    def _safe(self, text: str) -> str:
        for secret in (self.spec.password, self.spec.ssh_key_passphrase):
            if secret:
                text = text.replace(secret.reveal(), MASK)
        return text


# --------------------------------------------------------------------------- module helpers
def _prefer_key_types(conn: paramiko.Transport, known_types: list[str]) -> None:
    """Ask for the host key types known_hosts already has (as OpenSSH does), so that a host
    with several keys presents one we can check instead of a 'new' one."""
    opts = conn.get_security_options()
    available = list(opts.key_types)
    wanted: list[str] = []
    for kt in known_types:
        names = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if kt == "ssh-rsa" else [kt]
        wanted += [n for n in names if n in available and n not in wanted]
    opts.key_types = wanted + [k for k in available if k not in wanted]


def _record_host_key(path: Path, name: str, key: paramiko.PKey) -> None:
    """accept-new: append ``name keytype base64`` to known_hosts (once, even from parallel runs)."""
    with _known_hosts_lock:
        if any(k == key for k in known_keys(read_known_hosts(path), name)):
            return
        try:
            if not path.parent.exists():
                path.parent.mkdir(mode=0o700, parents=True)
            existing = path.read_bytes() if path.exists() else b""
            line = f"{name} {key.get_name()} {key.get_base64()}\n".encode("ascii")
            with open(path, "ab") as f:
                if existing and not existing.endswith(b"\n"):
                    f.write(b"\n")
                f.write(line)
        except OSError as exc:
            raise TrustError(
                f"cannot record the SSH host key of {name} in {path}: {exc.strerror or exc}"
            ) from None


def _read_private_key(path: Path, passphrase: str | None) -> paramiko.PKey:
    """paramiko's loader, with cryptography's TypeErrors about passwords made meaningful: no
    passphrase for an encrypted key -> PasswordRequiredException; a passphrase for a key that
    is not encrypted is ignored (as OpenSSH does)."""
    secret = passphrase.encode("utf-8") if passphrase else None
    try:
        return paramiko.PKey.from_path(path, secret)
    except TypeError:
        if secret is None:
            raise paramiko.PasswordRequiredException("private key file is encrypted") from None
        return paramiko.PKey.from_path(path, None)


def _dies_soon(conn: paramiko.Transport, grace: float = 0.5) -> bool:
    """Whether the connection is (about to be seen as) closed: a request that failed because the
    socket broke can raise before paramiko's reader thread has marked the transport inactive."""
    end = time.monotonic() + grace
    while conn.is_active():
        if time.monotonic() >= end:
            return False
        time.sleep(0.01)
    return True


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _local_user() -> str:
    import getpass

    return getpass.getuser()

