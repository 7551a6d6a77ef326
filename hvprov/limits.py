"""Bounds on what hostile or broken input can make hvprov do (issue 11, item 3).

Every input file is read through `read_input_text`: only regular files (a FIFO or
``/dev/zero`` would block or never end), at most `MAX_INPUT_BYTES`. YAML aliases may not
expand a document beyond `MAX_YAML_NODES` nodes (the "billion laughs"). Jinja arithmetic and
string building are bounded (`check_binop`), and regular expressions from templates run with
a time limit (the `regex` package's ``timeout``), so ``{{ 7 ** 99999999 }}`` or ``(a+)+$``
fail with a location instead of hanging.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from jinja2.sandbox import SecurityError

from .errors import InputError, Location


def _regex() -> Any:
    """The `regex` package, imported on the first regular expression (start-up stays short)."""
    import regex

    return regex

MAX_INPUT_BYTES = 16 * 1024 * 1024  # one playbook, inventory or vars file
MAX_YAML_NODES = 1_000_000  # nodes of a YAML document once its aliases are expanded
MAX_ALIAS_RATIO = 20  # ...and aliases may not blow a document up more than this (when large)
MAX_INT_BITS = 4096 * 8  # an integer a template computes (a 9,864-digit number)
MAX_TEXT = 10 * 1024 * 1024  # characters (or items) a template may build with * or %
REGEX_TIMEOUT = 2.0  # seconds one regular-expression match may take


def read_input_text(path: str | Path, error_cls: type[InputError] = InputError, *,
                    encoding: str = "utf-8", max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The text of an input file, refusing what is not a regular file or is too large."""
    p = Path(path)
    where = Location(str(path))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error_cls("file not found", location=where) from None
    except OSError as exc:
        raise error_cls(f"cannot read file: {exc.strerror}", location=where) from None
    if stat.S_ISDIR(st.st_mode):
        raise error_cls("is a directory, not a file", location=where)
    if not stat.S_ISREG(st.st_mode):
        raise error_cls(f"not a regular file ({_kind(st.st_mode)}): refusing to read it", location=where)
    if st.st_size > max_bytes:
        raise error_cls(f"file too large ({st.st_size} bytes; the limit is {max_bytes})", location=where)
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error_cls(f"cannot read file: {exc.strerror}", location=where) from None
    if len(data) > max_bytes:
        raise error_cls(f"file too large (more than {max_bytes} bytes)", location=where)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise error_cls(f"not UTF-8 text ({exc.reason})", location=where) from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def expanded_size(node: Any) -> tuple[int, int]:
    """(nodes once aliases are expanded, distinct nodes) of a composed YAML node graph."""
    memo: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted: the current node's ancestors
    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:
        n, done = stack.pop()
        if id(n) in memo:
            continue
        if not done and id(n) in open_:  # an alias to its own ancestor (`&a [*a]`): no end
            return MAX_YAML_NODES * MAX_ALIAS_RATIO + 1, len(memo) + len(open_)
        children = _children(n)
        if done or not children:
            memo[id(n)] = 1 + sum(memo.get(id(c), 0) for c in children)
            if memo[id(n)] > MAX_YAML_NODES * MAX_ALIAS_RATIO:
                return memo[id(n)], len(memo)
            continue
        open_.add(id(n))
        stack.append((n, True))
        stack.extend((c, False) for c in children if id(c) not in memo)
    return memo[id(node)], len(memo)


def _children(n: Any) -> list[Any]:
    value = getattr(n, "value", None)
    if not isinstance(value, list):
        return []
    out: list[Any] = []
    for item in value:
        if isinstance(item, tuple):
            out.extend(item)
        else:
            out.append(item)
    return out


def alias_bomb(node: Any) -> str | None:
    """Why a composed YAML document expands too far, or None."""
    total, distinct = expanded_size(node)
    if total > MAX_YAML_NODES or (total > 10_000 and total > MAX_ALIAS_RATIO * distinct):
        return (f"YAML aliases expand this document to more than {min(total, MAX_YAML_NODES * MAX_ALIAS_RATIO)} "
                f"values (from {distinct} written): refusing an alias bomb")
    return None


