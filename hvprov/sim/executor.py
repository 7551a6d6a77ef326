"""Answering a rendered script the way the real template would on the modelled host.

The simulator cannot run PowerShell. It reads the script's two-line header
(``# hvprov-template: <name>`` / ``# hvprov-params: <json>``, contracts §1), acts on the host
model through one handler per template (contracts §2; the Hyper-V ones of §6 live in
`hyperv.py`), and returns what powershell.exe would print: optional noise (warnings, DISM
banners) and exactly one ``##hvprov-result## {json}`` line, CRLF line ends, exit code 0 (ok)
or 1 (error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..scriptresult import result_line
from ..transports.base import ExecResult
from . import hyperv, rules
from .hostfacts import host_facts, iso
from .model import HostModel, norm_path
from .psstreams import literal_writes
from .rules import WindowsError

_HEADER_RE = re.compile(r"# hvprov-template: (\S+)\r?\n# hvprov-params: (.*?)\r?(?:\n|$)")
NOT_RECOGNIZED = "'powershell.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
_TERM = rules.TERM_NOT_RECOGNIZED
NO_SERVERMANAGER = ("The specified module 'ServerManager' was not loaded because no valid module file was "
                    "found in any module directory.")


class HeaderError(ValueError):
    pass


def parse_header(script: str) -> tuple[str, dict[str, Any]]:
    """(template, params) from the first two lines of a rendered script."""
    m = _HEADER_RE.match(script.lstrip("\ufeff"))
    if m is None:
        raise HeaderError("script does not start with the '# hvprov-template:' / '# hvprov-params:' header")
    try:
        params = json.loads(m.group(2))
    except json.JSONDecodeError as exc:
        raise HeaderError(f"hvprov-params is not valid JSON ({exc.msg})") from None
    if not isinstance(params, dict):
        raise HeaderError("hvprov-params is not a JSON object")
    return m.group(1), params


# ---------------------------------------------------------------------------- output


def _ok(data: dict[str, Any], noise: list[str] | None = None) -> ExecResult:
    lines = [*(noise or []), result_line({"ok": True, "data": data})]
    return ExecResult("\r\n".join(lines) + "\r\n", "", 0)


def _error(script: str, type: str, message: str, category: str = "NotSpecified",
           keyword: str | None = None, noise: list[str] | None = None, line: int | None = None) -> ExecResult:
    if line is None and keyword:
        line = next((i for i, text in enumerate(script.splitlines(), 1)
                     if i > 2 and keyword.lower() in text.lower()), None)
    err = {"type": type, "message": message, "line": line, "category": category}
    lines = [*(noise or []), result_line({"ok": False, "error": err})]
    return ExecResult("\r\n".join(lines) + "\r\n", "", 1)


_MISSING = object()


def _param(params: dict[str, Any], key: str, typ: type | tuple[type, ...], default: Any = _MISSING) -> Any:
    if key not in params:
        if default is _MISSING:
            raise WindowsError("System.Management.Automation.ParameterBindingException",
                               f"missing template parameter '{key}'", "InvalidArgument")
        return default
    value = params[key]
    if value is None and default is None:
        return None
    if isinstance(value, bool) and typ is int or not isinstance(value, typ):
        raise WindowsError("System.Management.Automation.ParameterBindingException",
                           f"template parameter '{key}' has the wrong type ({type(value).__name__})",
                           "InvalidArgument")
    return value


def _names(params: dict[str, Any]) -> list[str]:
    names = _param(params, "names", list)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise WindowsError("System.Management.Automation.ParameterBindingException",
                           "template parameter 'names' must be a non-empty list of names", "InvalidArgument")
    return names


def _state(params: dict[str, Any]) -> str:
    state = _param(params, "state", str, "present")
    if state not in ("present", "absent"):
        raise WindowsError("System.Management.Automation.ParameterBindingException",
                           f"template parameter 'state' must be present or absent, got {state!r}", "InvalidArgument")
    return str(state)


# ---------------------------------------------------------------------------- handlers

Handler = Callable[[HostModel, dict[str, Any], float], ExecResult]


def facts(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    probes = _param(params, "probe_paths", list, [])
    return _ok(host_facts(host, [p for p in probes if isinstance(p, str)]))


def feature_servermanager_v1(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    if rules.feature_tool(host) != "servermanager":
        raise WindowsError("System.IO.FileNotFoundException", NO_SERVERMANAGER, "ResourceUnavailable",
                           keyword="Import-Module")
    out = rules.change_features(host, _names(params), _state(params), dism=False)
    return _ok(out.data(), out.noise)


def feature_servermanager_v2(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    state = _state(params)
    if host.major_minor < (6, 2):
        cmd = "Install-WindowsFeature" if state == "present" else "Uninstall-WindowsFeature"
        raise WindowsError("System.Management.Automation.CommandNotFoundException", _TERM.format(cmd),
                           "ObjectNotFound", keyword=cmd)
    tools = bool(_param(params, "include_management_tools", bool, False))
    out = rules.change_features(host, _names(params), state, dism=False, include_management_tools=tools)
    return _ok(out.data(), out.noise)


def feature_dism_v1(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    if host.major_minor < (6, 1):
        raise WindowsError("System.Management.Automation.CommandNotFoundException", _TERM.format("dism.exe"),
                           "ObjectNotFound", keyword="dism")
    banner = ["", "Deployment Image Servicing and Management tool", f"Version: {host.version}.16385", "",
              f"Image Version: {host.version}.17514", ""]
    try:
        out = rules.change_features(host, _names(params), _state(params), dism=True)
    except WindowsError as exc:
        exc.noise = banner + exc.noise
        raise
    noise = banner + ["Enabling feature(s)" if _state(params) == "present" else "Disabling feature(s)",
                      "[==========================100.0%==========================]",
                      "The operation completed successfully."]
    if out.restart_needed == "Yes":
        noise.append("Restart Windows to complete this operation.")
    return _ok(out.data(), noise)


def reboot(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    _param(params, "reason", str, "")
    delay = _param(params, "delay_seconds", (int, float), 0)
    rules.schedule_reboot(host, now, float(delay))
    return _ok({"scheduled": True, "last_boot": iso(host.last_boot)})


def boot_time(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    return _ok({"last_boot": iso(host.last_boot), "hostname": host.hostname})


def user_script(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    """The simulator cannot run the user's code; it honours creates/removes (contracts §2)."""
    _param(params, "script", str)
    creates = _param(params, "creates", str, None)
    removes = _param(params, "removes", str, None)
    skipped = bool(creates and host.path_exists(creates)) or bool(removes and not host.path_exists(removes))
    if not skipped:  # the script is declared to create / remove that path
        if creates:
            host.files.append(creates)
        if removes:
            host.files = [f for f in host.files if not _same(f, removes)]
    return _ok({"skipped": skipped, "output": ["(simulated) script not executed"], "changed": None})


