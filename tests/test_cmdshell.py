"""cmd.exe semantics of the lab (hvprov/sim/cmdshell.py), case by case: what ``cmd.exe /c LINE``
prints and exits with on Windows (docs/wsman-conformance.md, "cmd.exe")."""

from __future__ import annotations

import pytest

from hvprov.sim import cmdshell

NOT_FOUND = "'{}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"


def run(line: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out: list[str] = []
    err: list[str] = []
    calls: list[list[str]] = []

    def powershell(argv: list[str], stdin: bytes) -> tuple[str, str, int]:
        calls.append(argv)  # argv[0]: powershell.exe as cmd.exe found it
        return f"ps {' '.join(argv[1:])}\r\n", "", 7

    ctx = cmdshell.Context(
        hostname="HV01", write=lambda s, t: (out if s == "stdout" else err).append(t),
        powershell=powershell, env=env or {},
    )
    rc = cmdshell.run_line(ctx, line)
    return rc, "".join(out), "".join(err)


@pytest.mark.parametrize(("line", "expected"), [
    ("echo hello world", (0, "hello world\r\n", "")),
    ("echo.", (0, "\r\n", "")),
    ("echo", (0, "ECHO is on.\r\n", "")),
    ("hostname", (0, "HV01\r\n", "")),
    ("cd", (0, "C:\\Windows\\system32\r\n", "")),
    ("exit 3", (3, "", "")),
    ("exit /b 4", (4, "", "")),
    ("exit 2 & echo never", (2, "", "")),
    ("cmd /c exit 5", (5, "", "")),
    ('cmd.exe /c "echo quoted & exit 6"', (6, "quoted\r\n", "")),
    ("echo %GREETING% %UNSET%", (0, "hi %UNSET%\r\n", "")),
    ("nosuch", (9009, "", NOT_FOUND.format("nosuch"))),
    ("nosuch || echo recovered", (0, "recovered\r\n", NOT_FOUND.format("nosuch"))),
    ("echo a && nosuch && echo b", (9009, "a\r\n", NOT_FOUND.format("nosuch"))),
    ('echo "a & b"', (0, '"a & b"\r\n', "")),
    ("powershell.exe -NoProfile -Command Get-Date", (7, "ps -NoProfile -Command Get-Date\r\n", "")),
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -c 1", (7, "ps -c 1\r\n", "")),
    (r"C:\Windows\sysnative\WindowsPowerShell\v1.0\powershell.exe -c 2", (7, "ps -c 2\r\n", "")),
    ("x" * 8191, (9009, "", NOT_FOUND.format("x" * 8191))),
    ("x" * 8192, (1, "", "The command line is too long.\r\n")),
])
def test_cmd_line(line: str, expected: tuple[int, str, str]) -> None:
    assert run(line, {"greeting": "hi"}) == expected


def test_split_args_like_the_c_runtime() -> None:
    assert cmdshell.split_args('a "b c" "" d') == ["a", "b c", "", "d"]
