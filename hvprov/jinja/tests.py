"""ansible.builtin tests (ansible-core 2.19's test/core.py, files.py, mathstuff.py, uri.py)."""

from __future__ import annotations

import math
import operator
import os
import re
from collections.abc import MutableMapping, MutableSequence
from typing import Any

from ..limits import BoundedRegex
from . import versions


class TestError(ValueError):
    pass


def _result(result: Any, name: str) -> MutableMapping[str, Any]:
    if not isinstance(result, MutableMapping):
        raise TestError(f"The '{name}' test expects a dictionary")
    return result


def failed(result: Any) -> bool:
    return bool(_result(result, "failed").get("failed"))


def success(result: Any) -> bool:
    return not failed(result)


def unreachable(result: Any) -> bool:
    return bool(_result(result, "unreachable").get("unreachable"))


def reachable(result: Any) -> bool:
    return not unreachable(result)


def timedout(result: Any) -> bool:
    r = _result(result, "timedout")
    return bool(r.get("timedout") and bool(r["timedout"].get("period")))


def changed(result: Any) -> bool:
    r = _result(result, "changed")
    if "changed" in r:
        return bool(r.get("changed"))
    res = r.get("results")
    if isinstance(res, MutableSequence) and res and isinstance(res[0], MutableMapping):
        return any(x.get("changed") for x in res)
    return False


def skipped(result: Any) -> bool:
    return bool(_result(result, "skipped").get("skipped"))


def started(result: Any) -> bool:
    r = _result(result, "started")
    return bool(r.get("started")) if "started" in r else True


def finished(result: Any) -> bool:
    r = _result(result, "finished")
    return bool(r.get("finished")) if "finished" in r else True


def regex(value: Any = "", pattern: str = "", ignorecase: bool = False, multiline: bool = False,
          match_type: str = "search") -> bool:
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    compiled = BoundedRegex(pattern, flags)
    return bool(getattr(compiled, match_type, compiled.search)(str(value)))


def match(value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False) -> bool:
    return regex(value, pattern, ignorecase, multiline, "match")


def search(value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False) -> bool:
    return regex(value, pattern, ignorecase, multiline, "search")


_OPS = {"==": "eq", "=": "eq", "eq": "eq", "<": "lt", "lt": "lt", "<=": "le", "le": "le", ">": "gt", "gt": "gt",
        ">=": "ge", "ge": "ge", "!=": "ne", "<>": "ne", "ne": "ne"}


def version_compare(value: Any, version: Any, operator_: str = "eq", strict: Any = None,
                    version_type: Any = None, **kw: Any) -> bool:
    op = kw.pop("operator", operator_)
    if kw:
        raise TestError(f"unexpected arguments {sorted(kw)}")
    if strict is not None and version_type is not None:
        raise TestError("Cannot specify both 'strict' and 'version_type'")
    if not value:
        raise TestError("Input version value cannot be empty")
    if not version:
        raise TestError("Version parameter to compare against cannot be empty")
    cls: Any = versions.LooseVersion
    if strict:
        cls = versions.StrictVersion
    elif version_type:
        if version_type not in versions.TYPES:
            raise TestError(f"Invalid version type ({version_type}). Must be one of "
                            + ", ".join(map(repr, versions.TYPES)))
        cls = versions.TYPES[version_type]
    if op not in _OPS:
        raise TestError(f"Invalid operator type ({op}). Must be one of " + ", ".join(map(repr, _OPS)))
    try:
        return bool(getattr(operator, _OPS[op])(cls(str(value)), cls(str(version))))
    except Exception as exc:
        raise TestError(f"Version comparison failed: {exc}") from None


_BOOL_TRUE = frozenset(("y", "yes", "on", "1", "true", "t", 1, 1.0, True))
_BOOL_FALSE = frozenset(("n", "no", "off", "0", "false", "f", 0, 0.0, False))


def _boolean(value: Any) -> Any:
    """ansible.module_utils.parsing.convert_bool.boolean (strict)."""
    from collections.abc import Hashable

    if isinstance(value, bool):
        return value
    normalized = value
    if isinstance(value, (str, bytes)):
        normalized = (value.decode() if isinstance(value, bytes) else value).lower().strip()
    if not isinstance(value, Hashable):
        normalized = None
    if normalized in _BOOL_TRUE:
        return True
    if normalized in _BOOL_FALSE:
        return False
    raise TypeError(f"The value '{value}' is not a valid boolean.")


def truthy(value: Any, convert_bool: bool = False) -> bool:
    if convert_bool:
        try:
            value = _boolean(value)
        except TypeError:
            pass
    return bool(value)


def falsy(value: Any, convert_bool: bool = False) -> bool:
    return not truthy(value, convert_bool=convert_bool)


def isnan(x: Any) -> bool:
    try:
        return math.isnan(x)
    except TypeError:
        return False


def _uri(value: Any, schemes: Any = None) -> bool:
    from urllib.parse import urlparse

    try:
        x = urlparse(value)
        return bool(not schemes or x.scheme in schemes)
    except Exception:
        return False


def _url(value: Any, schemes: Any = None) -> bool:
    from urllib.parse import urlparse

    if not _uri(value, schemes):
        return False
    x = urlparse(value)
    return bool(x.netloc or x.scheme == "file")


def _urn(value: Any) -> bool:
    return _uri(value, ["urn"])


TESTS: dict[str, Any] = {
    "failed": failed, "failure": failed, "succeeded": success, "success": success, "successful": success,
    "reachable": reachable, "unreachable": unreachable, "timedout": timedout, "changed": changed,
    "change": changed, "skipped": skipped, "skip": skipped, "finished": finished, "started": started,
    "match": match, "search": search, "regex": regex, "version_compare": version_compare,
    "version": version_compare, "any": any, "all": all, "truthy": truthy, "falsy": falsy,
    # files.py
    "directory": os.path.isdir, "is_dir": os.path.isdir, "file": os.path.isfile, "is_file": os.path.isfile,
    "link": os.path.islink, "is_link": os.path.islink, "exists": os.path.exists, "link_exists": os.path.lexists,
    "abs": os.path.isabs, "is_abs": os.path.isabs, "same_file": os.path.samefile,
    "is_same_file": os.path.samefile, "mount": os.path.ismount, "is_mount": os.path.ismount,
    # mathstuff.py
    "subset": lambda a, b: set(a) <= set(b), "issubset": lambda a, b: set(a) <= set(b),
    "superset": lambda a, b: set(a) >= set(b), "issuperset": lambda a, b: set(a) >= set(b),
    "contains": lambda seq, value: value in seq, "nan": isnan, "isnan": isnan,
    # uri.py
    "uri": _uri, "url": _url, "urn": _urn,
}
