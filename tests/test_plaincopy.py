"""plaincopy.plain_copy against copy.copy: the same class, the same attributes (the same objects,
shallow), for the two objects the WinRM transport copies per host, and copy.copy itself for any
class with a copy hook."""

from __future__ import annotations

import copy
import copyreg
from typing import Any

import pytest
import spnego
from winrm.protocol import Protocol

from hvprov.transports.plaincopy import is_plain, plain_copy
from hvprov.transports.wsman_lean import LeanProtocol

HASHES = "aad3b435b51404eeaad3b435b51404ee:31d6cfe0d16ae931b73c59d7e0c089c0"


def _objects() -> list[Any]:
    ctx = spnego.client("u", HASHES, hostname="h", service="http", protocol="ntlm",
                        options=spnego.NegotiateOptions.use_ntlm)
    stepped = spnego.client("u", HASHES, protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
    stepped.step()
    proto = LeanProtocol("http://h:5985/wsman", transport="ntlm", username="u", password="p")
    return [ctx, stepped, proto, Protocol("http://h:5985/wsman", transport="ntlm", username="u", password="p")]


@pytest.mark.parametrize("obj", _objects(), ids=["ntlm", "ntlm-stepped", "lean-protocol", "protocol"])
def test_plain_copy_is_copy_copy(obj: Any) -> None:
    assert is_plain(type(obj))
    want, got = copy.copy(obj), plain_copy(obj, True)
    assert type(got) is type(want) and got is not obj
    assert vars(got).keys() == vars(want).keys()
    assert all(vars(got)[k] is v for k, v in vars(want).items())  # shallow: the same objects
    got.extra = 1  # its own attribute dict
    assert not hasattr(obj, "extra")


class _Slots:
    __slots__ = ("a",)


class _Copy:
    def __copy__(self) -> Any:
        return "mine"


class _Reduce:
    def __reduce_ex__(self, protocol: Any) -> Any:
        return (str, ("reduced",))


class _State:
    def __getstate__(self) -> Any:
        return {"x": 2}


class _SetState:
    def __setstate__(self, state: Any) -> None:
        self.seen = state


class _NewArgs:
    def __new__(cls, *args: Any) -> Any:
        return super().__new__(cls)

    def __getnewargs__(self) -> Any:
        return (1,)


class _Registered:
    pass


class _Plain:
    pass


class _SubOfSlots(_Slots):
    pass


@pytest.mark.parametrize("cls", [_Slots, _Copy, _Reduce, _State, _SetState, _NewArgs, _Registered, _SubOfSlots,
                                 dict, list, int])
def test_a_class_with_a_copy_hook_is_not_plain_and_gets_copy_copy(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(copyreg.dispatch_table, _Registered, lambda o: (str, ("registered",)))
    assert not is_plain(cls)
    obj = cls()
    assert plain_copy(obj, is_plain(cls)) == copy.copy(obj) or type(plain_copy(obj, False)) is type(copy.copy(obj))
    if cls is _Copy:
        assert plain_copy(obj, False) == "mine"


def test_a_plain_class_is_plain() -> None:
    assert is_plain(_Plain)
    obj = _Plain()
    obj.a = [1]  # type: ignore[attr-defined]
    assert plain_copy(obj, True).a is obj.a  # type: ignore[attr-defined]


class _OwnNew:
    def __new__(cls) -> Any:
        obj = super().__new__(cls)
        obj.made = True
        return obj


def test_a_class_with_its_own_new_is_not_plain() -> None:
    assert not is_plain(_OwnNew)
