"""A run's encodings of large stdin payloads, shared by its hosts.

A fleet sends every host the same facts script (36 KB): on stdin as the ASCII base64 of its
UTF-8 text (bootstrap.stdin_payload), and inside the WinRM Send envelope as the base64 of that
(WS-Management streams are base64). Both are pure functions of the text, so a run computes each
once per distinct script instead of once per host (2 x ~50 KB of base64 per host). The memo lives
in the run's `ConnectionSpec.credential_cache` (gone with the run), keeps the last few distinct
payloads only, and holds nothing the run does not already hold: the scripts it sends.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from ..memo import BoundedMemo
from .bootstrap import stdin_payload

KEEP = 4  # distinct payloads kept per kind: a run's facts script, and a few more
MIN_SIZE = 4096  # smaller payloads are encoded each time: looking them up costs about as much


class StdinMemo:
    def __init__(self, keep: int = KEEP) -> None:
        self._payloads = BoundedMemo(keep)
        self._b64 = BoundedMemo(keep)

    def payload(self, script: str) -> bytes:
        """bootstrap.stdin_payload(script), computed once per distinct large script."""
        if len(script) < MIN_SIZE:
            return stdin_payload(script)
        return _get(self._payloads, script, stdin_payload)  # type: ignore[no-any-return]

    def b64(self, data: bytes) -> str:
        """The ASCII base64 of a Send's stdin bytes, computed once per distinct large chunk."""
        if len(data) < MIN_SIZE:
            return _b64(data)
        return _get(self._b64, data, _b64)  # type: ignore[no-any-return]


def _get(memo: BoundedMemo, key: Any, make: Callable[[Any], Any]) -> Any:
    hit = memo.get(key)
    if hit is None:
        hit = make(key)
        memo.put(key, hit)
    return hit


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def run_memo(cache: dict[Any, Any] | None) -> StdinMemo | None:
    """The run's memo, kept in its credential cache (None: no run-wide cache, nothing kept)."""
    if cache is None:
        return None
    memo = cache.get(StdinMemo)
    if memo is None:
        memo = cache.setdefault(StdinMemo, StdinMemo())
    return memo  # type: ignore[no-any-return]
