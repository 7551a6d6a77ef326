"""Fixtures for the SSH transport tests: the paramiko lab and Debian's real OpenSSH sshd.

`make_lab` gives an `SSHLab` whose hosts answer with tests/shims/testhandler.py.
`start_real_sshd` starts /usr/sbin/sshd on a free 127.0.0.1 port with its own config in a
temporary directory: host key from ssh-keygen, AuthorizedKeysFile with a client key made by
ssh-keygen, UsePAM no, AllowUsers = the user running the tests (root in CI, hence
PermitRootLogin yes; the tests log in with the key, and password authentication stays on so
that a wrong password is checked by sshd itself), and ``SetEnv PATH=`` putting a
``powershell.exe`` wrapper first, which runs tests/shims/powershell with this Python, i.e.
the same handler: the transport is checked through a real OpenSSH server. Tests that need it
are marked ``sshd`` and skipped only when /usr/sbin/sshd is not installed.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hvprov.connection import ConnectionSpec
from hvprov.secrets import Secret
from hvprov.sim.sshd import SSHLab

SHIMS = Path(__file__).parent / "shims"
sys.path.insert(0, str(SHIMS))
from testhandler import handle  # noqa: E402

SSHD = Path("/usr/sbin/sshd")
PASSWORD = "Lab-Pa55word!"
USER = "admin"

requires_sshd = pytest.mark.skipif(
    not SSHD.exists(), reason="/usr/sbin/sshd is not installed (CI: apt-get install openssh-server)"
)


def write_ed25519(path: Path, passphrase: str | None = None) -> paramiko.PKey:
    """A new OpenSSH-format ed25519 private key file (optionally encrypted); returns the key."""
    enc = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return paramiko.Ed25519Key(filename=str(path), password=passphrase)


def ssh_spec(name: str, port: int, known_hosts: Path, **kw: Any) -> ConnectionSpec:
    """An ssh ConnectionSpec for a host on 127.0.0.1 with hermetic, test-friendly defaults."""
    base = ConnectionSpec(
        name=name, kind="ssh", address="127.0.0.1", port=port, user=USER,
        password=Secret(PASSWORD), ssh_known_hosts=str(known_hosts), ssh_allow_agent=False,
        retries=0, connect_timeout=5.0, read_timeout=10.0,
    )
    return replace(base, **kw)


@dataclass
class Lab:
    lab: SSHLab
    tmp: Path
    known_hosts: Path
    client_key_file: Path
    client_key: paramiko.PKey

    def add(self, name: str, *, trusted: bool = True, **kw: Any) -> int:
        kw.setdefault("users", {USER: PASSWORD})
        kw.setdefault("authorized_keys", [self.client_key])
        port = self.lab.add_host(name, **kw)
        if trusted:
            with open(self.known_hosts, "a") as f:
                f.write(self.lab.host_key_line(name) + "\n")
        return port

    def spec(self, name: str, **kw: Any) -> ConnectionSpec:
        return ssh_spec(name, self.lab.port(name), self.known_hosts, **kw)


@contextlib.contextmanager
def make_lab(tmp_path: Path) -> Iterator[Lab]:
    """A started SSHLab answering with the test handler, a client key and a known_hosts file."""
    key_file = tmp_path / "id_ed25519"
    key = write_ed25519(key_file)
    known = tmp_path / "known_hosts"
    known.touch()
    with SSHLab(tmp_path / "hostkeys", handler=handle) as ssh_lab:
        yield Lab(ssh_lab, tmp_path, known, key_file, key)


# ---------------------------------------------------------------------------- real sshd
@dataclass
class RealSSHD:
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    log: Path

    def spec(self, **kw: Any) -> ConnectionSpec:
        kw.setdefault("user", self.user)
        kw.setdefault("password", None)
        kw.setdefault("ssh_key_file", str(self.key_file))
        return ssh_spec("sshd", self.port, self.known_hosts, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    keygen = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "hvprov-test", "-f", str(path)],
                   check=True, capture_output=True)


def _wait_banner(proc: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


@contextlib.contextmanager
def start_real_sshd(d: Path) -> Iterator[RealSSHD]:
    """Debian's sshd on a free 127.0.0.1 port, configured in directory `d`; stopped on exit."""
    _keygen(d / "host_ed25519_key")
    _keygen(d / "client_key")
    (d / "authorized_keys").write_bytes((d / "client_key.pub").read_bytes())
    bindir = d / "bin"
    bindir.mkdir()
    wrapper = bindir / "powershell.exe"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{SHIMS / "powershell"}" "$@"\n')
    wrapper.chmod(0o755)
    user = getpass.getuser()
    if os.geteuid() == 0:  # sshd's privilege separation directory (Debian: /run/sshd)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_pub = (d / "host_ed25519_key.pub").read_text().split()
    log = d / "sshd.log"
    for _attempt in range(3):  # the free port may be taken before sshd binds it
        port = _free_port()
        config = d / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_ed25519_key'}\n"
            f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
            "UsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin yes\nStrictModes no\nPrintMotd no\n"
            f"AllowUsers {user}\nMaxStartups 50\nLogLevel VERBOSE\n"
            f"SetEnv PATH={bindir}:/usr/local/bin:/usr/bin:/bin HVPROV_SHIM_HOST=sshd\n"
        )
        check = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, f"sshd rejected its test config: {check.stderr}"
        with open(log, "wb") as logf:
            proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=logf,
                                    stderr=subprocess.STDOUT)
        if _wait_banner(proc, port, time.monotonic() + 10):
            break
        proc.terminate()
        proc.wait(5)
    else:
        pytest.fail(f"sshd did not start; its log:\n{log.read_text()}")
    known = d / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    try:
        yield RealSSHD(port, user, d / "client_key", known, log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
