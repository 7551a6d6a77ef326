"""Secret values: passwords and keys that must never be shown.

A `Secret` prints as ``********`` everywhere (str, repr, format, JSON through `mask`). Only
`reveal()` gives the value, and only transports and the PowerShell renderer call it.
`SecretRegistry` remembers every secret value of a run so that any text about to be shown
to a person (console, JSON, logs, errors, rendered scripts) can be scrubbed with `scrub()`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

MASK = "********"


class Secret:
    """A secret string. Compares by value; never shows it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = str(value)
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # pickling keeps the value (process pools), repr never does
        return (Secret, (self._value, self.source))


class SecretRegistry:
    """The set of secret values known to one run; thread-safe."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = {v for v in values if v}

    def add(self, value: str | Secret) -> None:
        raw = value.reveal() if isinstance(value, Secret) else str(value)
        if len(raw) >= 3:  # masking 1-2 character strings would garble every message
            with self._lock:
                self._values.add(raw)

    def collect(self, obj: Any) -> None:
        """Register every Secret found inside nested dicts/lists."""
        if isinstance(obj, Secret):
            self.add(obj)
        elif isinstance(obj, dict):
            for v in obj.values():
                self.collect(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                self.collect(v)

    def values(self) -> list[str]:
        with self._lock:
            return sorted(self._values)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for v in values:
            if v in text:
                text = text.replace(v, MASK)
        return text


def mask(obj: Any) -> Any:
    """A copy of nested data with every Secret replaced by the mask (for JSON output)."""
    if isinstance(obj, Secret):
        return MASK
    if isinstance(obj, dict):
        return {k: mask(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [mask(v) for v in obj]
    return obj


def reveal(obj: Any) -> Any:
    """A copy of nested data with every Secret replaced by its value (for the host only)."""
    if isinstance(obj, Secret):
        return obj.reveal()
    if isinstance(obj, dict):
        return {k: reveal(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [reveal(v) for v in obj]
    return obj
