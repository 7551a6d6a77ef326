"""Human sizes as Hyper-V uses them: binary units (1 GB = 1024^3 bytes, as New-VHD's 40GB)."""

from __future__ import annotations

import re

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1024**3, "gib": 1024**3,
    "t": 1024**4, "tb": 1024**4, "tib": 1024**4,
}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: int | str, default_unit: str = "b") -> int:
    """Bytes from 40GB / '512 MiB' / 1073741824. Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 40GB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value * _UNITS[default_unit]
    m = _RE.match(str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"expected a size like 40GB, 512MB or a number of bytes, got {value!r}")
    number, unit = m.group(1), m.group(2).lower() or default_unit
    scaled = float(number) * _UNITS[unit]
    if scaled != int(scaled):
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(scaled)


def parse_memory_mb(value: int | str) -> int:
    """Megabytes from 2048 / '2GB' / '512MB'. A bare number is MB (as Hyper-V Manager)."""
    size = parse_size(value, default_unit="mb")
    if size % 1024**2:
        raise ValueError(f"memory must be a whole number of MB, got {value!r}")
    return size // 1024**2


def human(nbytes: int) -> str:
    for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size} {unit}"
    return f"{nbytes} B"
