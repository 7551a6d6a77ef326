"""The audit log (`--log FILE`): JSON Lines of what ran where.

One line per script run (host, template, masked parameters, duration, outcome, round trips)
and per task result and host result, appended as they happen and flushed, so that a crash
loses at most the line being written. Secret values are scrubbed; scripts' bodies are not
logged (their template and parameters identify them).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import IO, Any

from ..secrets import SecretRegistry, mask


class AuditLog:
    def __init__(self, path: str | Path, secrets: SecretRegistry | None = None) -> None:
        self.path = Path(path)
        self.secrets = secrets or SecretRegistry()
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        record: dict[str, Any] | None = None
        base = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event.get("ts", time.time()))),
                "host": event.get("host"), "event": kind}
        if kind == "script_run":
            record = {**base, "template": event["template"], "params": mask(event.get("params", {})),
                      "duration": event.get("duration"), "outcome": event.get("outcome"),
                      "round_trips": event.get("round_trips")}
        elif kind == "task_done":
            r = event["result"]
            record = {**base, "task": r.name, "module": r.module, "status": r.status.value, "msg": r.msg,
                      "changes": [f"{c.action.value} {c.resource}" for c in r.changes]}
        elif kind in ("run_started", "run_done", "host_done", "play_started", "play_aborted"):
            record = {**base, **{k: v for k, v in event.items() if k not in ("event", "ts", "host")}}
        if record is None:
            return
        line = self.secrets.scrub(json.dumps(mask(record), default=str, ensure_ascii=False))
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()
