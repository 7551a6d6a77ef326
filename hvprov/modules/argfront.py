"""Plain arguments of the controller modules, accepted without importing pydantic.

A run whose tasks are all controller modules (debug, set_fact, assert, fail) would otherwise
import pydantic only to check a few plain strings and booleans: about a third of a one-host
run's instructions (docs/winrm-performance.md, "Controller runs without pydantic").

A `FastArgs` class fronts a module's pydantic model (kept as it was, in its own file, built on
first use). Its `model_validate` takes a dict only when every key is known and every value has
an exact type the field takes as it is (the `_FIELDS` table: a checker returns the value the
model would hold, or `NO`); it then returns a `FastArgs` instance holding the same fields,
`model_fields_set` and `model_extra` as the model's instance. Any other input, and therefore
every error, goes to the pydantic model itself: pydantic stays the validator of record (its
coercions, its error texts). Everything else read on the class (`model_fields`,
`model_config`, `model_json_schema`, ...) is the pydantic model's, through the metaclass.
tests/test_argfront.py checks the fast path against the model over generated inputs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

NO: Any = type("NoValue", (), {"__repr__": lambda self: "NO"})()  # a checker's "not sure: ask pydantic"

Checker = Callable[[Any], Any]


def any_value(value: Any) -> Any:
    """`Any`: pydantic keeps the object itself."""
    return value


def str_or_none(value: Any) -> Any:
    """`str | None`: an exact str (no subclass, no lone surrogate) or None."""
    if value is None:
        return None
    if type(value) is str and (value.isascii() or _utf8(value)):
        return value
    return NO


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # pydantic-core refuses what UTF-8 cannot hold
        return False
    return True


def exact_bool(value: Any) -> Any:
    """`bool`: True or False themselves ("yes", 1... are pydantic's to coerce)."""
    return value if type(value) is bool else NO


def one_or_many(value: Any) -> Any:
    """`list[Any]` after a `[v] if not isinstance(v, list) else v` before-validator."""
    if not isinstance(value, list):
        return [value]
    if type(value).__iter__ is list.__iter__:  # a list, or a subclass iterating as one (yamlsrc.LocList)
        return list(value)
    return NO


def validation_errors(exc: BaseException) -> list[Any] | None:
    """pydantic's `errors()` of a validation error, or None for any other exception.

    Lets an `except` handle a pydantic ValidationError without importing pydantic: when
    pydantic_core was never imported, no exception can be one of its ValidationErrors.
    """
    core = sys.modules.get("pydantic_core")
    if core is not None and isinstance(exc, core.ValidationError):
        return list(exc.errors())
    return None


class ArgsFront(type):
    """Metaclass: what a FastArgs class does not define itself is its pydantic model's."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_") or "MODEL" not in cls.__dict__:
            raise AttributeError(name)
        return getattr(cls.pydantic_model(), name)


class FastArgs(metaclass=ArgsFront):
    """Base of a pydantic model's front (see the module docstring); instances are frozen."""

    MODEL: ClassVar[tuple[str, str]]  # (module under hvprov.modules, class) of the pydantic model
    _FIELDS: ClassVar[Mapping[str, tuple[Checker, bool, Any]]]  # name -> (checker, required, default)
    _EXTRA: ClassVar[bool] = False  # the model's extra="allow": unknown keys land in model_extra

    model_fields_set: set[str]
    model_extra: dict[str, Any] | None

    @classmethod
    def pydantic_model(cls) -> Any:
        where, name = cls.MODEL
        return getattr(importlib.import_module(f"hvprov.modules.{where}"), name)

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Any:
        made = None if options or not isinstance(obj, dict) else cls._plain(obj)
        return made if made is not None else cls.pydantic_model().model_validate(obj, **options)

    @classmethod
    def accepts(cls, args: Mapping[str, Any]) -> bool:
        """The model takes these arguments as they are (checked at load: nothing is built)."""
        return cls._values(args) is not None

    @classmethod
    def _values(cls, args: Mapping[str, Any]) -> tuple[dict[str, Any], set[str], dict[str, Any]] | None:
        fields = cls._FIELDS
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in args.items():
            spec = fields.get(key) if type(key) is str else None
            if spec is None:
                if not (cls._EXTRA and type(key) is str and key.isidentifier() and not key.startswith("_")):
                    return None
                extra[key] = value
                continue
            got = spec[0](value)
            if got is NO:
                return None
            values[key] = got
        given = set(values)
        for name, (_, required, default) in fields.items():
            if name not in values:
                if required:
                    return None
                values[name] = default
        return values, given, extra

    @classmethod
    def _plain(cls, obj: dict[str, Any]) -> FastArgs | None:
        found = cls._values(obj)
        if found is None:
            return None
        values, given, extra = found
        made = object.__new__(cls)
        state = made.__dict__
        state.update(values)
        state["model_fields_set"] = given | set(extra) if cls._EXTRA else given
        state["model_extra"] = extra if cls._EXTRA else None
        state["_input"] = obj
        return made

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __getattr__(self, name: str) -> Any:
        """Anything else a reader asks for is the pydantic instance's (built then)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(type(self).pydantic_model().model_validate(self.__dict__["_input"]), name)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={self.__dict__[k]!r}" for k in self._FIELDS)
        return f"{type(self).__name__}({shown})"
