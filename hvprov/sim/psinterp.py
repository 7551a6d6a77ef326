"""The few PowerShell statement forms the lab's powershell.exe runs itself (see psexe.py).

A command text is interpreted only if every statement is one of the forms below; any other
text is handed whole to the host (`Process.run_script`: templates, or a test's handler).
Forms (``$v`` any variable; one statement per line or between ``;``):

    $v = [Console]::In.ReadToEnd()            $v = @($input) -join ''
    $v = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($w[.Trim()]))
    $v = [Convert]::FromBase64String('...')   $v = Join-Path <base> <'name' | ('a' + ... )>
    $v = New-Object IO.FileStream($p, 'OpenOrCreate', 'Write') ; [void]$s.Seek(n, 'Begin')
    $s.Write($b, 0, $b.Length) ; $s.SetLength(n) ; $s.Close()
    [IO.File]::WriteAllText($f, $t, (New-Object Text.UTF8Encoding $true))
    & $p <args> -File $f | ForEach-Object { [Console]::Out.WriteLine($_) }
    & ([ScriptBlock]::Create($t))      $v = $LASTEXITCODE      exit <n | $v | $LASTEXITCODE>
    Remove-Item -LiteralPath <$f | 'path'> -Force [-ErrorAction SilentlyContinue]
    if (<$env:X | -not (Test-Path $p)>) {  ...  }
    <expression>: 'literal' / $v / $env:X / $PSVersionTable.PSVersion.ToString() / [IntPtr]::Size
                  joined with +, written to stdout
    $ProgressPreference = '...'   and comments
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import TYPE_CHECKING, Any

from ..transports.base import ExecResult

if TYPE_CHECKING:
    from .psexe import Process

_V = r"\$(\w+)"
_LIT = r"'((?:[^']|'')*)'"
_FORMS: list[tuple[str, re.Pattern[str]]] = [(n, re.compile(p, re.IGNORECASE)) for n, p in [
    ("ignore", r"\$ProgressPreference\s*=\s*'\w+'"),
    ("console_in", _V + r"\s*=\s*\[(?:System\.)?Console\]::In\.ReadToEnd\(\)"),
    ("input", _V + r"\s*=\s*@\(\$input\)\s*-join\s*''"),
    ("decode", _V + r"\s*=\s*\[(?:System\.)?Text\.Encoding\]::UTF8\.GetString\(\[(?:System\.)?Convert\]::"
                    r"FromBase64String\(\$(\w+)(?:\.Trim\(\))?\)\)"),
    ("bytes", _V + r"\s*=\s*\[(?:System\.)?Convert\]::FromBase64String\(" + _LIT + r"\)"),
    ("join_path", _V + r"\s*=\s*Join-Path\s+(\$env:SystemRoot|\(\[IO\.Path\]::GetTempPath\(\)\))\s+(.+)"),
    ("open", _V + r"\s*=\s*New-Object\s+IO\.FileStream\(\$(\w+),\s*'OpenOrCreate',\s*'Write'\)"),
    ("seek", r"\[void\]\$(\w+)\.Seek\((\d+),\s*'Begin'\)"),
    ("write", r"\$(\w+)\.Write\(\$(\w+),\s*0,\s*\$\2\.Length\)"),
    ("setlength", r"\$(\w+)\.SetLength\((\d+)\)"),
    ("close", r"\$(\w+)\.Close\(\)"),
    ("write_all", r"\[IO\.File\]::WriteAllText\(\$(\w+),\s*\$(\w+),\s*\(New-Object Text\.UTF8Encoding \$true\)\)"),
    ("run_file", r"&\s*\$(\w+)\s+(.*?)-File\s+\$(\w+)\s*\|\s*ForEach-Object\s*\{\s*\[Console\]::Out\.WriteLine\(\$_\)\s*\}"),
    ("invoke", r"&\s*\(\[ScriptBlock\]::Create\(\$(\w+)\)\)"),
    ("create", _V + r"\s*=\s*\[ScriptBlock\]::Create\(\$(\w+)\)"),
    ("invoke_var", r"&\s*\$(\w+)"),
    ("rc", _V + r"\s*=\s*\$LASTEXITCODE"),
    ("exit", r"exit(?:\s+(\d+|\$\w+))?"),
    ("remove", r"Remove-Item\s+-LiteralPath\s+(\$\w+|" + _LIT + r")\s+-Force(?:\s+-ErrorAction\s+SilentlyContinue)?"),
    ("if", r"if\s*\((.+)\)\s*\{"),
    ("end", r"\}"),
    ("expr", r"((?:'(?:[^']|'')*'|\$env:\w+|\$\w+|\$PSVersionTable\.PSVersion\.ToString\(\)|\[IntPtr\]::Size|\(Get-Item WSMan:\\localhost\\[\w\\]+\)\.Value|\(Get-ExecutionPolicy(?: -Scope \w+)?\)\.ToString\(\))(?:\s*\+\s*(?:'(?:[^']|'')*'|\$env:\w+|\$\w+|\$PSVersionTable\.PSVersion\.ToString\(\)|\[IntPtr\]::Size|\(Get-Item WSMan:\\localhost\\[\w\\]+\)\.Value|\(Get-ExecutionPolicy(?: -Scope \w+)?\)\.ToString\(\)))*)"),
]]


def not_recognized(word: str) -> str:
    """PowerShell's CommandNotFoundException as the console host prints it."""
    return (
        f"The term '{word}' is not recognized as the name of a cmdlet, function, script file, or "
        "operable program. Check the spelling of the name, or if a path was included, verify that "
        "the path is correct and try again.\n"
        f"At line:1 char:{len(word) + 1}\n+ {word} <<<< \n"
        f"    + CategoryInfo          : ObjectNotFound: ({word}:String) [], CommandNotFoundException\n"
        "    + FullyQualifiedErrorId : CommandNotFoundException"
    )


