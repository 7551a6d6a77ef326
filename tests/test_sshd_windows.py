"""The lab's SSH server answers as Windows OpenSSH with cmd.exe as its default shell, checked
with clients hvprov did not write: paramiko's SSHClient and Debian's OpenSSH (ssh, ssh-keyscan)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from hvprov.sim.sshd import SSHLab
from hvprov.transports import bootstrap
from hvprov.transports.base import ExecResult

USER, PASSWORD = "Administrator", "Lab-Pa55word!"


def handler(host: str, script: str) -> ExecResult | None:
    if script == "missing":
        return None
    return ExecResult(stdout=f"ran {script}\n", stderr="boom" if "fail" in script else "", rc=0)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[SSHLab, int]]:
    with SSHLab(tmp_path / "keys", handler=handler) as server:
        yield server, server.add_host("hv01", users={USER: PASSWORD})


def _client(port: int, user: str = USER) -> paramiko.SSHClient:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", port, user, PASSWORD, allow_agent=False, look_for_keys=False)
    return c


def _exec(c: paramiko.SSHClient, line: str, **kw: object) -> tuple[int, bytes, bytes]:
    _, out, err = c.exec_command(line, **kw)  # type: ignore[arg-type]
    return out.channel.recv_exit_status(), out.read(), err.read()


@pytest.mark.parametrize(("line", "expected"), [
    ("echo hi", (0, b"hi\r\n", b"")),
    ("cmd /c exit 5", (5, b"", b"")),
    ("echo a && nosuchtool x || echo fallback", (0, b"a\r\nfallback\r\n",
     b"'nosuchtool' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n")),
    ("hostname", (0, b"HV01\r\n", b"")),
    ("nosuchtool", (9009, b"",
     b"'nosuchtool' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n")),
    ("x" * 8192, (1, b"", b"The command line is too long.\r\n")),
])
def test_cmd_exe_is_the_default_shell(lab: tuple[SSHLab, int], line: str, expected: tuple[int, bytes, bytes]) -> None:
    c = _client(lab[1])
    try:
        assert _exec(c, line) == expected
    finally:
        c.close()


def test_user_names_are_case_insensitive(lab: tuple[SSHLab, int]) -> None:
    c = _client(lab[1], user="ADMINISTRATOR")
    try:
        assert _exec(c, "echo ok")[0] == 0
    finally:
        c.close()


def test_powershell_stderr_is_clixml(lab: tuple[SSHLab, int]) -> None:
    c = _client(lab[1])
    try:
        rc, out, err = _exec(c, bootstrap.command_line("fail now"))
        assert (rc, out) == (0, b"ran fail now\r\n")  # CRLF, as a console program writes
        assert err.startswith(b"#< CLIXML") and b'<S S="Error">boom' in err
        rc, _, err = _exec(c, bootstrap.command_line("missing"))  # this host has no powershell.exe
        assert rc == 9009 and err.startswith(b"'powershell.exe' is not recognized")
    finally:
        c.close()


def test_pty_request_is_refused_cleanly(lab: tuple[SSHLab, int]) -> None:
    c = _client(lab[1])
    try:
        with pytest.raises(paramiko.SSHException):
            _exec(c, "echo hi", get_pty=True)
        assert _exec(c, "echo still") == (0, b"still\r\n", b"")  # the connection is fine
    finally:
        c.close()


@pytest.mark.skipif(shutil.which("ssh-keyscan") is None, reason="Debian's openssh-client is not installed")
def test_rsa_host_key_next_to_ed25519(lab: tuple[SSHLab, int]) -> None:
    server, port = lab
    run = subprocess.run(["ssh-keyscan", "-p", str(port), "-t", "rsa,ed25519", "127.0.0.1"],
                         capture_output=True, text=True, timeout=30, check=False)
    lines = sorted(line for line in run.stdout.splitlines() if not line.startswith("#"))
    assert lines == sorted([server.host_key_line("hv01"), server.host_key_line("hv01", rsa=True)])
    assert [line.split()[1] for line in lines] == ["ssh-ed25519", "ssh-rsa"]
