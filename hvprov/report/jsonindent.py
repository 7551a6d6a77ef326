"""`json.dumps(obj, indent=2, default=str)`, byte for byte, mostly at the C encoder's speed.

With `indent`, the standard library encodes in pure Python (a generator per container, a yield
per item): 24 ms for the 590 KB run document of 200 hosts x 10 tasks, against 5.7 ms compact
with its C encoder. The indentation of a container's items depends only on its depth, so a
container whose values are all leaves (strings, numbers, booleans, None, empty containers,
and what `default=str` turns into a string) is encoded by the C encoder with that depth's item
separator (`",\\n" + 2 * depth spaces`) and the newlines after its opening and before its
closing bracket added; only the containers that hold non-empty containers are walked here.
Keys, floats (NaN, Infinity), ints, strings (ASCII escapes) and `default` are left to the C
encoder, which implements the same rules as the Python one; a cycle raises json's ValueError.
Without the C accelerator (another interpreter), `json.dumps` itself runs.
tests/test_jsonindent.py compares the bytes with `json.dumps(indent=2, default=str)`.
"""

from __future__ import annotations

import json
from itertools import repeat
from typing import Any

try:
    from _json import make_encoder as _c_make_encoder  # json.encoder's own accelerator
except ImportError:  # pragma: no cover - CPython always has it
    _c_make_encoder = None

from json.encoder import encode_basestring_ascii as _encode_str

_CONTAINERS = (list, tuple, dict)


def dumps_indent(obj: Any, indent: int = 2) -> str:
    """`json.dumps(obj, indent=indent, default=str)`."""
    if _c_make_encoder is None:  # pragma: no cover
        return json.dumps(obj, indent=indent, default=str)
    parts: list[str] = []
    _Indenter(indent, parts).value(obj, 0)
    return "".join(parts)


class _Indenter:
    def __init__(self, indent: int, parts: list[str]) -> None:
        self.indent = indent
        self.parts = parts
        self.encoders: dict[int, Any] = {}  # depth -> C encoder with that depth's item separator
        self.markers: set[int] = set()  # the containers being encoded (a cycle is an error, as in json)

    def _encoder(self, depth: int) -> Any:
        enc = self.encoders.get(depth)
        if enc is None:  # the arguments json.JSONEncoder.iterencode gives it for default=str
            enc = self.encoders[depth] = _c_make_encoder(
                None, str, _encode_str, None, ": ", ",\n" + " " * (self.indent * depth), False, False, True)
        return enc

    def value(self, obj: Any, depth: int) -> None:
        if isinstance(obj, str):
            self.parts.append(_encode_str(obj))
        elif isinstance(obj, _CONTAINERS) and obj:
            self.container(obj, depth)
        else:  # a leaf, an empty container, or what default=str makes a string of
            self.parts.extend(self._encoder(depth)(obj, 0))

    def container(self, obj: Any, depth: int) -> None:
        is_dict = isinstance(obj, dict)
        values = obj.values() if is_dict else obj
        inner = "\n" + " " * (self.indent * (depth + 1))
        close = "\n" + " " * (self.indent * depth) + ("}" if is_dict else "]")
        parts = self.parts
        for v in values:
            if isinstance(v, _CONTAINERS) and v:
                break
        else:  # only leaves: the C encoder, with this depth's separator
            text = "".join(self._encoder(depth + 1)(obj, 0))  # '{"a": 1,\n    "b": 2}'
            parts.append(text[0] + inner + text[1:-1] + close)
            return
        if not is_dict and self._rows(obj, depth):
            return
        marker = id(obj)
        if marker in self.markers:
            raise ValueError("Circular reference detected")
        self.markers.add(marker)
        if is_dict:
            parts.append("{")
            sep = inner
            leaf = self._encoder(depth + 1)  # what value() uses for a leaf at this depth
            for key, v in obj.items():
                parts.append(sep)
                sep = "," + inner
                if isinstance(key, str):
                    parts.append(_encode_str(key))
                else:  # the C encoder's key rules (int, float, bool, None; TypeError otherwise)
                    text = "".join(self._encoder(0)({key: None}, 0))
                    parts.append(text[1:-len(": null}")])
                parts.append(": ")
                if isinstance(v, str):  # value(v, depth + 1), inline for the leaves
                    parts.append(_encode_str(v))
                elif isinstance(v, _CONTAINERS) and v:
                    self.container(v, depth + 1)
                else:
                    parts.extend(leaf(v, 0))
        else:
            parts.append("[")
            sep = inner
            for v in obj:
                parts.append(sep)
                sep = "," + inner
                self.value(v, depth + 1)
        parts.append(close)
        self.markers.discard(marker)

    def _rows(self, obj: Any, depth: int) -> bool:
        """A list of non-empty dicts whose values are all leaves (a host's tasks in a run
        document): encoded by the C encoder in one call, with the separator of the dicts' items,
        then the dicts' brackets put on their own lines. In that text a separator is followed by
        a key (a quote) inside a dict and by a bracket only between two dicts (a string holds no
        raw newline, and an empty container is written `[]` / `{}`), so "}" + separator + "{"
        marks exactly the boundaries. False (nothing written) for any other list."""
        containers = repeat(_CONTAINERS)
        for item in obj:
            if type(item) is not dict or not item:
                return False
            try:  # a non-empty container among its values, in C: the truthy values, then isinstance
                nested = any(map(isinstance, filter(None, item.values()), containers))
            except Exception:  # noqa: BLE001 - a leaf whose truth cannot be told: as container() asks
                nested = any(isinstance(v, _CONTAINERS) and v for v in item.values())
            if nested:
                return False
        pad = " " * self.indent
        sep = ",\n" + pad * (depth + 2)
        row = "\n" + pad * (depth + 1)
        text = "".join(self._encoder(depth + 2)(obj, 0))  # '[{"a": 1,\n      "b": 2}' + sep + '{...}]'
        body = text[2:-2].replace("}" + sep + "{", row + "}," + row + "{\n" + pad * (depth + 2))
        self.parts.append("[" + row + "{\n" + pad * (depth + 2) + body + row + "}\n" + pad * depth + "]")
        return True
