"""``copy.copy`` of a plain instance without going through pickling's protocol.

For an instance of a class that defines none of the copy hooks (no ``__copy__``, no
``__setstate__``, ``__getnewargs__``, ``__getnewargs_ex__``, no ``__reduce_ex__``/``__reduce__``/
``__getstate__``/``__new__`` but ``object``'s, no ``__slots__``, no entry in ``copyreg.dispatch_table``), ``copy.copy`` takes
``object.__reduce_ex__(4)``: ``copyreg.__newobj__(cls)`` (``cls.__new__(cls)``) and the
instance's ``__dict__`` as the state, set with ``__dict__.update``. That walk costs 10-18k
instructions per copy (measured with callgrind, docs/winrm-performance.md); doing the same two
steps directly costs about 1k. The transport copies two objects per host (the run's NTLM client
context, the run's WS-Man protocol object). tests/test_plaincopy.py compares the result with
``copy.copy`` for both, and shows the hooks that send an object back to ``copy.copy``.
"""

from __future__ import annotations

import copy
import copyreg
from typing import TypeVar

__all__ = ["is_plain", "plain_copy"]

T = TypeVar("T")

_HOOKS = ("__reduce_ex__", "__reduce__", "__getstate__")  # object's, or copy.copy
_ABSENT = ("__copy__", "__setstate__", "__getnewargs__", "__getnewargs_ex__")  # none, or copy.copy


def is_plain(cls: type) -> bool:
    """Whether copy.copy copies instances of `cls` as `plain_copy` does (see the module docstring)."""
    # copy's own table of types it copies itself is private: read defensively (the types in it,
    # builtins, fail the __new__ check below anyway)
    if cls in getattr(copy, "_copy_dispatch", {}) or cls in copyreg.dispatch_table:
        return False
    if any(getattr(cls, hook, None) is not getattr(object, hook) for hook in _HOOKS):
        return False
    if any(hasattr(cls, hook) for hook in _ABSENT):
        return False
    if cls.__new__ is not object.__new__:
        return False
    return not any("__slots__" in vars(k) for k in cls.__mro__)


def plain_copy(obj: T, plain: bool) -> T:
    """``copy.copy(obj)``: done directly when `plain` (``is_plain(type(obj))``, asked once by the
    caller for the class it copies), else by copy.copy itself."""
    if not plain:
        return copy.copy(obj)
    new = object.__new__(type(obj))  # cls.__new__ is object's (is_plain)
    new.__dict__ = obj.__dict__.copy()  # the same entries, in the same order, as update() would set
    return new
