"""A small bounded memo shared by threads: the last `keep` keys, oldest out first.

Used where a run recomputes the same large result per host (transports/stdinmemo.py: a script's
encodings; secrets.SecretRegistry.scrub: a large text scrubbed). `get` and `put` take the lock;
the value is computed by the caller between them, outside the lock (two threads may compute the
same value; the last one put stays, equal to the first).
"""

from __future__ import annotations

import threading
from typing import Any


class BoundedMemo:
    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._items: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            while len(self._items) >= self._keep:
                self._items.pop(next(iter(self._items)))  # the oldest
            self._items[key] = value

    def keys(self) -> list[Any]:
        with self._lock:
            return list(self._items)
