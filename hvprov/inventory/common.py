"""Inventory constants and helpers shared by the parsers."""

from __future__ import annotations

import ast
import logging
import string
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError, InventoryError, Location
from ..patterns import parse_address
from ..secrets import Secret
from ..yamlsrc import LocDict, LocList

log = logging.getLogger('hvprov.inventory')

GROUP_KEYS = ("hosts", "children", "vars")
YAML_EXTENSIONS = (".yml", ".yaml", ".json")
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")  # Ansible: no extension (file or dir) first
_DIR_SKIP_NAMES = frozenset({"group_vars", "host_vars", "vars_plugins"})
_DIR_SKIP_EXTS = (
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
    ".orig",
    ".cfg",
    ".retry",
)
_MAX_RANGE_HOSTS = 100_000
PRIORITY_VAR = "ansible_group_priority"


class _RangeError(ValueError):
    pass


def _tname(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, Mapping)):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _plain(value: Any) -> Any:
    """Plain Python data (LocDict/LocList/tuples become dict/list); Secrets kept as they are."""
    if isinstance(value, (str, int, float, bool, Secret)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _key_loc(container: Any, key: Any, fallback: Location) -> Location:
    if isinstance(container, LocDict):
        loc = container.key_locs.get(key)
        if loc is not None:
            return loc
        if container.loc is not None:
            return container.loc
    return fallback


def _own_loc(value: Any, fallback: Location) -> Location:
    if isinstance(value, (LocDict, LocList)) and value.loc is not None:
        return value.loc
    return fallback


def _where(loc: Location | None) -> str:
    if loc is None:
        return "elsewhere"
    if loc.line is not None:
        return f"line {loc.line}" + (f", column {loc.column}" if loc.column is not None else "")
    return str(loc)


def _suggest(word: Any, choices: Sequence[str]) -> str:
    import difflib  # only when there is something to suggest (start-up: docs/cli-startup.md)

    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """``hv[01:03].lab:5986`` -> (["hv01.lab", "hv02.lab", "hv03.lab"], 5986), as Ansible.

    Raises ValueError for a bad range.
    """
    parsed = parse_address(pattern)
    name, port = parsed if parsed is not None else (pattern, None)
    if "[" not in name and "]" not in name:
        return [name], port
    out: list[str] = []
    _expand_ranges(name, out)
    return out, port


def _expand_ranges(name: str, out: list[str]) -> None:
    start = name.find("[")
    stop = name.find("]")
    if start < 0 or stop < 0 or stop < start:
        raise _RangeError(f"unbalanced '[' ']' in host range {name!r}")
    head, spec, tail = name[:start], name[start + 1 : stop], name[stop + 1 :]
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise _RangeError(f"host range [{spec}] must be [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise _RangeError(f"host range [{spec}] has no end value")
    if not step_text.isdigit() or int(step_text) < 1:
        raise _RangeError(f"host range [{spec}]: the step must be a positive integer")
    step = int(step_text)
    letters = string.ascii_letters
    values: list[str]
    if begin.isdigit() and end.isdigit():
        if int(begin) > int(end):
            raise _RangeError(f"host range [{spec}]: begin is greater than end")
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise _RangeError(
                f"host range [{spec}]: a zero-padded range needs begin and end of equal length"
            )
        count = (int(end) - int(begin)) // step + 1
        if count > _MAX_RANGE_HOSTS:
            raise _RangeError(
                f"host range [{spec}] expands to {count} hosts (at most {_MAX_RANGE_HOSTS})"
            )
        values = [str(i).zfill(width) for i in range(int(begin), int(end) + 1, step)]
    elif len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        i, j = letters.index(begin), letters.index(end)
        if i > j:
            raise _RangeError(f"host range [{spec}]: begin is after end")
        values = list(letters[i : j + 1 : step])
    else:
        raise _RangeError(
            f"host range [{spec}] must be numeric ([01:10]) or single letters ([a:f])"
        )
    for v in values:
        candidate = head + v + tail
        if "[" in candidate or "]" in candidate:
            _expand_ranges(candidate, out)
        else:
            out.append(candidate)
        if len(out) > _MAX_RANGE_HOSTS:
            raise _RangeError(f"host range {name!r} expands to more than {_MAX_RANGE_HOSTS} hosts")


def _ini_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal if it is one, else the string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _ini_coerce(value)


def _ini_coerce(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_ini_coerce(v) for v in value]
    if isinstance(value, dict):
        return {_ini_coerce(k): _ini_coerce(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _raise_problems(problems: list[InventoryError], file: str) -> None:
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    raise InventoryError(
        f"{len(problems)} problems in the inventory",
        location=Location(file),
        problems=list[InputError](problems),
    )
