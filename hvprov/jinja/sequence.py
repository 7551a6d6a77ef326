"""The sequence lookup's argument forms and output, as ansible-core's."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

_NUM = "(0?x?[0-9a-f]+)"
_SHORTCUT = re.compile("^(" + _NUM + "-)?" + _NUM + "(/" + _NUM + ")?" + "(:(.+))?$", re.IGNORECASE)
_FIELDS = ("start", "end", "stride", "count", "format")


class SequenceError(ValueError):
    pass


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SequenceError(f"Invalid value provided for 'integer': {value!r}") from None


def _parse(term: str, opts: dict[str, Any]) -> None:
    m = _SHORTCUT.match(term)
    if m:
        _, start, end, _, stride, _, fmt = m.groups()
        for key, value in (("start", start), ("end", end), ("stride", stride), ("format", fmt)):
            if value is not None:
                opts[key] = value
        return
    for part in shlex.split(term):
        key, sep, value = part.partition("=")
        if not sep or key not in _FIELDS:
            raise SequenceError(f"unrecognized arguments to with_sequence: [{key!r}]")
        opts[key] = value


def _one(opts: Mapping[str, Any]) -> list[str]:
    start, stride, fmt = _int(opts.get("start", 1)), _int(opts.get("stride", 1)), str(opts.get("format", "%d"))
    count = None if opts.get("count") is None else _int(opts["count"])
    end = None if opts.get("end") is None else _int(opts["end"])
    if count is None and end is None:
        raise SequenceError("must specify count or end in with_sequence")
    if count is not None and end is not None:
        raise SequenceError("can't specify both count and end in with_sequence")
    if count is not None:
        if count == 0:
            return []
        end = start + count * stride - 1
    assert end is not None
    if stride > 0 and end < start:
        raise SequenceError("to count backwards make stride negative")
    if stride < 0 and end > start:
        raise SequenceError("to count forward don't make stride negative")
    if stride == 0:
        return []
    if fmt.count("%") != 1:
        raise SequenceError(f"bad formatting string: {fmt}")
    try:
        return [fmt % i for i in range(start, end + (1 if stride >= 0 else -1), stride)]
    except (ValueError, TypeError):
        raise SequenceError(f"problem formatting with {fmt!r}") from None


def run(terms: list[Any], kwargs: Mapping[str, Any]) -> list[str]:
    if kwargs and not terms:
        terms = [""]
    out: list[str] = []
    for term in terms:
        opts = {k: v for k, v in kwargs.items() if v is not None}
        if set(opts) - set(_FIELDS):
            raise SequenceError(f"unrecognized arguments to with_sequence: {sorted(set(opts) - set(_FIELDS))}")
        if str(term):
            _parse(str(term), opts)
        out.extend(_one(opts))
    return out