# ----------------------------------------------------------------------------- Jinja
def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an arithmetic or repetition whose result would be huge (before computing it)."""
    if operator == "**" and _is_int(left) and _is_int(right) and right > 0:
        bits = max(int(left).bit_length() - 1, 0) * right if abs(left) > 1 else 0
        if bits > MAX_INT_BITS:
            raise SecurityError(f"{left} ** {right} is too large a number (limit {MAX_INT_BITS} bits)")
    elif operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and _is_int(n) and len(seq) * max(n, 0) > MAX_TEXT:
                raise SecurityError(f"repeating {len(seq)} items {n} times is too large (limit {MAX_TEXT})")
        if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError(f"the product is too large a number (limit {MAX_INT_BITS} bits)")
    elif operator == "%" and isinstance(left, str) and _regex().search(r"%[-#0 +]*(\d{6,})", left):
        raise SecurityError("a %-format field width over 99,999 is too large")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_width(width: Any) -> None:
    if _is_int(width) and width > MAX_TEXT:
        raise SecurityError(f"a width of {width} is too large (limit {MAX_TEXT})")


def _compile(pattern: str, flags: int = 0) -> Any:
    return _regex().compile(str(pattern), flags | _regex().VERSION0)


def _bounded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, timeout=REGEX_TIMEOUT, **kwargs)
    except TimeoutError:
        raise SecurityError(f"regular expression took longer than {REGEX_TIMEOUT} s (catastrophic backtracking?)") from None


class BoundedRegex:
    """A compiled pattern (the `regex` package, Python `re` semantics) whose every search runs
    under the time limit: what Ansible's regex filters and tests use here."""

    def __init__(self, pattern: Any, flags: int = 0) -> None:
        self._rx = _compile(pattern, flags)

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._rx, name)
        if not callable(fn):
            return fn
        return lambda *args, **kwargs: _bounded(fn, *args, **kwargs)


def regex_search(value: Any, pattern: str, ignorecase: bool = False) -> Any:
    m = _bounded(_compile(pattern, _regex().IGNORECASE if ignorecase else 0).search, str(value))
    return m.group(0) if m else None


def regex_replace(value: Any, pattern: str, replacement: str = "", ignorecase: bool = False) -> str:
    rx = _compile(pattern, _regex().IGNORECASE if ignorecase else 0)
    return str(_bounded(rx.sub, replacement, str(value)))


def regex_match_test(value: Any, pattern: str, ignorecase: bool = False) -> bool:
    return _bounded(_compile(pattern, _regex().IGNORECASE if ignorecase else 0).match, str(value)) is not None


def regex_search_test(value: Any, pattern: str, ignorecase: bool = False) -> bool:
    return _bounded(_compile(pattern, _regex().IGNORECASE if ignorecase else 0).search, str(value)) is not None


def bound_filters(filters: dict[str, Any]) -> None:
    """Wrap Jinja's built-in filters that build text of a given width or format."""
    for name, width_arg in (("center", 1), ("indent", 1)):
        inner = filters.get(name)
        if inner is not None:
            filters[name] = _width_checked(inner, width_arg)
    fmt = filters.get("format")
    if fmt is not None:
        def _format(value: Any, *args: Any, **kwargs: Any) -> Any:
            check_binop("%", value, args)
            return fmt(value, *args, **kwargs)

        filters["format"] = _format


def _width_checked(inner: Any, index: int) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        for v in (*args[index:index + 1], kwargs.get("width")):
            check_width(v)
        return inner(*args, **kwargs)

    return wrapped


def parents_first(names: Any, parents_of: Any) -> list[str]:
    """`names` ordered so that every name comes after its parents (an acyclic graph), without
    recursion: a 3,000-deep `[group:children]` chain must not exhaust Python's stack."""
    order: list[str] = []
    seen: set[str] = set()
    for root in names:
        if root in seen:
            continue
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            stack.extend((p, False) for p in parents_of(name) if p not in seen)
    return order
