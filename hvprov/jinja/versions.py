"""Version comparison as ansible-core's `version` test: loose (distutils' LooseVersion rules),
strict (StrictVersion), pep440 (packaging) and semver/semantic (SemVer 2.0 precedence)."""

from __future__ import annotations

import re
from functools import total_ordering
from typing import Any

_LOOSE = re.compile(r"(\d+ | [a-z]+ | \.)", re.VERBOSE)
_STRICT = re.compile(r"^(\d+) \. (\d+) (\. (\d+))? ([ab](\d+))?$", re.VERBOSE | re.ASCII)
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                     r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


@total_ordering
class _Version:
    key: Any

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Version):
            return NotImplemented
        return bool(self.key == other.key)

    def __lt__(self, other: _Version) -> bool:
        return bool(self.key < other.key)


class LooseVersion(_Version):
    def __init__(self, text: str) -> None:
        parts: list[Any] = []
        for part in _LOOSE.split(text):
            if part and part != ".":
                try:
                    parts.append(int(part))
                except ValueError:
                    parts.append(part)
        self.key = parts


class StrictVersion(_Version):
    def __init__(self, text: str) -> None:
        m = _STRICT.match(text)
        if not m:
            raise ValueError(f"invalid version number '{text}'")
        major, minor, patch, pre, prenum = m.group(1, 2, 4, 5, 6)
        nums = (int(major), int(minor), int(patch or 0))
        # a pre-release sorts before the release; compare as distutils did
        self.key = (nums, (pre[0], int(prenum)) if pre else ("z", 0))


class SemanticVersion(_Version):
    def __init__(self, text: str) -> None:
        m = _SEMVER.match(text)
        if not m:
            raise ValueError(f"invalid semantic version '{text}'")
        pre = m.group(4)
        pre_key: tuple[Any, ...] = (1,) if pre is None else (0, tuple(
            (0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))
        self.key = (int(m.group(1)), int(m.group(2)), int(m.group(3)), pre_key)


def pep440(text: str) -> Any:
    from packaging.version import Version

    return Version(text)


TYPES: dict[str, Any] = {"loose": LooseVersion, "strict": StrictVersion, "semver": SemanticVersion,
                         "semantic": SemanticVersion, "pep440": pep440}
