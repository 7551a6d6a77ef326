"""An event sink that writes runner events as JSON Lines while the run goes on.

    with JsonLinesEvents("run.jsonl", secrets=registry) as sink:
        result = hvprov.apply(playbook, inventory, on_event=sink)

Each event becomes one line, written and flushed as it happens:

    {"event":"task_done","time":"2026-11-24T11:08:43.123Z","ts":1795518523.123,"host":"hv-std01","result":{...}}

- `event` first, then `time` (ISO-8601, UTC, milliseconds), `ts` (the event's float epoch
  seconds, unchanged), `host` (null for run-level events), then the event's own data in order;
- objects with a `to_dict()` (the `TaskResult` of `task_done`) are written as that dict,
  enums as their value, `Secret` objects as the mask;
- every string (keys too) is scrubbed with the `SecretRegistry` *before* it is JSON-encoded, so
  escaping cannot hide a secret from the scrub;
- `script` bodies (`script_run`) are dropped unless `include_scripts=True`;
- the documented events are `DOCUMENTED_EVENTS`; `EVENT_NAMES` maps runner names to them (one
  to one today) and any other event (`play_started`, `script_run`, `progress`, `play_aborted`)
  passes through under its own name; `events=` keeps only the named (documented) events.

Calls are serialised by a lock, so lines never interleave and keep the order of the calls. A
write error does not fail the run: it is kept in `.error`, later events are dropped, and
`close()` raises it.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import IO, Any

from ..secrets import MASK, Secret, SecretRegistry

DOCUMENTED_EVENTS = ("run_started", "host_started", "task_started", "change_applied", "task_done",
                     "host_done", "run_done")
# Runner event name -> documented name. Names not in here pass through unchanged.
EVENT_NAMES: dict[str, str] = {name: name for name in DOCUMENTED_EVENTS}
_HEAD = ("event", "time", "ts", "host")


def iso_utc(ts: float) -> str:
    """ISO-8601 UTC with milliseconds and a Z: ``2026-11-24T11:08:43.123Z``."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(obj: Any, scrub: Any) -> Any:
    """JSON-native copy of `obj` with every string scrubbed."""
    if isinstance(obj, Secret):
        return MASK
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, Enum):
        return _plain(obj.value, scrub)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return _plain(to_dict(), scrub)
    if isinstance(obj, Mapping):
        return {scrub(str(k)): _plain(v, scrub) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, scrub) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_plain(v, scrub) for v in obj), key=repr)
    if isinstance(obj, bytes):
        return scrub(obj.decode("utf-8", "replace"))
    return scrub(str(obj))


class JsonLinesEvents:
    """Callable event sink writing JSON Lines to a path (created/truncated, closed by `close()`)
    or to an open text or binary file object (left open)."""

    def __init__(self, target: str | os.PathLike[str] | IO[Any], secrets: SecretRegistry | None = None, *,
                 include_scripts: bool = False, events: Iterable[str] | None = None) -> None:
        self.secrets = secrets
        self.include_scripts = include_scripts
        self.events = frozenset(events) if events is not None else None
        self.lines_written = 0
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._closed = False
        if isinstance(target, (str, os.PathLike)):
            # Kept open for the run and closed by close().
            self._file: IO[Any] = open(target, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self._binary = isinstance(self._file, (io.RawIOBase, io.BufferedIOBase)) or "b" in str(getattr(self._file, "mode", ""))

    def _scrub(self, text: str) -> str:
        return self.secrets.scrub(text) if self.secrets else text

    def record(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The JSON-able record written for `event`, or None when `events=` filters it out."""
        kind = str(event.get("event", ""))
        name = EVENT_NAMES.get(kind, kind)
        if self.events is not None and name not in self.events and kind not in self.events:
            return None
        ts = event.get("ts")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            ts = time.time()
        rec: dict[str, Any] = {"event": self._scrub(name), "time": iso_utc(float(ts)), "ts": ts,
                               "host": _plain(event.get("host"), self._scrub)}
        for key, value in event.items():
            if key in _HEAD or (key == "script" and not self.include_scripts):
                continue
            rec[self._scrub(str(key))] = _plain(value, self._scrub)
        return rec

    def __call__(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            if self._closed or self.error is not None:
                return
            rec = self.record(event)
            if rec is None:
                return
            line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            # Line separators other than \n are valid inside JSON strings but split lines in some readers.
            line = line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085") + "\n"
            try:
                self._file.write(line.encode("utf-8") if self._binary else line)
                self._file.flush()
            except (OSError, ValueError) as exc:  # disk full, closed file: keep the run going
                self.error = exc
                return
            self.lines_written += 1

    def close(self) -> None:
        """Close a file this sink opened; raise the first write error, if any."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._owned:
                self._file.close()
        if self.error is not None:
            raise self.error

    def __enter__(self) -> JsonLinesEvents:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # do not hide the exception in flight behind a write error
            with contextlib.suppress(OSError, ValueError):
                self.close()


__all__ = ["DOCUMENTED_EVENTS", "EVENT_NAMES", "JsonLinesEvents", "iso_utc"]
