"""human_readable / human_to_bytes as ansible-core's text formatters compute them."""

from __future__ import annotations

import re
from typing import Any

SIZE_RANGES = {"Y": 1 << 80, "Z": 1 << 70, "E": 1 << 60, "P": 1 << 50, "T": 1 << 40, "G": 1 << 30,
               "M": 1 << 20, "K": 1 << 10, "B": 1}
VALID_UNITS = {
    "B": (("byte", "B"), ("bit", "b")), "K": (("kilobyte", "KB"), ("kilobit", "Kb")),
    "M": (("megabyte", "MB"), ("megabit", "Mb")), "G": (("gigabyte", "GB"), ("gigabit", "Gb")),
    "T": (("terabyte", "TB"), ("terabit", "Tb")), "P": (("petabyte", "PB"), ("petabit", "Pb")),
    "E": (("exabyte", "EB"), ("exabit", "Eb")), "Z": (("zetabyte", "ZB"), ("zetabit", "Zb")),
    "Y": (("yottabyte", "YB"), ("yottabit", "Yb")),
}


class SizeError(ValueError):
    pass


def human_to_bytes(number: Any, default_unit: str | None = None, isbits: bool = False) -> int:
    m = re.search(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$", str(number))
    if m is None:
        raise SizeError("human_to_bytes() can't interpret the input")
    num = float(m.group(1))
    unit = m.group(2) or default_unit
    if unit is None:
        return int(round(num))
    key = unit[0].upper()
    if key not in SIZE_RANGES:
        raise SizeError("human_to_bytes() can't interpret the input")
    if len(unit) > 1:
        names = VALID_UNITS[key][1 if isbits else 0]
        if unit.lower() != names[0] and unit != names[1]:
            raise SizeError("human_to_bytes() can't interpret the input")
    return int(round(num * SIZE_RANGES[key]))


def human_readable(size: Any, isbits: bool = False, unit: str | None = None) -> str:
    base = "bits" if isbits else "Bytes"
    suffix, limit = "", 1
    try:
        for suffix, limit in sorted(SIZE_RANGES.items(), key=lambda item: -item[1]):
            if (unit is None and size >= limit) or (unit is not None and unit.upper() == suffix[0]):
                break
        suffix = suffix + base[0] if limit != 1 else base
        return "%.2f %s" % (size / limit, suffix)
    except TypeError:
        raise SizeError("human_readable() failed on bad input") from None
