"""Reading a script's framed result line.

Every hvprov script prints exactly one line ``##hvprov-result## {json}`` where json is
``{"ok": true, "data": {...}}`` or
``{"ok": false, "error": {"type": "...", "message": "...", "line": 12, "category": "..."}}``,
and exits 0 (ok) or 1 (error). Anything else on stdout/stderr (banners, warnings, progress
records) is ignored for parsing but kept for error messages.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import RemoteError, ResultParseError
from .transports.base import ExecResult

RESULT_PREFIX = "##hvprov-result## "


def result_line(payload: dict[str, Any]) -> str:
    """The line a script prints (used by the simulator; PowerShell has its own writer)."""
    return RESULT_PREFIX + json.dumps(payload, ensure_ascii=True, separators=(",", ":"))


def parse_result(res: ExecResult, template: str) -> dict[str, Any]:
    """The `data` of a successful script, or RemoteError / ResultParseError."""
    payload = None
    for line in res.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            if payload is not None:
                raise ResultParseError("script printed more than one result line", template=template)
            try:
                payload = json.loads(line[len(RESULT_PREFIX):])
            except json.JSONDecodeError as exc:
                raise ResultParseError(f"result line is not valid JSON ({exc.msg})", template=template) from None
    if payload is None:
        tail = (res.stderr.strip() or res.stdout.strip())[-300:]
        detail = f": {tail}" if tail else ""
        raise ResultParseError(
            f"script ended (exit code {res.rc}) without a result line{detail}", template=template
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("ok"), bool):
        raise ResultParseError("result line has no boolean 'ok'", template=template)
    if payload["ok"]:
        data = payload.get("data", {})
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ResultParseError("result 'data' is not an object", template=template)
        return data
    err = payload.get("error") if isinstance(payload.get("error"), dict) else {}
    line = err.get("line")
    raise RemoteError(
        str(err.get("message") or "script failed"),
        template=template,
        error_type=str(err.get("type") or "") or None,
        script_line=line if isinstance(line, int) else None,
    )