_TEMPLATE_RE = re.compile(r"\ufeff?# hvprov-template: ")
_PLAIN = ("ignore", "exit", "expr", "end")  # alone, these do not make a text a loader


class _Exit(Exception):
    def __init__(self, rc: int) -> None:
        self.rc = rc


def statements(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts, cur, quoted = [], "", False
        for c in line:
            if c == "'":
                quoted = not quoted
            if c == ";" and not quoted:
                parts.append(cur.strip())
                cur = ""
            else:
                cur += c
        parts.append(cur.strip())
        out += [p for p in parts if p]
    return out


def classify(stmt: str) -> tuple[str, re.Match[str]] | None:
    for name, rx in _FORMS:
        m = rx.fullmatch(stmt)
        if m is not None:
            return name, m
    return None


class Interp:
    def __init__(self, proc: Process, input_lines: list[str], console_in: str) -> None:
        self.p = proc
        self.input_lines = input_lines
        self.console_in = console_in
        self.vars: dict[str, Any] = {}
        self.last_rc = 0

    def env(self, name: str) -> str:
        return {"systemroot": "C:\\Windows", "temp": "C:\\Users\\Administrator\\AppData\\Local\\Temp",
                "processor_architew6432": "AMD64" if self.p.wow64 else "",
                "processor_architecture": "x86" if self.p.wow64 or not self.p.x64 else "AMD64",
                }.get(name.lower(), "")

    def run(self, text: str) -> int:
        if _TEMPLATE_RE.match(text):  # a rendered template: the host's (cheap early exit)
            return self._host(text)
        stmts = statements(text)
        if not stmts:
            return self._host(text) if text.strip() and not self.p.interpret_plain else 0
        parsed: list[tuple[str, re.Match[str]]] = []
        for stmt in stmts:
            form = classify(stmt)
            if form is None:  # not a loader: the host runs it
                return self._host(text)
            parsed.append(form)
        if not (self.p.interpret_plain or any(p[0] not in _PLAIN for p in parsed)):
            return self._host(text)
        try:
            self._block(parsed, 0, len(parsed))
        except _Exit as done:
            return done.rc
        return self.last_rc

    def _host(self, text: str) -> int:
        res = self.p.run_script(text, self.p.wow64)
        if res is None:
            self.p.err.append(not_recognized(next((s.split()[0] for s in statements(text)), "?")))
            return 1
        self.p.out.append(res.stdout)
        if res.stderr:
            self.p.err.append(res.stderr)
        self.last_rc = res.rc
        return res.rc

    def _block(self, parsed: list[tuple[str, re.Match[str]]], i: int, end: int) -> None:
        while i < end:
            name, m = parsed[i]
            if name == "if":
                close = self._matching(parsed, i)
                if self._cond(m.group(1)):
                    self._block(parsed, i + 1, close)
                i = close + 1
                continue
            getattr(self, "_" + name)(m)
            i += 1

    @staticmethod
    def _matching(parsed: list[tuple[str, re.Match[str]]], i: int) -> int:
        depth = 0
        for j in range(i, len(parsed)):
            depth += {"if": 1, "end": -1}.get(parsed[j][0], 0)
            if depth == 0:
                return j
        return len(parsed)

    def _cond(self, cond: str) -> bool:
        m = re.fullmatch(r"\$env:(\w+)", cond.strip(), re.IGNORECASE)
        if m:
            return bool(self.env(m.group(1)))
        m = re.fullmatch(r"-not\s+\(Test-Path\s+\$(\w+)\)", cond.strip(), re.IGNORECASE)
        if m:
            return not self._exists(str(self.vars.get(m.group(1).lower(), "")))
        raise _Exit(self._fail(f"condition not modelled: {cond}"))

    def _exists(self, path: str) -> bool:
        if "\\sysnative\\" in path.lower():  # visible to 32-bit processes on 64-bit Windows only
            return self.p.wow64
        return self.p.read_file(path) is not None

    def _fail(self, message: str) -> int:
        self.p.err.append(message + "\r\n")
        return 1

    # -- statements ---------------------------------------------------------------
    def _set(self, m: re.Match[str], value: Any) -> None:
        self.vars[m.group(1).lower()] = value

    def _get(self, name: str) -> Any:
        return self.vars.get(name.lower())

    def _ignore(self, m: re.Match[str]) -> None:
        pass

    def _console_in(self, m: re.Match[str]) -> None:
        self._set(m, self.console_in)
        self.console_in = ""

    def _input(self, m: re.Match[str]) -> None:
        self._set(m, "".join(self.input_lines))
        self.input_lines = []

    def _decode(self, m: re.Match[str]) -> None:
        src = str(self._get(m.group(2)) or "")
        try:
            self._set(m, base64.b64decode("".join(src.split()), validate=True).decode("utf-8"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise _Exit(self._fail('Exception calling "FromBase64String" with "1" argument(s): '
                                   '"Invalid character in a Base-64 string."')) from None

    def _bytes(self, m: re.Match[str]) -> None:
        self._set(m, base64.b64decode(m.group(2)))

    def _join_path(self, m: re.Match[str]) -> None:
        base = "C:\\Windows" if "systemroot" in m.group(2).lower() else "C:\\Users\\Administrator\\AppData\\Local\\Temp"
        child = m.group(3).strip()
        if child.startswith("("):  # ('hvprov-' + [Guid]::NewGuid().ToString('N') + '.ps1')
            child = "".join(re.findall(r"'([^']*)'", child.replace("[Guid]::NewGuid().ToString('N')",
                                                                     "'" + uuid.uuid4().hex + "'")))
        else:
            child = child.strip("'")
        self._set(m, base + "\\" + child)

    def _open(self, m: re.Match[str]) -> None:
        path = str(self._get(m.group(2)))
        self._set(m, {"path": path, "data": bytearray(self.p.read_file(path) or b""), "pos": 0})

    def _seek(self, m: re.Match[str]) -> None:
        self._get(m.group(1))["pos"] = int(m.group(2))

    def _write(self, m: re.Match[str]) -> None:
        s, data = self._get(m.group(1)), self._get(m.group(2))
        buf, pos = s["data"], s["pos"]
        if len(buf) < pos:
            buf.extend(b"\0" * (pos - len(buf)))
        buf[pos:pos + len(data)] = data
        s["pos"] = pos + len(data)

    def _setlength(self, m: re.Match[str]) -> None:
        s = self._get(m.group(1))
        n = int(m.group(2))
        s["data"] = s["data"][:n] + b"\0" * max(0, n - len(s["data"]))

    def _close(self, m: re.Match[str]) -> None:
        s = self._get(m.group(1))
        self.p.write_file(s["path"], bytes(s["data"]))

    def _write_all(self, m: re.Match[str]) -> None:
        self.p.write_file(str(self._get(m.group(1))), b"\xef\xbb\xbf" + str(self._get(m.group(2))).encode("utf-8"))

    def _run_file(self, m: re.Match[str]) -> None:
        from .psexe import Process

        exe = str(self._get(m.group(1)))
        child = Process(self.p.version, self.p.swallows_stdin, self.p.wow64 and "sysnative" not in exe.lower(),
                        self.p.files, self.p.run_script, self.p.x64, self.p.interpret_plain)
        res = child.start(["-File", str(self._get(m.group(3)))], None)
        self.p.out += [line + "\r\n" for line in res.stdout.replace("\r\n", "\n").splitlines()]
        if res.stderr:
            self.p.err.append(res.stderr)
        self.last_rc = res.rc

    def _invoke(self, m: re.Match[str]) -> None:
        self._host_or_interp(str(self._get(m.group(1)) or ""))

    def _host_or_interp(self, text: str) -> None:
        """A script block: run like a command text of its own (stdin is already consumed)."""
        if text.strip():
            self.last_rc = Interp(self.p, [], "").run(text)

    def _create(self, m: re.Match[str]) -> None:
        self._set(m, str(self._get(m.group(2)) or ""))

    def _invoke_var(self, m: re.Match[str]) -> None:
        self._host_or_interp(str(self._get(m.group(1)) or ""))

    def _rc(self, m: re.Match[str]) -> None:
        self._set(m, self.last_rc)

    def _exit(self, m: re.Match[str]) -> None:
        arg = m.group(1)
        if arg is None:
            raise _Exit(0)
        if arg.lower() == "$lastexitcode":
            raise _Exit(self.last_rc)
        raise _Exit(int(arg) if arg.isdigit() else int(self._get(arg[1:]) or 0))

    def _remove(self, m: re.Match[str]) -> None:
        path = str(self._get(m.group(1)[1:])) if m.group(1).startswith("$") else m.group(2).replace("''", "'")
        self.p.files.pop(path.lower(), None)

    def _end(self, m: re.Match[str]) -> None:
        pass

    def _expr(self, m: re.Match[str]) -> None:
        terms = re.findall(r"'(?:[^']|'')*'|\$env:\w+|\$\w+|\$PSVersionTable\.PSVersion\.ToString\(\)|\[IntPtr\]::Size|\(Get-Item WSMan:\\localhost\\[\w\\]+\)\.Value|\(Get-ExecutionPolicy(?: -Scope \w+)?\)\.ToString\(\)", m.group(1), re.IGNORECASE)
        self.p.out.append("".join(self._term(t) for t in terms) + "\r\n")

    def _term(self, t: str) -> str:
        low = t.lower()
        if t.startswith("'"):
            return t[1:-1].replace("''", "'")
        if low.startswith("$psversiontable"):
            return self.p.version if self.p.version.count(".") else self.p.version + ".0"
        if low == "[intptr]::size":
            return "4" if self.p.wow64 or not self.p.x64 else "8"
        if low.startswith("$env:"):
            return self.env(t[5:])
        if low.startswith("(get-item wsman:"):
            return str(self.p.winrm.get(t[len("(Get-Item WSMan:\\localhost\\"):-len(").Value")].lower(), ""))
        if low.startswith("(get-executionpolicy"):
            gpo = self.p.policy_gpo
            return (gpo or "Undefined") if "machinepolicy" in low else (gpo or "Bypass")
        value = self._get(t[1:])
        return "" if value is None else str(value)


__all__ = ["ExecResult", "Interp", "classify", "statements"]
