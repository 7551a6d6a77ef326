"""Documented arguments of the ansible.windows modules that hvprov refuses, with the reason.

An Args model lists them in ``REFUSED``: argument name -> `Refused(reason, allowed)`. At load
(taskargs.check_args) every given refused argument is an error at its file:line with the reason,
unless its value is one of ``allowed`` (literal values that behave as the collection's, e.g. a
documented default). A templated value is refused too: its value is not known at load.
docs/ansible-windows.md lists them all (tests/ansible_diff/test_windows_contract.py checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Refused:
    """A documented argument hvprov refuses, and the values it still accepts."""

    reason: str
    allowed: tuple[Any, ...] = ()


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return False


_BOOL_TEXT = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}


def _allowed(value: Any, allowed: tuple[Any, ...]) -> bool:
    """`value` is one of `allowed` (booleans also as Ansible's yes/no/true/false text)."""
    for a in allowed:
        if isinstance(a, bool) and isinstance(value, str) and _BOOL_TEXT.get(value.strip().lower()) is a:
            return True
        if type(value) is type(a) and value == a:
            return True
    return False


def refused_arguments(model: Any, args: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(argument, reason) for every refused argument given with a value hvprov does not run."""
    table: Mapping[str, Refused] = getattr(model, "REFUSED", {})
    return [(str(key), table[key].reason) for key, value in args.items()
            if key in table and (_templated(value) or not _allowed(value, table[key].allowed))]
