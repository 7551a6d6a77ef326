"""Text for people: values shown as values (not Python reprs), counts with their singular, and
terminal-safe text (host data and inventory names never reach a terminal as control codes)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# C0 controls but newline and tab, DEL, C1 controls, and the Unicode bidirectional overrides
# that reorder what a reader sees ("Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(text: str) -> str:
    """`text` with every terminal control character shown as an escape (``\\x1b``)."""
    return _CONTROL.sub(_escape, text)


def one_line(text: str) -> str:
    """`safe_text` on one line: newlines and tabs escaped too (comment lines, table cells)."""
    return safe_text(text).replace("\n", "\\n").replace("\t", "\\t")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def show_value(v: Any) -> str:
    """A value as YAML's flow style would show it: ``[C:\\Hyper-V\\a.vhd]``, not a repr."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{show_value(k)}: {show_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 host``, ``2 hosts``, ``0 changes``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def item_label(templar: Any, task: Any, item: Any, variables: Mapping[str, Any]) -> str:
    """What a loop item is called on the console: `loop_control.label` rendered, else the item;
    ``None`` for a no_log task (as Ansible)."""
    if getattr(task, "no_log", False):
        return "None"
    value = item
    if getattr(task, "loop_label", None) is not None:
        try:
            value = templar.template(task.loop_label, variables)
        except Exception:  # noqa: BLE001 - a label is cosmetic; the item itself still names it
            value = item
    text = one_line(show_value(value))
    return text if len(text) <= 120 else text[:117] + "..."