def user_process(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    """powershell/process and powershell/structured (win_command, win_shell, win_powershell):
    the simulator cannot run them either; it honours creates/removes as user_script does."""
    creates = _param(params, "creates", str, None)
    removes = _param(params, "removes", str, None)
    if creates and host.path_exists(creates):
        return _ok({"skipped": True, "why": "creates"})
    if removes and not host.path_exists(removes):
        return _ok({"skipped": True, "why": "removes"})
    if creates:
        host.files.append(creates)
    if removes:
        host.files = [f for f in host.files if not _same(f, removes)]
    stamp = "2026-01-01 00:00:00.000000"
    if "script" in params:
        known = literal_writes(str(params["script"]), host.powershell, iso(now))  # psstreams.py
        if known is not None:
            return _ok({"skipped": False, "error": [], "verbose": [], "debug": [], "result": {}, "changed": True,
                        "failed": False, **known})
        return _ok({"skipped": False, "output": ["(simulated) script not executed"], "error": [], "warning": [],
                    "verbose": [], "debug": [], "information": [], "result": {}, "changed": True, "failed": False,
                    "host_out": "", "host_err": ""})
    return _ok({"skipped": False, "rc": 0, "stdout": "(simulated) command not executed\r\n", "stderr": "",
                "start": stamp, "end": stamp})


def lease(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
    """system/lease.ps1.j2: the lease file, checked and written under a system mutex."""
    action = _param(params, "action", str)
    owner = _param(params, "owner", str)
    ttl = _param(params, "ttl_seconds", int)
    steal = _param(params, "steal_from", str, None)
    expired = host.lease_expires is None or host.lease_expires < now
    free = host.lease_owner is None or expired or host.lease_owner in (owner, steal)
    if action == "acquire":
        if free:
            host.lease_owner, host.lease_expires = owner, now + ttl
            return _ok({"acquired": True, "holder": owner, "expires": iso(host.lease_expires)})
        return _ok({"acquired": False, "holder": host.lease_owner, "expires": iso(host.lease_expires or now)})
    mine = host.lease_owner == owner
    if mine:
        host.lease_owner = host.lease_expires = None
    return _ok({"released": mine})


def _same(a: str, b: str) -> bool:
    return norm_path(a) == norm_path(b)


def _hyperv(backend: str, op: str) -> Handler:
    """``hyperv_<backend>/<op>`` (contracts §6): switches, VHDs, VMs (`hyperv.py`)."""

    def handler(host: HostModel, params: dict[str, Any], now: float) -> ExecResult:
        data, noise = hyperv.run(backend, op, host, params, now)
        return _ok(data, noise)

    handler.__name__ = f"hyperv_{backend}_{op}"
    return handler


HANDLERS: dict[str, Handler] = {
    "facts/host": facts,
    "feature/servermanager_v1": feature_servermanager_v1,
    "feature/servermanager_v2": feature_servermanager_v2,
    "feature/dism_v1": feature_dism_v1,
    "system/reboot": reboot,
    "system/boot_time": boot_time,
    "powershell/script": user_script,
    "powershell/process": user_process,
    "powershell/structured": user_process,
    "system/lease": lease,
    **{f"hyperv_{backend}/{op}": _hyperv(backend, op) for backend, op in hyperv.TEMPLATES},
}


def template_key(template: str) -> str:
    for suffix in (".j2", ".ps1"):
        template = template.removesuffix(suffix)
    return template


def execute(host: HostModel, script: str, now: float) -> ExecResult:
    """Run one rendered script against `host` (mutating it) at time `now`."""
    if not rules.powershell_available(host):
        return ExecResult("", NOT_RECOGNIZED, 9009)  # cmd.exe: no powershell.exe on this Server Core
    try:
        template, params = parse_header(script)
    except HeaderError as exc:
        return _error(script, "HeaderParseError", str(exc), "ParserError", line=1)
    handler = HANDLERS.get(template_key(template))
    if handler is None:
        return _error(script, "NotSupportedBySimulator",
                      f"the simulator has no model for template {template!r}", "NotImplemented", line=1)
    try:
        return handler(host, params, now)
    except WindowsError as exc:
        return _error(script, exc.type, exc.message, exc.category, exc.keyword, exc.noise)


__all__ = ["HANDLERS", "execute", "iso", "parse_header"]
